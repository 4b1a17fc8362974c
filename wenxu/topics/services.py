"""Writes to topics (专题): one function per change, atomic, checked against the actor's rights.

Edits of the topic's own fields (`topic_update`, `topic_set_status`, `topic_close`) carry the
version the user saw: a stale one is refused (`StaleVersion`) and changes nothing. The other
changes (links, measures, milestones) lock the topic row so that they line up behind each
other, and leave its version alone: adding a measure does not spoil a colleague's open edit.

Residents hear of a topic twice over: when a milestone is completed and when the topic is
closed, each requester of the linked needs (and of needs merged into them) gets one text
message. The outbox key names the milestone (or the topic) and the requester, so a second
click, a retry or a need linked twice never sends it again, and a need linked after the
milestone is not told of it. Requesters of withdrawn needs are not told. Every change leaves one
`TopicEvent` (办理记录) naming the actor.
"""

from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock, masking
from wenxu.needs import selectors as need_selectors
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Category, Need
from wenxu.notify import messages, outbox
from wenxu.notify.models import Channel
from wenxu.notify.outbox import Draft
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester
from wenxu.topics import selectors
from wenxu.topics.models import (
    Measure,
    MeasureStatus,
    Milestone,
    Topic,
    TopicEvent,
    TopicEventAction,
    TopicNeed,
    TopicStatus,
)

TITLE_MAX = 200
NOTE_MAX = 300
_CHUNK = 500


def _record(
    topic: Topic, actor: User | None, action: str, note: str = "", needs: Iterable[Need] = ()
) -> TopicEvent:
    """One line of the topic's 办理记录 (append-only). The needs concerned go in `need_ids`,
    never in the note: the page shows each viewer only those they may see."""
    text = " ".join(note.split())
    if len(text) > NOTE_MAX:
        text = text[: NOTE_MAX - 1] + "…"
    return TopicEvent.objects.create(
        topic=topic,
        actor=actor,
        action=action,
        note=text,
        need_ids=[n.pk for n in needs],
        at=clock.now(),
    )


def _require_manager(actor: User, topic: Topic) -> None:
    if not selectors.may_manage(actor, topic):
        raise NotPermitted(_("只有负责该区域的调度人员可以管理专题。"))


def _lock(topic: Topic) -> Topic:
    return Topic.objects.select_for_update().select_related("area").get(pk=topic.pk)


def _check_version(locked: Topic, version: int) -> None:
    if locked.version != version:
        raise StaleVersion()


def _require_open(topic: Topic) -> None:
    if topic.status == TopicStatus.CLOSED:
        raise IllegalTransition(_("专题已办结，不能再修改；如需继续，请先把状态改回整改中。"))


def _validate_fields(
    *, actor: User, title: str, area: Area | None, measures_from: date | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("请填写专题名称。")]
    elif len(title.strip()) > TITLE_MAX:
        errors["title"] = [_("专题名称最多 200 字。")]
    if area is None:
        errors["area"] = [_("请选择涉及区域。")]
    elif not any(area.path.startswith(root) for root in selectors.manage_roots(actor)):
        errors["area"] = [_("只能选择您负责的区域。")]
    if measures_from is not None and measures_from > clock.today():
        errors["measures_from"] = [_("治理措施起始日期不能晚于今天。")]
    return errors


def _visible_needs(actor: User, needs: Iterable[Need]) -> list[Need]:
    wanted = {n.pk for n in needs}
    if not wanted:
        return []
    visible = list(
        need_selectors.need_queryset_for_user(user=actor).filter(pk__in=wanted).order_by("id")
    )
    if len(visible) != len(wanted):
        raise InvalidInput({"needs": [_("有诉求不存在或您无权查看，未作任何修改。")]})
    return visible


def _link(topic: Topic, needs: list[Need], actor: User) -> list[Need]:
    """Links the needs not linked yet; returns those."""
    have = set(
        TopicNeed.objects.filter(topic=topic, need__in=needs).values_list("need_id", flat=True)
    )
    new = [n for n in needs if n.pk not in have]
    TopicNeed.objects.bulk_create(
        [TopicNeed(topic=topic, need=n, linked_by=actor) for n in new], ignore_conflicts=True
    )
    return new


