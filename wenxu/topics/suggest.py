"""More needs for a topic (举一反三): recent needs of its kind that read like the ones linked.

Candidates are the needs the viewer may see in the topic's area subtree (and category subtree
when it has one), registered in the last 90 days and not linked yet. They are ranked by cosine
similarity to the centroid of the linked needs' text features (character n-gram TF-IDF fitted
on the candidates and the linked needs together, `wenxu.insight.text.Featuriser`); the best ten
above `MIN_SIMILARITY` are offered. Without linked needs there is nothing to compare with.
"""

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from wenxu.accounts.models import User
from wenxu.insight.text import Featuriser, need_text
from wenxu.lib import clock
from wenxu.needs import selectors as need_selectors
from wenxu.needs.models import Need
from wenxu.topics.models import Topic

RECENT_DAYS = 90
MIN_SIMILARITY = 0.2
LIMIT = 10
MAX_CANDIDATES = 5000
MAX_LINKED = 500


@dataclass(frozen=True)
class Suggestion:
    need: Need
    similarity: float

    @property
    def percent(self) -> int:
        return round(self.similarity * 100)


def suggestions_for_topic(*, user: User, topic: Topic, limit: int = LIMIT) -> list[Suggestion]:
    visible = need_selectors.need_queryset_for_user(user=user)
    linked = list(
        visible.filter(topic_links__topic=topic)
        .only("id", "title", "description")
        .order_by("-id")[:MAX_LINKED]
    )
    if not linked:
        return []
    candidates_qs = (
        visible.filter(
            area__path__startswith=topic.area.path,
            registered_at__gte=clock.now() - timedelta(days=RECENT_DAYS),
        )
        .exclude(topic_links__topic=topic)
        .exclude(status=Need.Status.MERGED)
        .exclude(status=Need.Status.WITHDRAWN)
    )
    if topic.category is not None:
        candidates_qs = candidates_qs.filter(category__path__startswith=topic.category.path)
    candidates = list(
        candidates_qs.select_related("area")
        .only("id", "number", "title", "description", "status", "registered_at", "area__name")
        .order_by("-registered_at", "-id")[:MAX_CANDIDATES]
    )
    if not candidates:
        return []
    texts = [need_text(n.title, n.description) for n in candidates + linked]
    matrix = Featuriser().fit_transform(texts)
    centroid = np.asarray(matrix[len(candidates) :].mean(axis=0)).ravel()
    norm = float(np.linalg.norm(centroid))
    if norm == 0:
        return []
    scores = np.asarray(matrix[: len(candidates)] @ (centroid / norm)).ravel()
    order = np.argsort(-scores, kind="stable")
    found = [
        Suggestion(need=candidates[i], similarity=float(scores[i]))
        for i in order[:limit]
        if scores[i] >= MIN_SIMILARITY
    ]
    return found
