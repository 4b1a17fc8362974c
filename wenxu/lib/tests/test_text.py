from django.utils import translation

from wenxu.lib.text import join_list


def test_lists_join_the_way_each_language_writes_them():
    with translation.override("zh-hans"):
        assert join_list(["县住建局", "县交通局"]) == "县住建局、县交通局"
    with translation.override("en"):
        assert join_list(["Housing", "Transport", 3]) == "Housing, Transport, 3"
    assert join_list([]) == ""
