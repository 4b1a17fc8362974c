"""Similar needs (issue #7 §1): while a need is registered or triaged, the most similar active
and recently closed needs, so that the user can link, merge or attach it to a topic.

How it works
- The index itself (rows of character 2–3-gram TF-IDF with the IDF squared, a column index of
  each row's heaviest n-grams, and the impact-pruned lookup over the query's `QUERY_TERMS`
  heaviest n-grams) is
  `wenxu.insight.similar_index.SimilarIndex`; this module keeps one per process and fills it
  from the ledger.
- It holds the rows of the active needs and of those closed within `WENXU_SIMILAR_RECENT_DAYS`
  (never withdrawn or merged ones), with their ids, areas, categories and recorders. It is
  built lazily from the database in batches, with the IDF fitted at build (a first build of
  more than `BACKGROUND_FIRST_BUILD_ROWS` needs runs in a background thread; lookups find
  nothing until it is ready); needs registered later are appended on a lookup (the database is
  asked at most every `REFRESH_SECONDS`; the last `RESCAN_IDS` ids are looked at again, for
  registrations that committed after a higher id), and it is rebuilt when it is older than
  `REBUILD_SECONDS` or has grown by more than `REBUILD_GROWTH`.
- A lookup drops first the rows the viewer cannot see by area (their areas' subtrees) nor as
  recorder; a viewer who also sees needs through units (handlers) cannot be judged from the
  index, so for them the pool is `WIDE_CANDIDATES`. The best `CANDIDATES` rows (or
  `WIDE_CANDIDATES`), after the area and category boosts, get their exact cosine, those below
  `MIN_SIMILARITY` are dropped, and the rest are read from the database through the viewer's
  scope with their current status, area and category, boosted, and the best few returned.
- Text edited after indexing is seen at the next rebuild.
- Status changes after indexing need nothing: the candidates' status and scope come from the
  database at query time.
"""

import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from threading import Lock, Thread

import numpy as np
from django.conf import settings
from django.db import connections
from django.db.models import Max, Q
from scipy import sparse

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight.similar_index import (
    AREA_BOOST,
    CANDIDATES,
    CATEGORY_BOOST,
    SimilarIndex,
    _no_counts,
)
from wenxu.insight.text import SIMILARITY_NGRAMS, Featuriser, need_text, normalize
from wenxu.lib import clock
from wenxu.needs import selectors, states
from wenxu.needs.models import Need
from wenxu.organisations.models import Area

# For a viewer whose scope the index cannot tell (one who sees needs through units), the pool
# before the database's scope check is wider.
WIDE_CANDIDATES = 1000
# Below this cosine two needs share only common words: with the IDF squared, differently
# worded reports of one problem at one place score 0.1–0.4 (the demo's 锦绣花园 burst),
# unrelated ones < 0.03.
MIN_SIMILARITY = 0.08
# Fewer characters than this (after normalising) say too little to compare.
MIN_QUERY_CHARS = 4

# Index upkeep.
REFRESH_SECONDS = 5.0
REBUILD_SECONDS = 3600.0
REBUILD_GROWTH = 0.2
# From this size on a rebuild runs in a background thread (a million needs take a minute).
BACKGROUND_REBUILD_ROWS = 20_000
# From this many eligible needs on, the first build too runs in a background thread (lookups
# find nothing until it is done) instead of holding up every request of the process.
BACKGROUND_FIRST_BUILD_ROWS = 20_000
# Each refresh looks again at the needs of the last RESCAN_IDS ids: on PostgreSQL concurrent
# registrations can commit out of id order, and a lower id may appear after a higher one.
RESCAN_IDS = 500
BATCH = 5000

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- from the ledger


def _eligible(now: datetime) -> Q:
    """Needs that may be suggested: active ones, and those closed within the recent window."""
    recent = now - timedelta(days=settings.WENXU_SIMILAR_RECENT_DAYS)
    return Q(status__in=states.ACTIVE) | Q(status=states.Status.CLOSED, closed_at__gte=recent)


