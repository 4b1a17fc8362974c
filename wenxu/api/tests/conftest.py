"""Helpers for the API tests: an HTTP client per persona, and needs in each lifecycle state.

`api_as(user)` signs in with a bearer token issued by the accounts service, as an external
client would; `api_as(user, session=True)` uses the browser session instead.
"""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.organisations.models import Area, Unit

BASE = "/api/v1"


class Api:
    def __init__(self, client: Client, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}

    def get(self, path: str, params: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(BASE + path, params or {}, headers=self._headers(headers))

    def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: str = ""
    ) -> Any:
        data = raw if raw else ({} if body is None else body)
        return self.client.post(
            BASE + path,
            data=data,
            content_type="application/json",
            headers=self._headers(headers),
        )

    def act(
        self, need: Need | str, action: str, headers: dict[str, str] | None = None, **body: Any
    ) -> Any:
        number = need if isinstance(need, str) else need.number
        if "version" not in body and isinstance(need, Need):
            body["version"] = Need.objects.get(pk=need.pk).version
        return self.post(f"/needs/{number}/{action}", body, headers=headers)

    def delete(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.delete(BASE + path, headers=self._headers(headers))


@pytest.fixture
def api_as(db: None) -> Any:
    def make(user: User | None, *, session: bool = False, **client_kwargs: Any) -> Api:
        client = Client(**client_kwargs)
        if user is None:
            return Api(client)
        if session:
            client.force_login(user)
            return Api(client)
        raw, _token = account_services.api_token_issue(user=user)
        return Api(client, {"Authorization": f"Bearer {raw}"})

    return make


class Lifecycle:
    """Builds needs in a given state for one of two scopes of the world.

    Scope "a": 东河镇 (grid_a), recorded by `officer`, lead unit 住建局 (`handler`).
    Scope "b": 西岭乡 (grid_b), recorded by `officer_b`, lead unit 交通局 (`handler_other`).
    """

    def __init__(self, world: Any, scope: str = "a") -> None:
        self.w = world
        self.scope = scope
        if scope == "a":
            self.area: Area = world.grid_a
            self.officer: User = world.officer
            self.unit: Unit = world.housing
            self.handler: User = world.handler
        else:
            self.area = world.grid_b
            self.officer = world.officer_b
            self.unit = world.transport
            self.handler = world.handler_other

    def registered(self, **overrides: Any) -> Need:
        values: dict[str, Any] = {
            "title": "村口路灯不亮",
            "description": "村口三盏路灯坏了一个多月，晚上出行不便。",
            "kind": "help",
            "source": "visit",
            "area": self.area,
            "category": self.w.cat_roads,
        }
        values.update(overrides)
        return services.need_register(actor=self.officer, **values)

    def assigned(self, **overrides: Any) -> Need:
        need = self.registered(**overrides)
        return services.need_assign(
            actor=self.w.dispatcher, need=need, version=need.version, lead_unit=self.unit
        )

    def in_progress(self, **overrides: Any) -> Need:
        need = self.assigned(**overrides)
        return services.need_accept(actor=self.handler, need=need, version=need.version)

    def extension_pending(self, **overrides: Any) -> Need:
        need = self.in_progress(**overrides)
        return services.need_request_extension(
            actor=self.handler, need=need, version=need.version, days=3, reason="需协调施工队"
        )

    def replied(self, outcome: str = "resolved", **overrides: Any) -> Need:
        need = self.in_progress(**overrides)
        return services.need_reply(
            actor=self.handler,
            need=need,
            version=need.version,
            outcome=outcome,
            reply_text="已更换路灯，恢复照明。",
            followup_date=clock.today() + timedelta(days=30) if outcome == "planned" else None,
        )

    def following(self, **overrides: Any) -> Need:
        need = self.replied("planned", **overrides)
        return services.need_callback(
            actor=self.officer,
            need=need,
            version=need.version,
            resolved="partly",
            satisfaction="basic",
            channel="phone",
        )

    def state(self, name: str) -> Need:
        return getattr(self, name)()  # type: ignore[no-any-return]


@pytest.fixture
def life(world: Any) -> Lifecycle:
    return Lifecycle(world, "a")
