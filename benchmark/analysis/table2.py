"""Table 2: DMRec-G/C/M against their base generative model, one block per base model.

A block appears only for a model whose plain base and at least one DMRec variant were both run on a
dataset; the bases are the registry's `generative_base` models (plus any other model the grid ran
with a DMRec matcher), the variants the matcher registry's `variant` kind."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.artefacts import Skipped
from benchmark.analysis.ranked import RowSpec, ranked_table
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.rendering import Table
from benchmark.analysis.roles import base_models, dmrec_matchers, matcher_order, model_label, model_order, variant_label
from benchmark.analysis.summary import summarise

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def table2(results: GridResults) -> tuple[Table, Table, pd.DataFrame]:
    """(means table, std table, per-cell summary); raises Skipped (one line why) when no block has its inputs."""
    variants = dmrec_matchers()
    trials = results.trials[results.trials["matcher"].isin(("none", *variants))]
    pairs = set()  # (model, dataset) with both the plain base and a DMRec variant
    for (model, dataset), own in trials.groupby(["model", "dataset"]):
        if (own["matcher"] == "none").any() and own["matcher"].isin(variants).any():
            pairs.add((model, dataset))
    if not pairs:
        raise Skipped("Table 2 needs a generative base and a DMRec variant of it (godm/cpdm/mddm) on one dataset")
    trials = trials[[(m, d) in pairs for m, d in zip(trials["model"], trials["dataset"], strict=False)]]
    trials, notes = select_defaults(trials)
    summary = summarise(trials, METRICS)
    datasets = sorted(trials["dataset"].unique())
    models = model_order([*[m for m in base_models() if (trials["model"] == m).any()], *trials["model"].unique()])
    specs = []
    for model in models:
        own_model = trials[trials["model"] == model]
        for matcher in matcher_order(own_model["matcher"].unique()):
            own = own_model[own_model["matcher"] == matcher]
            for label in sorted(own["config_label"].unique()):
                shown = variant_label(matcher) + (f" [{label}]" if label else "")
                role = "reference" if matcher == "none" else "candidate"
                specs.append(RowSpec(model, model, matcher, label, (model_label(model), shown), role))
    seeds = sorted(trials["seed"].unique())
    caption = (f"Table 2 (grid {results.grid}): test Recall/NDCG@10/20, mean over seeds ({len(seeds)} seed(s): "
               f"{', '.join(map(str, seeds))}; per-cell counts in the std table). Best per column within each "
               f"base model in bold, second underlined (compared at 4 decimals; ties share the mark). Improv.% = "
               f"best DMRec variant of that column over Base; p-value: two-sided Welch's t-test "
               f"(scipy.stats.ttest_ind, equal_var=False) of that variant's per-seed values against Base's; "
               f"'–' where either side has fewer than 2 seeds. Each variant at its default beta.")
    if len(seeds) < 2:
        notes.append("fewer than 2 seeds: standard deviations and p-values are undefined ('–')")
    mean_table, std_table = ranked_table("table2", caption, summary, specs, datasets, METRICS,
                                         ("Model", "Variant"), notes)
    return mean_table, std_table, summary
