"""`wenxu router_eval`: how well the production classifier routes a labelled file.

K-fold cross-validation (stratified, shuffled with a fixed seed) on one file, or train on one
file and test on another; the same `fit` and `Router.predict` as the suggestions use. Rows
without a label or without text are skipped; in cross-validation, classes with fewer rows than
folds are left out (and named), since they cannot appear in every fold.
"""

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.utils.translation import gettext as _
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold

from wenxu.insight.routing.features import C, fit
from wenxu.insight.tabular import TableError, read_table
from wenxu.insight.text import normalize

SEED = 0


@dataclass
class Labelled:
    texts: list[str]
    labels: list[str]
    blank: int = 0  # labelled rows skipped because their text is empty


@dataclass
class Evaluation:
    truth: list[str]
    predicted: list[str]
    fold_f1: list[float] = field(default_factory=list)
    # Classes left out of cross-validation (fewer rows than folds) → their number of rows.
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return sorted(set(self.truth) | set(self.predicted))

    @property
    def accuracy(self) -> float:
        return float(accuracy_score(self.truth, self.predicted))

    @property
    def macro_f1(self) -> float:
        return float(
            f1_score(
                self.truth,
                self.predicted,
                labels=sorted(set(self.truth)),
                average="macro",
                zero_division=0,
            )
        )

    def report(self) -> str:
        """Per-class precision, recall, F1 and support, aligned on a terminal whatever the
        width of the labels' characters."""
        classes = sorted(set(self.truth))
        precision, recall, f1, support = precision_recall_fscore_support(
            self.truth, self.predicted, labels=classes, zero_division=0
        )
        total = int(np.sum(support))
        rows: list[tuple[str, str, str, str, str]] = [
            ("", "precision", "recall", "f1-score", "support")
        ]
        rows += [
            (label, f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", str(int(n)))
            for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
        ]
        rows.append(("accuracy", "", "", f"{self.accuracy:.3f}", str(total)))
        rows.append(
            (
                "macro avg",
                f"{np.mean(precision):.3f}",
                f"{np.mean(recall):.3f}",
                f"{np.mean(f1):.3f}",
                str(total),
            )
        )
        weights = np.asarray(support, dtype=float)
        rows.append(
            (
                "weighted avg",
                f"{np.average(precision, weights=weights):.3f}",
                f"{np.average(recall, weights=weights):.3f}",
                f"{np.average(f1, weights=weights):.3f}",
                str(total),
            )
        )
        first = max(display_width(row[0]) for row in rows)
        rest = [max(len(row[i]) for row in rows) for i in range(1, 5)]
        lines = []
        for index, row in enumerate(rows):
            cells = [pad(row[0], first)] + [
                cell.rjust(width) for cell, width in zip(row[1:], rest, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
            if index in (0, len(classes)):
                lines.append("")
        return "\n".join(lines)

    def confusion(self) -> np.ndarray:
        return np.asarray(confusion_matrix(self.truth, self.predicted, labels=self.labels))


def display_width(text: str) -> int:
    """Columns on a terminal: wide (CJK, full-width) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def read_labelled(path: str | Path, text_cols: Sequence[str], label_col: str) -> Labelled:
    """Rows with a label and some text; the text columns joined by new lines. Raises
    `TableError`."""
    table = read_table(path)
    text_idx = table.columns(text_cols)
    label_idx = table.column(label_col)
    texts: list[str] = []
    labels: list[str] = []
    blank = 0
    for row in table.rows:
        label = row[label_idx].strip() if label_idx < len(row) else ""
        if not label:
            continue
        text = "\n".join(row[i] for i in text_idx if i < len(row))
        if not normalize(text):
            blank += 1
            continue
        texts.append(text)
        labels.append(label)
    if not labels:
        if blank:
            raise TableError(
                _("文件中带标签的 %(n)d 行文本都为空（列：%(cols)s），无法评估。")
                % {"n": blank, "cols": "、".join(text_cols)}
            )
        raise TableError(_("文件中没有带标签的行。"))
    return Labelled(texts, labels, blank)


def cross_validate(data: Labelled, *, folds: int = 5, c: float = C) -> Evaluation:
    """Stratified k-fold; classes with fewer than `folds` rows are left out (see
    `Evaluation.left_out`). Raises `TableError` when fewer than two classes remain."""
    if folds < 2:
        raise TableError(_("折数至少为 2。"))
    counts = Counter(data.labels)
    left_out = {label: n for label, n in sorted(counts.items()) if n < folds}
    if len(counts) - len(left_out) < 2:
        raise TableError(
            _(
                "每类至少要有 %(k)d 条（折数）才能参与评估，满足的只有 %(n)d 类，"
                "至少需要两类；请减少 --folds 或补充数据。"
            )
            % {"k": folds, "n": len(counts) - len(left_out)}
        )
    keep = [i for i, label in enumerate(data.labels) if label not in left_out]
    texts = [data.texts[i] for i in keep]
    labels = np.asarray([data.labels[i] for i in keep])
    predicted = np.empty(len(labels), dtype=object)
    fold_f1: list[float] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    for train, test in splitter.split(np.zeros(len(labels)), labels):
        router = fit([texts[i] for i in train], labels[train], c=c)
        guesses = [str(label) for label, _p in router.predict([texts[i] for i in test])]
        predicted[test] = guesses
        fold_f1.append(float(f1_score(labels[test], guesses, average="macro", zero_division=0)))
    return Evaluation(
        [str(label) for label in labels], [str(p) for p in predicted], fold_f1, left_out
    )


def holdout(train: Labelled, test: Labelled, *, c: float = C) -> Evaluation:
    if len(set(train.labels)) < 2:
        raise TableError(_("训练文件至少需要两个类别。"))
    router = fit(train.texts, train.labels, c=c)
    guesses = [str(label) for label, _p in router.predict(test.texts)]
    return Evaluation(list(test.labels), guesses)
