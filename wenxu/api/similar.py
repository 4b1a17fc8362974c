"""`GET /api/v1/needs/{number}/similar` (issue #7 §1): the needs most like one need.

The need is found through the caller's scope (out of scope: 404), and so are the similar
needs: one the caller may not see is never returned.
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from wenxu.api import schemas as s
from wenxu.api.auth import current_user
from wenxu.api.needs import need_for
from wenxu.insight.similar import SimilarNeed, similar_to_need

router = Router(tags=["similar"])


class SimilarQuery(Schema):
    limit: int = Field(5, ge=1, le=20, description="最多返回几条，1–20")


class TopicRefOut(Schema):
    id: int
    title: str


class SimilarNeedOut(Schema):
    number: str
    title: str
    status: str
    area: s.Ref
    category: s.Ref | None
    lead_unit: s.Ref | None
    registered_at: datetime
    similarity: float = Field(description="文字相似度（余弦），0–1")
    topics: list[TopicRefOut] = Field(description="已加入的专题（调用者可见的）")


def similar_json(item: SimilarNeed) -> dict[str, Any]:
    return {
        "number": item.number,
        "title": item.title,
        "status": item.status,
        "area": {"id": item.area_id, "name": item.area},
        "category": ({"id": item.category_id, "name": item.category} if item.category_id else None),
        "lead_unit": (
            {"id": item.lead_unit_id, "name": item.lead_unit_name} if item.lead_unit_id else None
        ),
        "registered_at": timezone.localtime(item.registered_at),
        "similarity": item.similarity,
        "topics": [{"id": topic.id, "title": topic.title} for topic in item.topics],
    }


@router.get(
    "/needs/{number}/similar",
    response={200: list[SimilarNeedOut], 401: s.ErrorOut, 404: s.ErrorOut, 422: s.InvalidOut},
    operation_id="need_similar",
    summary="相似诉求（举一反三）",
)
def need_similar(
    request: HttpRequest, number: str, query: Query[SimilarQuery]
) -> list[dict[str, Any]]:
    """The active needs, and those closed recently, whose text is most like this need's, best
    first; needs in the same area or of the same category rank a little higher. Withdrawn and
    merged needs are never returned."""
    user = current_user(request)
    need = need_for(user, number, with_events=False)
    return [similar_json(item) for item in similar_to_need(user=user, need=need, limit=query.limit)]
