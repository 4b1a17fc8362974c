"""Shared by the tests of kept frames and fragments (wenxu.core.frames): comparing a kept page
with one rendered plainly, and clearing what processes keep."""

import re
from collections.abc import Iterator

import pytest
from django.template.loader import render_to_string

from wenxu.core import frames

CSRF = re.compile(r'(csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+"')


def same_but_tokens(html: str) -> str:
    """The page with its CSRF tokens blanked: each answer masks the secret anew."""
    return CSRF.sub(r"\1-", html)


def render_frames_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages rendered as before frames: the whole template, values in place."""

    def render(request, template_name, context, *, key, holes):
        values = {**holes, "nav_path": request.get_full_path()}
        return render_to_string(template_name, {**context, **values}, request)

    monkeypatch.setattr(frames, "render_framed", render)


@pytest.fixture
def no_frames() -> Iterator[None]:
    frames.clear()
    yield
    frames.clear()
