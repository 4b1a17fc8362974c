"""The fields a ledger column may hold, the headers people write for each, and the automatic
mapping of a file's header row to fields (the user may change every column's field)."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

IGNORE = ""


@dataclass(frozen=True)
class Field:
    key: str
    label: Promise
    synonyms: tuple[str, ...]
    # Personal data: values are masked wherever the import shows them.
    personal: bool = False
    # Several columns may map here (所属区域: 乡镇 + 村 + 网格), joined as a name path.
    multiple: bool = False


FIELDS: tuple[Field, ...] = (
    Field(
        "original_number",
        _("原编号"),
        (
            "编号",
            "原编号",
            "原台账编号",
            "工单编号",
            "工单号",
            "诉求编号",
            "登记编号",
            "台账编号",
            "案件编号",
        ),
    ),
    Field(
        "registered_at",
        _("登记日期"),
        (
            "登记日期",
            "登记时间",
            "受理时间",
            "受理日期",
            "反映时间",
            "反映日期",
            "来电时间",
            "走访日期",
            "走访时间",
            "日期",
        ),
    ),
    Field(
        "source", _("来源渠道"), ("来源", "来源渠道", "渠道", "诉求来源", "反映渠道", "受理渠道")
    ),
    Field(
        "area",
        _("所属区域"),
        (
            "所属区域",
            "区域",
            "街道",
            "社区",
            "村",
            "网格",
            "乡镇",
            "镇街",
            "村社区",
            "村居",
            "所属街道",
            "所属社区",
            "所属村",
            "所属网格",
            "所属乡镇",
            "乡镇街道",
            "所属街道/社区/网格",
            "所属村社区",
            "区划",
        ),
        multiple=True,
    ),
    Field(
        "requester_name",
        _("诉求人"),
        ("诉求人", "姓名", "反映人", "来电人", "诉求人姓名", "群众姓名", "反映人姓名", "当事人"),
        personal=True,
    ),
    Field(
        "phone",
        _("联系电话"),
        ("联系电话", "电话", "手机", "手机号", "手机号码", "联系方式", "电话号码", "来电号码"),
        personal=True,
    ),
    Field(
        "address", _("住址"), ("住址", "地址", "家庭住址", "联系地址", "居住地址"), personal=True
    ),
    Field(
        "category",
        _("诉求类别"),
        ("诉求类别", "分类", "类别", "诉求分类", "问题类别", "问题分类", "事项类别"),
    ),
    Field("kind", _("诉求类型"), ("诉求类型", "类型", "诉求性质", "性质")),
    Field("title", _("标题"), ("标题", "诉求标题", "事项", "事项名称", "主题")),
    Field(
        "description",
        _("诉求内容"),
        (
            "诉求内容",
            "反映内容",
            "问题描述",
            "内容",
            "诉求描述",
            "具体诉求",
            "反映问题",
            "诉求事项",
            "主要诉求",
            "来电内容",
        ),
    ),
    Field("urgency", _("紧急程度"), ("紧急程度", "缓急程度", "紧急度", "优先级", "缓急")),
    Field(
        "unit",
        _("责任单位"),
        (
            "责任单位",
            "承办单位",
            "主办单位",
            "办理单位",
            "责任主体",
            "交办单位",
            "责任部门",
            "承办部门",
        ),
    ),
    Field("assigned_at", _("交办时间"), ("交办时间", "交办日期")),
    Field("status", _("办理状态"), ("办理状态", "状态", "办理进度", "进度", "当前状态")),
    Field(
        "result",
        _("答复内容"),
        (
            "答复内容",
            "办理结果",
            "办理情况",
            "处理结果",
            "办理结果/答复内容",
            "答复意见",
            "回复内容",
            "处理情况",
        ),
    ),
    Field("closed_at", _("办结时间"), ("办结时间", "办结日期", "完成时间", "结案时间")),
    Field("note", _("备注"), ("备注", "说明")),
)
BY_KEY = {field.key: field for field in FIELDS}
REQUIRED = ("area", "description")


def _normal(text: str) -> str:
    """NFKC, no spaces, no required-marks (*), no notes in brackets ("联系电话(脱敏)")."""
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", text)).strip("*")
    return re.sub(r"\((?:.*?)\)$", "", text)


_SYNONYMS = {_normal(word): field.key for field in FIELDS for word in field.synonyms}


def field_for_header(header: str) -> str:
    """The field a header names, or "" (IGNORE)."""
    return _SYNONYMS.get(_normal(header), IGNORE)


def auto_mapping(headers: Sequence[str]) -> list[str]:
    """A field for each column; a field already taken by an earlier column is left to the user,
    except 所属区域, whose columns (乡镇, 村, 网格) make up one name path."""
    taken: set[str] = set()
    mapping = []
    for header in headers:
        key = field_for_header(header)
        if key and key in taken and not BY_KEY[key].multiple:
            key = IGNORE
        taken.add(key)
        mapping.append(key)
    return mapping


def mapping_problems(mapping: Sequence[str]) -> list[str]:
    """What keeps a mapping from being used: a required field no column holds, a field held
    by two columns. Messages say what to change on the mapping page."""
    problems = []
    for key in REQUIRED:
        if key not in mapping:
            problems.append(
                str(_("没有一列对应“%(field)s”：请在下面为这一列选择“%(field)s”。"))
                % {"field": BY_KEY[key].label}
            )
    seen: set[str] = set()
    for key in mapping:
        if key and key in seen and not BY_KEY[key].multiple:
            problems.append(
                str(_("“%(field)s”对应了不止一列：请只保留一列，其余选“不导入”。"))
                % {"field": BY_KEY[key].label}
            )
        seen.add(key)
    return problems
