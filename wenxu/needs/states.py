"""The lifecycle of a need (DESIGN §3) as plain data: statuses, actions and who may take them.

`TRANSITIONS[action]` gives the statuses an action may start from, the status it leads to
(None: unchanged, or decided by the service, see `callback`) and the roles that may take it.
The services check this table; nothing else assigns `Need.status`.
"""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    REGISTERED = "registered", _("已登记")
    ASSIGNED = "assigned", _("已交办")
    IN_PROGRESS = "in_progress", _("办理中")
    REPLIED = "replied", _("已答复")
    FOLLOWING = "following", _("跟进中")
    CLOSED = "closed", _("已办结")
    WITHDRAWN = "withdrawn", _("已撤销")
    MERGED = "merged", _("已合并")


class Kind(models.TextChoices):
    CONSULT = "consult", _("咨询")
    HELP = "help", _("求助")
    COMPLAINT = "complaint", _("投诉")
    REPORT = "report", _("举报")
    SUGGESTION = "suggestion", _("建议")
    CRITICISM = "criticism", _("批评")
    PRAISE = "praise", _("表扬")


# The kinds that may name the unit they criticise or complain about (`Need.about_unit`): that
# unit's staff do not see the need unless a dispatcher discloses it (issue #9).
ABOUT_UNIT_KINDS = frozenset({Kind.CRITICISM, Kind.COMPLAINT, Kind.REPORT})


class Source(models.TextChoices):
    VISIT = "visit", _("走访")
    PHONE = "phone", _("电话")
    WALK_IN = "walk_in", _("来访")
    ONLINE = "online", _("网上")
    HOTLINE = "hotline", _("热线")
    PATROL = "patrol", _("网格巡查")
    OBSERVED = "observed", _("望闻问切")


class Handling(models.TextChoices):
    ON_THE_SPOT = "on_the_spot", _("马上就办")
    ROUTINE = "routine", _("常规办理")
    SYSTEMIC = "systemic", _("举一反三")


class Outcome(models.TextChoices):
    RESOLVED = "resolved", _("已解决")
    EXPLAINED = "explained", _("解释说明")
    PLANNED = "planned", _("创造条件推动")
    REFERRED = "referred", _("转办")


class NatureTag(models.TextChoices):
    URGENT = "urgent", _("急")
    DIFFICULT = "difficult", _("难")
    WORRYING = "worrying", _("愁")
    HOPED_FOR = "hoped_for", _("盼")


class CallbackResolved(models.TextChoices):
    YES = "yes", _("已解决")
    PARTLY = "partly", _("部分解决")
    NO = "no", _("未解决")


class Satisfaction(models.TextChoices):
    VERY_SATISFIED = "very_satisfied", _("非常满意")
    SATISFIED = "satisfied", _("满意")
    BASIC = "basic", _("基本满意")
    DISSATISFIED = "dissatisfied", _("不满意")
    VERY_DISSATISFIED = "very_dissatisfied", _("非常不满意")


class CallbackChannel(models.TextChoices):
    PHONE = "phone", _("电话回访")
    VISIT = "visit", _("上门回访")
    SMS = "sms", _("短信")
    ONLINE = "online", _("网上评价")
    ON_SITE = "on_site", _("现场确认")
    UNREACHABLE = "unreachable", _("无法联系")


class Action(models.TextChoices):
    REGISTER = "register", _("登记")
    REGISTER_ON_THE_SPOT = "register_on_the_spot", _("马上就办")
    ASSIGN = "assign", _("交办")
    ACCEPT = "accept", _("签收")
    RETURN = "return", _("退回")
    PROGRESS = "progress", _("办理进展")
    REQUEST_EXTENSION = "request_extension", _("申请延期")
    APPROVE_EXTENSION = "approve_extension", _("批准延期")
    DENY_EXTENSION = "deny_extension", _("驳回延期")
    REPLY = "reply", _("答复")
    CALLBACK = "callback", _("回访")
    FULFIL = "fulfil", _("兑现承诺")
    REOPEN = "reopen", _("重办")
    SUPERVISE = "supervise", _("督办")
    REMIND = "remind", _("催办")
    MERGE = "merge", _("合并")
    WITHDRAW = "withdraw", _("撤销")
    MERGED_FROM = "merged_from", _("并入诉求")
    CONFIRM_OBSERVED = "confirm_observed", _("群众确认")
    REQUEST_REOPEN = "request_reopen", _("群众申请重办")
    DECLINE_REOPEN = "decline_reopen", _("不予重办")
    # 批评/投诉 about a unit (issue #9, services.disclosure): no status change.
    ABOUT_UNIT = "about_unit", _("更正被批评/投诉单位")
    DISCLOSE_TO_UNIT = "disclose_to_unit", _("向被批评单位公开")


