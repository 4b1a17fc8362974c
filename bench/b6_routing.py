"""B6: routing suggestions against the text featuriser alone, measured in the same run.

    .venv/bin/python bench/b6_routing.py [--tier 100k] [--train 10000] [--singles 300]

A city's synthetic needs (wenxu/insight/tests/synth_city.py: the demo county's kinds of need in
43 categories and 19 units, at villages under eight townships), as many as the tier has. The
category and unit models are trained on the first `--train` of them, as `wenxu router_train`
trains them (`routing.features.fit`; not timed), with the demo's three keyword rules. Then:
- batch: `routing.suggest.suggest_many` over all the needs (rules, then both models; what the
  ledger's bulk triage and re-suggestion use), against the baseline: the text featuriser alone
  (`text.Featuriser` over the routing n-grams, fitted on the training texts) over the same
  texts; timed alternately, `--repeat` times each, the best of each counts;
- single: `suggest_many([need])` for `--singles` needs, each timed three times (the fastest
  counts: a preempted run on a busy machine says nothing about the suggestion).
Rules and models are handed in, so no database is read (in the web process they are two small
queries and a cached model).

Targets (issue #10): batch throughput ≥ 0.5 × the featuriser's; a single need p95 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
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
    percentile,
    tier_argument,
)

TARGET_RATIO = 0.5
TARGET_SINGLE_MS = 5.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    # Needs, areas and rules are built in memory through Django's models; no database is opened.
    django_setup(f"sqlite:///{ROOT / 'var' / 'bench' / 'unused.sqlite3'}")

    import numpy as np
    from threadpoolctl import threadpool_limits

    from wenxu.core import demo_texts
    from wenxu.insight.models import RoutingRule, RoutingTarget
    from wenxu.insight.routing import rules as rules_mod
    from wenxu.insight.routing.features import Router, fit
    from wenxu.insight.routing.suggest import suggest_many
    from wenxu.insight.routing.training import unit_extras
    from wenxu.insight.tests.synth_city import city_needs
    from wenxu.insight.text import ROUTING_NGRAMS, Featuriser, need_text
    from wenxu.needs.models import Need
    from wenxu.organisations.models import Area

    count = TIERS[args.tier]
    started = time.perf_counter()
    synth = city_needs(count, seed=SEED)
    areas: dict[int, Area] = {}
    needs = []
    for s in synth:
        area = areas.get(s.area)
        if area is None:
            area = areas[s.area] = Area(pk=s.area, name=f"村{s.area}", path=s.area_path)
        needs.append(Need(title=s.title, description=s.description, area=area))
    texts = [need_text(s.title, s.description) for s in synth]
    train = synth[: min(args.train, count)]
    train_texts = texts[: len(train)]
    print(f"needs: {len(needs)} made in {time.perf_counter() - started:.1f} s", flush=True)

    started = time.perf_counter()
    with threadpool_limits(limits=1):
        category_router = fit(train_texts, [s.category for s in train])
        unit_router = fit(
            train_texts,
            [s.unit for s in train],
            extras=[unit_extras(area_path=s.area_path, category_id=s.category) for s in train],
        )
    routers: dict[str, tuple[int, Router]] = {
        RoutingTarget.CATEGORY: (1, category_router),
        RoutingTarget.UNIT: (2, unit_router),
    }
    leaves = [leaf.name for _name, group in demo_texts.CATEGORIES for leaf in group]
    units = [unit.slug for unit in demo_texts.UNITS]
    rules = [
        rules_mod.CompiledRule(
            RoutingRule(
                pk=k + 1,
                name=name,
                keywords=words,
                category_id=leaves.index(leaf) + 1,
                unit_id=units.index(unit) + 1,
            ),
            tuple(rules_mod.keywords(words)),
            "",
        )
        for k, (name, words, leaf, unit) in enumerate(demo_texts.ROUTING_RULES)
    ]
    print(f"models trained on {len(train)} needs in {time.perf_counter() - started:.1f} s")
    featuriser = Featuriser(ngram_range=ROUTING_NGRAMS).fit(train_texts)

    def batch() -> list[object]:
        return list(suggest_many(needs, rules=rules, routers=routers))

    batch_times: list[float] = []
    base_times: list[float] = []
    suggestions: list[object] = []
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        featuriser.transform(texts)
        base_times.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        suggestions = batch()
        batch_times.append(time.perf_counter() - t0)
        print(
            f"featuriser {base_times[-1]:.2f} s, suggestions {batch_times[-1]:.2f} s "
            f"({len(suggestions)} needs)",
            flush=True,
        )
    featurised_per_s = count / min(base_times)
    suggested_per_s = count / min(batch_times)

    # Single suggestions, as the 交办 form asks for one need.
    rng = np.random.default_rng(SEED)
    singles: list[float] = []
    for i in rng.choice(count, size=min(args.singles, count), replace=False):
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            suggest_many([needs[int(i)]], rules=rules, routers=routers)
            runs.append(time.perf_counter() - t0)
        singles.append(min(runs))
    single_p95 = percentile(singles, 95) * 1000

    held_out = range(len(train), count)
    accuracy = (
        float(
            np.mean(
                [
                    suggestions[i].category_id == synth[i].category  # type: ignore[attr-defined]
                    for i in held_out
                ]
            )
        )
        if len(held_out)
        else None
    )
    print(
        f"throughput: {suggested_per_s:.0f} suggestions/s, featuriser {featurised_per_s:.0f} "
        f"texts/s; single p50 {percentile(singles, 50) * 1000:.2f} ms, p95 {single_p95:.2f} ms; "
        f"category right on held-out needs: {accuracy}"
    )
    return finish(
        Outcome(
            scenario="B6",
            tier=args.tier,
            ratio=Check("batch/featuriser", suggested_per_s / featurised_per_s, ">=", TARGET_RATIO),
            checks=[Check("single_p95", single_p95, "<=", TARGET_SINGLE_MS, "ms")],
            details={
                "needs": count,
                "trained_on": len(train),
                "batch_seconds": batch_times,
                "featuriser_seconds": base_times,
                "suggestions_per_s": suggested_per_s,
                "featurised_per_s": featurised_per_s,
                "single_ms": {
                    "p50": percentile(singles, 50) * 1000,
                    "p95": single_p95,
                },
                "category_accuracy_held_out": accuracy,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
