"""The ledger (台账): needs, their append-only events, categories, deadline rules, calendar.

Only `wenxu.needs.services` changes `Need.status`; see `states.py` for the transition table.
"""

import secrets
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wenxu.lib import clock
from wenxu.lib.inserts import BuiltInserts
from wenxu.needs import states
from wenxu.organisations.models import Area, TreeNode, Unit
from wenxu.residents.models import Requester


class Category(TreeNode):
    name = models.CharField(_("名称"), max_length=100)
    code = models.CharField(_("编码"), max_length=30, blank=True)
    default_unit = models.ForeignKey(
        Unit,
        verbose_name=_("默认责任单位"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("诉求分类")
        verbose_name_plural = _("诉求分类")
        ordering: ClassVar = ["path"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")
    COMPLEX = "complex", _("复杂")


class DurationUnit(models.TextChoices):
    HOURS = "hours", _("小时")
    WORKDAYS = "workdays", _("工作日")


class DeadlineRule(models.Model):
    """How long a unit has to respond and to resolve, by category (or all) and urgency."""

    category = models.ForeignKey(
        Category,
        verbose_name=_("分类"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text=_("留空表示适用于所有分类。"),
    )
    urgency = models.CharField(_("紧急程度"), max_length=16, choices=Urgency.choices)
    response_value = models.PositiveIntegerField(_("响应时限"))
    response_unit = models.CharField(_("响应时限单位"), max_length=16, choices=DurationUnit.choices)
    resolve_value = models.PositiveIntegerField(_("办结时限"))
    resolve_unit = models.CharField(_("办结时限单位"), max_length=16, choices=DurationUnit.choices)
    remind_before_hours = models.PositiveIntegerField(_("提前提醒(小时)"), default=24)
    max_extensions = models.PositiveSmallIntegerField(_("最多延期次数"), default=1)
    max_extension_days = models.PositiveSmallIntegerField(_("单次最多延期(工作日)"), default=10)

    class Meta:
        verbose_name = _("办理时限规则")
        verbose_name_plural = _("办理时限规则")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["category", "urgency"],
                name="deadline_rule_unique",
                violation_error_message=_("该分类和紧急程度已有规则。"),
            ),
            models.UniqueConstraint(
                fields=["urgency"],
                condition=models.Q(category__isnull=True),
                name="deadline_rule_default_unique",
                violation_error_message=_("该紧急程度已有通用规则。"),
            ),
            models.CheckConstraint(
                condition=models.Q(response_value__gt=0, resolve_value__gt=0),
                name="deadline_rule_positive",
                violation_error_message=_("时限必须大于零。"),
            ),
        ]

    def __str__(self) -> str:
        scope = self.category.name if self.category else _("所有分类")
        return f"{scope} · {self.get_urgency_display()}"


class HolidayOverride(models.Model):
    """A day the State Council notice sets differently from the `holidays` package.

    Enter next year's notice here: every day off (放假) and every adjusted working weekend
    (调休上班). A year with any override counts as having notice data (not provisional).
    """

    date = models.DateField(_("日期"), unique=True)
    is_workday = models.BooleanField(_("上班"), help_text=_("勾选表示当天上班（调休），否则放假。"))
    note = models.CharField(_("说明"), max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("节假日调整")
        verbose_name_plural = _("节假日调整")
        ordering: ClassVar = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {'上班' if self.is_workday else '放假'}"


class LedgerCounter(models.Model):
    """The last ledger serial issued per year; incremented under a row lock."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("台账编号计数")
        verbose_name_plural = _("台账编号计数")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


# The columns the scoping selector tests: the active ledger's indexes carry them (PostgreSQL's
# `include`), so counts and pages read the index alone (ADR 0021).
_SCOPE_COLUMNS = (
    "status",
    "area",
    "lead_unit",
    "recorded_by",
    "about_unit",
    "about_unit_disclosed",
)


def _scope_columns(*, without: str = "") -> list[str]:
    return [column for column in _SCOPE_COLUMNS if column != without]


class Need(BuiltInserts, models.Model):
    Status = states.Status
    Kind = states.Kind
    Urgency = Urgency
    Source = states.Source
    Handling = states.Handling
    Outcome = states.Outcome

    number = models.CharField(_("台账编号"), max_length=20, unique=True, editable=False)
    tracking_code = models.CharField(_("查询码"), max_length=12, unique=True, editable=False)
    title = models.CharField(_("标题"), max_length=200)
    description = models.TextField(_("诉求内容"))
    category = models.ForeignKey(
        Category,
        verbose_name=_("分类"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs",
    )
    kind = models.CharField(_("诉求类型"), max_length=16, choices=states.Kind.choices)
    urgency = models.CharField(
        _("紧急程度"), max_length=16, choices=Urgency.choices, default=Urgency.NORMAL
    )
    nature_tags = models.JSONField(_("急难愁盼"), default=list, blank=True)
    source = models.CharField(_("来源"), max_length=16, choices=states.Source.choices)
    area = models.ForeignKey(
        Area, verbose_name=_("所属区域"), on_delete=models.PROTECT, related_name="needs"
    )
    address = models.CharField(_("事发地点"), max_length=200, blank=True)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(
        _("经度"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    requester = models.ForeignKey(
        Requester,
        verbose_name=_("诉求人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs",
    )
    handling = models.CharField(
        _("办理方式"), max_length=16, choices=states.Handling.choices, default="routine"
    )
    status = models.CharField(
        _("状态"), max_length=16, choices=states.Status.choices, default="registered"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("登记人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recorded_needs",
    )
    registered_at = models.DateTimeField(_("登记时间"), db_index=True)

    lead_unit = models.ForeignKey(
        Unit,
        verbose_name=_("主办单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_needs",
    )
    co_units = models.ManyToManyField(
        Unit, verbose_name=_("协办单位"), blank=True, related_name="co_needs"
    )
    assigned_at = models.DateTimeField(_("交办时间"), null=True, blank=True)
    response_due = models.DateTimeField(_("响应时限"), null=True, blank=True)
    resolve_due = models.DateTimeField(_("办结时限"), null=True, blank=True, db_index=True)
    original_resolve_due = models.DateTimeField(_("原办结时限"), null=True, blank=True)
    due_provisional = models.BooleanField(_("时限为暂定"), default=False)
    calendar_version = models.CharField(_("工作日历版本"), max_length=40, blank=True)

    responded_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    replied_at = models.DateTimeField(_("答复时间"), null=True, blank=True)
    outcome = models.CharField(
        _("办理结果"), max_length=16, choices=states.Outcome.choices, blank=True
    )
    reply_text = models.TextField(_("答复内容"), blank=True)
    followup_date = models.DateField(_("跟进日期"), null=True, blank=True)
    fulfilled_at = models.DateTimeField(_("兑现时间"), null=True, blank=True)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)

    callback_resolved = models.CharField(
        _("回访：是否解决"), max_length=8, choices=states.CallbackResolved.choices, blank=True
    )
    callback_satisfaction = models.CharField(
        _("回访：满意度"), max_length=20, choices=states.Satisfaction.choices, blank=True
    )
    callback_channel = models.CharField(
        _("回访方式"), max_length=16, choices=states.CallbackChannel.choices, blank=True
    )
    callback_comment = models.TextField(_("回访意见"), blank=True)
    callback_at = models.DateTimeField(_("回访时间"), null=True, blank=True)

    extension_count = models.PositiveSmallIntegerField(_("延期次数"), default=0)
    extension_pending_days = models.PositiveSmallIntegerField(
        _("待批延期天数"), null=True, blank=True
    )
    extension_pending_reason = models.TextField(_("延期理由"), blank=True)
    reopen_count = models.PositiveSmallIntegerField(_("重办次数"), default=0)
    supervised = models.BooleanField(_("督办中"), default=False)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("合并至"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_needs",
    )

    visit = models.ForeignKey(
        "visits.Visit",
        verbose_name=_("来自走访"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="needs",
    )
    # 望闻问切 (source "observed"): when the resident later confirmed the need is theirs.
    observed_confirmed_at = models.DateTimeField(_("群众确认时间"), null=True, blank=True)
    # Set when a field app or the offline outbox sent the need: a replay finds it again.
    client_uuid = models.UUIDField(_("客户端编号"), unique=True, null=True, blank=True)
    client_payload_hash = models.CharField(max_length=64, blank=True, editable=False)
    # 回音墙: the requester agreed that the need and its reply may be shown publicly, anonymised.
    public_consent = models.BooleanField(_("同意在回音墙公开"), default=False)
    # 批评/投诉 about a unit: its staff (and those of the units above and below it) do not see
    # the need, nor may it be given to them, unless a dispatcher discloses it; even then the
    # requester stays confidential to them (issue #9; selectors.scope_q, services.disclosure).
    about_unit = models.ForeignKey(
        Unit,
        verbose_name=_("被批评/投诉单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    about_unit_disclosed = models.BooleanField(_("已向被批评单位公开"), default=False)

    version = models.PositiveIntegerField(_("版本"), default=1)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("诉求")
        verbose_name_plural = _("诉求台账")
        ordering: ClassVar = ["-id"]
        # Partial indexes on the active set (DESIGN §3; about a tenth of the ledger): the open
        # ledger by deadline, whole, by unit and by area; one status; and the needs still
        # waiting for a reply (超期, 临期, the sweep). Closed needs never enter them, so they
        # stay small and cost a closed need nothing. On PostgreSQL they carry the columns the
        # scoping selector checks (`include`), so a count or a page reads the index alone;
        # SQLite has no such columns and keeps the plain index. Plans and numbers: ADR 0021.
        indexes: ClassVar = [
            models.Index(
                fields=["resolve_due", "id"],
                include=_scope_columns(),
                condition=models.Q(status__in=sorted(states.ACTIVE)),
                name="need_active_due",
            ),
            models.Index(
                fields=["lead_unit", "resolve_due", "id"],
                include=_scope_columns(without="lead_unit"),
                condition=models.Q(status__in=sorted(states.ACTIVE)),
                name="need_active_unit_due",
            ),
            models.Index(
                fields=["area", "resolve_due", "id"],
                include=_scope_columns(without="area"),
                condition=models.Q(status__in=sorted(states.ACTIVE)),
                name="need_active_area_due",
            ),
            models.Index(
                fields=["status", "resolve_due", "id"],
                include=["response_due", "replied_at", "followup_date"],
                condition=models.Q(status__in=sorted(states.ACTIVE)),
                name="need_active_status_due",
            ),
            models.Index(
                fields=["resolve_due", "id"],
                include=_scope_columns(),
                condition=models.Q(status__in=sorted(states.ACTIVE), replied_at__isnull=True),
                name="need_running_due",
            ),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(status__in=states.Status.values), name="need_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=states.Kind.values), name="need_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(urgency__in=Urgency.values), name="need_urgency_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=states.Source.values), name="need_source_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=[*states.Outcome.values, ""]),
                name="need_outcome_valid",
            ),
            # 事事有回音: nothing leaves the active set as closed without a reply.
            models.CheckConstraint(
                condition=~models.Q(status__in=["replied", "following", "closed"])
                | (models.Q(replied_at__isnull=False) & ~models.Q(outcome="")),
                name="need_reply_before_close",
            ),
            # 件件有着落: a `planned` promise carries its follow-up date...
            models.CheckConstraint(
                condition=~models.Q(outcome="planned") | models.Q(followup_date__isnull=False),
                name="need_planned_has_followup",
            ),
            # ... and is closed only once fulfilled.
            models.CheckConstraint(
                condition=~models.Q(status="closed", outcome="planned")
                | models.Q(fulfilled_at__isnull=False),
                name="need_planned_closed_fulfilled",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["assigned", "in_progress"])
                | models.Q(lead_unit__isnull=False, resolve_due__isnull=False),
                name="need_assigned_has_unit_and_due",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="merged") | models.Q(merged_into__isnull=False),
                name="need_merged_has_target",
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="need_version_pos"),
            models.CheckConstraint(
                condition=models.Q(about_unit__isnull=True)
                | models.Q(kind__in=sorted(states.ABOUT_UNIT_KINDS)),
                name="need_about_unit_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(about_unit_disclosed=False) | models.Q(about_unit__isnull=False),
                name="need_disclosed_has_about_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status in states.ACTIVE

    @property
    def is_observed(self) -> bool:
        """望闻问切: noticed by the official, not voiced by the resident."""
        return self.source == states.Source.OBSERVED

    def is_overdue(self, at: Any) -> bool:
        """Past its resolution deadline without a reply (the reply is what stops the clock)."""
        return (
            self.status in states.ACTIVE
            and self.replied_at is None
            and self.resolve_due is not None
            and self.resolve_due < at
        )


class LedgerMark(models.Model):
    """A change to the needs a scope's ledger lists (ADR 0028): a unit's (`u<id>`) or a
    recorder's (`r<id>`). Database triggers (PostgreSQL only, migration needs 0008) add a row
    for each scope a statement touches whenever needs change in a way a ledger shows: inserted,
    deleted, moved between units, any column but `version` and `updated_at` changed (a
    progress note changes only those), a co-unit added or removed, a requester edited.

    Rows are only added (no row is ever locked by two writers), and the sweep folds each
    scope's rows into one new row. The count and the largest id of a viewer's scopes' rows
    change with every committed change and never come back to an earlier pair: the ledger
    keeps a viewer's rendered results under them."""

    scope = models.CharField(max_length=24, db_index=True)

    class Meta:
        verbose_name = _("台账变更标记")
        verbose_name_plural = _("台账变更标记")

    def __str__(self) -> str:
        return f"{self.scope}: {self.pk}"


class KeptLedger(models.Model):
    """A handler's rendered ledger results, shared by every server process (ADR 0031): filed
    under a digest of what `ledger_kept` keeps them under (the marks, the generation, the
    viewer, the language, the filters and the page), and shown while less than KEPT_SECONDS
    old. A cache: on PostgreSQL an unlogged table (migration needs 0009), read and written on
    the primary only, its old rows deleted by the sweep."""

    key = models.CharField(max_length=64, primary_key=True)
    made = models.DateTimeField()
    html = models.TextField()

    class Meta:
        verbose_name = _("台账结果缓存")
        verbose_name_plural = _("台账结果缓存")

    def __str__(self) -> str:
        return self.key


class NeedEvent(BuiltInserts, models.Model):
    """One row per action on a need. Append-only: rows are never updated or deleted."""

    need = models.ForeignKey(Need, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField(_("序号"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("为空表示系统自动操作。"),
    )
    action = models.CharField(_("动作"), max_length=24, choices=states.Action.choices)
    from_status = models.CharField(_("原状态"), max_length=16, blank=True)
    to_status = models.CharField(_("新状态"), max_length=16)
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(_("数据"), default=dict, blank=True)
    created_at = models.DateTimeField(_("时间"), db_index=True)

    class Meta:
        verbose_name = _("办理记录")
        verbose_name_plural = _("办理记录")
        ordering: ClassVar = ["need_id", "seq"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["need", "seq"], name="need_event_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.need_id}#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise RuntimeError("NeedEvent is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("NeedEvent is append-only")


def attachment_upload_to(instance: "Attachment", filename: str) -> str:
    """attachments/YYYY/MM/<random>.<ext>: the stored name says nothing about the content.

    `filename` is the service's "x.<ext>" with the extension of the detected type, never the
    name the user's device gave the file (that is kept in `original_name`, for display).
    """
    extension = filename.rsplit(".", 1)[-1].lower()
    month = timezone.localtime(clock.now()).strftime("%Y/%m")
    return f"attachments/{month}/{secrets.token_urlsafe(18)}.{extension}"


class Attachment(models.Model):
    """A photo or document kept with a need (proof of an on-the-spot solution, a site photo, a
    petition letter). Files live under MEDIA_ROOT and are served only by the scoped view
    `needs:attachment`, never from a public URL: they may show people and their homes."""

    class Kind(models.TextChoices):
        PHOTO = "photo", _("照片")
        DOCUMENT = "document", _("文件")

    need = models.ForeignKey(
        Need, verbose_name=_("诉求"), on_delete=models.PROTECT, related_name="attachments"
    )
    client_uuid = models.UUIDField(_("客户端编号"), unique=True, null=True, blank=True)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("文件"), upload_to=attachment_upload_to, max_length=200)
    thumbnail = models.FileField(
        _("缩略图"), upload_to=attachment_upload_to, max_length=200, blank=True
    )
    original_name = models.CharField(_("原文件名"), max_length=200)
    content_type = models.CharField(_("文件格式"), max_length=100)
    size = models.PositiveIntegerField(_("大小(字节)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("上传人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("上传时间"))

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering: ClassVar = ["need_id", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["photo", "document"]), name="attachment_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_photo(self) -> bool:
        return self.kind == self.Kind.PHOTO


class RatingLink(models.Model):
    """A resident's one-time link to rate a reply (`/r/<signed token>`, sent by text message).

    The token is `signing.dumps(pk)`, so the row is the secret's state: one link per need and
    reply (a reopened need replied again gets a new one), used once, expiring.
    """

    need = models.ForeignKey(
        Need, verbose_name=_("诉求"), on_delete=models.CASCADE, related_name="rating_links"
    )
    # The reply this link asks about: the need's `replied_at` when the link was made.
    replied_at = models.DateTimeField(_("答复时间"))
    created_at = models.DateTimeField(_("生成时间"), default=clock.now)
    expires_at = models.DateTimeField(_("失效时间"))
    used_at = models.DateTimeField(_("使用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("评价链接")
        verbose_name_plural = _("评价链接")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["need", "replied_at"], name="rating_link_per_reply"),
        ]

    def __str__(self) -> str:
        return f"{self.need_id}@{self.replied_at:%Y-%m-%d %H:%M}"


class ReopenRequest(models.Model):
    """群众申请重办: a resident's unsatisfied verdict waiting for a dispatcher's decision.

    Accepted: the need is reopened (重办) with a new deadline. Declined: the reason is kept and
    shown to the resident on the tracking page. At most one pending request per need.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("待决定")
        ACCEPTED = "accepted", _("已同意重办")
        DECLINED = "declined", _("不予重办")

    need = models.ForeignKey(
        Need, verbose_name=_("诉求"), on_delete=models.CASCADE, related_name="reopen_requests"
    )
    state = models.CharField(_("状态"), max_length=16, choices=State.choices, default=State.PENDING)
    resolved = models.CharField(
        _("是否解决"), max_length=16, choices=states.CallbackResolved.choices, blank=True
    )
    satisfaction = models.CharField(
        _("满意度"), max_length=20, choices=states.Satisfaction.choices, blank=True
    )
    comment = models.TextField(_("群众意见"), blank=True)
    created_at = models.DateTimeField(_("提出时间"), default=clock.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("决定人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("决定时间"), null=True, blank=True)
    decline_reason = models.TextField(_("不予重办理由"), blank=True)

    class Meta:
        verbose_name = _("重办申请")
        verbose_name_plural = _("重办申请")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "accepted", "declined"]),
                name="reopen_request_state_valid",
            ),
            models.UniqueConstraint(
                fields=["need"],
                condition=models.Q(state="pending"),
                name="reopen_request_one_pending",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="declined") | ~models.Q(decline_reason=""),
                name="reopen_request_decline_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.need_id} {self.state}"


class LedgerImportBatch(models.Model):
    """One upload of an existing ledger (台账导入): the file's rows between upload and commit,
    the column mapping the user chose, the dry run's report, and, once committed, who imported
    which file when.

    Looked up by its random id *and* its user. The rows (names, phones) are emptied when the
    batch is committed; uncommitted batches are deleted by the next upload after a day. A file's
    sha256 may be committed once (partial unique constraint), so the same file is never imported
    twice, even by two commits racing.
    """

    class State(models.TextChoices):
        UPLOADED = "uploaded", _("待检查")
        REJECTED = "rejected", _("有误")
        CHECKED = "checked", _("检查无误")
        COMMITTED = "committed", _("已导入")

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("导入人"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    file_name = models.CharField(_("文件名"), max_length=200)
    sha256 = models.CharField(_("文件摘要(SHA-256)"), max_length=64, db_index=True)
    row_count = models.PositiveIntegerField(_("数据行数"), default=0)
    state = models.CharField(_("状态"), max_length=16, choices=State.choices, default="uploaded")
    # {"headers": [...], "header_row": n, "rows": [[number, [cells...]], ...]}; emptied on commit.
    data = models.JSONField(_("文件内容"), default=dict, blank=True)
    # One field key (or "") per column of the file, and the source for blank 来源 cells.
    mapping = models.JSONField(_("列对应"), default=list, blank=True)
    default_source = models.CharField(_("默认来源"), max_length=16, default="walk_in")
    # The dry run's outcome: counts and the problems (values already masked).
    report = models.JSONField(_("检查报告"), default=dict, blank=True)
    created_at = models.DateTimeField(_("上传时间"))
    checked_at = models.DateTimeField(_("检查时间"), null=True, blank=True)
    committed_at = models.DateTimeField(_("导入时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("台账导入批次")
        verbose_name_plural = _("台账导入批次")
        ordering: ClassVar = ["-created_at"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(state__in=["uploaded", "rejected", "checked", "committed"]),
                name="ledger_import_state_valid",
            ),
            models.UniqueConstraint(
                fields=["sha256"],
                condition=models.Q(state="committed"),
                name="ledger_import_file_once",
                violation_error_message=_("这个文件已经导入过。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_state_display()})"


class LedgerImportRow(models.Model):
    """A need that came from an imported ledger, with the number it had there (原编号).

    The unique constraint makes "the same original number in the same area" one need, so a
    row imported before is recognised (and refused) on any later import.
    """

    batch = models.ForeignKey(
        LedgerImportBatch, verbose_name=_("导入批次"), on_delete=models.PROTECT, related_name="+"
    )
    need = models.OneToOneField(
        Need, verbose_name=_("诉求"), on_delete=models.PROTECT, related_name="import_row"
    )
    area = models.ForeignKey(Area, verbose_name=_("所属区域"), on_delete=models.PROTECT)
    original_number = models.CharField(_("原编号"), max_length=100, blank=True)
    row_number = models.PositiveIntegerField(_("文件行号"))

    class Meta:
        verbose_name = _("台账导入记录")
        verbose_name_plural = _("台账导入记录")
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["area", "original_number"],
                condition=~models.Q(original_number=""),
                name="ledger_import_original_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_number} → {self.need_id}"
