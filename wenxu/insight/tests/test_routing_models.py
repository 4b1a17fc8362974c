"""Stored routing models: one that cannot be used is refused on reading, and a need then gets
no suggestion from it (the keyword rules still apply) instead of an error page; two trainings
at once leave one active model per target."""

import io
import logging
import threading
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse

from conftest import World
from wenxu.insight.models import RouterModel, RoutingRule
from wenxu.insight.routing import features, training
from wenxu.insight.routing.store import clear_cache
from wenxu.insight.routing.suggest import routing_suggest
from wenxu.insight.routing.training import TrainingConflict, router_train
from wenxu.insight.text import N_FEATURES
from wenxu.needs import services

TEXTS = ["自来水停水", "水压低没水", "路灯不亮", "道路坑洼", "学校学位", "幼儿园太远"] * 2
LABELS = [1, 1, 2, 2, 3, 3] * 2


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Any:
    clear_cache()
    yield
    clear_cache()


def _arrays() -> dict[str, np.ndarray]:
    router = features.fit(TEXTS, LABELS, extras=[[features.area_key(5)]] * len(TEXTS))
    with np.load(io.BytesIO(router.to_bytes()), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _archive(**changes: np.ndarray) -> bytes:
    arrays = _arrays() | changes
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.arange(3))
    return buffer.getvalue()


def test_an_untouched_archive_still_loads() -> None:
    loaded = features.Router.from_bytes(_archive())

    assert [label for label, _p in loaded.predict(["东河村停水了"])] == [1]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PK\x03\x04",
        b"PK\x03\x04" + b"\x00" * 60,
        b"not a model",
        _npy(),
    ],
    ids=["empty", "zip-header-only", "broken-zip", "garbage", "bare-npy"],
)
def test_bytes_that_are_no_archive_are_refused(data: bytes) -> None:
    with pytest.raises(features.FormatError):
        features.Router.from_bytes(data)


def test_a_truncated_archive_is_refused() -> None:
    data = _archive()

    with pytest.raises(features.FormatError):
        features.Router.from_bytes(data[: len(data) // 2])


def _mismatched() -> dict[str, dict[str, np.ndarray]]:
    arrays = _arrays()
    columns, idf, extras = arrays["columns"], arrays["idf"], arrays["extras"]
    coef, intercept, classes = arrays["coef"], arrays["intercept"], arrays["classes"]
    return {
        "short-idf": {"idf": idf[:-1]},
        "short-intercept": {"intercept": intercept[:-1]},
        "extras-without-coef": {"extras": np.append(extras, extras[-1] + 4)},
        "unsorted-columns": {"columns": columns[::-1].copy()},
        "columns-beyond-hashing": {"columns": columns + N_FEATURES},
        "float-columns": {"columns": columns.astype(np.float64)},
        "float-classes": {"classes": classes.astype(np.float64)},
        "one-class": {
            "classes": classes[:1],
            "intercept": intercept[:1],
            "coef": coef[:1],
        },
        "nan-coef": {"coef": np.where(coef == coef.max(), np.nan, coef).astype(np.float32)},
        "matrix-classes": {"classes": classes.reshape(1, -1)},
    }


@pytest.mark.parametrize("case", list(_mismatched()))
def test_arrays_that_do_not_fit_together_are_refused(case: str) -> None:
    data = _archive(**_mismatched()[case])

    with pytest.raises(features.FormatError):
        features.Router.from_bytes(data)


def _trained(world: World) -> None:
    for template, category, unit in (
        ("{p}自来水停水三天，做饭没水", world.cat_water, world.housing),
        ("{p}路灯坏了，晚上一片漆黑", world.cat_roads, world.transport),
    ):
        for place in ["东河村", "西岭村", "幸福里", "光明街", "南山组", "北坡组"]:
            text = template.format(p=place)
            need = world.register(title=text[:20], description=text, category=category)
            services.need_assign(
                actor=world.dispatcher, need=need, version=need.version, lead_unit=unit
            )
    router_train()


@pytest.mark.parametrize(
    "data",
    [b"", b"PK\x03\x04" + b"\x00" * 60, "short-idf"],
    ids=["empty", "broken-zip", "short-idf"],
)
def test_an_unreadable_stored_model_is_skipped_and_logged_not_an_error(
    client, world: World, caplog: pytest.LogCaptureFixture, data: bytes | str
) -> None:
    _trained(world)
    stored = data if isinstance(data, bytes) else _archive(**_mismatched()[data])
    RouterModel.objects.filter(target="category").update(data=stored)
    RoutingRule.objects.create(name="供水", keywords="停水", unit=world.housing, priority=1)
    need = world.register(title="停水", description="东河村自来水停水两天", category=None)

    with caplog.at_level(logging.WARNING, logger="wenxu.insight.routing.store"):
        suggestion = routing_suggest(need=need)
    client.force_login(world.dispatcher)
    page = client.get(reverse("insight:routing_suggest", args=[need.number]))

    assert suggestion.category is None  # the broken category model gives nothing
    assert suggestion.unit == world.housing  # the rule still does
    assert "cannot be read" in caplog.text
    assert page.status_code == 200
    assert "青山县住房和城乡建设局" in page.content.decode()


# --------------------------------------------------------------------------- concurrent training


def _active() -> dict[str, list[int]]:
    result: dict[str, list[int]] = {}
    for target, pk in RouterModel.objects.filter(active=True).values_list("target", "pk"):
        result.setdefault(target, []).append(pk)
    return result


def test_a_training_that_loses_a_race_changes_nothing_and_says_to_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trained(world)
    before = _active()
    original = RouterModel.full_clean

    def another_training_finishes_first(self: RouterModel, *args: Any, **kwargs: Any) -> None:
        # As if a concurrent `router_train` committed its model between our lock and our save
        # (possible when the target had no active model to lock).
        RouterModel.objects.create(
            target=self.target, samples=1, classes=2, data=b"", active=True, metrics={}
        )
        original(self, *args, **kwargs)

    monkeypatch.setattr(RouterModel, "full_clean", another_training_finishes_first)

    with pytest.raises(TrainingConflict, match="另一次训练刚刚完成，请稍后重试"):
        router_train()
    with pytest.raises(CommandError, match="另一次训练刚刚完成，请稍后重试"):
        call_command("router_train", "--target", "unit", stdout=io.StringIO())
    assert _active() == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("existing", [True, False], ids=["replacing", "first-model"])
def test_two_trainings_at_once_leave_one_active_model_per_target(
    world: World, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a real race needs two connections to one database (PostgreSQL)")
    _trained(world)
    if not existing:
        RouterModel.objects.all().delete()
    both_trained = threading.Barrier(2, timeout=60)
    original = training._train_target

    def train_then_wait(target: str, *, actor: Any) -> RouterModel:
        model = original(target, actor=actor)
        both_trained.wait()  # both enter the saving transaction together
        return model

    monkeypatch.setattr(training, "_train_target", train_then_wait)
    outcomes: list[object] = []

    def run() -> None:
        try:
            outcomes.append(router_train())
        except Exception as error:
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(outcomes) == 2
    assert all(isinstance(o, list | TrainingConflict) for o in outcomes), outcomes
    assert any(isinstance(o, list) for o in outcomes)
    if existing:
        # The lock on the active rows serialises them: both succeed, the later one is active.
        assert all(isinstance(o, list) for o in outcomes), outcomes
    active = _active()
    assert sorted(active) == ["category", "unit"]
    assert all(len(pks) == 1 for pks in active.values())
