"""Pinyin search: initials, full pinyin and plain substrings."""

import pytest

from wenxu.lib import pinyin


def test_initials_and_spelling() -> None:
    assert pinyin.initials("东河村第一网格") == "dhcdywg"
    assert pinyin.initials("东河村第1网格") == "dhcd1wg"
    assert pinyin.spelled("东河村") == "donghecun"


@pytest.mark.parametrize("query", ["dhc", "DHC", "d h c", "donghe", "河村", "东河村", ""])
def test_matches(query: str) -> None:
    assert pinyin.matches("东河村", query)


@pytest.mark.parametrize("query", ["xl", "西岭", "dhz", "东河镇"])
def test_does_not_match(query: str) -> None:
    assert not pinyin.matches("东河村", query)
