"""Rollups (issue #6, DESIGN §5): daily counts per area × unit × category, from the event log.

Dashboards and the three rates read these rows, never the raw tables. A row is one local day
(Asia/Shanghai) and one combination of the need's area, the lead unit the event concerned and
the need's category; `key` names the combination because NULL units and categories would make
a plain unique constraint useless. `area_path` and `unit_path` are copied from the trees so that
a subtree is a prefix filter without joins.
"""

from typing import ClassVar

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


class DailyCount(models.Model):
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
        verbose_name = _("每日统计")
        verbose_name_plural = _("每日统计")
        indexes: ClassVar = [
            models.Index(fields=["day", "area_path"], name="dailycount_day_area"),
            models.Index(fields=["day", "unit_path"], name="dailycount_day_unit"),
        ]

    def __str__(self) -> str:
        return self.key


class RollupCursor(models.Model):
    """How far the rollups have read the event log and the visits (one row, name "main")."""

    name = models.CharField(max_length=30, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    last_visit_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name}: event {self.last_event_id}, visit {self.last_visit_id}"
