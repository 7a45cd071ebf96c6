"""Table 3: DMRec-M on Mult-VAE against the baselines of the grid.

The rows are every model the grid ran without a matcher whose registry role is `id_baseline`,
`lm_baseline` or `user` (a model added by the README recipe, or a record of an unregistered one);
a model the paper does not have is marked "(not in the paper)". The table appears only when
DMRec-M and at least one such baseline ran on a dataset."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.artefacts import Skipped
from benchmark.analysis.ranked import RowSpec, ranked_table
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.rendering import Table
from benchmark.analysis.roles import NOT_IN_PAPER, in_paper, model_label, model_order, model_role
from benchmark.analysis.summary import summarise

METRICS = ("recall@20", "ndcg@20")
DMREC_ROW = ("multvae", "mddm")
BASELINE_ROLES = ("id_baseline", "lm_baseline", "user")


def baseline_label(model: str) -> str:
    return model_label(model) + ("" if in_paper(model) else f" ({NOT_IN_PAPER})")


def table3(results: GridResults) -> tuple[Table, Table, pd.DataFrame]:
    """(means table, std table, per-cell summary); raises Skipped (one line why) without its inputs."""
    all_trials = results.trials
    is_baseline = (all_trials["matcher"] == "none") & all_trials["model"].map(lambda m: model_role(m) in BASELINE_ROLES)
    is_dmrec = (all_trials["model"] == DMREC_ROW[0]) & (all_trials["matcher"] == DMREC_ROW[1])
    datasets = sorted(set(all_trials.loc[is_dmrec, "dataset"]) & set(all_trials.loc[is_baseline, "dataset"]))
    if not datasets:
        raise Skipped("Table 3 needs DMRec-M on Mult-VAE and at least one baseline (an ID, LM-enhanced or "
                      "user-added model) on one dataset")
    trials, notes = select_defaults(all_trials[(is_baseline | is_dmrec) & all_trials["dataset"].isin(datasets)])
    summary = summarise(trials, METRICS)
    baselines = model_order(trials.loc[trials["matcher"] == "none", "model"].unique())
    specs = []
    for model, matcher, role, shown in [*[(m, "none", "reference", baseline_label(m)) for m in baselines],
                                        (*DMREC_ROW, "candidate", "DMRec-M (Mult-VAE)")]:
        own = trials[(trials["model"] == model) & (trials["matcher"] == matcher)]
        for label in sorted(own["config_label"].unique()):
            specs.append(RowSpec("all", model, matcher, label, (shown + (f" [{label}]" if label else ""),), role))
    seeds = sorted(trials["seed"].unique())
    extra = [baseline_label(m) for m in baselines if not in_paper(m)]
    caption = (f"Table 3 (grid {results.grid}): test Recall@20 and NDCG@20, mean over seeds ({len(seeds)} seed(s); "
               f"per-cell counts in the std table). Best per column in bold, second underlined (compared at 4 "
               f"decimals; ties share the mark). Improv.% = DMRec-M over the strongest baseline of that column; "
               f"p-value: two-sided Welch's t-test (scipy.stats.ttest_ind, equal_var=False) over per-seed values; "
               f"'–' where either side has fewer than 2 seeds."
               + (f" Rows marked '{NOT_IN_PAPER}' are models the paper's Table 3 does not have: "
                  f"{', '.join(extra)}." if extra else ""))
    if len(seeds) < 2:
        notes.append("fewer than 2 seeds: standard deviations and p-values are undefined ('–')")
    mean_table, std_table = ranked_table("table3", caption, summary, specs, datasets, METRICS, ("Model",), notes)
    return mean_table, std_table, summary
