"""Chinese text features for 举一反三: similar needs, hot topics and routing (issue #7).

Everything here works offline: features are character n-grams hashed into a fixed space
(scikit-learn's HashingVectorizer, so there is no vocabulary to fit or to ship), weighted by
inverse document frequency learned from the ledger itself; readable words for labels and hot
topics come from jieba's dictionary, bundled in rjieba (jieba-rs: jieba's algorithm, the same
words, in Rust). Nothing is downloaded at run time (ADR 0014).

Character n-grams suit Chinese: words are not separated by spaces, and 2–3 character n-grams
catch both words (水压, 小区) and place names (幸福里) without a segmenter's mistakes.
"""

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import rjieba
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize as l2_normalize
from sklearn.utils import murmurhash3_32

N_FEATURES = 2**20
# n-gram ranges: routing benefits from single characters (学, 医) and pairs (1–2 scored a little
# better than 1–3 on the 泰迪杯 sample, with a smaller model); similarity and clustering from
# 2–3 character n-grams, which carry the meaning and the place names.
ROUTING_NGRAMS = (1, 2)
SIMILARITY_NGRAMS = (2, 3)

_SEPARATORS = re.compile(r"[\W_]+")
_COLUMN_CACHE = 1_000_000  # n-grams whose hashed column a featuriser remembers


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, punctuation and spaces as one space."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def need_text(title: str, description: str) -> str:
    """The text a need is compared by: its title and description."""
    return f"{title}\n{description}"


def fingerprint(text: str) -> str:
    """The same words in any spacing, punctuation or width give the same fingerprint: used to
    tell repeated copies of one message apart from many people telling the same thing."""
    return fingerprint_normalized(normalize(text))


def fingerprint_normalized(text: str) -> str:
    """`fingerprint` of a text already `normalize`d."""
    return hashlib.sha1(  # noqa: S324 - a fingerprint, not a security hash
        text.replace(" ", "").encode()
    ).hexdigest()[:20]


def _as_given(text: str) -> str:
    return text


def hashing_vectorizer(
    ngram_range: tuple[int, int] = SIMILARITY_NGRAMS, *, normalized: bool = False
) -> HashingVectorizer:
    """Character n-grams of `normalize`d text, hashed; `normalized`: the texts given are
    normalised already (`normalize` is idempotent: the same n-grams, without doing it twice)."""
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=ngram_range,
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        preprocessor=_as_given if normalized else normalize,
        dtype=np.float32,
    )


