"""The routing classifier: compact TF-IDF features and a linear model, as plain arrays.

Text goes through the shared `Featuriser`'s hashed character n-grams (`ROUTING_NGRAMS`). Of
the 2**20 hashed columns only those seen in training are kept (at most `MAX_FEATURES`, the most
frequent first), mapped to compact columns, so a stored model is small. The unit model adds
one-hot columns for the need's area with its ancestors and its category ("extras").

A `Router` is nothing but NumPy arrays; `to_bytes`/`from_bytes` write and read an .npz archive
without pickle, so a database row can never run code. Training and evaluation (`router_eval`)
use the same `fit`, prediction the same `transform`: what is evaluated is what runs.
"""

import io
import itertools
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize as l2_normalize

from wenxu.insight.text import N_FEATURES, ROUTING_NGRAMS, Featuriser

FORMAT = 1
MAX_FEATURES = 2**16
# Multinomial logistic regression without class balancing: a dispatcher's correction counts
# CORRECTION_WEIGHT times (training.py), and balanced weights would shrink the very class the
# correction moved a need into, undoing the feedback. The price: a rare category is suggested
# less often than a common one with similar words (categories with fewer than
# MIN_CLASS_SAMPLES decided needs are not learnt at all). C tried at 1, 3, 10, 30, 100, 300,
# 1000 on the teddy2020 development set (5-fold macro-F1 0.30 → 0.69, flat from 30 up within
# the noise of 296 rows): see docs/insight.md.
C = 100.0
# Weight of each area / category one-hot column next to the L2-normalised text vector.
EXTRA_WEIGHT = 0.5

_featuriser = Featuriser(ngram_range=ROUTING_NGRAMS)
_featuriser_normalized = Featuriser(ngram_range=ROUTING_NGRAMS, normalized=True)


def text_counts(texts: Sequence[str], *, normalized: bool = False) -> sparse.csr_matrix:
    """The hashed n-gram counts every router reads (`Router.predict_counts`): computed once,
    they serve both the category and the unit model. `normalized`: the texts are
    `text.normalize`d already."""
    return (_featuriser_normalized if normalized else _featuriser).counts(texts)


def area_key(area_id: int) -> int:
    return area_id * 4 + 1


def category_key(category_id: int) -> int:
    return category_id * 4 + 2


class FormatError(Exception):
    """Stored bytes are not a routing model this version can read."""


