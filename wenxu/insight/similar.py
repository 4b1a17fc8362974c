"""Similar needs (issue #7 §1): while a need is registered or triaged, the most similar active
and recently closed needs, so that the user can link, merge or attach it to a topic.

How it works
- Each need is a row of character 2–3-gram TF-IDF (`wenxu.insight.text.Featuriser`, with the
  IDF squared, see `IDF_POWER`), L2 normalised, so a dot product is the cosine similarity.
- A per-process, in-memory index holds the rows of the active needs and of those closed within
  `WENXU_SIMILAR_RECENT_DAYS` (never withdrawn or merged ones), column-major (CSC), with their
  ids, areas, categories and recorders. It is built lazily from the database in batches, with
  the IDF fitted at build (a first build of more than `BACKGROUND_FIRST_BUILD_ROWS` needs runs
  in a background thread; lookups find nothing until it is ready); needs registered later are
  appended on a lookup (the database is asked at most every `REFRESH_SECONDS`; the last
  `RESCAN_IDS` ids are looked at again, for registrations that committed after a higher id),
  and it is rebuilt when it is older than `REBUILD_SECONDS` or has grown by more than
  `REBUILD_GROWTH`.
- A lookup scores only the query's `QUERY_TERMS` heaviest n-grams that other needs have (the
  rare, telling ones: place names, the problem's own words) against those columns: its cost
  is the length of a few short posting lists instead of the whole matrix (impact-pruned,
  term-at-a-time). Rows the viewer cannot see by area (their areas' subtrees) nor as recorder
  are dropped first; a viewer who also sees needs through units (handlers) cannot be judged
  from the index, so for them the pool is `WIDE_CANDIDATES`. The best `CANDIDATES` rows (or
  `WIDE_CANDIDATES`), after the area and category boosts, get their
  exact cosine (a binary search for each in the query's posting lists), those below
  `MIN_SIMILARITY` are dropped, and the rest are read from the database through the viewer's
  scope with their current status, area and category, boosted, and the best few returned.
- Text edited after indexing is seen at the next rebuild.
- Status changes after indexing need nothing: the candidates' status and scope come from the
  database at query time.
"""

import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from threading import Lock, Thread

import numpy as np
from django.conf import settings
from django.db import connections
from django.db.models import Max, Q
from scipy import sparse

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight.text import N_FEATURES, SIMILARITY_NGRAMS, Featuriser, need_text, normalize
from wenxu.lib import clock
from wenxu.needs import selectors, states
from wenxu.needs.models import Need
from wenxu.organisations.models import Area

# Squared IDF: the words only a few needs share (a place, a building, the problem's own
# words) count for more than the ones every message has ("居民反映", "希望尽快解决"). On the
# planted-duplicate data it finds 96 % of the twins instead of 87 % with plain IDF.
IDF_POWER = 2.0
# Lookup. QUERY_TERMS and CANDIDATES were chosen on synthetic needs with planted duplicates
# (bench/b7_similar.py): recall@5 against the exact cosine stays above 0.9.
QUERY_TERMS = 16
CANDIDATES = 100
# For a viewer whose scope the index cannot tell (one who sees needs through units), the pool
# before the database's scope check is wider.
WIDE_CANDIDATES = 1000
# Boosts: a need in the same area (grid) or of the same category is more likely the same matter.
AREA_BOOST = 0.15
CATEGORY_BOOST = 0.10
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


# --------------------------------------------------------------------------- the index


def _csc(rows: sparse.csr_matrix) -> sparse.csc_matrix:
    matrix = rows.tocsc()
    matrix.sort_indices()
    return matrix


def _no_counts() -> sparse.csr_matrix:
    # (HashingVectorizer.transform([]) raises StopIteration.)
    return sparse.csr_matrix((0, N_FEATURES), dtype=np.float32)


def _int64(values: np.ndarray | None, length: int) -> np.ndarray:
    if values is None:
        return np.zeros(length, dtype=np.int64)
    return np.asarray(values, dtype=np.int64)


