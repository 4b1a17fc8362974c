"""`router_train`: learn routing from the ledger's own decisions.

A decided need is one a dispatcher assigned (it has a lead unit) and that was not withdrawn;
its label is what was finally decided: its current category, its lead unit. Where the
suggestion shown at triage differed from that decision, the dispatcher corrected the system,
and the sample counts `CORRECTION_WEIGHT` times: the feedback loop.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from wenxu.accounts.models import User
from wenxu.insight.models import RouterModel, RoutingTarget
from wenxu.insight.routing.features import area_key, category_key, fit
from wenxu.insight.text import need_text
from wenxu.needs.models import Need
from wenxu.needs.states import Status

CORRECTION_WEIGHT = 3.0
MIN_CLASS_SAMPLES = 3
MIN_SAMPLES = 10
METRIC_FOLDS = 3


class TrainingRefused(Exception):
    """Nothing was trained or saved; `message` says why, for the admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotEnoughData(TrainingRefused):
    """Too few decided needs to learn from."""


class TrainingConflict(TrainingRefused):
    """Another `router_train` made its model active at the same moment."""


@dataclass
class Samples:
    texts: list[str]
    labels: list[int]
    weights: list[float]
    extras: list[list[int]] | None
    corrections: int


def area_keys(path: str) -> list[int]:
    """The need's area and its ancestors, from the tree path (no query)."""
    return [area_key(int(part)) for part in path.strip("/").split("/") if part]


def unit_extras(*, area_path: str, category_id: int | None) -> list[int]:
    keys = area_keys(area_path)
    if category_id is not None:
        keys.append(category_key(category_id))
    return keys


def decided_samples(target: str) -> Samples:
    rows = (
        Need.objects.filter(lead_unit__isnull=False)
        .exclude(status=Status.WITHDRAWN)
        .values_list(
            "title",
            "description",
            "category_id",
            "lead_unit_id",
            "area__path",
            "routing_suggestion__category_id",
            "routing_suggestion__unit_id",
        )
        .order_by("id")
    )
    texts: list[str] = []
    labels: list[int] = []
    weights: list[float] = []
    extras: list[list[int]] = []
    corrections = 0
    for title, description, category_id, unit_id, area_path, sug_cat, sug_unit in rows.iterator(
        chunk_size=2000
    ):
        if target == RoutingTarget.CATEGORY:
            if category_id is None:
                continue
            label, suggested = category_id, sug_cat
        else:
            label, suggested = unit_id, sug_unit
        corrected = suggested is not None and suggested != label
        corrections += corrected
        texts.append(need_text(title, description))
        labels.append(label)
        weights.append(CORRECTION_WEIGHT if corrected else 1.0)
        extras.append(unit_extras(area_path=area_path, category_id=category_id))
    samples = Samples(
        texts, labels, weights, extras if target == RoutingTarget.UNIT else None, corrections
    )
    return _drop_rare(samples)


def _drop_rare(samples: Samples) -> Samples:
    counts = Counter(samples.labels)
    keep = [i for i, label in enumerate(samples.labels) if counts[label] >= MIN_CLASS_SAMPLES]
    if len(keep) == len(samples.labels):
        return samples
    return Samples(
        [samples.texts[i] for i in keep],
        [samples.labels[i] for i in keep],
        [samples.weights[i] for i in keep],
        None if samples.extras is None else [samples.extras[i] for i in keep],
        samples.corrections,
    )


def _metrics(samples: Samples) -> dict[str, object]:
    """Quick stratified k-fold metrics (unweighted), when every class can be split."""
    y = np.asarray(samples.labels)
    folds = min(METRIC_FOLDS, int(np.unique(y, return_counts=True)[1].min()))
    if folds < 2:
        return {}
    truth: list[int] = []
    guessed: list[int] = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(y, y):
        router = fit(
            [samples.texts[i] for i in train],
            y[train],
            weights=[samples.weights[i] for i in train],
            extras=None if samples.extras is None else [samples.extras[i] for i in train],
        )
        predictions = router.predict(
            [samples.texts[i] for i in test],
            None if samples.extras is None else [samples.extras[i] for i in test],
        )
        truth.extend(int(v) for v in y[test])
        guessed.extend(int(label) for label, _p in predictions)  # type: ignore[call-overload]
    return {
        "folds": folds,
        "accuracy": round(float(accuracy_score(truth, guessed)), 4),
        "macro_f1": round(float(f1_score(truth, guessed, average="macro", zero_division=0)), 4),
    }


def _train_target(target: str, *, actor: User | None) -> RouterModel:
    samples = decided_samples(target)
    classes = sorted(set(samples.labels))
    label = RoutingTarget(target).label
    if len(samples.labels) < MIN_SAMPLES or len(classes) < 2:
        raise NotEnoughData(
            _(
                "%(target)s：已交办的诉求太少（%(n)d 条、%(k)d 类；每类至少 %(min)d 条才计入），"
                "至少需要 %(need)d 条、2 类。请先用分派规则，待台账积累后再训练。"
            )
            % {
                "target": label,
                "n": len(samples.labels),
                "k": len(classes),
                "min": MIN_CLASS_SAMPLES,
                "need": MIN_SAMPLES,
            }
        )
    router = fit(samples.texts, samples.labels, weights=samples.weights, extras=samples.extras)
    metrics = _metrics(samples)
    metrics["features"] = len(router.columns) + len(router.extras)
    return RouterModel(
        target=target,
        trained_by=actor,
        samples=len(samples.labels),
        corrections=samples.corrections,
        classes=len(classes),
        metrics=metrics,
        data=router.to_bytes(),
        active=True,
    )


def router_train(
    *, actor: User | None = None, targets: Sequence[str] = tuple(RoutingTarget.values)
) -> list[RouterModel]:
    """Train a model per target and make it the active one. Raises `NotEnoughData` (and
    changes nothing) when a target has too little to learn from, `TrainingConflict` (and
    changes nothing) when another training activated a model at the same moment."""
    # One BLAS thread: the fit is small, and on a busy two-core server the default thread pool
    # made it 15 times slower (measured while loading the demo).
    with threadpool_limits(limits=1):
        built = [_train_target(target, actor=actor) for target in targets]
    try:
        with transaction.atomic():
            for model in built:
                _activate(model)
    except IntegrityError as error:
        # Only reachable when two trainings of a target with no active model yet race (the
        # lock below has no row to hold): one wins, the other changes nothing.
        raise TrainingConflict(_("另一次训练刚刚完成，请稍后重试。")) from error
    return built


def _activate(model: RouterModel) -> None:
    """Replace the target's active model. Locking its active rows makes a concurrent training
    of the same target wait here and then replace this one, instead of both being active."""
    list(
        RouterModel.objects.select_for_update()
        .filter(target=model.target, active=True)
        .values_list("pk", flat=True)
    )
    RouterModel.objects.filter(target=model.target, active=True).update(active=False)
    # The one-active-per-target constraint is the database's to enforce, atomically.
    model.full_clean(exclude=["data"], validate_constraints=False)
    model.save()
