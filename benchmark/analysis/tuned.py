"""Tuned against default: Tables 2 and 3 "at defaults" beside "tuned", and the search curves.

Reads three stores of one grid G, only through the results store: `G` (the runs at the models'
defaults), `G_tuned` (the seeds of each cell's best sampled config, `python -m benchmark.tune`) and
`G_search` (the samples). A row is a (model, matcher) that has tuned runs; Table 3's rows are its
baselines and DMRec-M on Mult-VAE, Table 2's the generative bases with and without a matcher. Each
row also shows the budget its cell spent: samples (failed ones included) and search minutes. The
figure draws, per dataset, the best validation Recall@20 found against the samples spent, one line
per (model, matcher), in the order the samples started.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import NoResults, load_grid_results, open_store, select_defaults
from benchmark.analysis.rendering import Cell, Table, write_table
from benchmark.analysis.roles import base_models, dmrec_matchers, model_label, model_order, model_role, variant_label
from benchmark.analysis.stats import format_metric, format_pct, improvement_pct, seed_mean_std

SEARCH_SUFFIX, TUNED_SUFFIX = "_search", "_tuned"  # as benchmark.tuning.cells names the stores
METRICS = ("recall@20", "ndcg@20")
SHORT = {"recall@20": "R@20", "ndcg@20": "N@20"}
TABLE3_ROLES = ("id_baseline", "lm_baseline", "user")
DMREC_ROW = ("multvae", "mddm")


@dataclass
class TunedSection:
    tables: list[Table] = field(default_factory=list)
    table_files: list[Path] = field(default_factory=list)
    figures: list[FigureResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def search_budget(grid: str, root: Path) -> pd.DataFrame:
    """One row per stored sample of `G_search`: dataset, model, matcher, order, best validation
    Recall@20 (NaN for a failed sample) and seconds."""
    store = open_store(f"{grid}{SEARCH_SUFFIX}", root)
    rows = []
    for record in store.records():  # checked by the store: a sample's fields have their types
        config, search = record["config"], record.get("search")
        if search is None:  # not a tuning sample
            continue
        rows.append({"dataset": config["dataset"], "model": config["model"], "matcher": config.get("matcher") or "none",
                     "started_at": str(search.get("started_at", record.get("finished_at", ""))),
                     "trial_id": record["trial_id"],
                     "best_valid_recall@20": record["metrics"]["valid"].get("recall@20", math.nan),
                     "seconds": float((record.get("timings") or {}).get("total_s", 0.0)),
                     "ended": search.get("ended") or "killed"})
    for trial_id in sorted(store.failed_ids()):
        try:
            failed = store.read_failed(trial_id)
        except KeyError:
            continue
        config = failed["config"]
        rows.append({"dataset": config.get("dataset"), "model": config.get("model"),
                     "matcher": config.get("matcher") or "none", "started_at": str(failed.get("failed_at", "")),
                     "trial_id": trial_id, "best_valid_recall@20": math.nan, "seconds": 0.0, "ended": "failed"})
    frame = pd.DataFrame(rows, columns=["dataset", "model", "matcher", "started_at", "trial_id",
                                        "best_valid_recall@20", "seconds", "ended"])
    frame = frame.sort_values(["dataset", "model", "matcher", "started_at", "trial_id"]).reset_index(drop=True)
    frame["sample"] = frame.groupby(["dataset", "model", "matcher"]).cumcount() + 1
    frame["best_so_far"] = frame.groupby(["dataset", "model", "matcher"])["best_valid_recall@20"].cummax()
    # a failed sample adds nothing: the best so far carries over it
    frame["best_so_far"] = frame.groupby(["dataset", "model", "matcher"])["best_so_far"].ffill()
    return frame


def _in_table(key: str, model: str, matcher: str) -> bool:
    if key == "table3":
        return (matcher == "none" and model_role(model) in TABLE3_ROLES) or (model, matcher) == DMREC_ROW
    return model in base_models() and (matcher == "none" or matcher in dmrec_matchers())


def comparison_table(key: str, default: pd.DataFrame, tuned: pd.DataFrame, budget: pd.DataFrame, grid: str) -> Table:
    """Table 2 or 3 (`key`) with each metric at defaults and tuned, mean ± std over seeds."""
    pairs = [(m, x) for m, x in tuned[["model", "matcher"]].drop_duplicates().itertuples(index=False)
             if _in_table(key, m, x)]
    if not pairs:
        raise Skipped(f"{key}_tuned: the tuned grid {grid}{TUNED_SUFFIX} has no row of "
                      f"{key.replace('table', 'Table ')}")
    order = {m: i for i, m in enumerate(model_order({m for m, _ in pairs}))}
    # Table 3 sets DMRec-M below its baselines, as the paper does
    pairs.sort(key=lambda p: (key == "table3" and p == DMREC_ROW, order[p[0]], p[1] != "none", p[1]))
    datasets = sorted(set(tuned["dataset"]))
    columns = [("", "Model")]
    for dataset in datasets:
        for metric in METRICS:
            columns += [(dataset, f"{SHORT[metric]} default"), (dataset, f"{SHORT[metric]} tuned"),
                        (dataset, "Improv.%")]
        columns += [(dataset, "samples"), (dataset, "search min")]
    rows, data = [], []
    for model, matcher in pairs:
        name = model_label(model) + ("" if matcher == "none" else f" + {variant_label(matcher)}")
        row = [Cell(name)]
        for dataset in datasets:
            def own(frame, model=model, matcher=matcher, dataset=dataset):
                return frame[(frame["model"] == model) & (frame["matcher"] == matcher) & (frame["dataset"] == dataset)]

            entry = {"dataset": dataset, "model": model, "matcher": matcher}
            for metric in METRICS:
                before = seed_mean_std(own(default)[f"test_{metric}"].astype(float))
                after = seed_mean_std(own(tuned)[f"test_{metric}"].astype(float))
                better = after[0] > before[0]
                row += [Cell(_mean_std(before), "bold" if before[0] > after[0] else ""),
                        Cell(_mean_std(after), "bold" if better else ""),
                        Cell(format_pct(improvement_pct(after[0], before[0])))]
                entry.update({f"{metric} default mean": before[0], f"{metric} default std": before[1],
                              f"{metric} default seeds": before[2], f"{metric} tuned mean": after[0],
                              f"{metric} tuned std": after[1], f"{metric} tuned seeds": after[2]})
            spent = own(budget)
            row += [Cell(str(len(spent))), Cell(f"{spent['seconds'].sum() / 60:.1f}")]
            entry.update({"samples": len(spent), "failed samples": int((spent["ended"] == "failed").sum()),
                          "search seconds": float(spent["seconds"].sum())})
            data.append(entry)
        rows.append(row)
    caption = (f"{key.replace('table', 'Table ')} at defaults and tuned (grid {grid}): test Recall@20 and NDCG@20, "
               f"mean ± sample std over seeds; 'default' = the grid's own runs, 'tuned' = the seeds of the config "
               f"that python -m benchmark.tune selected on validation Recall@20 (grid {grid}{TUNED_SUFFIX}); the "
               f"better of each pair in bold; samples and search min = the budget the cell spent (failed samples "
               f"included). '–' where a side has no run.")
    return Table(f"{key}_tuned", caption, columns, rows, pd.DataFrame(data))


def _mean_std(stats: tuple[float, float, int]) -> str:
    mean, std, n = stats
    if n == 0:
        return "–"
    return format_metric(mean) + ("" if n < 2 else f" ± {format_metric(std)}")


def search_figure(budget: pd.DataFrame, grid: str, folder: Path) -> FigureResult:
    """Best validation Recall@20 found against samples spent, per dataset, one line per (model, matcher)."""
    if budget.empty:
        raise Skipped(f"search figure: no samples in {grid}{SEARCH_SUFFIX}")
    datasets = sorted(budget["dataset"].unique())
    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.3)
        for ax, dataset in zip(axes, datasets, strict=True):
            own = budget[budget["dataset"] == dataset]
            for (model, matcher), line in own.groupby(["model", "matcher"], sort=False):
                label = model_label(model) + ("" if matcher == "none" else f" + {variant_label(matcher)}")
                colour = (style.model_colour(model) if matcher == "none"
                          else style.variant_colour(variant_label(matcher)))
                ax.plot(line["sample"], line["best_so_far"], drawstyle="steps-post", marker=style.model_marker(model),
                        color=colour, linestyle="-" if matcher == "none" else "--", label=label)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("samples spent")
            ax.set_ylabel("best validation Recall@20")
            ax.set_title(dataset)
            ax.margins(y=0.15)
        handles, labels = {}, []
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        labels = list(handles)
        fig.tight_layout()
        style.figure_legend(fig, [handles[name] for name in labels], labels, wide=len(datasets) > 1)
    caption = (f"Search curves (grid {grid}): the best validation Recall@20 found after each sampled config "
               f"(Optuna TPE with ASHA early stopping, python -m benchmark.tune), per (model, matcher); samples in "
               f"the order they started, a failed sample adds nothing.")
    return save_figure(fig, FigureResult("tuning_curve", caption, budget.drop(columns=["started_at"])), folder, grid)


def tuned_section(grid: str, root: Path, tables_dir: Path, figures_dir: Path) -> TunedSection:
    """Tables 2 and 3 at defaults beside tuned, and the search figure, of grid `grid`; an empty
    section when `grid` was never tuned (or is itself a search or tuned grid)."""
    section = TunedSection()
    searched = open_store(f"{grid}{SEARCH_SUFFIX}", root).trials_dir.is_dir()
    if grid.endswith((SEARCH_SUFFIX, TUNED_SUFFIX)) or not searched:
        return section
    budget = search_budget(grid, root)
    try:
        tuned = load_grid_results(f"{grid}{TUNED_SUFFIX}", root).trials
    except NoResults:
        section.skipped.append(f"tuned tables: skipped. the search ran but its tuned configs did not "
                               f"(python -m benchmark.run --grid {root}/{grid}{TUNED_SUFFIX}.yaml)")
        tuned = None
    if tuned is not None:
        try:
            default, notes = select_defaults(load_grid_results(grid, root).trials)
        except NoResults:
            default, notes = tuned.iloc[:0], [f"grid {grid} has no runs at defaults: the 'default' columns are empty"]
        for key in ("table2", "table3"):
            try:
                table = comparison_table(key, default, tuned, budget, grid)
            except Skipped as skipped:
                section.skipped.append(str(skipped))
                continue
            table.notes += notes
            section.tables.append(table)
            section.table_files += write_table(table, tables_dir, grid)
    try:
        section.figures.append(search_figure(budget, grid, figures_dir))
    except Skipped as skipped:
        section.skipped.append(str(skipped))
    return section


def add_to_report(report, grid: str, root: Path, tables_dir: Path, figures_dir: Path) -> None:
    """Append the tuned section of `grid` to a `benchmark.analysis.report.GridReport`."""
    section = tuned_section(grid, root, tables_dir, figures_dir)
    report.tables += section.tables
    report.table_files += section.table_files
    report.figures += section.figures
    report.skipped += section.skipped
