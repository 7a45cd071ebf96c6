"""Table 3: DMRec-M on Mult-VAE against the LM-enhanced baselines (and LightGCN when present)."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.ranked import RowSpec, ranked_table
from benchmark.analysis.records import BASELINE_MODELS, GridResults, model_label, select_defaults
from benchmark.analysis.rendering import Table
from benchmark.analysis.summary import summarise

METRICS = ("recall@20", "ndcg@20")
DMREC_ROW = ("multvae", "mddm")


def table3(results: GridResults) -> tuple[Table, Table, pd.DataFrame] | None:
    """(means table, std table, per-cell summary) or None when the grid has no baseline trial."""
    all_trials = results.trials
    is_baseline = all_trials["model"].isin(BASELINE_MODELS) & (all_trials["matcher"] == "none")
    is_dmrec = (all_trials["model"] == DMREC_ROW[0]) & (all_trials["matcher"] == DMREC_ROW[1])
    if not is_baseline.any():
        return None
    trials, notes = select_defaults(all_trials[is_baseline | is_dmrec])
    summary = summarise(trials, METRICS)
    datasets = sorted(trials["dataset"].unique())
    specs = []
    for model, matcher, role, shown in [*[(m, "none", "reference", model_label(m)) for m in BASELINE_MODELS],
                                        (*DMREC_ROW, "candidate", "DMRec-M (Mult-VAE)")]:
        own = trials[(trials["model"] == model) & (trials["matcher"] == matcher)]
        if own.empty:
            if model != "lightgcn":
                notes.append(f"{shown} missing for every dataset")
            continue
        missing = [d for d in datasets if d not in set(own["dataset"])]
        if missing:
            notes.append(f"{shown} missing for {', '.join(missing)}")
        for label in sorted(own["config_label"].unique()):
            specs.append(RowSpec("all", model, matcher, label, (shown + (f" [{label}]" if label else ""),), role))
    seeds = sorted(trials["seed"].unique())
    caption = (f"Table 3 (grid {results.grid}): test Recall@20 and NDCG@20, mean over seeds ({len(seeds)} seed(s); "
               f"per-cell counts in the std table). Best per column in bold, second underlined (compared at 4 "
               f"decimals; ties share the mark). Improv.% = DMRec-M over the strongest baseline of that column; "
               f"p-value: two-sided Welch's t-test (scipy.stats.ttest_ind, equal_var=False) over per-seed values; "
               f"'–' where either side has fewer than 2 seeds.")
    if not any(s.role == "candidate" for s in specs):
        notes.append("DMRec-M (Mult-VAE) is absent, so Improv.% and p-values are undefined")
    mean_table, std_table = ranked_table("table3", caption, summary, specs, datasets, METRICS, ("Model",), notes)
    return mean_table, std_table, summary
