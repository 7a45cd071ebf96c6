"""The paper's published numbers (package copy of paper_tables.csv) and the ours-vs-published table."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import pandas as pd

from benchmark.analysis.rendering import Cell, Table
from benchmark.analysis.stats import format_metric

PAPER_CSV = Path(__file__).with_name("paper_tables.csv")
PAPER_DATASETS = ("amazon", "yelp", "steam")
WITHIN_PCT = 3.0  # a reproduced cell "matches" when |ours - paper| / paper <= 3%

# paper_tables.csv names models by their display names; the suite by registry names.
PAPER_MODEL_NAMES = {
    "Mult-VAE": "multvae", "L-DiffRec": "ldiffrec", "CVGA": "cvga", "LightGCN": "lightgcn",
    "KAR": "kar", "LLMRec": "llmrec", "RLMRec-C": "rlmrec_c", "RLMRec-G": "rlmrec_g",
    "AlphaRec": "alpharec", "AlphaRec*": "alpharec_star",
}
PAPER_VARIANT_MATCHERS = {"Base": "none", "DMRec-G": "godm", "DMRec-C": "cpdm", "DMRec-M": "mddm"}

# The paper's Section 5.1 dataset statistics, shown beside ours in Table 1.
PAPER_DATASET_STATS = {
    "amazon": {"n_users": 11000, "n_items": 9332, "n_interactions": 200860, "sparsity": 0.9980},
    "yelp": {"n_users": 11091, "n_items": 11010, "n_interactions": 277535, "sparsity": 0.9977},
    "steam": {"n_users": 23310, "n_items": 5237, "n_interactions": 525922, "sparsity": 0.9957},
}


@lru_cache(maxsize=1)
def published() -> pd.DataFrame:
    """One row per published cell: table, model, matcher, dataset, metric, value (registry names)."""
    frame = pd.read_csv(PAPER_CSV)
    expected = {"table", "base", "variant", "dataset", "metric", "value"}
    if not expected <= set(frame.columns):
        raise ValueError(f"{PAPER_CSV}: expected columns {sorted(expected)}, found {list(frame.columns)}")
    rows = []
    for record in frame.itertuples(index=False):
        if record.variant in PAPER_VARIANT_MATCHERS:  # Table 2 rows and Table 3's DMRec-M
            model, matcher = PAPER_MODEL_NAMES[record.base], PAPER_VARIANT_MATCHERS[record.variant]
        else:  # Table 3 baselines: base column is their backbone, the variant column names them
            model, matcher = PAPER_MODEL_NAMES[record.variant], "none"
        rows.append({"table": record.table, "model": model, "matcher": matcher, "dataset": record.dataset,
                     "metric": record.metric, "paper": float(record.value)})
    return pd.DataFrame(rows)


def compare(ours: pd.DataFrame, table_key: str) -> tuple[Table | None, str]:
    """Ours (mean over seeds) vs published for every cell the paper reports; returns (table, summary).

    `ours` has columns model, matcher, variant, config_label, dataset, metric, mean, n_seeds.
    Relative difference = (ours - paper) / paper; a cell is within tolerance at |rel| <= 3%."""
    paper = published()
    paper = paper[paper["table"] == table_key]
    datasets = sorted(ours["dataset"].unique()) if len(ours) else []
    paper_sets = [d for d in datasets if d in PAPER_DATASETS]
    others = [d for d in datasets if d not in PAPER_DATASETS]
    other_note = (f"The paper publishes no numbers for {', '.join(others)}; those results have no comparison."
                  if others else "")
    if not paper_sets:
        return None, other_note or "No dataset of this grid appears in the paper."
    merged = ours[ours["dataset"].isin(paper_sets)].merge(paper, on=["model", "matcher", "dataset", "metric"])
    merged = merged[merged["mean"].notna()]  # a metric the records lack is not a comparison
    if merged.empty:
        return None, " ".join(filter(None, ["None of this grid's rows appear in the paper's table.", other_note]))
    merged = merged.assign(abs_diff=merged["mean"] - merged["paper"])
    merged["rel_diff_pct"] = 100.0 * merged["abs_diff"] / merged["paper"]
    merged["within_3pct"] = merged["rel_diff_pct"].abs() <= WITHIN_PCT
    merged = merged.sort_values(["dataset", "model", "matcher", "config_label", "metric"], kind="stable")
    within = int(merged["within_3pct"].sum())
    summary = (f"{within} of {len(merged)} published cells are reproduced within {WITHIN_PCT:g}% relative "
               f"(mean over seeds vs the paper's mean over 10 seeds).")
    if other_note:
        summary += " " + other_note
    columns = [("", "Dataset"), ("", "Model"), ("", "Variant"), ("", "Metric"), ("", "Ours"), ("", "Seeds"),
               ("", "Paper"), ("", "Abs. diff"), ("", "Rel. diff"), ("", f"Within {WITHIN_PCT:g}%")]
    # Table 3's baselines are plain models: their 'variant' column stays empty rather than reading "Base"
    merged["variant"] = [v if m in ("multvae", "ldiffrec", "cvga") else "" for v, m in zip(merged["variant"], merged["model"])]
    rows = [[Cell(r.dataset), Cell(r.model_label), Cell(r.variant + (f" [{r.config_label}]" if r.config_label else "")),
             Cell(r.metric), Cell(format_metric(r.mean)), Cell(str(r.n_seeds)), Cell(format_metric(r.paper)),
             Cell(f"{r.abs_diff:+.4f}"), Cell(f"{r.rel_diff_pct:+.2f}%" if not math.isnan(r.rel_diff_pct) else "–"),
             Cell("yes" if r.within_3pct else "no")] for r in merged.itertuples(index=False)]
    data = merged[["dataset", "model", "matcher", "variant", "config_label", "metric", "mean", "n_seeds",
                   "paper", "abs_diff", "rel_diff_pct", "within_3pct"]].rename(columns={"mean": "ours"})
    caption = (f"Ours vs published ({table_key.replace('table', 'Table ')}): absolute difference ours - paper, "
               f"relative difference (ours - paper) / paper. {summary}")
    return Table(f"{table_key}_vs_paper", caption, columns, rows, data.reset_index(drop=True)), summary