@transaction.atomic
def topic_create(
    *,
    actor: User,
    title: str,
    area: Area | None,
    summary: str = "",
    root_cause: str = "",
    category: Category | None = None,
    owner_unit: Unit | None = None,
    measures_from: date | None = None,
    source_group_id: int | None = None,
    needs: Iterable[Need] = (),
) -> Topic:
    """立专题: by hand or from a hot-topic group, with the needs it starts with."""
    if not selectors.may_create(actor):
        raise NotPermitted(_("只有调度人员可以建立专题。"))
    errors = _validate_fields(actor=actor, title=title, area=area, measures_from=measures_from)
    if errors:
        raise InvalidInput(errors)
    assert area is not None
    linked = _visible_needs(actor, needs)
    topic = Topic(
        title=title.strip(),
        summary=summary.strip(),
        root_cause=root_cause.strip(),
        area=area,
        category=category,
        owner_unit=owner_unit,
        measures_from=measures_from,
        source_group_id=source_group_id,
        created_by=actor,
    )
    topic.full_clean()
    topic.save()
    added = _link(topic, linked, actor)
    _record(topic, actor, TopicEventAction.CREATED, topic.title)
    if added:
        _record(topic, actor, TopicEventAction.LINKED, needs=added)
    return topic


@transaction.atomic
def topic_update(
    *,
    actor: User,
    topic: Topic,
    version: int,
    title: str,
    area: Area | None,
    summary: str,
    root_cause: str,
    category: Category | None,
    owner_unit: Unit | None,
    measures_from: date | None,
) -> Topic:
    _require_manager(actor, topic)
    locked = _lock(topic)
    _check_version(locked, version)
    _require_manager(actor, locked)
    errors = _validate_fields(actor=actor, title=title, area=area, measures_from=measures_from)
    if errors:
        raise InvalidInput(errors)
    assert area is not None
    locked.title = title.strip()
    locked.area = area
    locked.summary = summary.strip()
    locked.root_cause = root_cause.strip()
    locked.category = category
    locked.owner_unit = owner_unit
    locked.measures_from = measures_from
    locked.version += 1
    locked.full_clean()
    locked.save()
    _record(locked, actor, TopicEventAction.UPDATED, locked.title)
    return locked


@transaction.atomic
def topic_set_status(*, actor: User, topic: Topic, version: int, status: str) -> Topic:
    """研究中 / 整改中 / 成效观察, or back from 已办结 (closing is `topic_close`)."""
    _require_manager(actor, topic)
    if status not in TopicStatus.values:
        raise InvalidInput({"status": [_("未知的专题状态。")]})
    if status == TopicStatus.CLOSED:
        return topic_close(actor=actor, topic=topic, version=version)
    locked = _lock(topic)
    _check_version(locked, version)
    locked.status = status
    locked.closed_at = None
    locked.version += 1
    locked.save(update_fields=["status", "closed_at", "version", "updated_at"])
    _record(
        locked,
        actor,
        TopicEventAction.STATUS,
        _("改为“%(s)s”") % {"s": locked.get_status_display()},
    )
    return locked


@transaction.atomic
def topic_close(*, actor: User, topic: Topic, version: int) -> Topic:
    """办结: the topic is closed and every linked requester is told, once per topic."""
    _require_manager(actor, topic)
    locked = _lock(topic)
    _check_version(locked, version)
    _require_open(locked)
    locked.status = TopicStatus.CLOSED
    locked.closed_at = clock.now()
    locked.version += 1
    locked.save(update_fields=["status", "closed_at", "version", "updated_at"])
    _record(locked, actor, TopicEventAction.CLOSED)
    _tell_requesters(
        locked,
        key=f"topic-closed:{locked.pk}",
        template="topic_closed",
        progress=_("专题已办结，整改完成"),
    )
    return locked


