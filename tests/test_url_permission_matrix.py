"""Every URL of wenxu is in the permission matrix below, which says who may use it (issue #9).

The test walks every URL pattern the project serves (pages, the v1 API, Open311, the admin site)
and fails for one that the matrix does not list. Then it checks what the matrix promises: a
non-public URL asked for without signing in redirects to the login page or answers 401/403/404,
never 200 and never 404 (a 404 would not show that the URL is guarded); a URL for some roles
answers 403 or 404 to every persona without one of them; a URL behind a permission, to every
persona without it; the admin site, to signed-in users who are not staff. Such a 404 only counts
when a persona who may use the URL gets something else from it (so that the path arguments name
real objects, and the 404 is the role check's): the test makes those objects. What a URL shows
to those who may use it (their scope) is tested with each app.

A new URL: add it to MATRIX (its name, with its namespace), with the narrowest access that is
true, and if it takes a path argument that is not in SAMPLE_ARGS, add a sample value there.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from io import BytesIO
from typing import Any

from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from wenxu.accounts.selectors import user_roles
from wenxu.api.api import api
from wenxu.insight.models import Signal
from wenxu.integrations import services as integration_services
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.needs.models import ReopenRequest
from wenxu.needs.rating import rating_link_issue
from wenxu.needs.services import RequesterInput
from wenxu.topics import services as topic_services
from wenxu.visits import plans
from wenxu.visits import services as visit_services
from wenxu.visits.models import Place
from wenxu.visits.plans import PlanInput
from wenxu.visits.services import VisitDraft


@dataclass(frozen=True)
class Access:
    kind: str  # public, login, roles, permission, api-token, api-key, admin
    roles: frozenset[str] = frozenset()
    permission: str = ""


PUBLIC = Access("public")  # anyone, without signing in
LOGIN = Access("login")  # any signed-in user; the view scopes what each one sees
API_TOKEN = Access("api-token")  # the v1 API: a bearer token or the browser's session
API_KEY = Access("api-key")  # Open311: an integration's client key
ADMIN_SITE = Access("admin")  # Django's admin: staff accounts (is_staff) only


def roles(*names: str) -> Access:
    return Access("roles", roles=frozenset(names))


def permission(codename: str) -> Access:
    return Access("permission", permission=codename)


REGISTRARS = roles("officer", "dispatcher")
MEMBERS = roles("officer", "dispatcher", "handler", "leader", "admin")  # any membership
VISIT_READERS = roles("officer", "dispatcher", "leader", "admin")
PLANNERS = roles("dispatcher", "admin")
SIGNAL_READERS = roles("dispatcher", "leader", "admin")
ANALYSTS = roles("dispatcher", "leader")
REPORT_READERS = roles("dispatcher", "handler", "leader", "admin")
TOPIC_MANAGERS = roles("dispatcher")
DISPATCHERS = roles("dispatcher")

# Every URL in the admin site's namespace is for staff (AdminSite.admin_view guards each one,
# including the ones each registered model adds); only its login page is public.
ADMIN_NAMESPACE = "admin"
ADMIN_PUBLIC = {"admin:login", "admin:logout"}
ADMIN_PREFIX = "admin/"  # unnamed patterns of the admin site (redirects, the catch-all)
# The admin's own password form leads to 修改密码 (wenxu/urls.py): for any signed-in user.
ADMIN_TO_ACCOUNTS = {"admin/password_change/", "admin:password_change"}

MATRIX: dict[str, Access] = {
    # The v1 API (wenxu/api): the schema and its docs are public; a token is got with a password.
    "api-v1:api-root": PUBLIC,
    "api-v1:openapi-json": PUBLIC,
    "api-v1:openapi-view": PUBLIC,
    "api-v1:token_issue": PUBLIC,
    "api-v1:token_revoke": API_TOKEN,
    "api-v1:need_list": API_TOKEN,
    "api-v1:need_register": API_TOKEN,
    "api-v1:need_detail": API_TOKEN,
    "api-v1:need_similar": API_TOKEN,
    "api-v1:need_requester_reveal": API_TOKEN,
    "api-v1:need_attachment_add": API_TOKEN,
    "api-v1:need_assign": API_TOKEN,
    "api-v1:need_accept": API_TOKEN,
    "api-v1:need_return": API_TOKEN,
    "api-v1:need_progress": API_TOKEN,
    "api-v1:need_request_extension": API_TOKEN,
    "api-v1:need_approve_extension": API_TOKEN,
    "api-v1:need_deny_extension": API_TOKEN,
    "api-v1:need_reply": API_TOKEN,
    "api-v1:need_callback": API_TOKEN,
    "api-v1:need_fulfil": API_TOKEN,
    "api-v1:need_reopen": API_TOKEN,
    "api-v1:need_supervise": API_TOKEN,
    "api-v1:need_remind": API_TOKEN,
    "api-v1:need_merge": API_TOKEN,
    "api-v1:need_withdraw": API_TOKEN,
    "api-v1:need_about_unit": API_TOKEN,
    "api-v1:need_disclose": API_TOKEN,
    "api-v1:need_unknown_action": API_TOKEN,
    "api-v1:area_list": API_TOKEN,
    "api-v1:unit_list": API_TOKEN,
    "api-v1:category_list": API_TOKEN,
    "api-v1:visit_record": API_TOKEN,
    "api-v1:visit_list": API_TOKEN,
    "api-v1:visit_detail": API_TOKEN,
    "api-v1:visit_photo_add": API_TOKEN,
    "api-v1:export_ledger_xlsx": API_TOKEN,
    "api-v1:export_ledger_csv": API_TOKEN,
    "api-v1:export_job": API_TOKEN,
    "api-v1:export_job_file": API_TOKEN,
    "api-v1:stats_rates": API_TOKEN,
    # Open311 GeoReport v2: the catalogue is public, requests need a client key.
    "open311-discovery": PUBLIC,
    "open311-services": PUBLIC,
    "open311-service": PUBLIC,
    "open311-requests": API_KEY,
    "open311-request": API_KEY,
    "open311-token": API_KEY,
    "open311-not-found": PUBLIC,
    # Accounts.
    "set_language": PUBLIC,
    "login": PUBLIC,
    "logout": PUBLIC,
    "account_otp": LOGIN,  # the second step: only after the password step
    "account_otp_setup": LOGIN,
    "account_password": LOGIN,
    "account_tokens": LOGIN,
    "account_token_revoke": LOGIN,
    # Needs and the ledger.
    "needs:capture": REGISTRARS,
    "needs:capture_areas": REGISTRARS,
    "needs:capture_categories": REGISTRARS,
    "needs:capture_precision": REGISTRARS,
    "needs:attachment": LOGIN,
    "needs:ledger": LOGIN,
    "needs:bulk_assign": DISPATCHERS,
    "needs:ledger_import": REGISTRARS,
    "needs:ledger_import_template": REGISTRARS,
    "needs:ledger_import_batch": REGISTRARS,
    "needs:ledger_import_commit": REGISTRARS,
    "needs:ledger_import_report": REGISTRARS,
    "needs:search": LOGIN,
    "needs:reopen_requests": LOGIN,
    "needs:reopen_request_decide": DISPATCHERS,
    "needs:requester_reveal": permission("residents.reveal_personal_data"),
    "needs:disclosure": DISPATCHERS,
    "needs:detail": LOGIN,
    "needs:act": LOGIN,  # each action checks the actor's right over the need (needs.states)
    # Visits, places and coverage.
    "visits:capture": REGISTRARS,
    "visits:need_capture": REGISTRARS,
    "visits:outbox": LOGIN,
    "visits:service_worker": PUBLIC,
    "visits:manifest": PUBLIC,
    "visits:list": VISIT_READERS,
    "visits:detail": VISIT_READERS,
    "visits:photo": VISIT_READERS,
    "visits:places": LOGIN,
    "visits:place_create": REGISTRARS,
    "visits:place_import": REGISTRARS,
    "visits:place_template": REGISTRARS,
    "visits:place": LOGIN,
    "visits:place_edit": REGISTRARS,
    "visits:coverage": VISIT_READERS,
    "visits:plans": VISIT_READERS,
    "visits:plan_create": PLANNERS,
    "visits:plan_edit": PLANNERS,
    # Resident pages (tracking code, one-time rating link; submit and wall when switched on).
    "public:track": PUBLIC,
    "public:rate": PUBLIC,
    "public:submit": PUBLIC,
    "public:submit_areas": PUBLIC,
    "public:wall": PUBLIC,
    # Exports.
    "exchange:ledger_export": LOGIN,
    "exchange:job": LOGIN,
    "exchange:job_download": LOGIN,
    # Statistics and analysis.
    "insight:stats": LOGIN,
    "insight:similar_capture": MEMBERS,
    "insight:similar_need": MEMBERS,
    "insight:hot": ANALYSTS,
    "insight:hot_run_status": ANALYSTS,
    "insight:hot_group": ANALYSTS,
    "insight:routing_suggest": DISPATCHERS,
    "insight:signals": SIGNAL_READERS,
    "insight:signal": SIGNAL_READERS,
    "insight:signal_task": PLANNERS,
    "insight:signal_dismiss": PLANNERS,
    "report:page": REPORT_READERS,
    "report:xlsx": REPORT_READERS,
    # Topics (专题).
    "topics:list": LOGIN,
    "topics:create": TOPIC_MANAGERS,
    "topics:attach": TOPIC_MANAGERS,
    "topics:detail": LOGIN,
    "topics:edit": TOPIC_MANAGERS,
    "topics:suggestions": TOPIC_MANAGERS,
    "topics:status": TOPIC_MANAGERS,
    "topics:close": TOPIC_MANAGERS,
    "topics:link": TOPIC_MANAGERS,
    "topics:unlink": TOPIC_MANAGERS,
    "topics:measure_add": TOPIC_MANAGERS,
    "topics:measure_status": roles("dispatcher", "handler"),
    "topics:milestone_add": TOPIC_MANAGERS,
    "topics:milestone_complete": TOPIC_MANAGERS,
    # Integrations (client keys), for administrators.
    "keys:list": roles("admin"),
    "keys:create": roles("admin"),
    "keys:edit": roles("admin"),
    "keys:revoke": roles("admin"),
    # Workbench, help, health.
    "home": LOGIN,
    "help": LOGIN,
    "help_image": LOGIN,
    "help_page": LOGIN,
    "healthz": PUBLIC,
}

# Path arguments: real objects where the test makes them (a need, a topic with a measure and a
# milestone, a reopen request, a visit with a photo, a place, a plan, a signal, a client key),
# made-up values elsewhere: then every persona may get 404, and the URL must be in NOT_MADE.
SAMPLE_ARGS: dict[str, str] = {
    "pk": "999999",
    "photo": "999999",
    "action": "assign",
    "batch_id": "no-such-batch",
    "token": "no-such-token",
    "name": "no-such-image.png",
    "slug": "no-such-page",
    "fmt": "json",
    "code": "no-such-service",
    "rest": "no-such-path",
    "measure_id": "999999",
    "milestone_id": "999999",
    "visit_id": "00000000-0000-4000-8000-000000000000",
    "job_id": "999999",
    # The admin site.
    "app_label": "accounts",
    "object_id": "999999",
    "id": "999999",
    "content_type_id": "1",
    "url": "no-such-page/",
}


# URLs whose objects the test does not make (their role checks are tested with their apps):
# everyone gets 404 from the made-up path arguments.
NOT_MADE = {
    "needs:ledger_import_batch",  # wenxu/needs/tests/test_ledger_import_views.py
    "needs:ledger_import_commit",
    "needs:ledger_import_report",
    "insight:hot_run_status",  # wenxu/insight/tests/test_hot_views.py, test_hot_runs.py
    "insight:hot_group",
}


@dataclass(frozen=True)
class Route:
    name: str  # with its namespace; the route itself for an unnamed pattern
    route: str
    params: tuple[str, ...]
    named: bool


def _routes() -> list[Route]:
    found: list[Route] = []

    def walk(resolver: URLResolver, prefix: str, namespace: str, params: tuple[str, ...]) -> None:
        for entry in resolver.url_patterns:
            pattern = entry.pattern
            own = tuple(getattr(pattern, "converters", {}) or pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry, prefix + str(pattern), inner, params + own)
            else:
                assert isinstance(entry, URLPattern)
                name = f"{namespace}{entry.name}" if entry.name else prefix + str(pattern)
                found.append(Route(name, prefix + str(pattern), params + own, bool(entry.name)))

    walk(get_resolver(), "", "", ())
    return found


def _access(route: Route) -> Access | None:
    if route.name in ADMIN_TO_ACCOUNTS:
        return LOGIN
    if route.name.startswith(f"{ADMIN_NAMESPACE}:") or route.route.startswith(ADMIN_PREFIX):
        return PUBLIC if route.name in ADMIN_PUBLIC else ADMIN_SITE
    return MATRIX.get(route.name)


def _url(route: Route, args: dict[str, str]) -> str:
    """The route with `args`, reversed by name; an unnamed route (the admin site's redirects
    and catch-all) has its parameters filled in."""
    if not route.named:
        filled = re.sub(
            r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)", lambda m: args[m[1] or m[2]], route.route
        )
        return "/" + filled.replace("^", "").replace("$", "")
    return reverse(route.name, kwargs={p: args[p] for p in route.params})


def _api_methods() -> dict[str, str]:
    methods: dict[str, str] = {}
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                name = getattr(operation, "url_name", None) or api.get_operation_url_name(
                    operation, router=router
                )
                methods[f"{api.urls_namespace}:{name}"] = operation.methods[0]
    return methods


def _ask(client: Client, url: str, method: str, data: dict[str, str]) -> tuple[Any, str]:
    """The answer to `method` (GET: then POST if the view takes only POST), and the method."""
    if method == "POST":
        return client.post(url, data), method
    response = client.generic(method, url)
    if method == "GET" and response.status_code == 405:
        return client.post(url, data), "POST"
    return response, method


def _refused(response: Any, *, to_login: tuple[str, ...] = ()) -> bool:
    """401, 403, 404, or a redirect to one of the login pages `to_login`."""
    if response.status_code in (401, 403, 404):
        return True
    redirect = response.status_code == 302 and bool(to_login)
    return redirect and response["Location"].startswith(to_login)


def test_every_url_is_in_the_permission_matrix():
    missing = [route for route in _routes() if _access(route) is None]

    assert not missing, (
        "URLs without an entry in MATRIX (tests/test_url_permission_matrix.py): add each with "
        "who may use it (PUBLIC, LOGIN, roles(...), permission(...), API_TOKEN, API_KEY):\n"
        + "\n".join(f"  {route.name!r}  ({route.route})" for route in missing)
    )
    names = [route.name for route in _routes()]
    stale = sorted(set(MATRIX) - set(names))
    assert not stale, f"MATRIX lists URLs the project no longer has: {stale}"
    assert len(names) == len(set(names)), "two URL patterns share a name"


def _jpeg() -> SimpleUploadedFile:
    out = BytesIO()
    Image.new("RGB", (40, 30), (200, 120, 40)).save(out, "JPEG")
    return SimpleUploadedFile("门口.jpg", out.getvalue(), content_type="image/jpeg")


def _objects(world: Any) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Real objects, in the scope of every persona who may use their URLs: path arguments and
    valid forms, by URL name."""
    replied = world.replied(
        outcome="resolved", requester=RequesterInput(name="张三丰", phone="13812345678")
    )
    need_services.need_rate(
        link=rating_link_issue(replied), resolved="no", satisfaction="dissatisfied", comment="没修"
    )
    reopen = ReopenRequest.objects.get(need=replied)
    visit = visit_services.visit_record(
        actor=world.officer,
        draft=VisitDraft(
            client_uuid=uuid.uuid4(),
            payload_hash="h",
            kind="home",
            area=world.grid_a,
            started_at=clock.now() - timedelta(hours=2),
            mood=4,
            people_met=2,
            summary="入户走访。",
            needs=(),
        ),
    ).visit
    upload = need_services.prepare_upload(_jpeg(), kind="photo")
    photo, _created = visit_services.visit_photo_add(
        actor=world.officer, visit=visit, upload=upload
    )
    place = Place.objects.create(area=world.grid_a, kind="household", name="3组12号")
    plan = plans.plan_create(
        actor=world.dispatcher,
        data=PlanInput(
            name="东河镇住户季度全覆盖",
            kind="coverage",
            period="quarter",
            area=world.town_a,
            starts_on=date(2026, 10, 1),
            place_kind="household",
        ),
    )
    today = clock.today()
    signal = Signal.objects.create(
        key=f"{world.town_a.pk}|{world.cat_roads.pk}|matrix",
        area=world.town_a,
        category=world.cat_roads,
        period_start=today - timedelta(days=7),
        period_end=today - timedelta(days=1),
        count=12,
        baseline=3.1,
        last_year=4,
        ratio=3.0,
        score=5.25,
    )
    _raw, key = integration_services.api_client_issue(name="矩阵测试", areas=[world.county])
    decline = {"decision": "decline", "version": str(reopen.need.version), "reason": "已修好。"}
    return {
        "needs:reopen_request_decide": {"pk": str(reopen.pk)},
        "visits:detail": {"pk": str(visit.pk)},
        "visits:photo": {"pk": str(visit.pk), "photo": str(photo.pk)},
        "visits:place_edit": {"pk": str(place.pk)},
        "visits:plan_edit": {"pk": str(plan.pk)},
        "insight:signal": {"pk": str(signal.pk)},
        "insight:signal_task": {"pk": str(signal.pk)},
        "insight:signal_dismiss": {"pk": str(signal.pk)},
        "keys:edit": {"pk": str(key.pk)},
        "keys:revoke": {"pk": str(key.pk)},
    }, {"needs:reopen_request_decide": decline}


