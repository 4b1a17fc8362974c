"""The need page's action panels kept with holes (views/detail.py `_fill_panels`, ADR 0034),
and its frame (ADR 0029): a kept page is the page rendered afresh, its panels with each
need's own number and version and each request's CSRF token, in the viewer's language;
panels that show more of the need than that are rendered each time.
"""

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from wenxu.core.tests.frames_helpers import (  # noqa: F401 - no_frames is a fixture
    no_frames,
    render_frames_plainly,
    same_but_tokens,
)
from wenxu.needs.action_forms import FORMS, ActionForm, RequestExtensionForm
from wenxu.needs.tests.detail_helpers import NOW, STATES

pytestmark = pytest.mark.usefixtures("no_frames")


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def _page(client: Client, need: Any, **params: str) -> str:
    response = client.get(f"/needs/{need.number}/", params)
    assert response.status_code == 200
    return response.content.decode()


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every panel rendered from its form and the page around it rendered whole, as before
    they were kept."""
    for form in FORMS.values():
        monkeypatch.setattr(form, "kept_key", classmethod(lambda cls, need: None))
    render_frames_plainly(monkeypatch)


@pytest.mark.parametrize("persona", ["dispatcher", "handler", "officer"])
def test_kept_panels_are_the_panels_rendered_afresh(
    world: Any, client: Client, now: Any, persona: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a need in each state, each page opened twice (the second from kept panels)
    needs = [build(world, now) for build in STATES.values()]
    client.force_login(getattr(world, persona))
    views: list[tuple[Any, dict[str, str]]] = [(need, {}) for need in needs]
    views.append((needs[2], {"open": "progress"}))
    kept = []
    for need, params in views:
        response = client.get(f"/needs/{need.number}/", params)
        if response.status_code == 404:
            continue
        kept.append((need, params, _page(client, need, **params)))

    # when they are rendered plainly
    _plain(monkeypatch)
    plain = [_page(client, need, **params) for need, params, _html in kept]

    # then they are the same pages, byte for byte but for the CSRF tokens' masks
    assert kept
    for (need, _params, html), fresh in zip(kept, plain, strict=True):
        assert same_but_tokens(html) == same_but_tokens(fresh), need.number
        assert "wxhole" not in html


def test_a_kept_panel_carries_each_needs_own_number_and_version(world: Any, client: Client):
    # given two needs in progress, the second moved on once more (a higher version)
    first, second = world.in_progress(), world.in_progress(title="井盖缺失")
    from wenxu.needs import services

    second = services.need_progress(
        actor=world.handler, need=second, version=second.version, note="已联系"
    )
    client.force_login(world.handler)
    _page(client, first)

    # when the second's page is served from the panels kept for the first
    html = _page(client, second)

    # then its forms post to its own address with its own version
    assert second.version != first.version
    progress = re.search(r'<form [^>]*data-form="progress">(.*?)</form>', html, re.S)
    assert progress
    assert f'action="/needs/{second.number}/progress/"' in html
    assert f'name="version" value="{second.version}"' in progress.group(1)
    assert first.number not in html


def test_the_csrf_token_of_a_kept_panel_is_accepted(world: Any) -> None:
    need = world.in_progress()
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.handler)
    _page(client, need)
    html = _page(client, need)  # from the kept panels
    form = re.search(r'<form [^>]*data-form="progress">(.*?)</form>', html, re.S)
    assert form
    token = re.search(r'csrfmiddlewaretoken" value="([^"]+)"', form.group(1))
    version = re.search(r'name="version" value="(\d+)"', form.group(1))
    assert token
    assert version

    response = client.post(
        f"/needs/{need.number}/progress/",
        {"csrfmiddlewaretoken": token.group(1), "version": version.group(1), "note": "已到现场"},
    )

    assert response.status_code == 302
    need.refresh_from_db()
    assert need.version == int(version.group(1)) + 1


def test_kept_panels_follow_the_language(world: Any, client: Client) -> None:
    need = world.in_progress()
    client.force_login(world.handler)
    _page(client, need)
    chinese = _page(client, need)
    client.cookies["django_language"] = "en"
    with translation.override(translation.get_language()):
        _page(client, need)
        english = _page(client, need)
    assert "记录进展" in chinese
    assert "记录进展" not in english
    assert "Record progress" in english


def test_only_forms_that_show_nothing_else_of_the_need_are_kept(world: Any) -> None:
    # The forms whose panels read the need (units, categories, the pending extension) or
    # the assign preview keep nothing; the extension request keeps its rule's maximum.
    need = world.in_progress()
    kept = {action for action, form in FORMS.items() if form.kept_key(need) is not None}
    assert kept.isdisjoint({"assign", "reopen", "merge", "approve_extension", "deny_extension"})
    assert FORMS["request_extension"].kept_key(need) == (RequestExtensionForm(need=need).max_days,)
    assert ActionForm.kept_key(need) is None
