"""Request and response shapes of the JSON API (they are also its OpenAPI schema).

Codes are the ones the domain uses (DESIGN §1, issue #2 item 7). Request bodies refuse unknown
fields, so that a misspelt field is reported instead of silently ignored.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ninja import Field, Schema
from pydantic import ConfigDict, ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import InitErrorDetails

from wenxu.needs.models import Urgency
from wenxu.needs.states import (
    CallbackChannel,
    CallbackResolved,
    Handling,
    Kind,
    NatureTag,
    Outcome,
    Satisfaction,
    Source,
)
from wenxu.visits.models import PlaceKind, VisitKind

# --------------------------------------------------------------------------- errors


class ErrorOut(Schema):
    code: str
    message: str


class InvalidOut(ErrorOut):
    errors: dict[str, list[str]]


# --------------------------------------------------------------------------- auth


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class TokenIn(In):
    username: str = Field(max_length=150)
    password: str = Field(max_length=256)
    name: str = Field("", max_length=100, description="令牌用途说明，可不填")


class TokenOut(Schema):
    token: str
    expires_at: datetime


# --------------------------------------------------------------------------- reference data


class Ref(Schema):
    id: int
    name: str


class AreaOut(Schema):
    id: int
    name: str
    parent: int | None
    path: str = Field(description="从根到本级的 id 路径，如 /1/2/5/")
    depth: int
    level: str = Field(description="county township village grid")
    code: str


class UnitOut(Schema):
    id: int
    name: str
    short_name: str
    parent: int | None
    path: str
    depth: int
    kind: str
    active: bool


class CategoryOut(Schema):
    id: int
    name: str
    parent: int | None
    path: str
    depth: int
    code: str
    active: bool


# --------------------------------------------------------------------------- needs out


class RequesterOut(Schema):
    name: str
    phone: str
    confidential: bool


class RevealIn(In):
    reason: str = Field(
        max_length=1000, description="查看原因（2–200 个字），写入安全日志；不要填写电话或证件号码"
    )


class RequesterRevealOut(Schema):
    """The requester unmasked (issue #9): only with the reveal permission, each call logged."""

    name: str
    phone: str
    id_number: str
    address: str
    kind: str = Field(description="person household enterprise group")
    confidential: bool


class CallbackOut(Schema):
    resolved: str | None
    satisfaction: str | None
    channel: str | None
    at: datetime


class EventOut(Schema):
    seq: int
    action: str
    from_status: str | None
    to_status: str
    actor: str
    note: str
    at: datetime


class NeedOut(Schema):
    number: str
    tracking_code: str
    title: str
    description: str
    category: Ref | None
    kind: str
    urgency: str
    nature_tags: list[str]
    source: str
    area: Ref
    address: str
    requester: RequesterOut | None
    status: str
    handling: str
    registered_at: datetime
    lead_unit: Ref | None
    co_units: list[Ref]
    response_due: datetime | None
    resolve_due: datetime | None
    responded_at: datetime | None
    replied_at: datetime | None
    outcome: str | None
    reply_text: str
    followup_date: date | None
    callback: CallbackOut | None
    reopen_count: int
    extension_count: int
    extension_pending_days: int | None
    supervised: bool
    merged_into: str | None
    about_unit: Ref | None = Field(
        description="被批评/投诉单位：该单位及其上下级单位的人员看不到此诉求，除非已决定公开"
    )
    about_unit_disclosed: bool = Field(description="调度员已决定向被批评单位公开")
    overdue: bool
    version: int
    client_uuid: UUID | None = Field(description="登记时客户端给的 UUID（如有）")


class NeedDetailOut(NeedOut):
    events: list[EventOut]


class NeedListQuery(Schema):
    status: list[str] = Field(default_factory=list, description="状态，可重复或用逗号分隔")
    unit: int | None = Field(None, description="主办或协办单位 id（含下级单位）")
    area: int | None = Field(None, description="区域 id（含下级区域）")
    category: int | None = Field(None, description="分类 id（含子分类）")
    overdue: bool | None = Field(None, description="true：只看超期未答复；false：排除超期")
    q: str | None = Field(None, max_length=100, description="编号、标题、内容或地点中的文字")
    limit: int = Field(50, ge=1, le=200, description="每页条数，最多 200")
    cursor: str | None = Field(None, max_length=40, description="上一页返回的 next")


class AreaListQuery(Schema):
    within: int | None = Field(None, description="只列出该区域及其下级")
    level: str | None = Field(None, description="county township village grid")


class ActiveQuery(Schema):
    active: bool | None = Field(None, description="true：只列启用的；false：只列停用的")


class NeedPageOut(Schema):
    items: list[NeedOut]
    next: str | None = Field(description="下一页的 cursor；没有更多时为 null")


# --------------------------------------------------------------------------- needs in


class RequesterIn(In):
    name: str = Field("", max_length=100)
    phone: str = Field("", max_length=30)
    confidential: bool = False


class NeedRegisterIn(In):
    title: str = Field(max_length=200)
    description: str = Field(max_length=10000)
    kind: Kind
    source: Source
    area: int = Field(description="区域 id，见 GET /areas")
    category: int | None = Field(None, description="分类 id，见 GET /categories")
    urgency: Urgency = Urgency.NORMAL
    nature_tags: list[NatureTag] = Field(default_factory=list, max_length=4)
    address: str = Field("", max_length=200)
    latitude: Decimal | None = Field(None, ge=-90, le=90)
    longitude: Decimal | None = Field(None, ge=-180, le=180)
    requester: RequesterIn | None = None
    about_unit: int | None = Field(
        None,
        description="被批评/投诉单位 id（仅批评、投诉、举报类），见 GET /units。"
        "该单位及其上下级单位的人员看不到此诉求，也不能交由其办理，除非调度员决定公开",
    )
    handling: Handling = Handling.ROUTINE
    reply_text: str = Field("", max_length=10000, description="马上就办：现场办理情况")
    confirmed: bool = Field(False, description="马上就办：群众现场确认已解决")
    satisfaction: Satisfaction | None = Field(None, description="马上就办且现场确认时必填")
    client_uuid: UUID | None = Field(
        None,
        description="客户端生成的 UUID（离线或重试时用）。重发同一内容返回已有记录（200）；"
        "同一 UUID 而内容不同返回 409",
    )


class ActionIn(In):
    version: int = Field(ge=1, description="客户端看到的版本号；已被他人修改时返回 409")


class AcceptIn(ActionIn):
    pass


class AssignIn(ActionIn):
    lead_unit: int = Field(description="主办单位 id，见 GET /units")
    co_units: list[int] = Field(default_factory=list, max_length=20)
    category: int | None = Field(
        None,
        description="改正诉求分类（分类 id，见 GET /categories）；不填则不变。"
        "办理时限按改正后的分类计算",
    )


class ReasonIn(ActionIn):
    reason: str = Field(max_length=2000)


class AboutUnitIn(ReasonIn):
    about_unit: int | None = Field(
        description="新的被批评/投诉单位 id，见 GET /units；null 表示不涉及具体单位"
    )


class ReopenIn(ReasonIn):
    lead_unit: int | None = Field(None, description="可另指主办单位；默认原主办单位")


class NoteIn(ActionIn):
    note: str = Field(max_length=5000)


class OptionalNoteIn(ActionIn):
    note: str = Field("", max_length=2000)


class RequestExtensionIn(ActionIn):
    days: int = Field(description="申请延长的工作日数")
    reason: str = Field(max_length=2000)


class ReplyIn(ActionIn):
    outcome: Outcome
    reply_text: str = Field(max_length=10000)
    followup_date: date | None = Field(None, description="“创造条件推动”(planned) 时必填")


class CallbackIn(ActionIn):
    channel: CallbackChannel
    resolved: CallbackResolved | None = Field(
        None, description="是否解决；回访方式为“无法联系”(unreachable) 时留空，其他方式必填"
    )
    satisfaction: Satisfaction | None = Field(
        None, description="满意度；回访方式为“无法联系”(unreachable) 时留空，其他方式必填"
    )
    comment: str = Field("", max_length=2000)

    @field_validator("resolved", "satisfaction", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # Form-like clients send "" for a field left blank: the same as leaving it out.
        return None if value == "" else value


class MergeIn(ActionIn):
    into: str = Field(max_length=20, description="并入的目标诉求台账编号，如 WX-2026-000123")


class AttachmentOut(Schema):
    id: int
    kind: str = Field(description="photo document")
    name: str
    content_type: str
    size: int
    client_uuid: UUID | None


# --------------------------------------------------------------------------- visits


class VisitNeedIn(NeedRegisterIn):
    area: int | None = Field(None, description="区域 id；不填为走访区域")  # type: ignore[assignment]
    source: Source = Source.VISIT


class VisitIn(In):
    client_uuid: UUID = Field(
        description="客户端生成的 UUID。重发同一内容返回已有记录（200）；"
        "同一 UUID 而内容不同返回 409"
    )
    kind: VisitKind = Field(
        description="home 入户走访, forum 座谈会, reception 接待日, field 田间地头, "
        "enterprise 企业车间, community 社区楼院, phone 电话回访"
    )
    area: int = Field(description="区域 id，见 GET /areas")
    place: int | None = Field(None, description="走访对象 id（住户、企业、公共场所）")
    place_kind: PlaceKind | None = Field(None, description="household enterprise public")
    address: str = Field("", max_length=200)
    latitude: Decimal | None = Field(None, ge=-90, le=90)
    longitude: Decimal | None = Field(None, ge=-180, le=180)
    started_at: datetime
    ended_at: datetime | None = None
    officers: list[int] = Field(
        default_factory=list, max_length=20, description="同行干部的用户 id；记录人自动包含"
    )
    companions: str = Field("", max_length=200, description="陪同人员")
    people_met: int = Field(0, ge=0, le=100000, description="接触群众人数")
    summary: str = Field("", max_length=10000)
    mood: int = Field(ge=1, le=5, description="民情温度：1 冷 … 5 热")
    mood_note: str = Field("", max_length=200)
    sense_gain: int | None = Field(None, ge=1, le=5, description="获得感 1–5")
    sense_happiness: int | None = Field(None, ge=1, le=5, description="幸福感 1–5")
    sense_security: int | None = Field(None, ge=1, le=5, description="安全感 1–5")
    needs: list[VisitNeedIn] = Field(
        default_factory=list,
        max_length=30,
        description="这次走访登记的诉求（可为空）；每项同 POST /needs 的请求体，各带自己的 "
        "client_uuid",
    )

    @field_validator("needs", mode="wrap")
    @classmethod
    def _number_the_needs(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Errors inside a need name it by its place in the list: `needs.1.title`, so the
        client can show each draft need its own errors (the error mapper drops bare list
        indexes, which suits lists of plain values but not a list of needs)."""
        try:
            return handler(value)
        except ValidationError as exc:
            details: list[InitErrorDetails] = []
            for error in exc.errors():
                detail = InitErrorDetails(
                    type=error["type"],
                    loc=tuple(
                        str(part) if isinstance(part, int) else part for part in error["loc"]
                    ),
                    input=error["input"],
                )
                if "ctx" in error:
                    detail["ctx"] = error["ctx"]
                details.append(detail)
            raise ValidationError.from_exception_data(exc.title, details) from None


class VisitNeedOut(Schema):
    number: str
    client_uuid: UUID | None
    title: str
    status: str
    handling: str
    source: str
    observed_confirmed_at: datetime | None


class VisitPhotoOut(Schema):
    id: int
    client_uuid: UUID | None
    name: str
    size: int


class VisitOut(Schema):
    id: int
    client_uuid: UUID
    kind: str
    area: Ref
    place: Ref | None
    place_kind: str | None
    address: str
    started_at: datetime
    ended_at: datetime | None
    officers: list[str]
    companions: str
    people_met: int
    summary: str
    mood: int
    mood_note: str
    sense_gain: int | None
    sense_happiness: int | None
    sense_security: int | None
    recorded_by: str
    recorded_at: datetime
    needs: list[VisitNeedOut]
    photos: list[VisitPhotoOut]
