"""The similar-needs index (issue #7 §1): rows of character 2–3-gram TF-IDF with the IDF
squared, with each row's need id, area, category and recorder; a column index of each row's
`INDEX_TERMS` heaviest n-grams, and the impact-pruned lookup over it. Pure NumPy/SciPy: building
it from the ledger, keeping it fresh and checking the viewer's scope are
`wenxu.insight.similar`'s."""

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from wenxu.insight.text import N_FEATURES, SIMILARITY_NGRAMS, Featuriser

# Squared IDF: the words only a few needs share (a place, a building, the problem's own
# words) count for more than the ones every message has ("居民反映", "希望尽快解决"). On the
# planted-duplicate data it finds 96 % of the twins instead of 87 % with plain IDF.
IDF_POWER = 2.0
# Lookup. QUERY_TERMS and CANDIDATES were chosen on synthetic needs with planted duplicates
# (bench/b7_similar.py): recall@5 against the exact cosine stays above 0.9.
QUERY_TERMS = 20
CANDIDATES = 100
# Each need is findable (in the column index the lookup reads) under its INDEX_TERMS heaviest
# n-grams only: its rarest words, places and names, what a differently worded report of the
# same matter shares with it. The common n-grams (小区, 希望, 反映 …) would make every posting
# list long and find nothing particular. The exact cosine reads the full rows.
INDEX_TERMS = 24
# Up to this many indexed needs a lookup scores every one exactly (a sparse product, about a
# millisecond): the column index's few heaviest n-grams per need find a matter told in other
# words less surely than the whole rows, and a township's ledger is small enough not to need it.
EXACT_UP_TO = 20_000
# Boosts: a need in the same area (grid) or of the same category is more likely the same matter.
AREA_BOOST = 0.15
CATEGORY_BOOST = 0.10

# --------------------------------------------------------------------------- the index


def _csc(rows: sparse.csr_matrix) -> sparse.csc_matrix:
    """The column index of `rows`: each row under its INDEX_TERMS heaviest n-grams."""
    counts = np.diff(rows.indptr)
    if len(counts) and counts.max() > INDEX_TERMS:
        row_ids = np.repeat(np.arange(rows.shape[0]), counts)
        # by row, heaviest first (the values of an L2-normalised row are at most 1)
        order = np.argsort(row_ids * 2.0 - rows.data, kind="stable")
        rank = np.arange(len(order)) - np.repeat(rows.indptr[:-1], counts)
        keep = np.sort(order[rank < INDEX_TERMS])
        indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, INDEX_TERMS))])
        rows = sparse.csr_matrix(
            (rows.data[keep], rows.indices[keep], indptr), shape=rows.shape, dtype=np.float32
        )
    matrix = rows.tocsc()
    matrix.sort_indices()
    return matrix


def _csr(rows: sparse.csr_matrix) -> sparse.csr_matrix:
    matrix = rows.tocsr()
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
    base: sparse.csc_matrix  # the column index of the rows (see INDEX_TERMS)
    extra: sparse.csc_matrix  # of the rows appended since the build (the build's IDF)
    base_rows: sparse.csr_matrix  # the rows themselves
    extra_rows: sparse.csr_matrix
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
            base_rows=_csr(rows),
            extra_rows=sparse.csr_matrix((0, width), dtype=np.float32),
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
        rows = sparse.vstack([self.extra_rows, self.featuriser.transform(texts)], format="csr")
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
            base_rows=self.base_rows,
            extra_rows=_csr(rows[order]),
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
        return int(self.base_rows.nnz + self.extra_rows.nnz)

    @property
    def base_size(self) -> int:
        return int(self.base.shape[0])

    # ---- querying

    def query_vector(self, text: str) -> sparse.csr_matrix:
        return self.featuriser.transform_one(text)

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the base rows and of the extra rows, each sorted."""
        return self.ids[: self.base_size], self.ids[self.base_size :]

    def _rows_of(self, ids: Collection[int]) -> np.ndarray:
        """The rows of those of `ids` that are in the index."""
        wanted = np.fromiter(ids, dtype=np.int64, count=len(ids))
        found = []
        for start, part in zip((0, self.base_size), self._parts(), strict=True):
            if not len(part):
                continue
            rows = np.minimum(np.searchsorted(part, wanted), len(part) - 1)
            found.append(rows[part[rows] == wanted] + start)
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

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
        if total * 8 < matrix.shape[0]:  # few postings: sorting them is cheaper
            touched, inverse = np.unique(rows, return_inverse=True)
            return touched.astype(np.int64), np.bincount(inverse, weights=values)
        scores = np.bincount(rows, weights=values, minlength=matrix.shape[0])
        touched = np.flatnonzero(scores)
        return touched, scores[touched]

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
        if self.size <= EXACT_UP_TO:
            rows, scores = self._all_dots(query)
        else:
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

    def _all_dots(self, query: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact dot product) of every row sharing an n-gram with the query."""
        column = query.T.tocsc()
        scores = np.concatenate(
            [
                np.asarray((matrix @ column).todense(), dtype=np.float64).ravel()
                for matrix in (self.base_rows, self.extra_rows)
            ]
        )
        rows = np.flatnonzero(scores > 0)
        return rows, scores[rows]

    def _boosts(self, rows: np.ndarray, area_id: int | None, category_id: int | None) -> np.ndarray:
        boost = np.ones(len(rows), dtype=np.float64)
        if area_id:
            boost += AREA_BOOST * (self.area_ids[rows] == area_id)
        if category_id:
            boost += CATEGORY_BOOST * (self.category_ids[rows] == category_id)
        return boost

    def _dots(self, query: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
        """Exact dot products of the query with a few rows, read from the rows."""
        result = np.zeros(len(rows), dtype=np.float64)
        terms, weights = query.indices, query.data.astype(np.float64)
        if not len(terms):
            return result
        if np.any(terms[1:] < terms[:-1]):
            order = np.argsort(terms)
            terms, weights = terms[order], weights[order]
        for matrix, offset in ((self.base_rows, 0), (self.extra_rows, self.base_size)):
            local = rows - offset
            mine = (local >= 0) & (local < matrix.shape[0])
            if not mine.any():
                continue
            # the rows' values, gathered without building a sub-matrix
            wanted = local[mine]
            starts = matrix.indptr[wanted]
            lengths = matrix.indptr[wanted + 1] - starts
            total = int(lengths.sum())
            offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
            columns = matrix.indices[offsets]
            at = np.minimum(np.searchsorted(terms, columns), len(terms) - 1)
            products = np.where(terms[at] == columns, matrix.data[offsets] * weights[at], 0.0)
            owner = np.repeat(np.arange(len(wanted)), lengths)
            result[mine] = np.bincount(owner, weights=products, minlength=len(wanted))
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
        found = self.ids[rows]
        best = np.lexsort((-found, -scores))[:limit]
        return list(zip(found[best].tolist(), scores[best].tolist(), strict=True))

    def exact_top(
        self, query: sparse.csr_matrix, *, limit: int, exclude_ids: Collection[int] = ()
    ) -> list[tuple[int, float]]:
        """Brute force: the cosine with every row (the baseline of bench B7)."""
        dense = np.zeros(query.shape[1], dtype=np.float32)
        dense[query.indices] = query.data
        scores = np.concatenate([self.base_rows @ dense, self.extra_rows @ dense])
        if exclude_ids:
            scores[np.isin(self.ids, np.fromiter(exclude_ids, dtype=np.int64))] = -1.0
        top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top]
