"""需求精度: what a recorded need still lacks to be specific enough to act on.

A handling unit can act on "东河村三组 12 户村民的自来水从上个月起每天停两三个小时"; it cannot act
on "水的问题". Before saving, the capture form points out which of the four questions the text
leaves open: where, what exactly, since when, who is affected. These are hints from plain word
lists, never a reason to refuse a need: a resident's words are recorded as they were said.
"""

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

# Fewer characters than this (punctuation and spaces not counted) says little about the matter.
MIN_DESCRIPTION_CHARS = 15

_PUNCTUATION = re.compile(r"[\s\W_]+")

# Place words: administrative units, roads and buildings, landmarks, relative positions.
# 村民 / 村委 and 居民 are people or bodies, not places, so 村 must not be followed by them.
_WHERE = re.compile(
    r"村(?![民委])|[组屯寨庄巷弄栋幢]|[一二三四五六七八九十\d]+号|路(?![灯费线况子])|街|道口|大道"
    r"|小区|社区|楼|单元|院|门口|门前|桥|渠|河|沟|塘|坝|水库|山|田|地里|广场|公园"
    r"|学校|小学|中学|幼儿园|医院|卫生室|卫生院|市场|超市|车间|工厂|厂区|车站|公交站|站台|码头"
    r"|附近|旁边|对面|路口|交叉口|东侧|西侧|南侧|北侧|东头|西头|境内|辖区"
)

# Time words: a duration, a starting point, a season, a frequency.
_WHEN = re.compile(
    r"[\d一二两三四五六七八九十几半多数]+\s*(?:个)?(?:天|日|周|星期|礼拜|月|年(?![级纪])|小时|季度)"
    r"|\d{1,2}\s*月|\d{4}\s*年|最近|近来|近期|近日|近年|以来|至今|一直|从|自从|开始|之前|以前"
    r"|去年|今年|前年|明年|昨天|前天|今天|今早|上周|上个?月|本月|这个?月|下个?月|年初|年底"
    r"|春节|入冬|入夏|冬天|夏天|雨季|汛期|每[天日周月年晚早]|天天|经常|常年|长期|多年"
)

# People words: who is affected and roughly how many.
_WHO = re.compile(
    r"户|人(?!行道|民(?:政府|医院|法院|路|广场))|家|群众|村民|居民|学生|孩子|儿童|小孩|幼儿|业主|商户|住户|租户|农户|职工|员工|工人"
    r"|师生|患者|妇女|老乡|乡亲|本人|我们|他们|大家"
)


@dataclass(frozen=True)
class Gap:
    key: str  # "where", "what", "when", "who"
    label: str  # the question, short: 在哪里
    message: str  # the question and what to write


def precision_gaps(*, title: str, description: str, address: str = "") -> list[Gap]:
    """The questions a need's text leaves open, in the order an officer would ask them."""
    text = f"{title}\n{description}"
    gaps: list[Gap] = []
    if not address.strip() and not _WHERE.search(text):
        gaps.append(
            Gap(
                "where",
                _("在哪里"),
                _(
                    "在哪里：没有写事发地点。请填写“事发地点”，"
                    "或在内容里写明具体位置（村组、路名、门牌或附近的地标）。"
                ),
            )
        )
    body = _PUNCTUATION.sub("", description)
    if len(body) < MIN_DESCRIPTION_CHARS or body == _PUNCTUATION.sub("", title):
        gaps.append(
            Gap(
                "what",
                _("具体什么事"),
                _(
                    "具体什么事：诉求内容较简略。"
                    "请写清现在是什么情况、问题出在哪里、群众希望怎样解决。"
                ),
            )
        )
    if not _WHEN.search(text):
        gaps.append(
            Gap(
                "when",
                _("从什么时候"),
                _(
                    "从什么时候：没有写时间。请写明问题出现多久了（如“最近一个月”“从去年冬天以来”）。"
                ),
            )
        )
    if not _WHO.search(text):
        gaps.append(
            Gap(
                "who",
                _("影响到谁"),
                _(
                    "影响到谁：没有写涉及的人。"
                    "请写明涉及多少户、多少人或哪些群众（如“三组 12 户村民”）。"
                ),
            )
        )
    return gaps


def precision_hints(*, title: str, description: str, address: str = "") -> list[str]:
    """The hints as sentences for people; empty when the need reads specific enough."""
    return [
        gap.message for gap in precision_gaps(title=title, description=description, address=address)
    ]
