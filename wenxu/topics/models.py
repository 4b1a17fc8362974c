"""专题 (issue #7, DESIGN §1): a systemic issue that groups many needs, with its root cause,
measures (治本之策), milestones and the effect of the measures on new needs of its kind."""

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TopicStatus(models.TextChoices):
    STUDYING = "studying", _("研究中")
    ACTING = "acting", _("整改中")
    MONITORING = "monitoring", _("成效观察")
    CLOSED = "closed", _("已办结")


class Topic(models.Model):
    Status = TopicStatus

    title = models.CharField(_("专题名称"), max_length=200)
    summary = models.TextField(_("问题概述"), blank=True)
    root_cause = models.TextField(_("根源分析"), blank=True)
    status = models.CharField(
        _("状态"), max_length=16, choices=TopicStatus.choices, default=TopicStatus.STUDYING
    )
    area = models.ForeignKey(
        "organisations.Area",
        verbose_name=_("涉及区域"),
        on_delete=models.PROTECT,
        related_name="topics",
        help_text=_("专题的范围：该区域及其下级。"),
    )
    category = models.ForeignKey(
        "needs.Category",
        verbose_name=_("诉求类别"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="topics",
        help_text=_("成效按该类别（含下级）在涉及区域内每周新增的诉求计算。"),
    )
    owner_unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("牵头单位"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_topics",
    )
    source_group = models.ForeignKey(
        "insight.HotTopicGroup",
        verbose_name=_("来自热点"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="topics",
    )
    measures_from = models.DateField(
        _("治理措施起始日期"),
        null=True,
        blank=True,
        help_text=_("成效对比以此日期为界；留空时取第一项措施的创建日期。"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    needs: "models.ManyToManyField[Any, Any]" = models.ManyToManyField(
        "needs.Need", through="TopicNeed", related_name="topics", verbose_name=_("关联诉求")
    )

    class Meta:
        verbose_name = _("专题")
        verbose_name_plural = _("专题")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(status__in=TopicStatus.values), name="topic_status_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="closed") | models.Q(closed_at__isnull=False),
                name="topic_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TopicNeed(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="links")
    need = models.ForeignKey("needs.Need", on_delete=models.CASCADE, related_name="topic_links")
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    linked_at = models.DateTimeField(_("关联时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("专题关联诉求")
        verbose_name_plural = _("专题关联诉求")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["topic", "need"], name="topicneed_once"),
        ]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.need_id}"


class MeasureStatus(models.TextChoices):
    PLANNED = "planned", _("未开始")
    IN_PROGRESS = "in_progress", _("推进中")
    DONE = "done", _("已完成")
    DROPPED = "dropped", _("已取消")


class Measure(models.Model):
    """治本之策: one measure with the unit that owns it and its due date."""

    Status = MeasureStatus

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="measures")
    title = models.CharField(_("措施"), max_length=200)
    description = models.TextField(_("具体内容"), blank=True)
    owner_unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("责任单位"),
        on_delete=models.PROTECT,
        related_name="topic_measures",
    )
    due_date = models.DateField(_("完成时限"))
    status = models.CharField(
        _("状态"), max_length=16, choices=MeasureStatus.choices, default=MeasureStatus.PLANNED
    )
    done_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("治理措施")
        verbose_name_plural = _("治理措施")
        ordering: ClassVar = ["topic_id", "due_date", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(status__in=MeasureStatus.values), name="measure_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Milestone(models.Model):
    """A step of the topic with the progress it stands for; completing it tells every linked
    need's requester (once per requester and milestone, through the notification outbox)."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="milestones")
    title = models.CharField(_("节点"), max_length=200)
    progress = models.PositiveSmallIntegerField(_("完成进度（%）"))
    due_date = models.DateField(_("计划日期"), null=True, blank=True)
    completed_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    note = models.TextField(_("进展说明"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("进度节点")
        verbose_name_plural = _("进度节点")
        ordering: ClassVar = ["topic_id", "progress", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="milestone_progress_max_100"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TopicEventAction(models.TextChoices):
    CREATED = "created", _("建立专题")
    UPDATED = "updated", _("修改专题")
    STATUS = "status", _("更改状态")
    CLOSED = "closed", _("办结专题")
    LINKED = "linked", _("关联诉求")
    UNLINKED = "unlinked", _("取消关联")
    MEASURE_ADDED = "measure_added", _("添加措施")
    MEASURE_UPDATED = "measure_updated", _("更新措施状态")
    MILESTONE_ADDED = "milestone_added", _("添加节点")
    MILESTONE_COMPLETED = "milestone_completed", _("完成节点")


class TopicEvent(models.Model):
    """办理记录: who changed what in a topic, appended by every write in `topics.services` and
    never changed. `note` is a short plain-Chinese account; the needs a link or unlink concerns
    are kept in `need_ids` (not in the note), so that each viewer is shown only the ones they
    may see (DESIGN §2)."""

    Action = TopicEventAction

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(_("操作"), max_length=24, choices=TopicEventAction.choices)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    need_ids = models.JSONField(_("涉及诉求"), default=list, blank=True)
    at = models.DateTimeField(_("时间"))

    class Meta:
        verbose_name = _("专题办理记录")
        verbose_name_plural = _("专题办理记录")
        ordering: ClassVar = ["topic_id", "at", "id"]
        indexes: ClassVar = [models.Index(fields=["topic", "at"], name="topicevent_topic_at")]

    def __str__(self) -> str:
        return f"{self.topic_id}:{self.action}"
