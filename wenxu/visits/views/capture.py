"""Offline-first field capture (PWA): the visit and need capture pages, the outbox, the service
worker and the web app manifest (ADR 0009).

The capture pages are server-rendered shells that carry everything the form needs as JSON
(`json_script`): the user's recording areas, the places in them, categories and colleagues, each
with search keys (name, pinyin initials, full pinyin) computed here, so the page works with no
network. The browser keeps each record as a draft in IndexedDB and sends it through the public
API (`POST /api/v1/visits`, `/needs`) with client UUIDs; a replay returns the same record.
"""

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from wenxu.accounts.models import Membership, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib import pinyin
from wenxu.needs import states
from wenxu.needs.models import Category, Urgency
from wenxu.organisations.models import Area, path_roots, under_q
from wenxu.visits import services
from wenxu.visits.models import Feeling, Mood, Place, PlaceKind, VisitKind

# More places than this and the page offers free text (place kind + address) instead of a list.
PLACE_LIMIT = 5000
RECORDING_ROLES = services.RECORDING_ROLES
SW_SOURCE = "visits/sw.js"
# What the service worker keeps for offline use: the app shell, never API answers or needs.
SHELL_STATIC = [
    "vendor/bootstrap/bootstrap.min.css",
    "vendor/bootstrap/bootstrap.bundle.min.js",
    "vendor/htmx/htmx.min.js",
    "wenxu/wenxu.css",
    "wenxu/capture.css",
    "visits/capture.css",
    "visits/outbox-db.js",
    "visits/outbox-bodies.js",
    "visits/outbox-sync.js",
    "visits/photos.js",
    "visits/pwa.js",
    "visits/capture.js",
    "visits/outbox-page.js",
    "visits/icons/icon-192.png",
    "visits/icons/icon-512.png",
]


def _recorder(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not services.may_record_visit(user):
        raise PermissionDenied(_("只有走访干部、网格员或调度人员可以记录走访和登记诉求。"))
    return user


def _keys(*names: str) -> str:
    """What the client-side filter matches: names, their pinyin initials and full pinyin."""
    parts: list[str] = []
    for name in names:
        parts += [name.lower(), pinyin.initials(name), pinyin.spelled(name)]
    return " ".join(parts)


def _ancestor_ids(path: str, pk: int) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part and int(part) != pk]


@dataclass(frozen=True)
class Recording:
    roots: list[str]  # the subtrees where the user records (officer or dispatcher)
    officer_roots: list[str]  # where they may also solve on the spot (officer)


def _recording(user: User) -> Recording:
    scopes = [s for s in scopes_for_user(user) if s.area_path and s.role in RECORDING_ROLES]
    return Recording(
        roots=path_roots(s.area_path for s in scopes if s.area_path),
        officer_roots=path_roots(
            s.area_path for s in scopes if s.area_path and s.role == states.OFFICER
        ),
    )


def _areas(recording: Recording) -> list[dict[str, Any]]:
    if not recording.roots:
        return []
    rows = list(
        Area.objects.filter(under_q(recording.roots))
        .order_by("path")
        .values_list("id", "name", "path", "level")
    )
    names = {pk: name for pk, name, _path, _level in rows}
    levels = dict(Area.Level.choices)
    areas = []
    for pk, name, path, level in rows:
        trail = [names[a] for a in _ancestor_ids(path, pk) if a in names]
        areas.append(
            {
                "id": pk,
                "name": name,
                "label": f"{name}（{' / '.join(trail)}）" if trail else name,
                "level": str(levels.get(level, level)),
                "path": path,
                "spot": any(path.startswith(root) for root in recording.officer_roots),
                "keys": _keys(name, *trail),
            }
        )
    return areas


def _categories() -> list[dict[str, Any]]:
    rows = list(
        Category.objects.filter(active=True).order_by("path").values_list("id", "name", "path")
    )
    names = {pk: name for pk, name, _path in rows}
    result = []
    for pk, name, path in rows:
        trail = [names[a] for a in _ancestor_ids(path, pk) if a in names]
        result.append({"id": pk, "label": " / ".join([*trail, name]), "keys": _keys(name, *trail)})
    return result


def _places(recording: Recording) -> tuple[list[dict[str, Any]], bool]:
    """Active places in the user's recording areas; names and addresses only (no contacts)."""
    if not recording.roots:
        return [], False
    rows = list(
        Place.objects.filter(under_q(recording.roots, "area"), active=True)
        .order_by("area_id", "name")
        .values_list("id", "area_id", "kind", "name", "address")[: PLACE_LIMIT + 1]
    )
    if len(rows) > PLACE_LIMIT:
        return [], True
    return [
        {
            "id": pk,
            "area": area,
            "kind": kind,
            "name": name,
            "address": address,
            "keys": _keys(name, address),
        }
        for pk, area, kind, name, address in rows
    ], False


def _colleagues(user: User, recording: Recording) -> list[dict[str, Any]]:
    """Officers and dispatchers whose areas meet the user's: who may have gone along."""
    if not recording.roots:
        return []
    ancestors = {
        f"/{'/'.join(root.strip('/').split('/')[:depth])}/"
        for root in recording.roots
        for depth in range(1, len(root.strip("/").split("/")))
    }
    rows = (
        Membership.objects.filter(role__in=RECORDING_ROLES, user__is_active=True)
        .filter(under_q(recording.roots, "area") | Q(area__path__in=ancestors))
        .exclude(user=user)
        .values_list("user_id", "user__display_name", "user__username", "area__path")
        .order_by("user__display_name", "user__username")
    )
    people: dict[int, dict[str, Any]] = {}
    for pk, display_name, username, path in rows:
        person = people.setdefault(pk, {"id": pk, "name": display_name or username, "paths": []})
        person["paths"].append(path)
    return list(people.values())


