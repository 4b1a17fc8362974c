"""Whole pages kept between requests, their per-request parts left as holes (ADR 0029).

A ledger page is mostly its frame: the navigation, the export menu, the scripts, ~200
template nodes with their URLs, static files and translations. It depends on who the viewer
is and what they may do, the language and the page, and those change rarely; the parts that
change with each request are few (the CSRF token, the address, the results, a typed keyword).
So the frame is rendered once with a marker in each such place, split at the markers, and
kept in the process under the configuration generation (ADR 0026) and a key that names
everything else it reads. Each request joins the kept pieces with its own values: escaped
text, or markup its own templates rendered.

The markers hold a random token drawn when the process starts: no text typed by anyone can
fake one, and the values are put in after the split, so a marker-like value is never read as
a hole. A request with messages to show (after an action) renders its page plainly.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from wenxu.core import generation

# Frames kept per process. A ledger frame is ~20,000 characters; one per viewer and page kind.
_FRAMES = generation.Kept(1_000)
_TOKEN = secrets.token_hex(12)
_MARK = re.compile(f"wxhole{_TOKEN}_([a-z_]+)_")


def _mark(name: str) -> SafeString:
    if not re.fullmatch("[a-z_]+", name):  # what `_MARK` finds again
        raise ValueError(f"A hole's name is lower-case letters and _: {name!r}")
    return mark_safe(f"wxhole{_TOKEN}_{name}_")  # noqa: S308 - letters, digits and _ only


def _split(html: str) -> tuple[str, ...]:
    """`html` as literal text and hole names, alternately (literal first and last)."""
    return tuple(_MARK.split(html))


def _viewer(request: HttpRequest) -> tuple[Hashable, ...]:
    """What the frame shows of the viewer and the page it is (base.html's navigation)."""
    user = request.user
    match = request.resolver_match
    return (
        user.pk,
        user.get_username(),
        str(user),
        user.is_active,
        user.is_staff,
        user.is_superuser,
        match.namespace if match else None,
        match.url_name if match else None,
    )


def render_framed(
    request: HttpRequest,
    template_name: str,
    context: Mapping[str, Any],
    *,
    key: Hashable,
    holes: Mapping[str, str],
) -> str:
    """`template_name` rendered with `context` for `request`, its frame kept between requests.

    `key` names everything the frame reads besides the viewer, the page and the language
    (which are added here): what `context` holds outside `holes`, and what the viewer may do
    that the template asks (roles, permissions). `holes` are the context's per-request values,
    by name: a SafeString goes in as it is, other text escaped. The CSRF token (`csrf_token`)
    and the address (`nav_path`) are holes of every frame.
    """
    values: dict[str, str] = {
        **holes,
        "csrf_token": get_token(request),
        "nav_path": request.get_full_path(),
    }
    if len(messages.get_messages(request)):
        # Shown once, then gone: not part of any frame.
        return render_to_string(template_name, {**context, **values}, request)

    def build() -> tuple[str, ...]:
        marked = {**context, **{name: _mark(name) for name in values}, "messages": ()}
        return _split(render_to_string(template_name, marked, request))

    parts = generation.remember(
        "frame",
        (template_name, get_language(), _viewer(request), key),
        build,
        store=_FRAMES,
    )
    filled = [
        str(conditional_escape(values[part])) if i % 2 else part for i, part in enumerate(parts)
    ]
    return "".join(filled)


def render_kept(
    template_name: str,
    context: Callable[[Mapping[str, SafeString]], Mapping[str, Any]],
    *,
    key: Hashable,
    holes: Mapping[str, str],
    store: generation.Kept = _FRAMES,
) -> SafeString:
    """A part of a page (no request, no context processors), kept like a frame: rendered once
    per `key`, the language and the generation, with `context(marks)`, where `marks` holds a
    marker for each of `holes` to put where its value goes. Each call fills the holes with
    its own values (text escaped, a SafeString as it is). `key` names everything else the
    template reads from the context `context` builds. `store`: a `Kept` of the caller's
    own for large fragments."""

    def build() -> tuple[str, ...]:
        return _split(render_to_string(template_name, context({n: _mark(n) for n in holes})))

    parts = generation.remember(
        "fragment", (template_name, get_language(), key), build, store=store
    )
    filled = (
        str(conditional_escape(holes[part])) if i % 2 else part for i, part in enumerate(parts)
    )
    return mark_safe("".join(filled))  # noqa: S308 - kept markup and escaped values


def clear() -> None:
    _FRAMES.clear()
