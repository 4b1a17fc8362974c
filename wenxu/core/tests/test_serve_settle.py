"""A web process settles before its first request (ADR 0033): the views are imported and what
is alive then is left out of the garbage collector's full passes."""

import gc
import sys

import pytest

from wenxu.core.management.commands import serve


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_web_process_loads_its_views_and_freezes_them_before_serving(unfrozen):
    # given a process that has not frozen anything
    assert gc.get_freeze_count() == 0

    # when the gunicorn application is loaded in it
    application = serve._Gunicorn.load(object.__new__(serve._Gunicorn))

    # then the views (and the pinyin dictionaries they import) are loaded and frozen
    assert callable(application)
    assert "wenxu.needs.views.ledger" in sys.modules
    assert "pypinyin" in sys.modules
    assert gc.get_freeze_count() > 100_000
    # and a full pass has little left to walk
    assert len(gc.get_objects()) < gc.get_freeze_count()
