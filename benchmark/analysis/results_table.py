"""The results table of any grid: what it ran, one row per (model, matcher, swept values).

Columns are datasets x metrics: mean ± sample standard deviation over seeds (ddof=1) and the seed
count n per dataset; the best value per column is bold and the second underlined (as printed, at
4 decimals). With a reference row (`--reference model[+matcher]`) every cell also gets the
two-sided Welch t-test p-value of its per-seed values against the reference's. Markdown and LaTeX
show Recall@20 and NDCG@20; the CSV holds every stored metric. Rows whose trials ran to their
epoch cap say so in a Training column and in the caption.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from benchmark.analysis.records import METRICS, GridResults
from benchmark.analysis.rendering import Cell, Table
from benchmark.analysis.roles import matcher_order, model_label, model_order, model_role, variant_label
from benchmark.analysis.stats import format_metric, format_p, rank_marks, welch_p_value
from benchmark.analysis.summary import capped_text, summarise

SHOWN = ("recall@20", "ndcg@20")  # the metrics Markdown/LaTeX print; the CSV has all
SHORT = {"recall@20": "Recall@20", "ndcg@20": "NDCG@20"}
MIXED = "†"


class BadReference(ValueError):
    """`--reference` names no row of the grid (a bad command line: exit 2)."""


@dataclass(frozen=True)
class Reference:
    model: str
    matcher: str = "none"

    @classmethod
    def parse(cls, text: str) -> Reference:
        model, _, matcher = text.partition("+")
        if not model:
            raise BadReference(f"--reference {text!r}: expected model or model+matcher (e.g. multvae+mddm)")
        return cls(model, matcher or "none")

    def __str__(self) -> str:
        return self.model if self.matcher == "none" else f"{self.model}+{self.matcher}"


def stored_metrics(trials: pd.DataFrame) -> tuple[str, ...]:
    """Every test metric the records hold: the standard ones first, then any other."""
    found = [c[len("test_"):] for c in trials.columns if c.startswith("test_") and trials[c].notna().any()]
    return (*[m for m in METRICS if m in found], *sorted(m for m in found if m not in METRICS))


def row_keys(trials: pd.DataFrame) -> list[tuple[str, str, str]]:
    keys = []
    for model in model_order(trials["model"].unique()):
        own = trials[trials["model"] == model]
        for matcher in matcher_order(own["matcher"].unique()):
            labels = sorted(own.loc[own["matcher"] == matcher, "config_label"].unique())
            keys += [(model, matcher, label) for label in labels]
    return keys


def results_table(results: GridResults, reference: Reference | None = None) -> Table:
    trials = results.trials
    metrics = stored_metrics(trials)
    shown = [m for m in SHOWN if m in metrics] or list(metrics[:2])
    summary = summarise(trials, metrics)
    cells = {(r.model, r.matcher, r.config_label, r.dataset, r.metric): r for r in summary.itertuples(index=False)}
    keys = row_keys(trials)
    datasets = results.datasets
    ref_key = _reference_key(reference, keys) if reference is not None else None
    capped = _capped(summary, keys)
    marks, p_values, mixed = _comparisons(cells, keys, datasets, metrics, ref_key)
    with_config = any(label for _, _, label in keys)
    with_training = any(capped.values())
    label_columns = ["Model", "Variant", *(["Config"] if with_config else []), *(["Training"] if with_training else [])]
    columns = [("", name) for name in label_columns]
    for dataset in datasets:
        for metric in shown:
            columns.append((dataset, SHORT.get(metric, metric)))
            if ref_key:
                columns.append((dataset, f"p ({SHORT.get(metric, metric)})"))
        columns.append((dataset, "n"))
    rows, tidy = [], []
    for key in keys:
        model, matcher, label = key
        variant = "" if matcher == "none" and model_role(model) != "generative_base" else variant_label(matcher)
        row = [Cell(model_label(model)), Cell(variant)]
        row += [Cell(label)] if with_config else []
        row += [Cell(capped[key] or "early stop")] if with_training else []
        for dataset in datasets:
            cells_row, tidy_rows = _dataset_cells(key, variant, dataset, cells, metrics, shown, marks, p_values,
                                                  mixed, ref_key, reference, capped[key])
            row += cells_row
            tidy += tidy_rows
        rows.append(row)
    caption, notes = _caption(results.grid, shown, metrics, reference if ref_key else None, with_training,
                              any(mixed.values()))
    return Table("results", caption, columns, rows, pd.DataFrame(tidy), notes, sorted(results.records))


def _capped(summary: pd.DataFrame, keys) -> dict[tuple, str]:
    """Per row: 'capped at N epochs (k of n trials)' where its trials hit their epoch cap, else ''."""
    capped = {}
    for key in keys:
        own = summary[(summary["model"] == key[0]) & (summary["matcher"] == key[1])
                      & (summary["config_label"] == key[2])].drop_duplicates("dataset")
        caps = [c for c in own["capped_at"] if c is not None and c == c]
        capped[key] = (capped_text(int(own["n_capped"].sum()), int(own["n_trials"].sum()), int(max(caps)))
                       if caps else "")
    return capped


def _comparisons(cells: dict, keys, datasets, metrics, ref_key) -> tuple[dict, dict, dict]:
    """Per (row, dataset, metric): the rank mark, the Welch p-value against the reference row, and
    whether that p compares a capped row with an early-stopped one."""
    marks: dict[tuple, str] = {}
    p_values: dict[tuple, float] = {}
    mixed: dict[tuple, bool] = {}
    for dataset in datasets:
        for metric in metrics:
            column = [cells.get((*key, dataset, metric)) for key in keys]
            means = [c.mean if c is not None else math.nan for c in column]
            for key, mark in zip(keys, rank_marks(means), strict=True):
                marks[(key, dataset, metric)] = mark
            ref = cells.get((*ref_key, dataset, metric)) if ref_key else None
            for key, cell in zip(keys, column, strict=False):
                if ref is None or cell is None or key == ref_key:
                    p_values[(key, dataset, metric)] = math.nan
                    continue
                p_values[(key, dataset, metric)] = welch_p_value(cell.values, ref.values)
                mixed[(key, dataset, metric)] = bool(cell.n_capped) != bool(ref.n_capped)
    return marks, p_values, mixed


def _dataset_cells(key, variant, dataset, cells, metrics, shown, marks, p_values, mixed, ref_key, reference,
                   capped: str) -> tuple[list[Cell], list[dict]]:
    """One row's cells for one dataset (shown metrics, p-values, n) and its tidy rows (every metric)."""
    model, matcher, label = key
    row, tidy, n = [], [], 0
    for metric in metrics:
        cell = cells.get((*key, dataset, metric))
        mark, p = marks[(key, dataset, metric)], p_values[(key, dataset, metric)]
        flag = MIXED if mixed.get((key, dataset, metric)) else ""
        if cell is not None:
            n = max(n, cell.n_seeds)
        if metric in shown:
            row.append(Cell(_mean_std(cell), mark))
            if ref_key:
                row.append(Cell("reference" if key == ref_key and cell is not None else format_p(p) + flag))
        tidy.append({"model": model, "model_label": model_label(model), "matcher": matcher,
                     "variant": variant, "config_label": label, "dataset": dataset, "metric": metric,
                     "mean": cell.mean if cell is not None else math.nan,
                     "std": cell.std if cell is not None else math.nan,
                     "n_seeds": cell.n_seeds if cell is not None else 0,
                     "seeds": ";".join(map(str, cell.seeds)) if cell is not None else "",
                     "mark": mark, "p_value": p, "reference": str(reference) if ref_key else "",
                     "capped": capped, "capped_vs_early_stopped": bool(flag)})
    row.append(Cell(str(n) if n else "–"))
    return row, tidy