def _capture_data(user: User) -> dict[str, Any]:
    recording = _recording(user)
    places, too_many = _places(recording)
    return {
        "user": user.username,
        "areas": _areas(recording),
        "categories": _categories(),
        "places": places,
        "places_truncated": too_many,
        "colleagues": _colleagues(user, recording),
    }


def _choices(choices: Any) -> list[tuple[str, str]]:
    return [(str(value), str(label)) for value, label in choices]


def _render_capture(request: HttpRequest, *, mode: str) -> HttpResponse:
    user = _recorder(request)
    get_token(request)  # the csrftoken cookie, which the sync sends back as X-CSRFToken
    context = {
        "mode": mode,
        "capture_data": _capture_data(user),
        "visit_kinds": _choices(VisitKind.choices),
        "place_kinds": _choices(PlaceKind.choices),
        "moods": _choices(Mood.choices),
        "feelings": _choices(Feeling.choices),
        "senses": [
            ("sense_gain", _("获得感")),
            ("sense_happiness", _("幸福感")),
            ("sense_security", _("安全感")),
        ],
        "need_kinds": _choices(states.Kind.choices),
        "urgencies": _choices(Urgency.choices),
        "nature_tags": _choices(states.NatureTag.choices),
        "satisfactions": _choices(states.Satisfaction.choices),
        "need_sources": _choices(
            (value, label)
            for value, label in states.Source.choices
            if value != states.Source.OBSERVED
        ),
    }
    return render(request, "visits/capture.html", context)


@login_required
@require_GET
def visit_capture(request: HttpRequest) -> HttpResponse:
    """记录走访: a visit with any number of needs, saved on the device first."""
    return _render_capture(request, mode="visit")


@login_required
@require_GET
def need_capture(request: HttpRequest) -> HttpResponse:
    """登记诉求 offline: one need, no visit around it (served for /needs/new/ when offline)."""
    return _render_capture(request, mode="need")


@login_required
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    """待同步: the drafts kept on this device (they live in the browser, not on the server)."""
    get_token(request)
    user = request.user
    assert isinstance(user, User)
    return render(
        request,
        "visits/outbox.html",
        {"may_record": services.may_record_visit(user), "outbox_data": _outbox_data(user)},
    )


def _outbox_data(user: User) -> dict[str, Any]:
    return {
        "user": user.username,
        "urls": {
            "capture": reverse("visits:capture"),
            "need_capture": reverse("visits:need_capture"),
        },
    }


# --------------------------------------------------------------------------- service worker


def _shell_pages() -> list[str]:
    return [reverse("visits:capture"), reverse("visits:need_capture"), reverse("visits:outbox")]


@lru_cache(maxsize=1)
def _service_worker_source() -> tuple[str, str]:
    """(the worker's script, its version): a hash of the worker and every file it caches, so a
    deploy that changes any of them installs a new worker and drops the old caches."""
    digest = hashlib.sha256()
    path = finders.find(SW_SOURCE)
    assert isinstance(path, str), f"{SW_SOURCE} is missing from the static files"
    with open(path, encoding="utf-8") as source:
        script = source.read()
    digest.update(script.encode())
    static_urls = [static(name) for name in SHELL_STATIC]
    for name, url in zip(SHELL_STATIC, static_urls, strict=True):
        digest.update(url.encode())
        found = finders.find(name)
        if isinstance(found, str):
            with open(found, "rb") as handle:
                digest.update(handle.read())
    return script, digest.hexdigest()[:12]


def _sw_config(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "static": [static(name) for name in SHELL_STATIC],
        # Not static(""): the manifest storage of production has no entry for "" (it raises).
        "staticPrefix": settings.STATIC_URL,
        "pages": _shell_pages(),
        # Asked for offline, these are answered with the offline capture page.
        "aliases": {reverse("needs:capture"): reverse("visits:need_capture")},
        "apiPrefix": "/api/",
        "offline": {
            "title": _("当前没有网络"),
            "body": _("这个页面需要网络。离线时仍可记录走访、登记诉求，联网后自动同步。"),
            "links": [
                [reverse("visits:capture"), _("记录走访")],
                [reverse("visits:need_capture"), _("登记诉求")],
                [reverse("visits:outbox"), _("待同步")],
            ],
        },
    }


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """`/sw.js`: served from the root so that its scope is the whole site."""
    script, version = _service_worker_source()
    config = json.dumps(_sw_config(version), ensure_ascii=False)
    body = f"/* wenxu service worker {version} */\nconst WX = {config};\n{script}"
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    data = {
        "name": _("问需 · 面对面问需"),
        "short_name": _("问需"),
        "description": _("走访记录与诉求登记，离线也能用，联网后自动同步。"),
        "lang": "zh-CN",
        "start_url": reverse("visits:capture"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "icons": [
            {
                "src": static(f"visits/icons/icon-{size}.png"),
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for size in (192, 512)
        ],
    }
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/manifest+json; charset=utf-8"
    response["Cache-Control"] = "no-cache"
    return response
