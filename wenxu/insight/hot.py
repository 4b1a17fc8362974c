"""The hot-topic engine (热点, issue #7 §2): pure functions from texts to ranked groups.

No database here: `hot_runs` feeds it the ledger's needs, `wenxu hot_topics` an analyst's file.

How a run groups texts (docs/insight.md has the reader's version):

1. **Copies.** Texts with the same `fingerprint` (same words in any spacing or punctuation) are
   clustered once; every copy joins its original's group.
2. **What and where.** Each distinct text is normalised and segmented once (jieba's
   dictionary and algorithm, as rjieba: `text.segment`). Place names (a word
   ending in 小区, 花园, 村, 路, 区 …, or a name the caller teaches, such as the ledger's area
   names) are set aside; the rest becomes the terms the text is compared by: its words plus its
   character pairs (`TermFeaturiser`: the TF-IDF of `text.Featuriser` over those terms). Words
   carry the problem (水压, 停车位) far better than character trigrams in short messages.
3. **Neighbours.** Per text the `NEIGHBOURS` closest with cosine similarity ≥ `THRESHOLD`
   whose places agree: two texts that both name places are neighbours only when the places one
   names include all the other's, so the same complaint about two estates stays two topics even
   when worded alike. The rule is applied before the closest are chosen, and it keeps the
   search small (`neighbour_graph`): a text naming places is multiplied (a sparse product in row
   chunks) only with the texts sharing one of its places; a text naming none with every text,
   exactly while that is at most `EXACT_PAIRS` pairs, else through its `QUERY_TERMS` heaviest
   terms and the exact cosine of the `CANDIDATES` best. Terms in very many texts are dropped
   first (they weigh little and would make the products dense). Memory grows with
   n × NEIGHBOURS, never n².
4. **Groups.** Greedy cover (Taylor–Butina): the text with the most neighbours starts a group
   with all its neighbours not yet taken, and so on; every member is close to its group's
   starter, so unrelated texts do not chain together. Then, for up to `MERGE_ROUNDS` rounds,
   each group merges with the group whose centre is closest to its own, when that is mutual,
   at least `MERGE_THRESHOLD`, and their places agree (a group naming no place merges only with
   another naming none): as centres average more members, one topic told in several wordings
   comes together. From `MERGE_SETTLED_FROM` groups on, a round merging fewer than
   `MERGE_SETTLED` of them is the last.
5. **Heat.** See `heat_of`: distinct authors, weighted by recency, times a growth factor.
   A group needs `min_authors` distinct authors to be a hot topic at all.
6. **Label.** The group's main place name, then the words that are frequent in the group but
   rare in the whole window (class-based TF-IDF over jieba words), 2–4 terms in all.
"""

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import HashingVectorizer

from wenxu.insight import text as tx

# Tuned on planted data (wenxu/insight/tests/test_hot_engine.py) and the TeddyCup 2020 messages.
THRESHOLD = 0.25
MERGE_THRESHOLD = 0.06  # cosine of two groups' centres for them to merge
MERGE_ROUNDS = 12
# From MERGE_SETTLED_FROM groups on, a round that merges fewer than MERGE_SETTLED of them is the
# last: at a hundred thousand needs the rounds after the fifth merged 1 % of the groups in all,
# each costing as much as the first.
MERGE_SETTLED = 0.01
MERGE_SETTLED_FROM = 1000
PREVIOUS_BAR_CAP = 0.5  # a previous text this close to a group's centre belongs to it
NEIGHBOURS = 30  # neighbours kept per text
MIN_AUTHORS = 3
CHUNK_ROWS = 2000
# Rows naming no place are compared with every row: exactly while that is at most EXACT_PAIRS
# pairs, else through each one's QUERY_TERMS heaviest features, the CANDIDATES best of which
# get their exact cosine (see `neighbour_graph`).
EXACT_PAIRS = 20_000_000
QUERY_TERMS = 10
CANDIDATES = 100
# A feature in more than this share of the texts (and at least COMMON_MIN texts) is dropped
# from the neighbour search.
COMMON_SHARE = 0.05
COMMON_MIN = 200
LABEL_SAMPLE = 400  # members read for a label
BACKGROUND_SAMPLE = 4000  # window texts read for the label's "rare in the window" part
RECENCY_FLOOR = 0.5  # weight of an author heard only at the very start of the window
GROWTH_WEIGHT = 0.5
GROWTH_CAP = 2.0
NEW_GROWTH = 1.0  # a topic absent from the previous window counts as +100 %