@dataclass
class Featuriser:
    """TF-IDF over hashed character n-grams: `fit` learns the IDF from a corpus, `transform`
    gives L2-normalised float32 CSR rows (so a dot product is the cosine similarity).

    Term frequencies are sublinear (1 + log tf), so a message repeating a phrase does not
    outweigh one that says it once."""

    ngram_range: tuple[int, int] = SIMILARITY_NGRAMS
    idf: np.ndarray | None = None
    normalized: bool = False  # the texts it is given are `normalize`d already
    _vectorizer: HashingVectorizer | None = field(default=None, repr=False)
    _columns: dict[str, int] = field(default_factory=dict, repr=False)
    _analyzer: Callable[[str], list[str]] | None = field(default=None, repr=False)

    @property
    def vectorizer(self) -> HashingVectorizer:
        if self._vectorizer is None:
            self._vectorizer = hashing_vectorizer(self.ngram_range, normalized=self.normalized)
        return self._vectorizer

    def counts(self, texts: Iterable[str]) -> sparse.csr_matrix:
        matrix = self.vectorizer.transform(texts).tocsr()
        matrix.data = 1.0 + np.log(matrix.data, dtype=np.float32)
        return matrix

    def fit(self, texts: Iterable[str]) -> "Featuriser":
        return self.fit_counts(self.counts(texts))

    def fit_counts(self, counts: sparse.csr_matrix) -> "Featuriser":
        documents = counts.shape[0]
        df = np.bincount(counts.indices, minlength=N_FEATURES).astype(np.float32)
        self.idf = (np.log((1.0 + documents) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """IDF weighting and L2 normalisation of rows from `counts` (unfitted: plain TF)."""
        weighted = counts if self.idf is None else counts.multiply(self.idf).tocsr()
        return l2_normalize(weighted, norm="l2", copy=False).astype(np.float32).tocsr()

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        return self.weigh(self.counts(texts))

    def transform_one(self, text: str) -> sparse.csr_matrix:
        """`transform([text])`, the same row, without scikit-learn's per-call overhead (a
        similar-needs lookup featurises one text: this is a tenth of the time). The n-grams
        are scikit-learn's own, hashed as its HashingVectorizer hashes them."""
        if self._analyzer is None:
            self._analyzer = self.vectorizer.build_analyzer()
        grams = self._analyzer(text)
        columns = self._columns
        ids = [columns.get(gram, -1) for gram in grams]
        if -1 in ids:
            ids = [self._column(gram) if i < 0 else i for gram, i in zip(grams, ids, strict=True)]
        found, counts = np.unique(np.asarray(ids, dtype=np.int32), return_counts=True)
        values = 1.0 + np.log(counts.astype(np.float32))
        if self.idf is not None:
            values = values * self.idf[found]
        norm = np.sqrt(np.dot(values, values))
        if norm > 0:
            values = values / norm
        return sparse.csr_matrix(
            (values.astype(np.float32), found, np.array([0, len(found)], dtype=np.int32)),
            shape=(1, N_FEATURES),
        )

    def _column(self, gram: str) -> int:
        """The hashed column of an n-gram, as HashingVectorizer computes it (remembered: the
        same n-grams come back in every text)."""
        h = murmurhash3_32(gram, seed=0, positive=False)
        column = (
            (2147483647 - (N_FEATURES - 1)) % N_FEATURES if h == -(2**31) else abs(h) % N_FEATURES
        )
        if len(self._columns) >= _COLUMN_CACHE:
            self._columns.clear()
        self._columns[gram] = column
        return column

    def fit_transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        counts = self.counts(texts)
        self.fit_counts(counts)
        return self.weigh(counts)


# --- words, for labels people can read --------------------------------------------------------

# Words that say nothing about the problem in residents' messages.
_STOP_TEXT = """
的 了 是 在 和 与 及 或 我 我们 你 你们 他 他们 她 它 这 那 这个 那个 有 没有 没 也 都 就 还 又 很
非常 希望 请 请求 要求 反映 问题 情况 一个 一下 能 能否 可以 是否 什么 怎么 为什么 已经 现在 目前
一直 经常 多次 由于 因为 所以 但是 但 而且 如果 对 对于 把 被 让 给 从 到 向 将 等 等等 上 下 中 里
后 前 时 时候 年 月 日 天 您好 你好 领导 尊敬 政府 相关 部门 解决 处理 帮忙 帮助 谢谢 感谢
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_segmenter_lock = threading.Lock()
_jieba: rjieba.Jieba | None = None


def _segmenter() -> rjieba.Jieba:
    """jieba's algorithm and bundled dictionary, as jieba-rs (rjieba): the same words as the
    Python jieba, about 15 times faster (segmentation was most of a hot-topic run)."""
    global _jieba
    with _segmenter_lock:
        if _jieba is None:
            _jieba = rjieba.Jieba()
    return _jieba


def segment(text: str) -> list[str]:
    """The words of an already `normalize`d text, as jieba cuts them (spaces are words too)."""
    return _segmenter().cut(text)


def add_words(words: Iterable[str]) -> None:
    """Teach the segmenter names it must keep whole (areas, estates, places)."""
    jieba = _segmenter()
    for word in words:
        word = normalize(word).replace(" ", "")
        if len(word) >= 2:
            jieba.add_word(word, 2000, None)


def words(text: str) -> list[str]:
    """Meaningful words of a text: segmented, without stop words, digits or single characters."""
    return [
        word
        for word in segment(normalize(text))
        if len(word) >= 2 and not word.isspace() and not word.isdigit() and word not in STOP_WORDS
    ]