def _caption(grid: str, shown, metrics, reference: Reference | None, with_training: bool,
             any_mixed: bool) -> tuple[str, list[str]]:
    caption = (f"Results of grid {grid}: one row per (model, matcher, swept values); per dataset, test "
               f"{' and '.join(SHORT.get(m, m) for m in shown)} as mean ± sample standard deviation over seeds "
               f"(ddof=1; no ± with one seed) and n = number of seeds; best per column in bold, second underlined "
               f"(compared at 4 decimals). The CSV holds every stored metric ({', '.join(metrics)}).")
    notes = []
    if reference is not None:
        caption += (f" p: two-sided Welch t-test (scipy.stats.ttest_ind, equal_var=False) of the row's per-seed "
                    f"values against the reference row {reference!s}; '–' where either side has fewer than 2 seeds.")
    if with_training:
        caption += (" Training says whether the trials stopped early or ran to the epoch cap ('capped at N epochs': "
                    "the numbers may not be converged).")
    if any_mixed:
        note = f"{MIXED}: the p-value compares a row that ran to its epoch cap with one that stopped early."
        caption += " " + note
        notes.append(note)
    return caption, notes


def _mean_std(cell) -> str:
    if cell is None or math.isnan(cell.mean):
        return "–"
    return format_metric(cell.mean) + ("" if math.isnan(cell.std) else f" ± {cell.std:.4f}")


def _reference_key(reference: Reference, keys) -> tuple[str, str, str]:
    matches = [k for k in keys if k[:2] == (reference.model, reference.matcher)]
    rows = ", ".join(f"{m}+{c}" + (f" [{label}]" if label else "") for m, c, label in keys)
    if not matches:
        raise BadReference(f"--reference {reference}: no such row in this grid (rows: {rows})")
    if len(matches) > 1:
        labels = "; ".join(label for _, _, label in matches)
        raise BadReference(f"--reference {reference}: {len(matches)} rows differ in swept values ({labels}); "
                           f"the reference must be one row")
    return matches[0]
