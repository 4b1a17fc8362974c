"""The active routing models, loaded once per process.

A process asks the database which models are active (one small query) and loads a model's
arrays only when its id changes, so a new `router_train` is picked up by every process at its
next suggestion without a restart.
"""

import logging
import threading

from wenxu.insight.models import RouterModel, RoutingTarget
from wenxu.insight.routing.features import FormatError, Router

log = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[int, Router] = {}


def active_routers() -> dict[str, tuple[int, Router]]:
    """target → (model id, router) for each target with an active, readable model."""
    active = dict(
        RouterModel.objects.filter(active=True).values_list("target", "id").order_by("target")
    )
    result: dict[str, tuple[int, Router]] = {}
    for target, model_id in active.items():
        router = _load(model_id)
        if router is not None:
            result[target] = (model_id, router)
    return result


def _load(model_id: int) -> Router | None:
    with _lock:
        router = _cache.get(model_id)
    if router is not None:
        return router
    data = RouterModel.objects.filter(pk=model_id).values_list("data", flat=True).first()
    if data is None:
        return None
    try:
        router = Router.from_bytes(bytes(data))
        if router.classes.dtype.kind not in "iu":
            raise FormatError("classes are not ids")
    except FormatError as error:
        # A bad model gives no suggestion (the rules still do) rather than an error page.
        log.warning(
            "routing model %s cannot be read (%s); train again (wenxu router_train)",
            model_id,
            error,
        )
        return None
    with _lock:
        # Only the models in use stay: a retrained target replaces its old entry.
        if len(_cache) >= 2 * len(RoutingTarget.values):
            _cache.clear()
        _cache[model_id] = router
    return router


def clear_cache() -> None:
    with _lock:
        _cache.clear()
