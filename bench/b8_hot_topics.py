"""B8: hot-topic clustering of a tier's worth of needs against vectorising them, in the same run.

    .venv/bin/python bench/b8_hot_topics.py [--tier 100k] [--repeat 2]

The texts are a city's synthetic needs (wenxu/insight/tests/synth_city.py: the demo county's
kinds of need and the planted complaints, told by different residents at thousands of places,
with matters several residents tell and a few hot ones), as many as the tier has. Timed, one
after the other, `repeat` times each (the best of each counts):
- the run: `wenxu.insight.hot.hot_topics` over all of them, with their authors, as a scheduled
  run calls it (segmenting, places, features, neighbours, groups, merging, heat, labels);
- the baseline: vectorising the same texts with the featuriser the run compares them by
  (`hot.analyse`: segmented into words and character pairs, place names set aside; then
  `hot.TermFeaturiser`: TF-IDF over those terms, fitted on them);
- for reference (not judged): the plain text featuriser of similar needs and routing
  (`text.Featuriser`: TF-IDF over hashed character 2–3-grams, no segmenter).
The segmenter's dictionary is loaded before timing (a worker loads it once).

Targets (issue #10): the run ≤ 3 × the baseline; the process's peak memory ≤ 2 GB. Also
reported: how well the run finds what was planted (each matter told by several residents whole
in one hot topic; each hot matter's largest share in one topic; topics mixing categories). No
database: the run reads what the ledger holds and the baseline reads the same.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    ROOT,
    SEED,
    TIERS,
    Check,
    Outcome,
    django_setup,
    finish,
    peak_rss_mb,
    tier_argument,
)

TARGET_RATIO = 3.0
TARGET_MEMORY_MB = 2048.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    # The demo county's texts are read through Django's app registry; no database is opened.
    django_setup(f"sqlite:///{ROOT / 'var' / 'bench' / 'unused.sqlite3'}")

    import numpy as np

    from wenxu.insight import hot
    from wenxu.insight import text as tx
    from wenxu.insight.tests.synth_city import city_needs

    count = TIERS[args.tier]
    started = time.perf_counter()
    needs = city_needs(count, seed=SEED)
    texts = [need.text for need in needs]
    corpus = hot.Corpus(texts=texts, authors=[need.author for need in needs])
    print(f"texts: {len(texts)} made in {time.perf_counter() - started:.1f} s", flush=True)
    tx.segment(tx.normalize("预热分词词典"))

    def vectorise() -> None:
        hot.TermFeaturiser().fit_terms([hot.analyse(text).terms for text in texts])

    run_times: list[float] = []
    base_times: list[float] = []
    char_times: list[float] = []
    groups: list[hot.HotGroup] = []
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        vectorise()
        base_times.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        tx.Featuriser().fit_transform(texts)
        char_times.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        groups = hot.hot_topics(corpus)
        run_times.append(time.perf_counter() - t0)
        print(
            f"vectorise {base_times[-1]:.1f} s (character n-grams {char_times[-1]:.1f} s), "
            f"hot topics {run_times[-1]:.1f} s ({len(groups)} topics)",
            flush=True,
        )
    run, base = min(run_times), min(base_times)
    print(f"run / character n-grams: {run / min(char_times):.2f} (not judged)")
    memory = peak_rss_mb()

    # What was planted, and what the run made of it.
    label = np.full(len(needs), -1)
    for k, group in enumerate(groups):
        label[group.members] = k
    matters: dict[int, list[int]] = {}
    for i, need in enumerate(needs):
        if need.group is not None:
            matters.setdefault(need.group, []).append(int(label[i]))
    told = [found for found in matters.values() if len(found) < 8]
    hot_matters = [found for found in matters.values() if len(found) >= 8]
    whole = float(np.mean([len(set(f)) == 1 and f[0] >= 0 for f in told])) if told else 0.0
    shares = [
        max((c for k, c in Counter(f).items() if k >= 0), default=0) / len(f) for f in hot_matters
    ]
    categories = np.array([need.category for need in needs])
    mixed = float(
        np.mean(
            [
                Counter(categories[g.members].tolist()).most_common(1)[0][1] / g.size < 0.8
                for g in groups
            ]
        )
        if groups
        else 0.0
    )
    print(
        f"planted: {whole:.3f} of the matters told by 3–4 residents whole in one topic; "
        f"hot matters' largest share in one topic {np.mean(shares):.3f}; "
        f"{mixed:.3f} of the topics mix categories (< 80 % one category)"
    )
    return finish(
        Outcome(
            scenario="B8",
            tier=args.tier,
            ratio=Check("run/vectorise", run / base, "<=", TARGET_RATIO),
            checks=[Check("peak_memory", memory, "<=", TARGET_MEMORY_MB, "MB")],
            details={
                "texts": len(texts),
                "run_seconds": run_times,
                "vectorise_seconds": base_times,
                "character_ngrams_seconds": char_times,
                "run_per_character_ngrams": run / min(char_times),
                "topics": len(groups),
                "planted_told_whole": whole,
                "hot_matters_share": float(np.mean(shares)) if shares else None,
                "topics_mixing_categories": mixed,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
