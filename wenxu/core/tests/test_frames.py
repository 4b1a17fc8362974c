"""Whole pages kept with holes (wenxu.core.frames, ADR 0029): a kept ledger page is the page
rendered afresh, its holes hold this request's values, and whatever the frame shows of the
viewer (name, roles, permissions, language) is never another's or an earlier one's.

Personas: `handler` (县住建局) and `handler_other` (县交通局) open their ledgers; `leader` and
`dispatcher` see other navigation.
"""

import re
from typing import Any

import pytest
from django.contrib import messages
from django.contrib.auth.models import Permission
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client
from django.urls import reverse
from django.utils import translation

from wenxu.accounts.models import Membership, User
from wenxu.core import frames
from wenxu.core.tests.frames_helpers import (  # noqa: F401 - no_frames is a fixture
    CSRF,
    no_frames,
    render_frames_plainly,
    same_but_tokens,
)

LEDGER = reverse("needs:ledger")
SEARCH = reverse("needs:search")
pytestmark = pytest.mark.usefixtures("no_frames")


def _client(user: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def _page(client: Client, url: str = LEDGER, **query: str) -> str:
    response = client.get(url, query)
    assert response.status_code == 200
    return response.content.decode()


def test_a_kept_page_is_the_page_rendered_afresh(world: Any, monkeypatch) -> None:
    # given a handler's ledger with a need, filtered, and a keyword search
    world.assigned()
    client = _client(world.handler)
    views = [
        (LEDGER, {}),
        (LEDGER, {"status": "assigned", "sort": "deadline"}),
        (SEARCH, {"q": "灯"}),
    ]

    # when each is opened twice (the second from the kept frame), then rendered plainly
    kept = []
    for url, query in views:
        _page(client, url, **query)
        kept.append(_page(client, url, **query))
    render_frames_plainly(monkeypatch)
    plain = [_page(client, url, **query) for url, query in views]

    # then they are the same pages, byte for byte but for the CSRF tokens' masks
    for a, b in zip(kept, plain, strict=True):
        assert same_but_tokens(a) == same_but_tokens(b)
    assert 'value="灯"' in kept[2]  # the search box's hole holds the keyword
    assert "status=assigned&amp;sort=deadline" in kept[1]  # the export menu keeps the filters


def test_the_csrf_token_of_a_kept_page_is_accepted(world: Any) -> None:
    client = _client(world.handler, enforce_csrf_checks=True)
    _page(client)
    html = _page(client)  # from the kept frame
    token = re.search(r'csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 302
    assert client.get(LEDGER).status_code == 302  # signed out: sent to the login page


def test_each_viewer_sees_their_own_frame_and_its_changes(world: Any) -> None:
    # given two handlers' kept frames
    mine, theirs = _client(world.handler), _client(world.handler_other)
    for client in (mine, theirs):
        _page(client)
    assert f">{world.handler}</button>" in _page(mine)
    assert f">{world.handler_other}</button>" in _page(theirs)

    # when the handler is renamed (nothing the generation watches)
    world.handler.display_name = "新名字"
    world.handler.save(update_fields=["display_name"])

    # then the next page shows the new name
    assert f">{User.objects.get(pk=world.handler.pk)}</button>" in _page(mine)

    # when the handler becomes a leader as well and may reveal personal data
    Membership.objects.create(user=world.handler, role="leader", area=world.county)
    world.handler.user_permissions.add(
        Permission.objects.get(codename="reveal_personal_data", content_type__app_label="residents")
    )
    html = _page(mine)

    # then the next page shows 统计 in the nav and 包含完整个人信息 in the export menu
    assert reverse("insight:stats") in html
    assert 'data-testid="export-reveal"' in html
    # and the other handler's frame is untouched
    other = _page(theirs)
    assert reverse("insight:stats") not in other
    assert 'data-testid="export-reveal"' not in other


def test_a_keyword_that_looks_like_a_hole_is_shown_as_typed(world: Any) -> None:
    # given a keyword spelling a hole's marker exactly (known here, drawn at random per process)
    client = _client(world.handler)
    marker = f"wxhole{frames._TOKEN}_csrf_token_"
    _page(client, SEARCH, q=marker)

    # when the kept frame is filled
    html = _page(client, SEARCH, q=marker)

    # then the keyword appears as typed and the token stays where the template put it
    assert f'value="{marker}"' in html
    assert html.count(marker) >= 1
    assert CSRF.search(html)


def test_messages_are_shown_once_and_not_kept(world: Any, rf) -> None:
    # given a kept ledger frame, then a message waiting (as after an action)
    client = _client(world.handler)
    _page(client)
    _page(client)
    waiting = [Message(messages.SUCCESS, "已记录办理进展")]
    client.cookies["messages"] = CookieStorage(rf.get(LEDGER))._encode(waiting)  # type: ignore[attr-defined]

    # when the ledger opens twice
    first, second = _page(client), _page(client)

    # then the message shows on the first only, in a page otherwise the same
    assert "已记录办理进展" in first
    assert "已记录办理进展" not in second
    assert same_but_tokens(re.sub(r'<div class="alert[^\n]*</div>', "", first)) == (
        same_but_tokens(second)
    )


def test_the_frame_follows_the_language(world: Any) -> None:
    client = _client(world.handler)
    _page(client)
    chinese = _page(client)
    client.cookies["django_language"] = "en"
    # LocaleMiddleware leaves the request's language active in this thread: put it back after.
    with translation.override(translation.get_language()):
        _page(client)
        english = _page(client)
    assert "诉求台账" in chinese
    assert "退出" in chinese
    assert "Needs ledger" in english
    assert "Log out" in english
    assert "诉求台账" not in english


def test_a_hole_name_the_split_would_not_find_is_refused() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        frames._mark("results2")
    assert frames._split(f"a{frames._mark('search_q')}b") == ("a", "search_q", "b")