@dataclass
class Router:
    columns: np.ndarray  # int64, sorted hashed feature ids kept
    idf: np.ndarray  # float32, one per kept column
    extras: np.ndarray  # int64, sorted keys of one-hot columns (area_key / category_key)
    coef: np.ndarray  # float32 (classes, columns + extras)
    intercept: np.ndarray  # float32 (classes,)
    classes: np.ndarray  # int64 ids, or str labels (evaluation)
    _columns: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)
    _kept: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    # --- features ---------------------------------------------------------------------------

    def transform(
        self, texts: Sequence[str], extras: Sequence[Sequence[int]] | None = None
    ) -> sparse.csr_matrix:
        counts = _featuriser.counts(texts)
        return self._compact(counts, extras)

    def _compact(
        self, counts: sparse.csr_matrix, extras: Sequence[Sequence[int]] | None
    ) -> sparse.csr_matrix:
        rows = counts.shape[0]
        width = len(self.columns)
        pos = self._positions()[counts.indices]
        keep = pos >= 0
        kept = np.concatenate([[0], np.cumsum(keep)])
        text = sparse.csr_matrix(
            (
                (counts.data[keep] * self.idf[pos[keep]]).astype(np.float32),
                pos[keep],
                kept[counts.indptr],
            ),
            shape=(rows, width + len(self.extras)),
        )
        text = l2_normalize(text, norm="l2", copy=False)
        if extras is None or not len(self.extras):
            return text.tocsr()
        lengths = [len(keys) for keys in extras]
        keys = np.fromiter(
            itertools.chain.from_iterable(extras), dtype=np.int64, count=sum(lengths)
        )
        owner = np.repeat(np.arange(len(lengths)), lengths)
        at = np.minimum(np.searchsorted(self.extras, keys), len(self.extras) - 1)
        known = self.extras[at] == keys
        onehot = sparse.csr_matrix(
            (
                np.full(int(known.sum()), EXTRA_WEIGHT, dtype=np.float32),
                (owner[known], width + at[known]),
            ),
            shape=text.shape,
        )
        return (text + onehot).tocsr()

    # --- prediction --------------------------------------------------------------------------

    def _positions(self) -> np.ndarray:
        """For each hashed n-gram column, its kept column (-1: not kept)."""
        cached = self._kept
        if cached is None or cached[0] is not self.columns:
            positions = np.full(N_FEATURES, -1, dtype=np.int32)
            positions[self.columns] = np.arange(len(self.columns), dtype=np.int32)
            cached = self._kept = (self.columns, positions)
        return cached[1]

    def _coef_columns(self) -> np.ndarray:
        """The coefficients as (columns, classes), contiguous: a sparse product with `coef.T`
        (a transposed view) copies the whole matrix on every call, which is most of the time
        of a single suggestion."""
        cached = self._columns
        if cached is None or cached[0] is not self.coef:
            cached = self._columns = (self.coef, np.ascontiguousarray(self.coef.T))
        return cached[1]

    def probabilities(self, features: sparse.csr_matrix) -> np.ndarray:
        scores: np.ndarray = np.asarray(features @ self._coef_columns()) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(
        self, texts: Sequence[str], extras: Sequence[Sequence[int]] | None = None
    ) -> list[tuple[object, float]]:
        """The most likely class of each text with its probability."""
        return self.predict_counts(text_counts(texts), extras)

    def predict_counts(
        self, counts: sparse.csr_matrix, extras: Sequence[Sequence[int]] | None = None
    ) -> list[tuple[object, float]]:
        """`predict` from the texts' `text_counts`."""
        probs = self.probabilities(self._compact(counts, extras))
        best = probs.argmax(axis=1)
        chosen = probs[np.arange(len(best)), best]
        return list(zip(self.classes[best].tolist(), chosen.tolist(), strict=True))

    # --- storage -----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array([FORMAT], dtype=np.int64),
            ngram_range=np.array(ROUTING_NGRAMS, dtype=np.int64),
            columns=self.columns.astype(np.int64),
            idf=self.idf.astype(np.float32),
            extras=self.extras.astype(np.int64),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
            classes=self.classes,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Router":
        """Read a stored model; `FormatError` for anything that is not a consistent model of
        this version (empty, truncated or corrupt archive, missing or mismatched arrays)."""
        try:
            with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
                if int(archive["format"][0]) != FORMAT:
                    raise FormatError("unknown model format")
                if tuple(int(n) for n in archive["ngram_range"]) != tuple(ROUTING_NGRAMS):
                    raise FormatError("model trained with other n-grams")
                router = cls(
                    columns=archive["columns"],
                    idf=archive["idf"],
                    extras=archive["extras"],
                    coef=np.ascontiguousarray(archive["coef"]),
                    intercept=archive["intercept"],
                    classes=archive["classes"],
                )
        except FormatError:
            raise
        except (
            OSError,
            EOFError,
            KeyError,
            ValueError,
            TypeError,
            IndexError,
            AttributeError,
            zipfile.BadZipFile,
            zlib.error,
        ) as error:
            # TypeError / AttributeError: a bare .npy array, not an .npz archive.
            raise FormatError(f"{type(error).__name__}: {error}") from error
        router._check()
        return router

    def _check(self) -> None:
        """The arrays fit together, so that `predict` cannot fail on a stored model."""
        columns, extras, classes = self.columns, self.extras, self.classes
        if columns.ndim != 1 or extras.ndim != 1 or classes.ndim != 1:
            raise FormatError("columns, extras and classes must be vectors")
        if columns.dtype.kind not in "iu" or extras.dtype.kind not in "iu":
            raise FormatError("columns and extras must be integers")
        if classes.dtype.kind not in "iuU" or len(classes) < 2:
            raise FormatError("classes must be two or more integers or strings")
        if len(columns) and (int(columns.min()) < 0 or int(columns.max()) >= N_FEATURES):
            raise FormatError("columns outside the hashed n-gram space")
        for name, keys in (("columns", columns), ("extras", extras)):
            if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
                raise FormatError(f"{name} are not sorted")
        if self.idf.shape != columns.shape or self.idf.dtype.kind != "f":
            raise FormatError("one idf value per column expected")
        if self.intercept.shape != classes.shape or self.intercept.dtype.kind != "f":
            raise FormatError("one intercept per class expected")
        if self.coef.shape != (len(classes), len(columns) + len(extras)):
            raise FormatError("inconsistent model arrays")
        if self.coef.dtype.kind != "f":
            raise FormatError("coefficients must be floats")
        if not all(bool(np.isfinite(a).all()) for a in (self.idf, self.coef, self.intercept)):
            raise FormatError("model arrays hold NaN or infinity")


def fit(
    texts: Sequence[str],
    labels: Sequence[object],
    *,
    weights: Sequence[float] | None = None,
    extras: Sequence[Sequence[int]] | None = None,
    c: float = C,
    max_features: int = MAX_FEATURES,
) -> Router:
    """Learn the kept columns, their IDF and a multinomial logistic regression."""
    counts = _featuriser.counts(texts)
    documents = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    seen = np.flatnonzero(df)
    if len(seen) > max_features:
        # The most frequent n-grams; ties broken by column for a reproducible model.
        order = np.lexsort((seen, -df[seen]))
        seen = np.sort(seen[order[:max_features]])
    idf = (np.log((1.0 + documents) / (1.0 + df[seen])) + 1.0).astype(np.float32)
    extra_keys = np.array(sorted({k for keys in extras or () for k in keys}), dtype=np.int64)
    label_array = np.asarray(labels)
    router = Router(
        columns=seen.astype(np.int64),
        idf=idf,
        extras=extra_keys,
        coef=np.zeros((0, 0), dtype=np.float32),
        intercept=np.zeros(0, dtype=np.float32),
        classes=np.unique(label_array),
    )
    features = router._compact(counts, extras)
    # No class balancing: it would weigh down a class that dispatchers' corrections (counted
    # CORRECTION_WEIGHT times) moved needs into, and undo the feedback.
    sample = np.ones(len(label_array)) if weights is None else np.asarray(weights, dtype=float)
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(features, label_array, sample_weight=sample)
    coef = model.coef_.astype(np.float32)
    intercept = model.intercept_.astype(np.float32)
    if len(model.classes_) == 2:
        # Two classes: sklearn keeps one row for the sigmoid; ±half of it gives the same
        # probabilities through the softmax that prediction uses.
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2], dtype=np.float32)
    router.coef = np.ascontiguousarray(coef)
    router.intercept = intercept
    router.classes = model.classes_
    return router