@dataclass(frozen=True)
class SimilarIndex:
    """An immutable snapshot: appending gives a new one, so readers never need a lock.

    The base rows are in ascending id order, and so are the extra rows (an appended id may be
    lower than the base's last one: a registration that committed late), so a need's row is
    found by a binary search in each part."""

    featuriser: Featuriser
    base: sparse.csc_matrix
    extra: sparse.csc_matrix  # rows appended since the build (weighted with the build's IDF)
    ids: np.ndarray  # int64, base rows then extra rows
    area_ids: np.ndarray  # int64, 0 when unknown
    category_ids: np.ndarray  # int64, 0 when none
    recorded_by_ids: np.ndarray  # int64, who recorded the need (they always see it)
    scanned_max_id: int = 0  # every need up to this id has been looked at
    built_at: float = field(default_factory=time.monotonic)
    checked_at: float = field(default_factory=time.monotonic)

    # ---- building

    @classmethod
    def build(
        cls,
        *,
        ids: np.ndarray,
        texts: Iterable[str],
        area_ids: np.ndarray,
        category_ids: np.ndarray,
        recorded_by_ids: np.ndarray | None = None,
        scanned_max_id: int | None = None,
    ) -> "SimilarIndex":
        featuriser = Featuriser(ngram_range=SIMILARITY_NGRAMS)
        texts = list(texts)
        return cls.from_counts(
            featuriser=featuriser,
            counts=featuriser.counts(texts) if texts else _no_counts(),
            ids=ids,
            area_ids=area_ids,
            category_ids=category_ids,
            recorded_by_ids=recorded_by_ids,
            scanned_max_id=scanned_max_id,
        )

    @classmethod
    def from_counts(
        cls,
        *,
        featuriser: Featuriser,
        counts: sparse.csr_matrix,
        ids: np.ndarray,
        area_ids: np.ndarray,
        category_ids: np.ndarray,
        recorded_by_ids: np.ndarray | None = None,
        scanned_max_id: int | None = None,
    ) -> "SimilarIndex":
        order = np.argsort(ids, kind="stable")
        featuriser.fit_counts(counts)
        assert featuriser.idf is not None
        featuriser.idf = featuriser.idf**IDF_POWER
        # (sklearn's normalize refuses a matrix without rows)
        rows = featuriser.weigh(counts[order]) if len(order) else _no_counts()
        width = rows.shape[1]
        ids = np.asarray(ids, dtype=np.int64)[order]
        if scanned_max_id is None:
            scanned_max_id = int(ids[-1]) if len(ids) else 0
        return cls(
            featuriser=featuriser,
            base=_csc(rows),
            extra=sparse.csc_matrix((0, width), dtype=np.float32),
            ids=ids,
            area_ids=np.asarray(area_ids, dtype=np.int64)[order],
            category_ids=np.asarray(category_ids, dtype=np.int64)[order],
            recorded_by_ids=_int64(recorded_by_ids, len(ids))[order],
            scanned_max_id=scanned_max_id,
        )

    def appended(
        self,
        *,
        ids: np.ndarray,
        texts: Iterable[str],
        area_ids: np.ndarray,
        category_ids: np.ndarray,
        recorded_by_ids: np.ndarray | None = None,
        scanned_max_id: int,
    ) -> "SimilarIndex":
        """A new snapshot with these needs added (those already in are skipped); the base matrix
        is shared."""
        now = time.monotonic()
        ids = np.asarray(ids, dtype=np.int64)
        texts = list(texts)
        new = ~self._contains(ids)
        if not new.any():
            return replace(self, scanned_max_id=scanned_max_id, checked_at=now)
        ids = ids[new]
        texts = [text for text, keep in zip(texts, new.tolist(), strict=True) if keep]
        recorders = _int64(recorded_by_ids, len(new))[new]
        rows = sparse.vstack([self.extra.tocsr(), self.featuriser.transform(texts)], format="csr")
        base = slice(0, self.base_size)
        extra = slice(self.base_size, None)
        extra_ids = np.concatenate([self.ids[extra], ids])
        order = np.argsort(extra_ids, kind="stable")  # a late commit may have a lower id

        def joined(old: np.ndarray, added: np.ndarray) -> np.ndarray:
            both = np.concatenate([old[extra], np.asarray(added, dtype=np.int64)[new]])
            return np.concatenate([old[base], both[order]])

        return SimilarIndex(
            featuriser=self.featuriser,
            base=self.base,
            extra=_csc(rows[order]),
            ids=np.concatenate([self.ids[base], extra_ids[order]]),
            area_ids=joined(self.area_ids, area_ids),
            category_ids=joined(self.category_ids, category_ids),
            recorded_by_ids=np.concatenate(
                [
                    self.recorded_by_ids[base],
                    np.concatenate([self.recorded_by_ids[extra], recorders])[order],
                ]
            ),
            scanned_max_id=scanned_max_id,
            built_at=self.built_at,
            checked_at=now,
        )

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def nnz(self) -> int:
        return int(self.base.nnz + self.extra.nnz)

    @property
    def base_size(self) -> int:
        return int(self.base.shape[0])

    # ---- querying

    def query_vector(self, text: str) -> sparse.csr_matrix:
        return self.featuriser.transform([text])

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the base rows and of the extra rows, each sorted."""
        return self.ids[: self.base_size], self.ids[self.base_size :]

    def _rows_of(self, ids: Collection[int]) -> np.ndarray:
        """The rows of those of `ids` that are in the index."""
        wanted = np.fromiter(ids, dtype=np.int64, count=len(ids))
        found = []
        for start, part in zip((0, self.base_size), self._parts(), strict=True):
            rows = np.searchsorted(part, wanted)
            rows = rows[rows < len(part)]
            found.append(rows[np.isin(part[rows], wanted)] + start)
        return np.concatenate(found)

    def _contains(self, ids: np.ndarray) -> np.ndarray:
        """For each of `ids`, whether it is in the index."""
        inside = np.zeros(len(ids), dtype=bool)
        for part in self._parts():
            at = np.minimum(np.searchsorted(part, ids), max(len(part) - 1, 0))
            if len(part):
                inside |= part[at] == ids
        return inside

    def ids_above(self, low: int) -> np.ndarray:
        return self.ids[self.ids > low]

    def _query_terms(
        self, query: sparse.csr_matrix, excluded_rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The query's heaviest n-grams that can find another need, and their weights.

        An n-gram no indexed need has (df 0), or only the excluded need itself, weighs the most
        and finds nothing: it must not take the place of one that does."""
        columns = query.indices
        weights = query.data
        base_lengths = self.base.indptr[columns + 1] - self.base.indptr[columns]
        extra_lengths = self.extra.indptr[columns + 1] - self.extra.indptr[columns]
        lengths = base_lengths + extra_lengths
        useful = lengths > 0
        single = np.flatnonzero(lengths == 1)
        if len(excluded_rows) and len(single):
            cols = columns[single]
            in_base = base_lengths[single] == 1
            row = np.where(
                in_base,
                self.base.indices[np.minimum(self.base.indptr[cols], self.base.nnz - 1)]
                if self.base.nnz
                else 0,
                self.extra.indices[np.minimum(self.extra.indptr[cols], self.extra.nnz - 1)]
                + self.base_size
                if self.extra.nnz
                else 0,
            )
            useful[single] = ~np.isin(row, excluded_rows)
        columns, weights = columns[useful], weights[useful]
        if len(weights) > QUERY_TERMS:
            top = np.argpartition(-weights, QUERY_TERMS - 1)[:QUERY_TERMS]
            columns, weights = columns[top], weights[top]
        return columns, weights

    def _partial_scores(
        self, matrix: sparse.csc_matrix, columns: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows touched, their partial dot product) over the chosen columns only."""
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        starts = matrix.indptr[columns]
        ends = matrix.indptr[columns + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        # Gather the posting lists of the chosen columns without building a sub-matrix.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        rows = matrix.indices[offsets]
        values = matrix.data[offsets] * np.repeat(weights, lengths)
        touched, inverse = np.unique(rows, return_inverse=True)
        return touched.astype(np.int64), np.bincount(inverse, weights=values)

    def postings_read(self, query: sparse.csr_matrix, exclude_ids: Collection[int] = ()) -> int:
        """How many stored values a lookup reads (for tests and the benchmark)."""
        columns, _ = self._query_terms(query, self._rows_of(exclude_ids))
        return int(
            sum(
                (m.indptr[columns + 1] - m.indptr[columns]).sum()
                for m in (self.base, self.extra)
                if m.shape[0]
            )
        )

    def candidates(
        self,
        query: sparse.csr_matrix,
        *,
        area_id: int | None = None,
        category_id: int | None = None,
        exclude_ids: Collection[int] = (),
        limit: int = CANDIDATES,
        allowed_area_ids: np.ndarray | None = None,
        recorder_id: int | None = None,
    ) -> dict[int, float]:
        """The best `limit` need ids by boosted partial score (need id → score).

        With `allowed_area_ids` only rows of those areas, or recorded by `recorder_id`, count."""
        if query.nnz == 0 or self.size == 0:
            return {}
        excluded_rows = self._rows_of(exclude_ids)
        columns, weights = self._query_terms(query, excluded_rows)
        base_rows, base_scores = self._partial_scores(self.base, columns, weights)
        extra_rows, extra_scores = self._partial_scores(self.extra, columns, weights)
        rows = np.concatenate([base_rows, extra_rows + self.base_size])
        scores = np.concatenate([base_scores, extra_scores])
        if not len(rows):
            return {}
        scores = scores * self._boosts(rows, area_id, category_id)
        if len(excluded_rows):
            keep = ~np.isin(rows, excluded_rows)
            rows, scores = rows[keep], scores[keep]
        if allowed_area_ids is not None:
            keep = np.isin(self.area_ids[rows], allowed_area_ids)
            if recorder_id:
                keep |= self.recorded_by_ids[rows] == recorder_id
            rows, scores = rows[keep], scores[keep]
        if len(rows) > limit:
            top = np.argpartition(-scores, limit - 1)[:limit]
            rows, scores = rows[top], scores[top]
        return {int(i): float(s) for i, s in zip(self.ids[rows], scores, strict=True)}

    def _boosts(self, rows: np.ndarray, area_id: int | None, category_id: int | None) -> np.ndarray:
        boost = np.ones(len(rows), dtype=np.float64)
        if area_id:
            boost += AREA_BOOST * (self.area_ids[rows] == area_id)
        if category_id:
            boost += CATEGORY_BOOST * (self.category_ids[rows] == category_id)
        return boost

    def _dots(self, query: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Exact dot products of the query with a few rows, read from the columns: a binary
        search for the rows in each of the query's posting lists (sorted by row)."""
        result = np.zeros(len(rows), dtype=np.float64)
        for matrix, offset in ((self.base, 0), (self.extra, self.base_size)):
            local = rows - offset
            mine = (local >= 0) & (local < matrix.shape[0])
            if not mine.any():
                continue
            # Same dtype as the posting lists, or searchsorted copies each one to convert it.
            wanted = local[mine].astype(matrix.indices.dtype)
            total = np.zeros(len(wanted), dtype=np.float64)
            indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
            bounds = np.stack([indptr[query.indices], indptr[query.indices + 1]], axis=1)
            for (start, end), weight in zip(bounds.tolist(), query.data.tolist(), strict=True):
                if start == end:
                    continue
                at = np.searchsorted(indices[start:end], wanted) + start
                np.minimum(at, end - 1, out=at)
                hit = indices[at] == wanted
                total[hit] += data[at[hit]] * weight
            result[mine] = total
        return np.clip(result, 0.0, 1.0)

    def cosines(self, query: sparse.csr_matrix, ids: Collection[int]) -> dict[int, float]:
        """Exact cosine between the query and each indexed need of `ids` (need id → cosine)."""
        rows = self._rows_of(ids)
        if not len(rows):
            return {}
        values = self._dots(query, rows)
        return {int(i): float(v) for i, v in zip(self.ids[rows], values, strict=True)}

    def rerank(
        self,
        query: sparse.csr_matrix,
        ids: Collection[int],
        *,
        limit: int,
        area_id: int | None = None,
        category_id: int | None = None,
    ) -> list[tuple[int, float]]:
        """The best `limit` of `ids` by exact cosine, boosted by the indexed area and category."""
        rows = self._rows_of(ids)
        scores = self._dots(query, rows) * self._boosts(rows, area_id, category_id)
        ranked = sorted(
            zip(self.ids[rows].tolist(), scores.tolist(), strict=True),
            key=lambda item: (-item[1], -item[0]),
        )
        return ranked[:limit]

    def exact_top(
        self, query: sparse.csr_matrix, *, limit: int, exclude_ids: Collection[int] = ()
    ) -> list[tuple[int, float]]:
        """Brute force: the cosine with every row (the baseline of bench B7)."""
        dense = np.zeros(query.shape[1], dtype=np.float32)
        dense[query.indices] = query.data
        scores = np.concatenate([self.base @ dense, self.extra @ dense])
        if exclude_ids:
            scores[np.isin(self.ids, np.fromiter(exclude_ids, dtype=np.int64))] = -1.0
        top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top]


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
