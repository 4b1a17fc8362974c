"""Face-to-face visits (走访): the places officers go, the visits themselves, and visit plans.

A visit is a record in its own right, whether or not it raised a need ("no needs raised" is a
valid visit). Needs raised during a visit point back to it (`Need.visit`). Visits and needs sent
from the field carry a client-generated UUID, so a replayed upload returns the record it already
created instead of creating a second one (`payload_hash` tells a replay from a different record
that reuses the UUID).
"""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.lib import masking
from wenxu.needs.models import attachment_upload_to
from wenxu.organisations.models import Area


class PlaceKind(models.TextChoices):
    HOUSEHOLD = "household", _("住户")
    ENTERPRISE = "enterprise", _("企业")
    PUBLIC = "public", _("公共场所")


class Place(models.Model):
    """A household, enterprise or public place in a grid: what coverage plans count.

    `name` identifies the place within its area (a door number such as "3栋2单元401", an
    enterprise's name, "村文化广场"); the head of household and phone are personal data and are
    masked in every output.
    """

    Kind = PlaceKind

    area = models.ForeignKey(
        Area, verbose_name=_("所属网格"), on_delete=models.PROTECT, related_name="places"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=PlaceKind.choices)
    name = models.CharField(_("名称/门牌"), max_length=100)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    contact_name = models.CharField(_("户主/负责人"), max_length=100, blank=True)
    contact_phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    members = models.PositiveIntegerField(_("人数"), null=True, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)
    active = models.BooleanField(_("在册"), default=True, help_text=_("搬离或注销后取消勾选。"))
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("走访对象")
        verbose_name_plural = _("走访对象")
        ordering: ClassVar = ["area_id", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["area", "name"],
                name="place_name_unique_in_area",
                violation_error_message=_("该网格已有同名的走访对象。"),
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=PlaceKind.values), name="place_kind_valid"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["area", "kind", "active"], name="place_area_kind")
        ]

    def __str__(self) -> str:
        return self.name

    def masked_contact_name(self) -> str:
        return masking.mask_name(self.contact_name)

    def masked_contact_phone(self) -> str:
        return masking.mask_phone(self.contact_phone)


class VisitKind(models.TextChoices):
    HOME = "home", _("入户走访")
    FORUM = "forum", _("座谈会")
    RECEPTION = "reception", _("接待日")
    FIELD = "field", _("田间地头")
    ENTERPRISE = "enterprise", _("企业车间")
    COMMUNITY = "community", _("社区楼院")
    PHONE = "phone", _("电话回访")


class Mood(models.IntegerChoices):
    """民情温度: how the residents felt, as the officer judged it."""

    COLD = 1, _("冷（怨气较大）")
    COOL = 2, _("偏冷（有不满）")
    CALM = 3, _("平稳")
    WARM = 4, _("温暖（基本认可）")
    HOT = 5, _("热（满意认可）")


class Feeling(models.IntegerChoices):
    """The resident's own answer to 获得感 / 幸福感 / 安全感 questions."""

    VERY_LOW = 1, _("很弱")
    LOW = 2, _("较弱")
    MEDIUM = 3, _("一般")
    HIGH = 4, _("较强")
    VERY_HIGH = 5, _("很强")


