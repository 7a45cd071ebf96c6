"""The shape Tables 2 and 3 share: blocks of model rows, best bold / second underlined per column,
then an Improv.% row and a Welch p-value row comparing the best candidate with the best reference.

A row whose trials ran up to their epoch cap (rather than stopping early) says so in its label
and in the caption; an Improv.%/p cell that compares such a row with an early-stopped one carries
a dagger and a note, since the capped side may not have converged."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from benchmark.analysis.rendering import RULE, Cell, Table
from benchmark.analysis.stats import format_metric, format_p, format_pct, improvement_pct, rank_marks, welch_p_value
from benchmark.analysis.summary import capped_text

METRIC_SHORT = {"recall@10": "R@10", "recall@20": "R@20", "ndcg@10": "N@10", "ndcg@20": "N@20",
                "recall@5": "R@5", "ndcg@5": "N@5"}
MIXED = "†"  # an Improv.%/p cell comparing a capped row with an early-stopped one
MIXED_NOTE = (f"{MIXED}: Improv.% and p-value compare a row whose trials ran to the epoch cap with one that "
              f"stopped early; the capped side may not have converged.")


@dataclass(frozen=True)
class RowSpec:
    block: str  # rows of one block are ranked together
    model: str
    matcher: str
    config_label: str
    labels: tuple[str, ...]  # the leading label cells
    role: str  # 'reference' | 'candidate' | 'other'


def _lookup(summary: pd.DataFrame) -> dict:
    return {(r.model, r.matcher, r.config_label, r.dataset, r.metric): r for r in summary.itertuples(index=False)}


def ranked_table(key: str, caption: str, summary: pd.DataFrame, specs: list[RowSpec], datasets: list[str],
                 metrics: tuple[str, ...], label_columns: tuple[str, ...],
                 notes: list[str]) -> tuple[Table, Table]:
    """(means table, std companion); the tidy data names, per column, which rows Improv.%/p compared."""
    cells = _lookup(summary)
    columns = [("", name) for name in label_columns] + [(d, METRIC_SHORT.get(m, m)) for d in datasets for m in metrics]
    blocks = list(dict.fromkeys(spec.block for spec in specs))
    capped = _capped_rows(summary, specs, datasets)
    specs = [_with_cap_label(spec, capped.get(spec, "")) for spec in specs]
    capped = {_with_cap_label(spec, text): text for spec, text in capped.items()}
    capped_by_key = {(s.model, s.matcher, s.config_label): t for s, t in capped.items()}
    mixed_seen = False
    mean_rows: list = []
    std_rows: list = []
    tidy: list[dict] = []
    for block_index, block in enumerate(blocks):
        block_specs = [s for s in specs if s.block == block]
        marks, improv_cells, p_cells, mixed = _block_comparisons(block, block_specs, cells, datasets, metrics, tidy)
        mixed_seen |= mixed
        if block_index:
            mean_rows.append(RULE)
            std_rows.append(RULE)
        for spec in block_specs:
            mean_row, std_row = _spec_rows(block, spec, cells, datasets, metrics, marks, tidy)
            mean_rows.append(mean_row)
            std_rows.append(std_row)
        filler = [""] * (len(label_columns) - 1)
        mean_rows.append([Cell(t) for t in (*filler, "Improv.%")] + improv_cells)
        mean_rows.append([Cell(t) for t in (*filler, "p-value")] + p_cells)
    data = pd.DataFrame(tidy, columns=["block", "row", "model", "matcher", "variant", "config_label", "dataset",
                                       "metric", "value", "std", "n_seeds", "mark", "compared"])
    data["capped"] = [capped_by_key.get((r.model, r.matcher, r.config_label), "") if r.row == "value" else ""
                      for r in data.itertuples(index=False)] if len(data) else []
    notes = list(notes)
    if any(capped.values()):
        shown = "; ".join(f"{' '.join(s.labels)}" for s, text in capped.items() if text)
        caption += (f" Rows marked 'capped at N epochs' ran to the epoch cap instead of stopping early "
                    f"(their numbers may not be converged): {shown}.")
    if mixed_seen:
        caption += f" {MIXED_NOTE}"
        notes.append(MIXED_NOTE)
    trial_ids = sorted({t for ids in summary["trial_ids"] for t in ids}) if "trial_ids" in summary else []
    table = Table(key, caption, columns, mean_rows, data, notes, trial_ids)
    std_caption = (f"Companion to {key}: sample standard deviation over seeds (ddof=1) and, in brackets, "
                   f"the number of seeds behind each mean ('–' with one seed).")
    std_table = Table(f"{key}_std", std_caption, columns, std_rows,
                      data[data["row"] == "value"].reset_index(drop=True), [], trial_ids)
    return table, std_table


def _block_comparisons(block: str, block_specs: list[RowSpec], cells: dict, datasets: list[str],
                       metrics: tuple[str, ...], tidy: list[dict]) -> tuple[dict, list[Cell], list[Cell], bool]:
    """One block's rank marks, its Improv.% and p-value cells (their tidy rows appended to `tidy`),
    and whether any of them compares a capped row with an early-stopped one."""
    marks: dict[tuple, str] = {}
    improv_cells, p_cells, mixed_seen = [], [], False
    for dataset in datasets:
        for metric in metrics:
            stats = [cells.get((s.model, s.matcher, s.config_label, dataset, metric)) for s in block_specs]
            means = [r.mean if r is not None else math.nan for r in stats]
            for spec, mark in zip(block_specs, rank_marks(means), strict=False):
                marks[(spec, dataset, metric)] = mark
            improv, p, compared, mixed = _compare(block_specs, stats)
            mixed_seen |= mixed
            flag = MIXED if mixed else ""
            improv_cells.append(Cell(format_pct(improv) + flag))
            p_cells.append(Cell(format_p(p) + flag))
            tidy.append({"block": block, "row": "Improv.%", "dataset": dataset, "metric": metric,
                         "value": improv, "compared": compared})
            tidy.append({"block": block, "row": "p-value (Welch)", "dataset": dataset, "metric": metric,
                         "value": p, "compared": compared})
    return marks, improv_cells, p_cells, mixed_seen


def _spec_rows(block: str, spec: RowSpec, cells: dict, datasets: list[str], metrics: tuple[str, ...],
               marks: dict, tidy: list[dict]) -> tuple[list[Cell], list[Cell]]:
    """One model row of the means table and of its std companion; its tidy rows appended to `tidy`."""
    mean_row = [Cell(text) for text in spec.labels]
    std_row = [Cell(text) for text in spec.labels]
    for dataset in datasets:
        for metric in metrics:
            stat = cells.get((spec.model, spec.matcher, spec.config_label, dataset, metric))
            mean_row.append(Cell(format_metric(stat.mean) if stat is not None else "–", marks[(spec, dataset, metric)]))
            std_row.append(Cell(_std_text(stat)))
            tidy.append({"block": block, "row": "value", "model": spec.model, "matcher": spec.matcher,
                         "variant": spec.labels[-1], "config_label": spec.config_label,
                         "dataset": dataset, "metric": metric,
                         "value": stat.mean if stat is not None else math.nan,
                         "std": stat.std if stat is not None else math.nan,
                         "n_seeds": stat.n_seeds if stat is not None else 0,
                         "mark": marks[(spec, dataset, metric)]})
    return mean_row, std_row


def _capped_rows(summary: pd.DataFrame, specs: list[RowSpec], datasets: list[str]) -> dict[RowSpec, str]:
    """Per row: 'capped at N epochs' over its trials on the table's datasets, '' when none hit the cap."""
    out = {}
    for spec in specs:
        own = summary[(summary["model"] == spec.model) & (summary["matcher"] == spec.matcher)
                      & (summary["config_label"] == spec.config_label) & summary["dataset"].isin(datasets)]
        own = own.drop_duplicates("dataset")
        caps = [c for c in own["capped_at"] if c is not None and c == c] if "capped_at" in own else []
        out[spec] = capped_text(int(own["n_capped"].sum()), int(own["n_trials"].sum()),
                                int(max(caps))) if caps else ""
    return out