ACTIVE = frozenset(
    {Status.REGISTERED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED, Status.FOLLOWING}
)
FINAL = frozenset({Status.CLOSED, Status.WITHDRAWN, Status.MERGED})

OFFICER, DISPATCHER, HANDLER, LEADER = "officer", "dispatcher", "handler", "leader"
SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str | None  # None: status unchanged or decided by the service
    roles: frozenset[str]


def _t(sources: set[str] | frozenset[str], target: str | None, *roles: str) -> Transition:
    return Transition(frozenset(sources), target, frozenset(roles))


TRANSITIONS: dict[str, Transition] = {
    Action.ASSIGN: _t({Status.REGISTERED}, Status.ASSIGNED, DISPATCHER),
    Action.ACCEPT: _t({Status.ASSIGNED}, Status.IN_PROGRESS, HANDLER),
    Action.RETURN: _t({Status.ASSIGNED, Status.IN_PROGRESS}, Status.REGISTERED, HANDLER),
    Action.PROGRESS: _t({Status.IN_PROGRESS}, None, HANDLER),
    Action.REQUEST_EXTENSION: _t({Status.IN_PROGRESS}, None, HANDLER),
    Action.APPROVE_EXTENSION: _t({Status.IN_PROGRESS}, None, DISPATCHER),
    Action.DENY_EXTENSION: _t({Status.IN_PROGRESS}, None, DISPATCHER),
    Action.REPLY: _t({Status.IN_PROGRESS}, Status.REPLIED, HANDLER),
    # → closed, or → following when the outcome is `planned` (decided in the service).
    Action.CALLBACK: _t({Status.REPLIED}, None, OFFICER, DISPATCHER, SYSTEM),
    Action.FULFIL: _t({Status.FOLLOWING}, Status.CLOSED, HANDLER, DISPATCHER),
    # A `planned` promise the resident disputes may be reopened too (from `following`).
    Action.REOPEN: _t(
        {Status.REPLIED, Status.FOLLOWING, Status.CLOSED}, Status.IN_PROGRESS, DISPATCHER
    ),
    # The resident's unsatisfied rating by link (actor: the system), and a dispatcher's refusal.
    Action.REQUEST_REOPEN: _t({Status.FOLLOWING, Status.CLOSED}, None, SYSTEM),
    Action.DECLINE_REOPEN: _t({Status.FOLLOWING, Status.CLOSED}, None, DISPATCHER),
    Action.SUPERVISE: _t(ACTIVE, None, DISPATCHER, LEADER),
    Action.REMIND: _t(ACTIVE, None, DISPATCHER, LEADER, SYSTEM),
    Action.MERGE: _t(ACTIVE, Status.MERGED, DISPATCHER),
    Action.WITHDRAW: _t(ACTIVE, Status.WITHDRAWN, DISPATCHER),
    # 望闻问切: the resident confirms a need the official observed (only for observed needs).
    Action.CONFIRM_OBSERVED: _t(ACTIVE | {Status.CLOSED}, None, OFFICER, DISPATCHER),
    # Who a criticism or complaint is about, and whether that unit may see it: in any status.
    Action.ABOUT_UNIT: _t(ACTIVE | FINAL, None, DISPATCHER),
    Action.DISCLOSE_TO_UNIT: _t(ACTIVE | FINAL, None, DISPATCHER),
}

# Statuses each action may leave behind: used by the event-replay check (ledger_check, tests).
CALLBACK_TARGETS = frozenset({Status.CLOSED, Status.FOLLOWING})


def allowed(action: str, status: str) -> bool:
    transition = TRANSITIONS.get(action)
    return transition is not None and status in transition.sources