class Visit(models.Model):
    Kind = VisitKind
    PlaceKind = PlaceKind
    Mood = Mood
    Feeling = Feeling

    client_uuid = models.UUIDField(_("客户端编号"), unique=True, editable=False)
    payload_hash = models.CharField(_("内容摘要"), max_length=64, editable=False)
    kind = models.CharField(_("走访形式"), max_length=16, choices=VisitKind.choices)
    area = models.ForeignKey(
        Area, verbose_name=_("走访区域"), on_delete=models.PROTECT, related_name="visits"
    )
    place = models.ForeignKey(
        Place,
        verbose_name=_("走访对象"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
    )
    place_kind = models.CharField(
        _("场所类型"), max_length=16, choices=PlaceKind.choices, blank=True
    )
    address = models.CharField(_("地点"), max_length=200, blank=True)
    latitude = models.DecimalField(_("纬度"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(
        _("经度"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    started_at = models.DateTimeField(_("开始时间"), db_index=True)
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    officers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("走访干部"),
        related_name="visits",
        blank=True,
    )
    companions = models.CharField(_("陪同人员"), max_length=200, blank=True)
    people_met = models.PositiveIntegerField(_("接触群众(人)"), default=0)
    summary = models.TextField(_("走访情况"), blank=True)
    mood = models.PositiveSmallIntegerField(_("民情温度"), choices=Mood.choices)
    mood_note = models.CharField(_("民情温度说明"), max_length=200, blank=True)
    sense_gain = models.PositiveSmallIntegerField(
        _("获得感"), choices=Feeling.choices, null=True, blank=True
    )
    sense_happiness = models.PositiveSmallIntegerField(
        _("幸福感"), choices=Feeling.choices, null=True, blank=True
    )
    sense_security = models.PositiveSmallIntegerField(
        _("安全感"), choices=Feeling.choices, null=True, blank=True
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("记录人"),
        on_delete=models.PROTECT,
        related_name="recorded_visits",
    )
    recorded_at = models.DateTimeField(_("记录时间"))

    class Meta:
        verbose_name = _("走访记录")
        verbose_name_plural = _("走访记录")
        ordering: ClassVar = ["-started_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["area", "started_at"], name="visit_area_started"),
            models.Index(fields=["place", "started_at"], name="visit_place_started"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=VisitKind.values), name="visit_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(mood__gte=1, mood__lte=5), name="visit_mood_range"
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="visit_ends_after_start",
            ),
            *(
                models.CheckConstraint(
                    condition=models.Q(**{f"{name}__isnull": True})
                    | models.Q(**{f"{name}__gte": 1, f"{name}__lte": 5}),
                    name=f"visit_{name}_range",
                )
                for name in ("sense_gain", "sense_happiness", "sense_security")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.area} {self.started_at:%Y-%m-%d}"


class VisitPhoto(models.Model):
    """A photo taken during a visit. Stored and served like need attachments (never public)."""

    visit = models.ForeignKey(
        Visit, verbose_name=_("走访记录"), on_delete=models.PROTECT, related_name="photos"
    )
    client_uuid = models.UUIDField(_("客户端编号"), unique=True, null=True, blank=True)
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
        on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(_("上传时间"))

    class Meta:
        verbose_name = _("走访照片")
        verbose_name_plural = _("走访照片")
        ordering: ClassVar = ["visit_id", "id"]

    def __str__(self) -> str:
        return self.original_name


class PlanKind(models.TextChoices):
    COVERAGE = "coverage", _("全覆盖走访")
    COUNT = "count", _("走访次数")


class PlanPeriod(models.TextChoices):
    MONTH = "month", _("每月")
    QUARTER = "quarter", _("每季度")
    YEAR = "year", _("每年")


class VisitPlan(models.Model):
    """A standing duty: every place of a kind in an area once per period (全覆盖), or N visits of
    a kind per period (e.g. two 座谈会 a month), optionally for one officer."""

    Kind = PlanKind
    Period = PlanPeriod

    name = models.CharField(_("计划名称"), max_length=100)
    kind = models.CharField(_("计划类型"), max_length=16, choices=PlanKind.choices)
    period = models.CharField(_("周期"), max_length=16, choices=PlanPeriod.choices)
    area = models.ForeignKey(
        Area, verbose_name=_("范围"), on_delete=models.PROTECT, related_name="visit_plans"
    )
    place_kind = models.CharField(
        _("走访对象类型"),
        max_length=16,
        choices=PlaceKind.choices,
        blank=True,
        help_text=_("全覆盖走访：留空表示所有类型。"),
    )
    visit_kind = models.CharField(
        _("走访形式"),
        max_length=16,
        choices=VisitKind.choices,
        blank=True,
        help_text=_("走访次数：留空表示任何形式。"),
    )
    target = models.PositiveIntegerField(
        _("每周期次数"), null=True, blank=True, help_text=_("走访次数计划必填。")
    )
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("责任干部"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visit_plans",
        help_text=_("留空表示由该范围内的干部共同完成。"),
    )
    starts_on = models.DateField(_("开始日期"))
    ends_on = models.DateField(_("结束日期"), null=True, blank=True)
    active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("制定人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("制定时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("走访计划")
        verbose_name_plural = _("走访计划")
        ordering: ClassVar = ["area_id", "name"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=PlanKind.values), name="plan_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(period__in=PlanPeriod.values), name="plan_period_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="count") | models.Q(target__isnull=False, target__gte=1),
                name="plan_count_has_target",
                violation_error_message=_("走访次数计划请填写每周期次数。"),
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="plan_ends_after_start",
                violation_error_message=_("结束日期不能早于开始日期。"),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PlaceImportBatch(models.Model):
    """The checked rows of a place import between preview and confirm.

    Kept on the server (not in the page) because the rows carry contact names and phones. A batch
    belongs to the user who uploaded it, is deleted once applied, and is refused after
    `expires_at`; stale batches are deleted lazily by the next import.
    """

    id = models.CharField(primary_key=True, max_length=64, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("上传人"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    rows = models.JSONField(_("待导入数据"), default=list)
    created_at = models.DateTimeField(_("预览时间"))
    expires_at = models.DateTimeField(_("过期时间"), db_index=True)

    class Meta:
        verbose_name = _("走访对象导入批次")
        verbose_name_plural = _("走访对象导入批次")

    def __str__(self) -> str:
        return self.id