@transaction.atomic
def topic_link_needs(*, actor: User, topic: Topic, needs: Iterable[Need]) -> int:
    """关联: returns how many needs were newly linked (those linked already are skipped)."""
    _require_manager(actor, topic)
    locked = _lock(topic)
    _require_open(locked)
    visible = _visible_needs(actor, needs)
    if not visible:
        raise InvalidInput({"needs": [_("请选择要关联的诉求。")]})
    added = _link(locked, visible, actor)
    if added:
        _record(locked, actor, TopicEventAction.LINKED, needs=added)
    return len(added)


@transaction.atomic
def topic_unlink_need(*, actor: User, topic: Topic, need: Need) -> None:
    _require_manager(actor, topic)
    locked = _lock(topic)
    _require_open(locked)
    _visible_needs(actor, [need])
    deleted, _rows = TopicNeed.objects.filter(topic=locked, need=need).delete()
    if not deleted:
        raise InvalidInput({"needs": [_("该诉求未关联此专题。")]})
    _record(locked, actor, TopicEventAction.UNLINKED, needs=[need])


@transaction.atomic
def measure_add(
    *,
    actor: User,
    topic: Topic,
    title: str,
    owner_unit: Unit | None,
    due_date: date | None,
    description: str = "",
) -> Measure:
    """治本之策: a measure with its owner unit and due date."""
    _require_manager(actor, topic)
    locked = _lock(topic)
    _require_open(locked)
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("请填写措施内容。")]
    if owner_unit is None:
        errors["owner_unit"] = [_("请选择责任单位。")]
    if due_date is None:
        errors["due_date"] = [_("请填写完成时限。")]
    if errors:
        raise InvalidInput(errors)
    assert owner_unit is not None
    assert due_date is not None
    measure = Measure(
        topic=locked,
        title=title.strip(),
        description=description.strip(),
        owner_unit=owner_unit,
        due_date=due_date,
    )
    measure.full_clean()
    measure.save()
    _record(locked, actor, TopicEventAction.MEASURE_ADDED, measure.title)
    return measure


@transaction.atomic
def measure_update(
    *, actor: User, measure: Measure, status: str, seen_status: str | None = None
) -> Measure:
    """A measure's status, by the topic's dispatchers or a handler of its owner unit (or of a
    unit above it). `seen_status` is the status the user saw: when the measure has changed
    since, the update is refused (`StaleVersion`) and nothing changes. Setting the status it
    already has changes nothing and records nothing."""
    if not selectors.may_update_measure(actor, measure):
        raise NotPermitted(_("只有专题的调度人员或该措施的责任单位可以更新措施状态。"))
    if status not in MeasureStatus.values:
        raise InvalidInput({"status": [_("未知的措施状态。")]})
    locked_topic = _lock(measure.topic)
    _require_open(locked_topic)
    locked = Measure.objects.select_for_update().get(pk=measure.pk)
    if seen_status is not None and locked.status != seen_status:
        raise StaleVersion()
    if locked.status == status:
        return locked
    locked.status = status
    locked.done_at = (locked.done_at or clock.now()) if status == MeasureStatus.DONE else None
    locked.save(update_fields=["status", "done_at", "updated_at"])
    _record(
        locked_topic,
        actor,
        TopicEventAction.MEASURE_UPDATED,
        _("“%(title)s”改为“%(s)s”") % {"title": locked.title, "s": locked.get_status_display()},
    )
    return locked


@transaction.atomic
def milestone_add(
    *, actor: User, topic: Topic, title: str, progress: int | None, due_date: date | None = None
) -> Milestone:
    _require_manager(actor, topic)
    locked = _lock(topic)
    _require_open(locked)
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = [_("请填写节点名称。")]
    if progress is None or not 0 <= progress <= 100:
        errors["progress"] = [_("完成进度应在 0 到 100 之间。")]
    if errors:
        raise InvalidInput(errors)
    assert progress is not None
    milestone = Milestone(topic=locked, title=title.strip(), progress=progress, due_date=due_date)
    milestone.full_clean()
    milestone.save()
    _record(
        locked,
        actor,
        TopicEventAction.MILESTONE_ADDED,
        _("%(title)s（%(p)s%%）") % {"title": milestone.title, "p": milestone.progress},
    )
    return milestone


