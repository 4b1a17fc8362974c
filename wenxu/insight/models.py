"""Rollups (issue #6, DESIGN §5): daily counts per area × unit × category, from the event log.

Dashboards and the three rates read these rows, never the raw tables. A row is one local day
(Asia/Shanghai) and one combination of the need's area, the lead unit the event concerned and
the need's category; `key` names the combination because NULL units and categories would make
a plain unique constraint useless. `area_path` and `unit_path` are copied from the trees so that
a subtree is a prefix filter without joins.
"""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# The counters, in the order reports list them. See wenxu/insight/rollups.py for what adds to
# each, and docs/measures.md for how the rates use them.
COUNTERS: tuple[str, ...] = (
    "registered",
    "on_the_spot",
    "assigned",
    "accepted",
    "accepted_on_time",
    "response_overdue",
    "replies",
    "replied_on_time",
    "overdue",
    "extensions",
    "reopened",
    "callbacks",
    "unreachable",
    "resolved",
    "partly_resolved",
    "unresolved",
    "very_satisfied",
    "satisfied",
    "basic_satisfied",
    "dissatisfied",
    "very_dissatisfied",
    "visits",
    "households_reached",
    "mood_total",
)


class Counters(models.Model):
    """The additive counters every rollup row holds (COUNTERS, in this order)."""

    registered = models.PositiveIntegerField(_("登记"), default=0)
    on_the_spot = models.PositiveIntegerField(_("马上就办"), default=0)
    assigned = models.PositiveIntegerField(_("交办"), default=0)
    accepted = models.PositiveIntegerField(_("签收"), default=0)
    accepted_on_time = models.PositiveIntegerField(_("按时签收"), default=0)
    response_overdue = models.PositiveIntegerField(_("超时未签收"), default=0)
    replies = models.PositiveIntegerField(_("答复"), default=0)
    replied_on_time = models.PositiveIntegerField(_("按期答复"), default=0)
    overdue = models.PositiveIntegerField(_("超期未答复"), default=0)
    extensions = models.PositiveIntegerField(_("批准延期"), default=0)
    reopened = models.PositiveIntegerField(_("重办"), default=0)
    callbacks = models.PositiveIntegerField(_("回访（有评价）"), default=0)
    unreachable = models.PositiveIntegerField(_("回访未联系上"), default=0)
    resolved = models.PositiveIntegerField(_("已解决"), default=0)
    partly_resolved = models.PositiveIntegerField(_("部分解决"), default=0)
    unresolved = models.PositiveIntegerField(_("未解决"), default=0)
    very_satisfied = models.PositiveIntegerField(_("非常满意"), default=0)
    satisfied = models.PositiveIntegerField(_("满意"), default=0)
    basic_satisfied = models.PositiveIntegerField(_("基本满意"), default=0)
    dissatisfied = models.PositiveIntegerField(_("不满意"), default=0)
    very_dissatisfied = models.PositiveIntegerField(_("非常不满意"), default=0)
    visits = models.PositiveIntegerField(_("走访"), default=0)
    households_reached = models.PositiveIntegerField(_("走访到户"), default=0)
    # 民情温度: the sum of the visits' moods (1–5); the day's mean is mood_total / visits.
    mood_total = models.PositiveIntegerField(_("民情温度合计"), default=0)

    class Meta:
        abstract = True