_SUFFIX_TEXT = """
小区 花园 家园 社区 新村 新城 村 苑 公寓 大厦 广场 山庄 华府 府 城 湾 街道 街 路 大道 巷 镇
    乡 县 区 市 组 屯 园 里 学校 小学 中学 医院 市场 公园
"""
PLACE_SUFFIXES = frozenset(_SUFFIX_TEXT.split())
# Words before a suffix that do not name a place (我们小区, 老旧小区).
_NOT_PLACE_TEXT = """
我们 我家 你们 他们 这个 那个 整个 本 该 附近 周边 周围 所在 居住 住宅 老旧 新建 这里 那里
    所有 各个 各 全 城市 农村 城区 市区 社区 小区 片区 辖区 景区 园区 校区 街道 马路 道路 公路
    马上 一条 这条 那条 多个 几个 两个 不少 许多
"""
_NOT_PLACE = frozenset(_NOT_PLACE_TEXT.split())
# Words that are frequent in residents' messages but say nothing as a label.
_LABEL_STOP_TEXT = """
以上 以下 经常 及时 总是 一些 还是 怎么办 好几 多月 个多月 附近 周边 早上 晚上 每天 今天 最近 不能
无法 需要 严重 号楼 楼门口 一栋 住户 业主 居民 群众 市民 老百姓
小区 花园 家园 社区 新村 村里 街道 路段 片区 辖区 楼栋 单元
"""
LABEL_STOP = frozenset(_LABEL_STOP_TEXT.split())
_WORDLIKE = re.compile(r"^[0-9a-z\u4e00-\u9fff]+$")


@dataclass
class HotGroup:
    """One hot topic. `members` index the input (copies included); `previous` counts the
    distinct authors of the previous window's texts that fall in the group."""

    members: list[int]
    size: int
    authors: int
    copies: int
    heat: float = 0.0
    label: str = ""
    terms: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    previous: int = 0
    growth: float | None = None
    recency: float = 1.0


@dataclass
class Corpus:
    """Parallel lists: texts, who wrote each (None: unknown, then each distinct text is its
    own voice) and when (None: all equally recent)."""

    texts: Sequence[str]
    authors: Sequence[str | None] | None = None
    times: Sequence[datetime | None] | None = None

    def author(self, i: int, fp: str) -> str:
        known = self.authors[i] if self.authors is not None else None
        return f"a:{known}" if known else f"f:{fp}"


# --- places ------------------------------------------------------------------------------------


@dataclass
class Analysed:
    """One text read once by the segmenter: its place names, its other words (for labels) and
    the terms it is compared by (those words, the character pairs inside them and the text's
    character pairs outside place names: "水压低" may segment as 水 + 压低, but its pairs still
    hold 水压)."""

    places: set[str]
    words: list[str]
    terms: list[str]


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
# What each token can be (the same tokens come back in every text): (may stand before a place
# suffix, is a place name ending in a suffix, is a word worth comparing).
_KINDS: dict[str, tuple[bool, bool, bool]] = {}
_KINDS_MAX = 500_000


def _kind(token: str) -> tuple[bool, bool, bool]:
    found = _KINDS.get(token)
    if found is None:
        wordlike = bool(_WORDLIKE.match(token))
        found = (
            wordlike
            and token not in _NOT_PLACE
            and token not in tx.STOP_WORDS
            and token not in PLACE_SUFFIXES,
            len(token) >= 3
            and token[-1] in PLACE_SUFFIXES
            and wordlike
            and token not in _NOT_PLACE
            and not token[:-1].isdigit(),
            len(token) >= 2
            and not token.isspace()
            and not token.isdigit()
            and token not in tx.STOP_WORDS,
        )
        if len(_KINDS) >= _KINDS_MAX:
            _KINDS.clear()
        _KINDS[token] = found
    return found


def analyse(text: str, known: frozenset[str] = frozenset()) -> Analysed:
    """Place names: taught names as they are, else a suffix word (小区, 路 …) with the word
    before it (幸福 + 小区), or one word ending in a suffix (金桂苑)."""
    return analyse_normalized(tx.normalize(text), known)