def _with_cap_label(spec: RowSpec, text: str) -> RowSpec:
    if not text:
        return spec
    return RowSpec(spec.block, spec.model, spec.matcher, spec.config_label,
                   (*spec.labels[:-1], f"{spec.labels[-1]} ({text})"), spec.role)


def _std_text(stat) -> str:
    if stat is None:
        return "–"
    spread = "–" if math.isnan(stat.std) else f"±{stat.std:.4f}"
    return f"{spread} ({stat.n_seeds})"


def _best(specs, stats, role):
    pairs = [(s, r) for s, r in zip(specs, stats, strict=True)
             if s.role == role and r is not None and not math.isnan(r.mean)]
    return max(pairs, key=lambda pair: pair[1].mean) if pairs else (None, None)


def _compare(specs, stats) -> tuple[float, float, str, bool]:
    """Improv.% and Welch p of the best candidate row against the best reference row of one column,
    the rows compared, and whether exactly one of the two ran to its epoch cap."""
    cand_spec, cand = _best(specs, stats, "candidate")
    ref_spec, ref = _best(specs, stats, "reference")
    if cand is None or ref is None:
        return math.nan, math.nan, "", False
    mixed = bool(getattr(cand, "n_capped", 0)) != bool(getattr(ref, "n_capped", 0))
    compared = f"{' '.join(cand_spec.labels)} vs {' '.join(ref_spec.labels)}".strip()
    if mixed:
        compared += " (capped vs early-stopped)"
    return improvement_pct(cand.mean, ref.mean), welch_p_value(cand.values, ref.values), compared, mixed