@transaction.atomic
def milestone_complete(*, actor: User, milestone: Milestone, note: str = "") -> Milestone:
    """完成节点: the milestone is done, and each linked need's requester is told once."""
    _require_manager(actor, milestone.topic)
    locked_topic = _lock(milestone.topic)
    _require_open(locked_topic)
    locked = Milestone.objects.select_for_update().get(pk=milestone.pk)
    if locked.completed_at is not None:
        raise IllegalTransition(_("该节点已完成。"))
    locked.completed_at = clock.now()
    locked.note = note.strip()
    locked.save(update_fields=["completed_at", "note"])
    _record(
        locked_topic,
        actor,
        TopicEventAction.MILESTONE_COMPLETED,
        _("%(title)s（%(p)s%%）") % {"title": locked.title, "p": locked.progress},
    )
    _tell_requesters(
        locked_topic,
        key=f"topic-milestone:{locked.pk}",
        template="topic_milestone",
        progress=_("%(title)s（进度%(progress)s%%）")
        % {"title": locked.title, "progress": locked.progress},
    )
    return locked


# --------------------------------------------------------------------------- residents


def _waiting_need_ids(topic: Topic) -> list[int]:
    """The linked needs and the needs merged into them (any depth), in discovery order."""
    frontier = list(TopicNeed.objects.filter(topic=topic).values_list("need_id", flat=True))
    seen = set(frontier)
    ids = list(frontier)
    while frontier:
        merged = list(
            Need.objects.filter(merged_into_id__in=frontier)
            .exclude(pk__in=seen)
            .values_list("pk", flat=True)
        )
        seen.update(merged)
        ids.extend(merged)
        frontier = merged
    return ids


def requesters_of(topic: Topic) -> list[tuple[Requester, Need]]:
    """Each distinct requester waiting on the topic's needs, with the need their message links
    to: the requesters of the linked needs and of the needs merged into them (any depth), each
    once, in need order. Requesters without a phone are left out, and so are withdrawn needs
    (a resident who withdrew is not waiting any more; if they have another need of the topic
    that is not withdrawn, they are told through that one)."""
    ids = _waiting_need_ids(topic)
    found: dict[int, tuple[Requester, Need]] = {}
    for need in (
        Need.objects.filter(pk__in=ids, requester__isnull=False)
        .exclude(status=Need.Status.WITHDRAWN)
        .exclude(requester__phone="")
        .select_related("requester")
        .order_by("id")
    ):
        assert need.requester is not None
        if need.requester_id not in found and need.requester.has_phone():
            found[need.requester.pk] = (need.requester, need)
    return list(found.values())


def requester_names(topic: Topic) -> list[str]:
    """The names of every requester of the topic's needs (linked or merged into them, with or
    without a phone, withdrawn or not): masked in whatever text residents are sent."""
    ids = _waiting_need_ids(topic)
    names: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        names.update(
            Requester.objects.filter(needs__pk__in=ids[start : start + _CHUNK])
            .exclude(name="")
            .values_list("name", flat=True)
        )
    return sorted(names)


def _tell_requesters(topic: Topic, *, key: str, template: str, progress: str) -> list[int]:
    names = requester_names(topic)
    drafts = [
        Draft(
            key=f"{key}:requester:{requester.pk}",
            channel=Channel.SMS,
            template=template,
            to_masked=masking.mask_phone(requester.phone),
            body=messages.sms_topic_progress(
                topic_title=topic.title,
                progress=progress,
                link=messages.track_url(need),
                names=names,
            ),
            need=need,
            requester=requester,
        )
        for requester, need in requesters_of(topic)
    ]
    return outbox.enqueue_many(drafts)