def test_nobody_gets_past_the_matrix(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Given: a need and a topic with a measure and a milestone, for real path arguments
    need = world.register()
    topic = topic_services.topic_create(
        actor=world.dispatcher, title="路灯整治", area=world.county, needs=[need]
    )
    measure = topic_services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="排查全部路灯",
        owner_unit=world.housing,
        due_date=clock.today() + timedelta(days=30),
    )
    milestone = topic_services.milestone_add(
        actor=world.dispatcher, topic=topic, title="完成排查", progress=50
    )
    real = {"number": need.number}
    made, made_posts = _objects(world)
    topic_args = {
        "pk": str(topic.pk),
        "measure_id": str(measure.pk),
        "milestone_id": str(milestone.pk),
    }
    queries = {"topics:attach": f"?need={need.number}"}
    # Valid forms, so that a view which checks its input first still reaches the right check.
    posts = {
        **made_posts,
        "topics:status": {"status": "acting", "version": str(topic.version)},
        "topics:close": {"version": str(topic.version)},
        "topics:unlink": {"need": need.number},
        "topics:measure_status": {"status": "done", "seen": "planned"},
    }
    api_methods = _api_methods()
    # One persona for each set of roles (the one whose scope holds the need: then a refusal
    # is the role's, not the scope's); `outsider` has no membership.
    personas = {
        username: getattr(world, username)
        for username in ("admin", "dispatcher", "officer", "handler", "leader", "outsider")
    }
    clients: dict[str, Client] = {}
    for username, user in personas.items():
        clients[username] = Client()
        clients[username].force_login(user)
    persona_roles = {username: user_roles(user) for username, user in personas.items()}
    anonymous = Client()
    login_pages = (reverse(django_settings.LOGIN_URL), reverse("admin:login"))
    problems: list[str] = []

    # When: each URL is asked for by those the matrix keeps out
    for route in _routes():
        access = _access(route)
        assert access is not None  # (the test above names the missing ones)
        if access == PUBLIC:
            continue
        args = {**SAMPLE_ARGS, **real, **made.get(route.name, {})}
        if route.name.startswith("topics:"):
            args.update(topic_args)
        try:
            url = _url(route, args) + queries.get(route.name, "")
        except (KeyError, NoReverseMatch) as exc:
            problems.append(f"{route.name}: no sample path argument fits ({exc}): see SAMPLE_ARGS")
            continue
        method = api_methods.get(route.name, "GET")
        data = posts.get(route.name, {})
        answer, _ = _ask(anonymous, url, method, data)
        if not _refused(answer, to_login=login_pages) or answer.status_code == 404:
            problems.append(f"{route.name} {url}: anonymous got {answer.status_code}")

        if access.kind == "admin":
            outsiders = ["admin"]  # signed in with the admin role, not staff
        elif access.kind == "roles":
            outsiders = [name for name, held in persona_roles.items() if not held & access.roles]
        elif access.kind == "permission":
            outsiders = [n for n, u in personas.items() if not u.has_perm(access.permission)]
        else:
            outsiders = []
        not_found = []
        for username in outsiders:
            answer, method = _ask(clients[username], url, method, data)
            admin_login = (reverse("admin:login"),) if access.kind == "admin" else ()
            if not _refused(answer, to_login=admin_login):
                problems.append(
                    f"{route.name} {url}: {username} ({access.kind}) got {answer.status_code}"
                )
            not_found.append(answer.status_code == 404)
        insiders = [name for name in personas if name not in outsiders]
        if any(not_found) and access.kind in ("roles", "permission") and insiders:
            # last, since it may change the object: does the 404 tell the role check apart?
            answer, _ = _ask(clients[insiders[0]], url, method, data)
            if (answer.status_code == 404) != (route.name in NOT_MADE):
                problems.append(
                    f"{route.name} {url}: {insiders[0]}, who may use it, got "
                    f"{answer.status_code} (a real object in its scope, or NOT_MADE?)"
                )

    # Then
    assert not problems, "the permission matrix is not what the URLs do:\n" + "\n".join(problems)