def analyse_normalized(text: str, known: frozenset[str] = frozenset()) -> Analysed:
    """`analyse` of a text already `text.normalize`d."""
    tokens = tx.segment(text)
    kinds = [_KINDS.get(token) or _kind(token) for token in tokens]
    places: set[str] = set()
    used: set[int] = set()
    for i, token in enumerate(tokens):
        if token in known:
            places.add(token)
            used.add(i)
        elif token in PLACE_SUFFIXES:
            prefix = ""
            j = i - 1
            # one word before the suffix; a single character pulls in one more
            while j >= 0 and len(prefix) < 2 and kinds[j][0]:
                prefix = tokens[j] + prefix
                j -= 1
            if prefix and not prefix.isdigit():
                places.add(prefix + token)
                used.update(range(j + 1, i + 1))
        elif kinds[i][1]:
            places.add(token)
            used.add(i)
    if used:
        keep = [i not in used for i in range(len(tokens))]
        words = [t for t, k, free in zip(tokens, kinds, keep, strict=True) if free and k[2]]
        rest = "".join(t for t, free in zip(tokens, keep, strict=True) if free and t != " ")
    else:
        words = [t for t, k in zip(tokens, kinds, strict=True) if k[2]]
        rest = "".join(tokens).replace(" ", "")
    pairs = [w[k : k + 2] for w in words if len(w) > 2 for k in range(len(w) - 1)]
    for run in _CJK_RUN.findall(rest):
        pairs += [run[k : k + 2] for k in range(len(run) - 1)]
    return Analysed(places=places, words=words, terms=words + pairs)


def places_in(text: str, known: frozenset[str] = frozenset()) -> set[str]:
    return analyse(text, known).places


def _place_matrix(place_sets: Sequence[set[str]]) -> tuple[sparse.csr_matrix, list[str]]:
    names: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for i, places in enumerate(place_sets):
        for name in places:
            rows.append(i)
            cols.append(names.setdefault(name, len(names)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(place_sets), max(len(names), 1)),
    )
    return matrix, list(names)


def _places_agree(places: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """For each pair: true unless both name places and neither's places contain the other's.
    (`places` holds ones: a row's count of values is its count of places.)"""
    if len(rows) == 0:
        return np.ones(0, dtype=bool)
    indptr = places.indptr
    smaller = np.minimum(indptr[rows + 1] - indptr[rows], indptr[cols + 1] - indptr[cols])
    named = smaller > 0
    overlap = np.zeros(len(rows))
    if named.any():
        r, c = rows[named], cols[named]
        overlap[named] = np.asarray(places[r].multiply(places[c]).sum(axis=1)).ravel()
    result: np.ndarray = (smaller == 0) | (overlap >= smaller)
    return result


def _identity(terms: list[str]) -> list[str]:
    return terms


class TermFeaturiser(tx.Featuriser):
    """`text.Featuriser`'s TF-IDF (sublinear TF, IDF from the corpus, L2 rows, hashed) over the
    terms of `analyse` instead of character n-grams of the raw text: short messages telling
    one problem in different sentences share its words (水压, 停车位) far more reliably than
    their character trigrams, and place names are left to the place rule."""

    @property
    def vectorizer(self) -> HashingVectorizer:
        if self._vectorizer is None:
            self._vectorizer = HashingVectorizer(
                analyzer=_identity,
                n_features=tx.N_FEATURES,
                alternate_sign=False,
                norm=None,
                dtype=np.float32,
            )
        return self._vectorizer

    def fit_terms(self, terms: Sequence[list[str]]) -> sparse.csr_matrix:
        return self.fit_transform(cast(Sequence[str], terms))

    def transform_terms(self, terms: Sequence[list[str]]) -> sparse.csr_matrix:
        return self.transform(cast(Sequence[str], terms))


# --- neighbours and groups ----------------------------------------------------------------------


def _without_common(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """The matrix without the features in very many rows (see COMMON_SHARE)."""
    n = matrix.shape[0]
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    common = df > max(COMMON_MIN, COMMON_SHARE * n)
    if not common.any():
        return matrix
    search = matrix.copy()
    search.data[common[search.indices]] = 0
    search.eliminate_zeros()
    return search


def _keyed(search: sparse.csr_matrix, keys: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row's features once per key of the row (a column per (key, feature) pair seen): the
    product of two rows is then their dot product times the number of keys they share, and
    rows that share no key are never multiplied at all. Rows without keys are empty."""
    n, width = search.shape
    key_counts = np.diff(keys.indptr)
    rows_out: list[np.ndarray] = []
    compound: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for slot in range(int(key_counts.max()) if n else 0):
        # the slot-th key of every row that has that many
        holders = np.flatnonzero(key_counts > slot)
        key = keys.indices[keys.indptr[holders] + slot].astype(np.int64)
        part = search[holders]
        lengths = np.diff(part.indptr)
        rows_out.append(np.repeat(holders, lengths))
        compound.append(np.repeat(key, lengths) * width + part.indices)
        values.append(part.data)
    if not rows_out:
        return sparse.csr_matrix((n, 1), dtype=np.float32)
    columns, inverse = np.unique(np.concatenate(compound), return_inverse=True)
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows_out), inverse)),
        shape=(n, max(len(columns), 1)),
        dtype=np.float32,
    )


def _closest(
    block: sparse.csr_matrix, ids: np.ndarray, *, threshold: float, neighbours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(block row, column, similarity) of each block row's closest columns: at least
    `threshold`, at most `neighbours`, never the row itself (block row k is row ids[k])."""
    own_rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    block.data[(block.data < threshold) | (block.indices == ids[own_rows])] = 0
    block.eliminate_zeros()
    counts = np.diff(block.indptr)
    row_ids = np.repeat(np.arange(block.shape[0]), counts)
    crowded = np.flatnonzero(counts > neighbours)
    if len(crowded):
        # a crowded row keeps its `neighbours` most similar, the first of equals on a tie
        keep = np.ones(len(block.data), dtype=bool)
        data = block.data
        for row in crowded.tolist():
            start, end = block.indptr[row], block.indptr[row + 1]
            values = data[start:end]
            kth = np.partition(values, end - start - neighbours)[end - start - neighbours]
            above = values > kth
            tied = np.flatnonzero(values == kth)
            room = neighbours - int(above.sum())
            if len(tied) > room:  # equals at the cut: the lowest columns, as a stable sort
                tied = tied[np.argsort(block.indices[start + tied], kind="stable")]
            chosen = above
            chosen[tied[:room]] = True
            keep[start:end] = chosen
        return row_ids[keep], block.indices[keep].astype(np.int64), block.data[keep]
    return row_ids, block.indices.astype(np.int64), block.data


def _heaviest(matrix: sparse.csr_matrix, terms: int) -> sparse.csr_matrix:
    """Each row with only its `terms` heaviest values."""
    counts = np.diff(matrix.indptr)
    if not len(counts) or counts.max() <= terms:
        return matrix
    row_ids = np.repeat(np.arange(matrix.shape[0]), counts)
    # by row, heaviest first (values of an L2-normalised row are at most 1)
    order = np.argsort(row_ids * 2.0 - matrix.data)
    rank = np.arange(len(order)) - np.repeat(matrix.indptr[:-1], counts)
    keep = np.sort(order[rank < terms])
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, terms))])
    return sparse.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