class DailyCount(Counters):
    """One local day × the need's area × the lead unit × the category (the module docstring)."""

    key = models.CharField(max_length=80, unique=True, editable=False)
    day = models.DateField(_("日期"))
    area = models.ForeignKey(
        "organisations.Area", verbose_name=_("区域"), on_delete=models.CASCADE, related_name="+"
    )
    area_path = models.CharField(max_length=255, db_index=True)
    unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("责任单位"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    unit_path = models.CharField(max_length=255, blank=True, db_index=True)
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("诉求类别"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        verbose_name = _("每日统计")
        verbose_name_plural = _("每日统计")
        indexes: ClassVar = [
            models.Index(fields=["day", "area_path"], name="dailycount_day_area"),
            models.Index(fields=["day", "unit_path"], name="dailycount_day_unit"),
        ]

    def __str__(self) -> str:
        return self.key


class ScopeCount(Counters):
    """The daily rows summed for one scope (an area subtree), per day, month or year: in total,
    or per unit, category, area or child area, as one panel of the statistics groups them
    (ADR 0023). Kept by the same catch-up as `DailyCount`, in the same transaction, from the
    same increments; `rollups.scope_counts_rebuild()` derives them from the daily rows.

    `area` is the scope: every area at depth ≤ `SCOPE_DEPTH` above (or at) the counted
    area gets the row, so a scope is an equality, not a prefix over thousands of rows. A row
    holds only the counters its kind is read for (`KIND_COUNTERS`); the others stay 0."""

    class Kind(models.TextChoices):
        TOTAL = "total", _("合计")
        UNIT = "unit", _("按责任单位")
        CATEGORY = "category", _("按诉求类别")
        AREA = "area", _("按区域")
        CHILD = "child", _("按下级区域")

    class Grain(models.TextChoices):
        DAY = "d", _("日")
        MONTH = "m", _("月")
        YEAR = "y", _("年")

    key = models.CharField(max_length=80, unique=True, editable=False)
    kind = models.CharField(_("分组"), max_length=8, choices=Kind.choices)
    grain = models.CharField(_("周期"), max_length=1, choices=Grain.choices)
    period = models.DateField(_("起始日期"), help_text=_("该日、该月第一天或该年第一天。"))
    area = models.ForeignKey(
        "organisations.Area", verbose_name=_("范围"), on_delete=models.CASCADE, related_name="+"
    )
    unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("责任单位"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("诉求类别"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    # kind "area": the area counted (anywhere in the scope); kind "child": the scope's child
    # that holds it, or the scope itself when it was counted at the scope.
    place = models.ForeignKey(
        "organisations.Area",
        verbose_name=_("区域"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        verbose_name = _("范围统计")
        verbose_name_plural = _("范围统计")
        indexes: ClassVar = [
            models.Index(fields=["kind", "area", "grain", "period"], name="scopecount_read"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["total", "unit", "category", "area", "child"]),
                name="scopecount_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(grain__in=["d", "m", "y"]), name="scopecount_grain_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.key


# Areas at this depth or above (the city, its districts, their streets or towns: where
# leaders' scopes lie) get ScopeCount rows; a scope below reads the daily rows, few as they are.
SCOPE_DEPTH = 2

# The counters each kind of ScopeCount row is read for, and the grains it is kept in: days
# only where a panel shows days (the trend, the weekly 民情温度); the other kinds take the
# odd days at the edges of a period from the daily rows (selectors.ScopeReader).
KIND_COUNTERS: dict[str, tuple[str, ...]] = {
    ScopeCount.Kind.TOTAL: COUNTERS,
    ScopeCount.Kind.UNIT: COUNTERS,
    ScopeCount.Kind.CATEGORY: ("registered",),
    ScopeCount.Kind.AREA: ("registered", "overdue"),
    ScopeCount.Kind.CHILD: ("visits", "households_reached", "mood_total"),
}
KIND_GRAINS: dict[str, tuple[str, ...]] = {
    ScopeCount.Kind.TOTAL: ("d", "m", "y"),
    ScopeCount.Kind.UNIT: ("m", "y"),
    ScopeCount.Kind.CATEGORY: ("m", "y"),
    ScopeCount.Kind.AREA: ("m", "y"),
    ScopeCount.Kind.CHILD: ("d",),
}


class RollupCursor(models.Model):
    """How far the rollups have read the event log and the visits (one row, name "main")."""

    name = models.CharField(max_length=30, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    last_visit_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: event {self.last_event_id}, visit {self.last_visit_id}"


# ---------------------------------------------------------------------------------------------
# 举一反三 (issue #7): hot topics, routing suggestions and early signals. The engines live in
# hot.py, routing/ and signals.py; docs/insight.md says how each works.


class HotTopicRun(models.Model):
    """One clustering of the needs registered in a window and scope (热点); its groups below."""

    class State(models.TextChoices):
        PENDING = "pending", _("排队中")
        RUNNING = "running", _("计算中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("发起人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("为空表示定时计算。"),
    )
    area = models.ForeignKey(
        "organisations.Area",
        verbose_name=_("范围"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("诉求类别"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    window_start = models.DateTimeField(_("起始时间"))
    window_end = models.DateTimeField(_("截止时间"))
    state = models.CharField(_("状态"), max_length=16, choices=State.choices, default=State.PENDING)
    started_at = models.DateTimeField(_("开始计算"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    needs_count = models.PositiveIntegerField(_("参与聚类的诉求数"), default=0)
    error = models.TextField(_("错误"), blank=True)

    class Meta:
        verbose_name = _("热点计算")
        verbose_name_plural = _("热点计算")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "running", "done", "failed"]),
                name="hottopicrun_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.window_start:%Y-%m-%d}–{self.window_end:%Y-%m-%d} ({self.state})"


class HotTopicGroup(models.Model):
    """One group of similar needs found by a run, hottest first (`rank` 1)."""

    run = models.ForeignKey(HotTopicRun, on_delete=models.CASCADE, related_name="groups")
    rank = models.PositiveIntegerField(_("排名"))
    heat = models.FloatField(_("热度"))
    label = models.CharField(_("热点"), max_length=200)
    terms = models.JSONField(_("关键词"), default=list)
    size = models.PositiveIntegerField(_("诉求数"))
    requesters = models.PositiveIntegerField(_("诉求人数"))
    copies = models.PositiveIntegerField(_("重复提交"), default=0)
    area_ids = models.JSONField(_("涉及区域"), default=list)
    category_ids = models.JSONField(_("涉及类别"), default=list)
    previous_size = models.PositiveIntegerField(_("上一周期诉求数"), default=0)
    growth = models.FloatField(_("增长"), null=True, blank=True)
    need_ids = models.JSONField(_("诉求"), default=list)

    class Meta:
        verbose_name = _("热点")
        verbose_name_plural = _("热点")
        ordering: ClassVar = ["run_id", "rank"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "rank"], name="hottopicgroup_run_rank"),
        ]

    def __str__(self) -> str:
        return self.label


class RoutingTarget(models.TextChoices):
    CATEGORY = "category", _("诉求类别")
    UNIT = "unit", _("主办单位")


class RouterModel(models.Model):
    """A routing model trained on the ledger's decided needs (`wenxu router_train`).

    `data` holds the model as a NumPy .npz archive of plain arrays (loaded without pickle);
    one active model per target."""

    Target = RoutingTarget

    target = models.CharField(_("预测对象"), max_length=16, choices=RoutingTarget.choices)
    created_at = models.DateTimeField(_("训练时间"), auto_now_add=True)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("训练人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    samples = models.PositiveIntegerField(_("训练样本数"), default=0)
    corrections = models.PositiveIntegerField(_("其中调度员纠正"), default=0)
    classes = models.PositiveIntegerField(_("类别数"), default=0)
    metrics = models.JSONField(_("评估结果"), default=dict, blank=True)
    data = models.BinaryField(_("模型数据"), editable=False)
    active = models.BooleanField(_("使用中"), default=True)

    class Meta:
        verbose_name = _("分派模型")
        verbose_name_plural = _("分派模型")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["target"],
                condition=models.Q(active=True),
                name="routermodel_one_active_per_target",
            ),
            models.CheckConstraint(
                condition=models.Q(target__in=["category", "unit"]),
                name="routermodel_target_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()} #{self.pk}"


class RoutingRule(models.Model):
    """An admin's keyword rule: any keyword in a need's text suggests its category and/or unit.

    The cold start before any model is trained, and an override where the model is wrong."""

    name = models.CharField(_("规则名称"), max_length=100)
    keywords = models.TextField(
        _("关键词"), help_text=_("每行一个，或用逗号、顿号分隔；诉求标题或内容含任一关键词即命中。")
    )
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("建议类别"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("建议主办单位"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    area = models.ForeignKey(
        "organisations.Area",
        verbose_name=_("适用区域"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("留空表示全部区域；否则只对该区域及其下级的诉求生效。"),
    )
    priority = models.IntegerField(_("优先级"), default=0, help_text=_("数字大的先匹配。"))
    active = models.BooleanField(_("启用"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("分派规则")
        verbose_name_plural = _("分派规则")
        ordering: ClassVar = ["-priority", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(category__isnull=False) | models.Q(unit__isnull=False),
                name="routingrule_suggests_something",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RoutingSuggestion(models.Model):
    """What was suggested for a need at triage; compared with what the dispatcher then decided,
    it is the feedback the next training weighs (a correction counts more)."""

    class Source(models.TextChoices):
        MODEL = "model", _("模型")
        RULE = "rule", _("规则")
        NONE = "none", _("无建议")

    need = models.OneToOneField(
        "needs.Need", on_delete=models.CASCADE, related_name="routing_suggestion"
    )
    category = models.ForeignKey(
        "needs.Category", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category_confidence = models.FloatField(null=True, blank=True)
    unit = models.ForeignKey(
        "organisations.Unit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unit_confidence = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    rule = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    category_model = models.ForeignKey(
        RouterModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    unit_model = models.ForeignKey(
        RouterModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("分派建议")
        verbose_name_plural = _("分派建议")

    def __str__(self) -> str:
        return f"{self.need_id}: {self.category_id}/{self.unit_id}"


class Signal(models.Model):
    """未诉先办: needs of one category in one area rose against their baseline this period."""

    class State(models.TextChoices):
        NEW = "new", _("待研判")
        TASKED = "tasked", _("已安排走访")
        DISMISSED = "dismissed", _("已忽略")

    key = models.CharField(max_length=80, unique=True, editable=False)
    area = models.ForeignKey(
        "organisations.Area", verbose_name=_("区域"), on_delete=models.CASCADE, related_name="+"
    )
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("诉求类别"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    period_start = models.DateField(_("起始日期"))
    period_end = models.DateField(_("截止日期"))
    count = models.PositiveIntegerField(_("本期诉求数"))
    baseline = models.FloatField(_("近期基线"))
    last_year = models.PositiveIntegerField(_("去年同期"), null=True, blank=True)
    ratio = models.FloatField(_("倍数"))
    score = models.FloatField(_("显著性"))
    state = models.CharField(_("状态"), max_length=16, choices=State.choices, default=State.NEW)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    note = models.TextField(_("说明"), blank=True)
    visit_plan = models.ForeignKey(
        "visits.VisitPlan",
        verbose_name=_("走访任务"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("发现时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("预警信号")
        verbose_name_plural = _("预警信号")
        ordering: ClassVar = ["-period_end", "-score"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(state__in=["new", "tasked", "dismissed"]),
                name="signal_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class HotTopicGroupNeed(models.Model):
    """One need of a hot-topic group: the page recounts a group on the members a viewer may
    see with one scoped query, instead of reading `HotTopicGroup.need_ids`."""

    group = models.ForeignKey(HotTopicGroup, on_delete=models.CASCADE, related_name="members")
    need = models.ForeignKey("needs.Need", on_delete=models.CASCADE, related_name="+")
    area = models.ForeignKey(
        "organisations.Area", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # who wrote it as the run counted them (requester, or the need itself), and that author
    # with the text's fingerprint: identical copies share a voice
    author_key = models.CharField(max_length=40)
    voice = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("热点诉求")
        verbose_name_plural = _("热点诉求")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["group", "need"], name="hottopicgroupneed_group_need"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.need_id}"
