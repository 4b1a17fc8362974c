"""需求精度: the hints name what a need's text leaves open, using texts as officers write them."""

import pytest

from wenxu.needs.precision import precision_gaps, precision_hints


def _keys(title: str, description: str, address: str = "") -> list[str]:
    return [
        gap.key for gap in precision_gaps(title=title, description=description, address=address)
    ]


@pytest.mark.parametrize(
    ("title", "description"),
    [
        (
            "西岭村五组机耕路被冲垮",
            "西岭村五组通往镇上的机耕路被去年汛期的洪水冲垮了一段，20 多户村民的农用车至今过不去。",
        ),
        (
            "幸福小区楼道灯不亮",
            "东河社区幸福小区 3 栋 2 单元楼道灯坏了两个多月，楼里住的多是老人，晚上上下楼很危险。",
        ),
        (
            "中学门口路口需要红绿灯",
            "青山中学门口的路口没有红绿灯，每天放学时学生过马路很危险，家长希望加装信号灯和减速带。",
        ),
        (
            "企业用电经常跳闸",
            "园区东侧的宏达机械厂反映，从今年 3 月起厂区用电经常跳闸，影响 60 多名工人正常生产。",
        ),
    ],
)
def test_specific_needs_get_no_hint(title: str, description: str) -> None:
    assert precision_hints(title=title, description=description) == []


def test_a_vague_need_lacks_all_four() -> None:
    assert _keys("路灯坏了", "路灯坏了") == ["where", "what", "when", "who"]


def test_hints_are_sentences_that_say_what_to_write() -> None:
    hints = precision_hints(title="路灯坏了", description="路灯坏了")
    assert len(hints) == 4
    assert hints[0].startswith("在哪里：")
    assert "事发地点" in hints[0]
    assert hints[2].startswith("从什么时候：")
    assert hints[3].startswith("影响到谁：")


def test_short_description_lacks_what_exactly() -> None:
    assert "what" in _keys("看病难", "老人看病难，希望解决")
    # the same sentence told fully is enough
    assert "what" not in _keys(
        "看病难", "村卫生室只有一名乡村医生，周末不开门，老人看病要坐一小时车去镇卫生院。"
    )


def test_description_repeating_the_title_lacks_what_exactly() -> None:
    title = "东河村三组十二户村民最近一个月经常停水"
    assert _keys(title, title) == ["what"]


def test_the_address_field_answers_where() -> None:
    text = "最近半个月每天晚上停水，12 户人家做饭洗澡都受影响，希望供水公司尽快查明原因。"
    assert "where" in _keys("停水", text)
    assert "where" not in _keys("停水", text, address="东河村三组")
    assert "where" in _keys("停水", text, address="   ")


def test_villagers_are_people_not_a_place() -> None:
    keys = _keys("停水", "村民反映最近一个月经常停水，生活很不方便，希望尽快解决。")
    assert keys == ["where"]


def test_first_grade_is_not_a_time_and_the_sidewalk_is_not_people() -> None:
    assert "when" in _keys("上学路远", "东河小学一年级离家远，希望开通校车接送，路上要走很久。")
    assert "who" in _keys("人行道破损", "东河镇人民路东侧人行道地砖破损已有三个月，下雨积水。")


@pytest.mark.parametrize(
    "phrase",
    ["从去年冬天开始", "最近", "已经三个月了", "2024年以来", "每天晚上", "半年多", "至今"],
)
def test_time_words_answer_since_when(phrase: str) -> None:
    assert "when" not in _keys(
        "停水", f"东河村三组{phrase}停水，十几户村民吃水困难，希望尽快解决。"
    )


@pytest.mark.parametrize("phrase", ["12 户", "村民", "居民", "老人", "学生", "孩子们", "商户"])
def test_people_words_answer_who(phrase: str) -> None:
    keys = _keys("排水沟堵塞", f"东河村三组的排水沟堵了一个多月，下雨就漫进{phrase}院子里。")
    assert "who" not in keys


def test_empty_text_lacks_everything_and_never_raises() -> None:
    assert _keys("", "") == ["where", "what", "when", "who"]