def _pair_dots(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The dot product of each pair of rows."""
    if not len(rows):
        return np.zeros(0, dtype=np.float32)
    dots: np.ndarray = np.asarray(matrix[rows].multiply(matrix[cols]).sum(axis=1)).ravel()
    return dots


def neighbour_graph(
    matrix: sparse.csr_matrix,
    *,
    threshold: float = THRESHOLD,
    neighbours: int = NEIGHBOURS,
    chunk: int = CHUNK_ROWS,
    rows: np.ndarray | None = None,
    places: sparse.csr_matrix | None = None,
) -> sparse.csr_matrix:
    """The sparse graph of each row's closest rows (cosine ≥ threshold, at most `neighbours`
    per row, symmetric, no self-loops); weights are the cosines. With `rows`, only those rows
    look for neighbours (the others get the edges that point at them).

    With `places` (a column per place name), two rows that both name places are neighbours
    only when one's places include all the other's (`_places_agree`); a row naming none may
    neighbour any row. The rule applies before the closest are chosen, and it is what keeps
    the search fast: a row naming places is compared only with the rows sharing one of them
    (`_keyed`) and with the rows naming none.

    A row naming no place is compared with every row. When that is a great many pairs (more
    than `EXACT_PAIRS`), such a row looks only through its `QUERY_TERMS` heaviest features
    (the words few texts share), keeps the `CANDIDATES` best rows by that partial score and
    ranks those by their exact cosine (impact pruning, as the similar-needs lookup does); the
    rows naming places then get their edges to place-less rows from the place-less rows' own
    search (the graph is symmetric)."""
    n = matrix.shape[0]
    wanted = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    search = _without_common(matrix)
    named = np.zeros(n, dtype=bool) if places is None else np.diff(places.indptr) > 0
    unnamed = np.flatnonzero(~named)
    anywhere = wanted[~named[wanted]]
    somewhere = wanted[named[wanted]]
    exact = len(anywhere) * n <= EXACT_PAIRS
    found: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]] = []

    if len(anywhere):
        everyone = search.T.tocsr()
        query = search if exact else _heaviest(search, QUERY_TERMS)
        for start in range(0, len(anywhere), chunk):
            ids = anywhere[start : start + chunk]
            block = (query[ids] @ everyone).tocsr()
            if exact:
                found.append(
                    (ids, _closest(block, ids, threshold=threshold, neighbours=neighbours))
                )
                continue
            local, cols, _partial = _closest(block, ids, threshold=1e-9, neighbours=CANDIDATES)
            cosine = _pair_dots(search, ids[local], cols)
            ranked = sparse.csr_matrix((cosine, (local, cols)), shape=(len(ids), n))
            found.append((ids, _closest(ranked, ids, threshold=threshold, neighbours=neighbours)))

    if len(somewhere):
        assert places is not None
        keys = places.tocsr()
        key_counts = np.diff(keys.indptr)
        keyed = _keyed(search, keys)
        keyed_t = keyed.T.tocsr()
        placeless = search[unnamed].T.tocsr() if exact and len(unnamed) else None
        for start in range(0, len(somewhere), chunk):
            ids = somewhere[start : start + chunk]
            block = (keyed[ids] @ keyed_t).tocoo()
            # pairs sharing several places: their product counts each shared place
            several = (key_counts[ids[block.row]] > 1) & (key_counts[block.col] > 1)
            if several.any():
                r, c = ids[block.row[several]], block.col[several]
                overlap = np.asarray(keys[r].multiply(keys[c]).sum(axis=1)).ravel()
                agree = overlap >= np.minimum(key_counts[r], key_counts[c])
                block.data[several] = np.where(agree, block.data[several] / overlap, 0)
            part_rows, part_cols, part_vals = [block.row], [block.col], [block.data]
            if placeless is not None:
                other = (search[ids] @ placeless).tocoo()
                part_rows.append(other.row)
                part_cols.append(unnamed[other.col])
                part_vals.append(other.data)
            merged = sparse.csr_matrix(
                (
                    np.concatenate(part_vals),
                    (np.concatenate(part_rows), np.concatenate(part_cols)),
                ),
                shape=(len(ids), n),
            )
            found.append((ids, _closest(merged, ids, threshold=threshold, neighbours=neighbours)))

    if found:
        src = np.concatenate([ids[f[0]] for ids, f in found])
        dst = np.concatenate([f[1] for _ids, f in found])
        sims = np.concatenate([f[2] for _ids, f in found])
    else:
        src = dst = np.zeros(0, dtype=np.int64)
        sims = np.zeros(0, dtype=np.float32)
    graph = sparse.csr_matrix((sims, (src, dst)), shape=(n, n))
    symmetric: sparse.csr_matrix = graph.maximum(graph.T).tocsr()
    return symmetric


def greedy_cover(graph: sparse.csr_matrix, places: sparse.csr_matrix) -> np.ndarray:
    """Taylor–Butina: the row with the most (and closest) neighbours starts a group with its
    neighbours not yet taken whose places agree with the group's (a starter naming no place
    takes the places of its closest neighbour that names one); then the next free row.
    Returns a group label per row."""
    n = graph.shape[0]
    strength = np.asarray(graph.sum(axis=1)).ravel()
    degree = np.diff(graph.indptr)
    order = np.lexsort((np.arange(n), -strength, -degree))
    named = np.diff(places.indptr) > 0
    labels = np.full(n, -1, dtype=np.int64)
    group = 0
    for row in order:
        if labels[row] >= 0:
            continue
        labels[row] = group
        span = slice(graph.indptr[row], graph.indptr[row + 1])
        near = graph.indices[span]
        free = near[labels[near] < 0]
        if len(free) and not named[row] and named[free].any():
            # adopt the places of the closest free neighbour that names one
            sims = graph.data[span][labels[near] < 0]
            anchor = free[named[free]][np.argmax(sims[named[free]])]
            free = free[_places_agree(places, np.full(len(free), anchor), free)]
        labels[free] = group
        group += 1
    return labels


def _centres(matrix: sparse.csr_matrix, labels: np.ndarray, groups: int) -> sparse.csr_matrix:
    """L2-normalised mean row of each group."""
    member = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(groups, len(labels)),
    )
    summed = (member @ matrix).tocsr()
    norms = np.sqrt(np.asarray(summed.multiply(summed).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    centres: sparse.csr_matrix = sparse.diags(1 / norms).dot(summed).tocsr()
    return centres


def _group_places(places: sparse.csr_matrix, labels: np.ndarray, groups: int) -> sparse.csr_matrix:
    """A group names the places that at least half of its members name."""
    member = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(groups, len(labels)),
    )
    counts = (member @ places).tocsr()
    sizes = np.bincount(labels, minlength=groups).astype(np.float32)
    counts = sparse.diags(1 / sizes).dot(counts).tocsr()
    counts.data = (counts.data >= 0.5).astype(np.float32)
    counts.eliminate_zeros()
    return counts


def _group_matrix(labels: np.ndarray, groups: int) -> sparse.csr_matrix:
    return sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(groups, len(labels)),
    )


def _with_no_place_key(places: sparse.csr_matrix) -> sparse.csr_matrix:
    """The groups' places with one more column, "no place", for the groups naming none: such
    groups merge only with each other (a group naming places only with groups whose places
    agree)."""
    none = (np.diff(places.indptr) == 0).astype(np.float32)
    return sparse.hstack([places, sparse.csr_matrix(none[:, None])], format="csr")


def cluster(
    matrix: sparse.csr_matrix,
    places: sparse.csr_matrix,
    *,
    threshold: float = THRESHOLD,
    merge_threshold: float = MERGE_THRESHOLD,
    rounds: int = MERGE_ROUNDS,
) -> np.ndarray:
    """A group label per row (rows are distinct texts): greedy cover, then rounds of merging
    each group with the group whose centre is closest to its own, when that is mutual, at
    least `merge_threshold`, and their places agree. Merged centres average more members, so
    a topic told in several wordings comes together over the rounds."""
    n = matrix.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = neighbour_graph(matrix, threshold=threshold, places=places)
    labels = greedy_cover(graph, places)
    for _round in range(rounds):
        groups = int(labels.max()) + 1
        sizes = np.bincount(labels, minlength=groups)
        several = np.flatnonzero(sizes > 1)  # two single texts never merge: they were not
        if len(several) == 0:  # neighbours in the first place
            break
        centres = _centres(matrix, labels, groups)
        keys = _with_no_place_key(_group_places(places, labels, groups))
        link = neighbour_graph(
            centres, threshold=merge_threshold, rows=several, places=keys
        ).tocoo()
        keep = sizes[link.row] + sizes[link.col] > 2
        if not keep.any():
            break
        kept = sparse.csr_matrix(
            (link.data[keep], (link.row[keep], link.col[keep])), shape=(groups, groups)
        )
        best = np.asarray(kept.argmax(axis=1)).ravel()
        best[kept.getnnz(axis=1) == 0] = -1
        mutual = np.flatnonzero((best >= 0) & (best[np.maximum(best, 0)] == np.arange(groups)))
        if len(mutual) == 0:
            break
        pairs = sparse.csr_matrix(
            (np.ones(len(mutual)), (mutual, best[mutual])), shape=(groups, groups)
        )
        _, component = connected_components(pairs, directed=False)
        _, labels = np.unique(component[labels], return_inverse=True)
        if groups >= MERGE_SETTLED_FROM and len(mutual) / 2 < MERGE_SETTLED * groups:
            break  # the merging has settled: later rounds would join a few more at most
    return labels


# --- heat ----------------------------------------------------------------------------------------


def recency_weight(when: datetime | None, start: datetime | None, end: datetime | None) -> float:
    """1 at the end of the window, RECENCY_FLOOR at its start, linear between."""
    if when is None or start is None or end is None or end <= start:
        return 1.0
    share = (when - start) / (end - start)
    return RECENCY_FLOOR + (1 - RECENCY_FLOOR) * min(max(share, 0.0), 1.0)


def growth_of(authors: int, previous: int | None) -> float | None:
    """(authors now − authors in the previous window) ÷ authors in the previous window; None
    when the topic is new (or there was no previous window to compare with)."""
    if not previous:
        return None
    return (authors - previous) / previous


def heat_of(recency_sum: float, growth: float | None, compared: bool) -> float:
    """Heat = Σ over distinct authors of their recency weight (0.5 … 1, their latest text)
    × (1 + 0.5 × growth, growth clamped to 0 … 2; a topic new this window counts as +100 %;
    without a previous window the factor is 1)."""
    if not compared:
        factor = 1.0
    else:
        rise = NEW_GROWTH if growth is None else min(max(growth, 0.0), GROWTH_CAP)
        factor = 1 + GROWTH_WEIGHT * rise
    return round(recency_sum * factor, 2)


# --- labels -------------------------------------------------------------------------------------


def _label(
    member_words: Sequence[list[str]],
    place_counts: Counter[str],
    background: dict[str, int],
    background_size: int,
    known: frozenset[str],
) -> list[str]:
    terms: list[str] = []
    voices = max(len(member_words), 1)
    if place_counts:
        place, count = place_counts.most_common(1)[0]
        if count >= 0.3 * voices:
            terms.append(place)
    in_group: Counter[str] = Counter()
    for found in member_words:
        in_group.update(set(found))
    scored: list[tuple[float, str]] = []
    for word, count in in_group.items():
        share = count / voices
        if share < 0.2 or word in known or word in LABEL_STOP:
            continue
        idf = math.log((1 + background_size) / (1 + background.get(word, 0))) + 1
        scored.append((share * idf, word))
    scored.sort(key=lambda item: (-item[0], item[1]))
    for _score, word in scored:
        if len(terms) >= 4 or (len(terms) >= 3 and _score < scored[0][0] * 0.5):
            break
        if any(word in term or term in word for term in terms):
            continue
        terms.append(word)
    return terms


def _display(term: str) -> str:
    """Texts are compared in lower case; codes in place names read better in capitals (A3区)."""
    return term.upper()


def label_of(texts: Sequence[str], known_places: Sequence[str] = ()) -> str:
    """The label of a group read from some of its texts alone (a viewer who sees only part of
    a group): its main place, then its most common words; without the rest of the window
    every word is equally rare."""
    known = frozenset(tx.normalize(p).replace(" ", "") for p in known_places)
    distinct = {tx.fingerprint(t): t for t in texts}
    read = [analyse(t, known) for t in distinct.values()]
    place_counts: Counter[str] = Counter()
    for row in read:
        place_counts.update(row.places)
    terms = _label([row.words for row in read], place_counts, {}, 0, known)
    return " · ".join(_display(term) for term in terms)


# --- the whole run -------------------------------------------------------------------------------


def hot_topics(
    corpus: Corpus,
    *,
    window: tuple[datetime, datetime] | None = None,
    previous: Corpus | None = None,
    known_places: Sequence[str] = (),
    min_authors: int = MIN_AUTHORS,
    threshold: float = THRESHOLD,
    top: int | None = None,
) -> list[HotGroup]:
    """The hot topics of `corpus`, hottest first. `window` bounds the recency weight;
    `previous` (the window of the same length before) gives the growth."""
    known = frozenset(tx.normalize(p).replace(" ", "") for p in known_places)
    if known:
        tx.add_words(known)
    n = len(corpus.texts)
    if n == 0:
        return []
    normalized = [tx.normalize(t) for t in corpus.texts]
    prints = [tx.fingerprint_normalized(t) for t in normalized]
    first: dict[str, int] = {}
    for i, fp in enumerate(prints):
        first.setdefault(fp, i)
    read = {fp: analyse_normalized(normalized[i], known) for fp, i in first.items()}
    # a text with no terms (empty, emoji or punctuation only, a bare place name) says nothing
    # to compare: all such texts would share one fingerprint and form an empty "topic"
    first = {fp: i for fp, i in first.items() if read[fp].terms}
    if not first:
        return []
    slot = {fp: k for k, fp in enumerate(first)}

    analysed = [read[fp] for fp in first]
    place_sets = [a.places for a in analysed]
    # "what" from the terms without the place names, "where" from the place names
    featuriser = TermFeaturiser()
    matrix = featuriser.fit_terms([a.terms for a in analysed])
    places, _names = _place_matrix(place_sets)
    labels_unique = cluster(matrix, places, threshold=threshold)
    labels = np.array([labels_unique[slot[fp]] if fp in slot else -1 for fp in prints])

    start, end = window if window else (None, None)
    if window is None and corpus.times is not None:
        known_times = [t for t in corpus.times if t is not None]
        if known_times:
            start, end = min(known_times), max(known_times)

    # members by group, in input order
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    candidates: list[tuple[int, list[int]]] = []
    for chunk in np.split(order, bounds):
        members = [int(i) for i in chunk]
        if labels[members[0]] >= 0:
            candidates.append((int(labels[members[0]]), members))

    groups: list[HotGroup] = []
    for _label_id, members in candidates:
        latest: dict[str, float] = {}
        voices: set[tuple[str, str]] = set()
        for i in members:
            author = corpus.author(i, prints[i])
            voices.add((author, prints[i]))
            when = corpus.times[i] if corpus.times is not None else None
            latest[author] = max(latest.get(author, 0.0), recency_weight(when, start, end))
        if len(latest) < min_authors:
            continue
        group = HotGroup(
            members=members,
            size=len(members),
            authors=len(latest),
            copies=len(members) - len(voices),
            recency=sum(latest.values()),
        )
        groups.append(group)
    if not groups:
        return []

    rng = np.random.default_rng(0)
    member_rows = [sorted({slot[prints[i]] for i in g.members}) for g in groups]
    _previous_counts(groups, matrix, member_rows, place_sets, featuriser, previous, known)
    background_rows = analysed
    if len(background_rows) > BACKGROUND_SAMPLE:
        picks = rng.choice(len(background_rows), BACKGROUND_SAMPLE, replace=False)
        background_rows = [background_rows[i] for i in sorted(picks)]
    background: Counter[str] = Counter()
    for row in background_rows:
        background.update(set(row.words))

    for group, distinct in zip(groups, member_rows, strict=True):
        if len(distinct) > LABEL_SAMPLE:
            distinct = sorted(rng.choice(distinct, LABEL_SAMPLE, replace=False).tolist())
        place_counts: Counter[str] = Counter()
        for k in distinct:
            place_counts.update(place_sets[k])
        group.places = [p for p, c in place_counts.most_common() if c >= 0.5 * len(distinct)]
        group.terms = _label(
            [analysed[k].words for k in distinct],
            place_counts,
            background,
            len(background_rows),
            known,
        )
        group.terms = [_display(term) for term in group.terms]
        group.label = " · ".join(group.terms)
        group.growth = growth_of(group.authors, group.previous)
        group.heat = heat_of(group.recency, group.growth, previous is not None)

    groups.sort(key=lambda g: (-g.heat, -g.authors, -g.size, g.members[0]))
    return groups[:top] if top else groups


def _previous_counts(
    groups: list[HotGroup],
    matrix: sparse.csr_matrix,
    member_rows: list[list[int]],
    place_sets: list[set[str]],
    featuriser: TermFeaturiser,
    previous: Corpus | None,
    known: frozenset[str],
) -> None:
    """Count, per group, the distinct authors of previous-window texts that belong to it: a
    previous text belongs to the group whose centre it is closest to, when it is at least as
    close as the group's own members typically are (their 10th percentile, kept between
    THRESHOLD and PREVIOUS_BAR_CAP) and its places agree with the group's."""
    if previous is None or not previous.texts or not groups:
        return
    indicator = sparse.csr_matrix(
        (
            np.ones(sum(len(r) for r in member_rows), dtype=np.float32),
            (
                np.repeat(np.arange(len(groups)), [len(r) for r in member_rows]),
                np.concatenate(member_rows),
            ),
        ),
        shape=(len(groups), matrix.shape[0]),
    )
    summed = (indicator @ matrix).tocsr()
    norms = np.sqrt(np.asarray(summed.multiply(summed).sum(axis=1)).ravel())
    norms[norms == 0] = 1
    centres = sparse.csr_matrix(sparse.diags(1 / norms) @ summed)
    bar = np.empty(len(groups))
    group_places: list[set[str]] = []
    for g, rows_of in enumerate(member_rows):
        own = np.asarray((matrix[rows_of] @ centres[g].T).todense()).ravel()
        bar[g] = min(max(float(np.percentile(own, 10)), THRESHOLD), PREVIOUS_BAR_CAP)
        counts: Counter[str] = Counter()
        for r in rows_of:
            counts.update(place_sets[r])
        group_places.append({p for p, c in counts.items() if c >= 0.5 * len(rows_of)})
    old_analysed = [analyse(t, known) for t in previous.texts]
    old = featuriser.transform_terms([a.terms for a in old_analysed])
    authors: list[set[str]] = [set() for _ in groups]
    for start in range(0, old.shape[0], CHUNK_ROWS):
        sims = (old[start : start + CHUNK_ROWS] @ centres.T).tocsr()
        best = np.asarray(sims.argmax(axis=1)).ravel()
        value = np.asarray(sims.max(axis=1).todense()).ravel()
        for offset in np.flatnonzero(value >= bar[best]):
            i = start + int(offset)
            g = int(best[offset])
            mine = old_analysed[i].places
            theirs = group_places[g]
            if mine and theirs and not (mine <= theirs or theirs <= mine):
                continue
            authors[g].add(previous.author(i, tx.fingerprint(previous.texts[i])))
    for group, found in zip(groups, authors, strict=True):
        group.previous = len(found)
