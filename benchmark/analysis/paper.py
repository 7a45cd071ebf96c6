"""The paper's published numbers and the ours-vs-published table.

`benchmark/core/paper_tables.csv` is the one copy of every number the paper publishes: Tables 2 and 3 (rows name
models and variants by their paper names, which the model and matcher registries map to registry
names) and Table 1's dataset statistics (`table1_counts()`, which data validation reads too)."""
from __future__ import annotations

import math
from functools import lru_cache

import pandas as pd

from benchmark.analysis.rendering import Cell, Table
from benchmark.analysis.roles import matchers_of_kind, model_role, paper_names, variant_label
from benchmark.analysis.stats import format_metric
from benchmark.core.paper import PAPER_DATASETS, paper_csv

WITHIN_PCT = 3.0  # a reproduced cell "matches" when |ours - paper| / paper <= 3%


def _variant_matchers() -> dict[str, str]:
    """A published variant name ('Base', 'DMRec-M') -> its matcher, from the matcher registry's labels."""
    return {variant_label(m): m for m in (*matchers_of_kind("base"), *matchers_of_kind("variant"))}


@lru_cache(maxsize=1)
def published() -> pd.DataFrame:
    """One row per published cell of Tables 2 and 3: table, model, matcher, dataset, metric, value
    (registry names)."""
    frame = paper_csv()
    frame = frame[frame["table"].isin(("table2", "table3"))]
    models, variants = paper_names(), _variant_matchers()
    rows = []
    for record in frame.itertuples(index=False):
        if record.variant in variants:  # Table 2 rows and Table 3's DMRec-M
            model, matcher = models.get(record.base), variants[record.variant]
        else:  # Table 3 baselines: base column is their backbone, the variant column names them
            model, matcher = models.get(record.variant), "none"
        if model is None:  # a paper model no longer registered: nothing of ours to compare with
            continue
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
    merged["variant"] = [v if model_role(m) == "generative_base" else ""
                         for v, m in zip(merged["variant"], merged["model"], strict=True)]
    rows = [[Cell(r.dataset), Cell(r.model_label), Cell(r.variant + (f" [{r.config_label}]" if r.config_label else "")),
             Cell(r.metric), Cell(format_metric(r.mean)), Cell(str(r.n_seeds)), Cell(format_metric(r.paper)),
             Cell(f"{r.abs_diff:+.4f}"), Cell(f"{r.rel_diff_pct:+.2f}%" if not math.isnan(r.rel_diff_pct) else "–"),
             Cell("yes" if r.within_3pct else "no")] for r in merged.itertuples(index=False)]
    data = merged[["dataset", "model", "matcher", "variant", "config_label", "metric", "mean", "n_seeds",
                   "paper", "abs_diff", "rel_diff_pct", "within_3pct"]].rename(columns={"mean": "ours"})
    caption = (f"Ours vs published ({table_key.replace('table', 'Table ')}): absolute difference ours - paper, "
               f"relative difference (ours - paper) / paper. {summary}")
    return Table(f"{table_key}_vs_paper", caption, columns, rows, data.reset_index(drop=True)), summary
