"""Table 2: DMRec-G/C/M against their base generative model, per base model x dataset block."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.ranked import RowSpec, ranked_table
from benchmark.analysis.records import (BASE_MODELS, DMREC_MATCHERS, GridResults, model_label, select_defaults,
                                        variant_label)
from benchmark.analysis.rendering import Table
from benchmark.analysis.summary import summarise

METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
MATCHERS = ("none", *DMREC_MATCHERS)


def table2(results: GridResults) -> tuple[Table, Table, pd.DataFrame] | None:
    """(means table, std table, per-cell summary) or None when the grid has no DMRec trial."""
    trials = results.trials[results.trials["matcher"].isin(MATCHERS)]
    models = [m for m in dict.fromkeys([*BASE_MODELS, *sorted(trials["model"].unique())])
              if (trials["model"] == m).any() and trials.loc[trials["model"] == m, "matcher"].isin(DMREC_MATCHERS).any()]
    trials = trials[trials["model"].isin(models)]
    if trials.empty:
        return None
    trials, notes = select_defaults(trials)
    summary = summarise(trials, METRICS)
    datasets = sorted(trials["dataset"].unique())
    specs = []
    for model in models:
        for matcher in MATCHERS:
            own = trials[(trials["model"] == model) & (trials["matcher"] == matcher)]
            present = set(own["dataset"])
            missing = [d for d in datasets if d not in present]
            if missing:
                notes.append(f"{model_label(model)} {variant_label(matcher)} missing for {', '.join(missing)}")
            for label in sorted(own["config_label"].unique()) or [""]:
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