_FIELDS = ("id", "title", "description", "area_id", "category_id", "recorded_by_id")
_Row = tuple[int, str, str, int, int | None, int | None]


def _rows(min_id: int, max_id: int, *, known: Collection[int] = ()) -> Iterable[list[_Row]]:
    """Eligible needs with min_id < id <= max_id, but not `known`, in id order, a batch at a
    time."""
    eligible = _eligible(clock.now())
    last = min_id
    while True:
        found = Need.objects.filter(eligible, id__gt=last, id__lte=max_id)
        if known:
            found = found.exclude(id__in=list(known))
        batch = list(found.order_by("id").values_list(*_FIELDS)[:BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _columns(
    batch: list[_Row],
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([row[0] for row in batch], dtype=np.int64),
        [need_text(row[1], row[2]) for row in batch],
        np.array([row[3] or 0 for row in batch], dtype=np.int64),
        np.array([row[4] or 0 for row in batch], dtype=np.int64),
        np.array([row[5] or 0 for row in batch], dtype=np.int64),
    )


def _build_from_db() -> SimilarIndex:
    max_id = Need.objects.aggregate(top=Max("id"))["top"] or 0
    featuriser = Featuriser(ngram_range=SIMILARITY_NGRAMS)
    counts: list[sparse.csr_matrix] = [_no_counts()]
    ids: list[np.ndarray] = []
    areas: list[np.ndarray] = []
    categories: list[np.ndarray] = []
    recorders: list[np.ndarray] = []
    for batch in _rows(0, max_id):
        batch_ids, texts, batch_areas, batch_categories, batch_recorders = _columns(batch)
        counts.append(featuriser.counts(texts))
        ids.append(batch_ids)
        areas.append(batch_areas)
        categories.append(batch_categories)
        recorders.append(batch_recorders)
    empty = np.empty(0, dtype=np.int64)
    return SimilarIndex.from_counts(
        featuriser=featuriser,
        counts=sparse.vstack(counts, format="csr"),
        ids=np.concatenate(ids) if ids else empty,
        area_ids=np.concatenate(areas) if areas else empty,
        category_ids=np.concatenate(categories) if categories else empty,
        recorded_by_ids=np.concatenate(recorders) if recorders else empty,
        scanned_max_id=max_id,
    )


def _append_from_db(index: SimilarIndex) -> SimilarIndex:
    """The index with the needs registered since it last looked. The last `RESCAN_IDS` ids are
    looked at again (skipping those already in): a lower id may have committed later."""
    max_id = max(Need.objects.aggregate(top=Max("id"))["top"] or 0, index.scanned_max_id)
    low = max(index.scanned_max_id - RESCAN_IDS, 0)
    known = index.ids_above(low).tolist()
    batch = [row for rows in _rows(low, max_id, known=known) for row in rows]
    ids, texts, areas, categories, recorders = _columns(batch)
    return index.appended(
        ids=ids,
        texts=texts,
        area_ids=areas,
        category_ids=categories,
        recorded_by_ids=recorders,
        scanned_max_id=max_id,
    )


def _many_eligible() -> bool:
    """Whether a first build is large enough to go to a background thread (a bounded count)."""
    rows = BACKGROUND_FIRST_BUILD_ROWS
    return Need.objects.filter(_eligible(clock.now())).values("id")[rows - 1 : rows].exists()


def _empty_index() -> SimilarIndex:
    return SimilarIndex.build(
        ids=np.empty(0, dtype=np.int64),
        texts=[],
        area_ids=np.empty(0, dtype=np.int64),
        category_ids=np.empty(0, dtype=np.int64),
    )


_lock = Lock()
_index: SimilarIndex | None = None
_generation = 0  # bumped by a reset: a rebuild started before it must not install its index
_rebuilding = False


def similar_index() -> SimilarIndex:
    """The process's index, built on first use and kept current (see the module docstring).

    Readers get an immutable snapshot; one thread at a time refreshes, the others carry on
    with the snapshot they have. A small first build makes its callers wait; a large one, and
    any rebuild of a large index, runs in a background thread, while lookups use the old index
    or, before the first one is ready, an empty one."""
    global _index
    index = _index
    now = time.monotonic()
    if index is not None and now - index.checked_at < REFRESH_SECONDS:
        return index
    if index is None and _rebuilding:
        return _placeholder()  # the first build is running in the background
    blocking = index is None  # nothing to serve yet: wait for the build (or its start)
    if not _lock.acquire(blocking=blocking):
        assert index is not None
        return index
    try:
        index = _index
        if index is None:
            if _rebuilding or _many_eligible():
                _start_rebuild()
                return _placeholder()
            index = _build_from_db()
        elif now - index.checked_at >= REFRESH_SECONDS:
            index = _append_from_db(index)
            grown = index.size > index.base_size * (1 + REBUILD_GROWTH) and index.size > 50
            if grown or now - index.built_at >= REBUILD_SECONDS:
                if index.size < BACKGROUND_REBUILD_ROWS:
                    index = _build_from_db()
                else:
                    _start_rebuild()
        _index = index
        return index
    finally:
        _lock.release()


_empty: SimilarIndex | None = None


def _placeholder() -> SimilarIndex:
    """An empty index, served while the first one is built in the background."""
    global _empty
    if _empty is None:
        _empty = _empty_index()
    return _empty


def _start_rebuild() -> None:
    """Build in a thread of its own (called with `_lock` held)."""
    global _rebuilding
    if _rebuilding:
        return
    _rebuilding = True
    Thread(target=_rebuild, args=(_generation,), name="wenxu-similar-rebuild", daemon=True).start()


def _rebuild(generation: int) -> None:
    global _index, _rebuilding
    try:
        fresh = _build_from_db()
        with _lock:
            # Needs registered meanwhile are taken in by the next refresh.
            if generation == _generation:
                _index = fresh
    except Exception:
        logger.exception("Building the similar-needs index failed; the old one stays in use.")
    finally:
        _rebuilding = False
        connections.close_all()


def similar_index_reset() -> None:
    """Forget the index: the next lookup builds it again (tests, after bulk imports)."""
    global _index, _generation
    with _lock:
        _index = None
        _generation += 1


# --------------------------------------------------------------------------- lookups


@dataclass(frozen=True)
class TopicRef:
    id: int
    title: str


@dataclass(frozen=True)
class SimilarNeed:
    id: int
    number: str
    title: str
    status: str
    status_label: str
    area: str
    area_id: int
    category: str  # "" when not classified
    category_id: int | None
    lead_unit: str  # short name, "" before assignment
    lead_unit_id: int | None
    lead_unit_name: str  # full name
    registered_at: datetime
    similarity: float  # cosine of the texts, 0–1 (the ranking also counts the boosts)
    score: float
    topics: tuple[TopicRef, ...] = ()

    @property
    def active(self) -> bool:
        return self.status in states.ACTIVE

    @property
    def percent(self) -> int:
        return round(self.similarity * 100)

    def get_status_display(self) -> str:
        """As on a `Need`, so that the ledger's status badge shows it."""
        return self.status_label


def _candidate_scope(user: User) -> tuple[np.ndarray | None, int]:
    """(the area ids whose needs `user` sees by area, the candidate pool's size).

    A viewer who sees needs through units (handlers) may see a need of any area: the index
    cannot tell which (the lead unit changes after indexing), so no areas are given and the
    pool is wider; the database's scope check decides."""
    scopes = scopes_for_user(user)
    if any(scope.unit_path for scope in scopes):
        return None, WIDE_CANDIDATES
    paths = sorted({scope.area_path for scope in scopes if scope.area_path})
    if not paths:
        return np.empty(0, dtype=np.int64), CANDIDATES  # only what they recorded
    subtrees = Q()
    for path in paths:
        subtrees |= Q(path__startswith=path)
    ids = Area.objects.filter(subtrees).values_list("id", flat=True)
    return np.fromiter(ids, dtype=np.int64), CANDIDATES


def _enough(text: str) -> bool:
    return len(normalize(text).replace(" ", "")) >= MIN_QUERY_CHARS


def similar_needs(
    *,
    user: User,
    text: str,
    area_id: int | None = None,
    category_id: int | None = None,
    exclude_ids: Collection[int] = (),
    limit: int = 5,
) -> list[SimilarNeed]:
    """The needs most similar to `text` that `user` may see, best first (at most `limit`)."""
    if not user.is_active or not _enough(text):
        return []
    index = similar_index()
    if index.size == 0:
        return []
    query = index.query_vector(text)
    allowed_areas, limit_candidates = _candidate_scope(user)
    found = index.candidates(
        query,
        area_id=area_id,
        category_id=category_id,
        exclude_ids=exclude_ids,
        limit=limit_candidates,
        allowed_area_ids=allowed_areas,
        recorder_id=user.pk,
    )
    exact = {
        need_id: cosine
        for need_id, cosine in index.cosines(query, found).items()
        if cosine >= MIN_SIMILARITY
    }
    if not exact:
        return []
    needs = list(
        selectors.need_queryset_for_user(user=user)
        .filter(_eligible(clock.now()), pk__in=list(exact))
        .select_related("area", "category", "lead_unit")
        .only(
            "id",
            "number",
            "title",
            "status",
            "registered_at",
            "area_id",
            "category_id",
            "area__name",
            "category__name",
            "lead_unit__name",
            "lead_unit__short_name",
        )
    )
    scored: list[tuple[float, Need]] = []
    for need in needs:
        # Boosted by the need's area and category as they are now.
        boost = 1.0
        if area_id and need.area_id == area_id:
            boost += AREA_BOOST
        if category_id and need.category_id == category_id:
            boost += CATEGORY_BOOST
        scored.append((exact[need.id] * boost, need))
    scored.sort(key=lambda item: (-item[0], -item[1].id))
    best = scored[:limit]
    topics = _topics(user, [need.id for _score, need in best])
    return [
        SimilarNeed(
            id=need.id,
            number=need.number,
            title=need.title,
            status=need.status,
            status_label=str(need.get_status_display()),
            area=need.area.name,
            area_id=need.area_id,
            category=need.category.name if need.category else "",
            category_id=need.category_id,
            lead_unit=(need.lead_unit.short_name or need.lead_unit.name) if need.lead_unit else "",
            lead_unit_id=need.lead_unit_id,
            lead_unit_name=need.lead_unit.name if need.lead_unit else "",
            registered_at=need.registered_at,
            similarity=round(exact[need.id], 3),
            score=round(score, 3),
            topics=topics.get(need.id, ()),
        )
        for score, need in best
    ]


def similar_to_need(*, user: User, need: Need, limit: int = 5) -> list[SimilarNeed]:
    """The needs most similar to `need` (found through the user's scope), not itself."""
    return similar_needs(
        user=user,
        text=need_text(need.title, need.description),
        area_id=need.area_id,
        category_id=need.category_id,
        exclude_ids={need.id},
        limit=limit,
    )


def _topics(user: User, need_ids: list[int]) -> dict[int, tuple[TopicRef, ...]]:
    """The topics (专题) each need is linked to, among those the user may see."""
    if not need_ids:
        return {}
    # Imported here: topics build on needs and insight, not the other way round.
    from wenxu.topics.models import TopicNeed
    from wenxu.topics.selectors import topic_queryset_for_user

    links: dict[int, list[TopicRef]] = {}
    for need_id, topic_id, title in (
        TopicNeed.objects.filter(
            need_id__in=need_ids, topic__in=topic_queryset_for_user(user=user).values("pk")
        )
        .order_by("topic_id")
        .values_list("need_id", "topic_id", "topic__title")
    ):
        links.setdefault(need_id, []).append(TopicRef(topic_id, title))
    return {need_id: tuple(refs) for need_id, refs in links.items()}
