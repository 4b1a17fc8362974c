"""In-app notifications: who must act on a need learns of it (DESIGN §3, side effects)."""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.lib.inserts import BuiltInserts


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收人"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    need = models.ForeignKey(
        "needs.Need", verbose_name=_("诉求"), on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(
        "needs.NeedEvent", verbose_name=_("办理记录"), on_delete=models.CASCADE, related_name="+"
    )
    message = models.CharField(_("内容"), max_length=300)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            # Delivery is idempotent: a retried task never notifies twice.
            models.UniqueConstraint(fields=["event", "recipient"], name="notification_once"),
        ]

    def __str__(self) -> str:
        return self.message


class Channel(models.TextChoices):
    SMS = "sms", _("短信")
    EMAIL = "email", _("电子邮件")
    WECOM = "wecom", _("企业微信群机器人")
    DINGTALK = "dingtalk", _("钉钉群机器人")


class Message(models.Model):
    """The outbox: one row per message to one recipient on one channel (ADR 0012).

    Rows are written in the transaction of what caused them (or by the sweep), then sent by the
    worker. `key` names the trigger (template + event or deadline cycle + recipient), so a
    trigger produces its message once however often it fires. `body` is stored with personal
    data masked; the real address is looked up from `requester` / `user` / `robot` when sending.
    A rating link is stored as the `{link}` placeholder and filled in only when sending.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")
        CANCELLED = "cancelled", _("已取消")

    key = models.CharField(_("触发标识"), max_length=200, unique=True)
    channel = models.CharField(_("渠道"), max_length=16, choices=Channel.choices)
    template = models.CharField(_("模板"), max_length=40)
    need = models.ForeignKey(
        "needs.Need",
        verbose_name=_("诉求"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    requester = models.ForeignKey(
        "residents.Requester",
        verbose_name=_("群众"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("工作人员"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    robot = models.ForeignKey(
        "notify.Robot",
        verbose_name=_("群机器人"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    rating_link = models.ForeignKey(
        "needs.RatingLink",
        verbose_name=_("评价链接"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    to_masked = models.CharField(_("接收方"), max_length=200)
    subject = models.CharField(_("标题"), max_length=200, blank=True)
    body = models.TextField(_("内容（已脱敏）"))
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), db_index=True)
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)
    provider_id = models.CharField(_("服务商编号"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("生成时间"))
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("消息")
        verbose_name_plural = _("消息发件箱")
        ordering: ClassVar = ["-id"]
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="message_due"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["pending", "sending", "sent", "failed", "cancelled"]
                ),
                name="message_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["sms", "email", "wecom", "dingtalk"]),
                name="message_channel_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.to_masked}: {self.template}"


class Robot(models.Model):
    """A staff group robot (企业微信 / 钉钉 webhook) that hears of a unit's or an area's needs."""

    kind = models.CharField(
        _("类型"),
        max_length=16,
        choices=[(Channel.WECOM, Channel.WECOM.label), (Channel.DINGTALK, Channel.DINGTALK.label)],
    )
    name = models.CharField(_("名称"), max_length=100)
    webhook_url = models.URLField(_("Webhook 地址"), max_length=500)
    # 钉钉 "加签": the robot's secret (SEC…); blank when the robot uses keywords or IP lists.
    secret = models.CharField(_("加签密钥"), max_length=200, blank=True)
    unit = models.ForeignKey(
        "organisations.Unit",
        verbose_name=_("单位"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    area = models.ForeignKey(
        "organisations.Area",
        verbose_name=_("区域（调度群）"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("群机器人")
        verbose_name_plural = _("群机器人")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["wecom", "dingtalk"]), name="robot_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(unit__isnull=False) | models.Q(area__isnull=False),
                name="robot_has_scope",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """Marks that an event's notifications and messages were produced (`notify_for_event`).

    Written in the same transaction as what it marks, so the sweep's catch-up pass can find
    recent events whose delivery never ran (a crash between the event's commit and its task)
    and produce them late. Producing twice adds nothing (notifications and message keys are
    unique); the marker only saves the work.
    """

    event = models.OneToOneField(
        "needs.NeedEvent",
        verbose_name=_("办理记录"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    delivered_at = models.DateTimeField(_("处理时间"))

    class Meta:
        verbose_name = _("通知处理记录")
        verbose_name_plural = _("通知处理记录")

    def __str__(self) -> str:
        return f"{self.event_id}@{self.delivered_at:%Y-%m-%d %H:%M}"


class QueuedDelivery(BuiltInserts, models.Model):
    """An event whose notifications and messages are still to be produced: written in the
    event's own transaction when the task queue is the database, and deleted by the worker
    that produces them (`wenxu.notify.queue`, ADR 0037)."""

    event = models.OneToOneField(
        "needs.NeedEvent",
        verbose_name=_("办理记录"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta:
        verbose_name = _("待处理通知")
        verbose_name_plural = _("待处理通知")

    def __str__(self) -> str:
        return str(self.event_id)


class DigestRun(models.Model):
    """The daily digests of one local date were produced: later sweeps that day skip them."""

    date = models.DateField(_("日期"), unique=True)
    produced_at = models.DateTimeField(_("生成时间"))

    class Meta:
        verbose_name = _("每日汇总记录")
        verbose_name_plural = _("每日汇总记录")

    def __str__(self) -> str:
        return self.date.isoformat()
