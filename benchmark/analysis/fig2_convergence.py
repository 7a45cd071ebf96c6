"""Fig. 2: validation Recall@20 against epoch and against wall-clock time, base vs DMRec variants,
with the best validation epoch marked by a red dot; the test Recall@20 at each dot is in the title."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.roles import base_models, dmrec_matchers, model_label, variant_label

PREFERRED_BASE = "cvga"  # the paper shows CVGA


def choose_base(trials: pd.DataFrame) -> str | None:
    """The first of CVGA, Mult-VAE, L-DiffRec that has both a base trial and a DMRec trial with a curve."""
    for model in dict.fromkeys((PREFERRED_BASE, *base_models(), *sorted(trials["model"].unique()))):
        own = trials[trials["model"] == model]
        if (own["matcher"] == "none").any() and own["matcher"].isin(dmrec_matchers()).any():
            return model
    return None


def curve_points(results: GridResults, trial_id: str) -> pd.DataFrame:
    record = results.records[trial_id]
    curve = pd.DataFrame(record.get("curve") or [], columns=["epoch", "time_s", "train_loss", "recall@20", "ndcg@20"])
    curve = curve.dropna(subset=["recall@20"])
    best_epoch = record.get("best_epoch")
    if len(curve):
        at_best = curve["epoch"] == best_epoch
        best_index = curve.index[at_best][0] if at_best.any() else curve["recall@20"].idxmax()
        curve["is_best"] = curve.index == best_index
    else:
        curve["is_best"] = []
    curve["test_recall@20"] = ((record.get("metrics") or {}).get("test") or {}).get("recall@20")
    return curve


def _curves(results: GridResults, trials: pd.DataFrame, dataset: str, variants, notes: list[str]) -> list:
    """The learning curve of the first seed of the Base and of each DMRec variant on `dataset`."""
    frames = []
    for matcher in ("none", *variants):
        own = trials[(trials["dataset"] == dataset) & (trials["matcher"] == matcher)]
        if own.empty:
            continue
        label = sorted(own["config_label"].unique())[0]
        if own["config_label"].nunique() > 1:
            notes.append(f"{variant_label(matcher)} on {dataset}: several configs; showing [{label}]")
        first = own[own["config_label"] == label].sort_values("seed").iloc[0]
        points = curve_points(results, first["trial_id"])
        if points.empty:
            notes.append(f"{variant_label(matcher)} on {dataset}: record has no curve")
            continue
        frames.append(points.assign(dataset=dataset, variant=variant_label(matcher), seed=first["seed"],
                                    trial_id=first["trial_id"]))
    return frames


def _plot_dataset(axes_row, own: pd.DataFrame, title: str) -> None:
    """One dataset's two panels: validation Recall@20 against epoch, and against training time."""
    for col, (x, xlabel) in enumerate((("epoch", "epoch"), ("time_s", "wall-clock time (s)"))):
        ax = axes_row[col]
        tests = []
        for variant, points in own.groupby("variant", sort=False):
            colour = style.variant_colour(variant)
            ax.plot(points[x], points["recall@20"], color=colour, label=variant, marker="o", markersize=2)
            best = points[points["is_best"]].iloc[0]
            ax.plot(best[x], best["recall@20"], "o", color=style.BEST_POINT, markersize=4.5, zorder=5)
            tests.append(f"{variant.replace('DMRec-', '')} {best['test_recall@20']:.4f}")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("valid Recall@20")
        # the test values at the red dots go in the right panel's title, where they cover no data
        ax.set_title(title if col == 0 else "test R@20: " + " | ".join(tests))


def fig2_convergence(results: GridResults, folder: Path, prefix: str) -> FigureResult:
    model = choose_base(results.trials)
    if model is None:
        raise Skipped("Fig. 2 needs a base model (CVGA, Mult-VAE or L-DiffRec) with both its Base and a DMRec "
                      "variant in the grid")
    variants = dmrec_matchers()
    trials, notes = select_defaults(results.trials[(results.trials["model"] == model)
                                                   & results.trials["matcher"].isin(("none", *variants))])
    if model != "cvga":
        notes.append(f"CVGA (the paper's choice) is absent; {model_label(model)} is shown instead")
    datasets = sorted(trials["dataset"].unique())
    frames = [frame for dataset in datasets for frame in _curves(results, trials, dataset, variants, notes)]
    if not frames:
        raise Skipped("Fig. 2: no learning curves recorded")
    data = pd.concat(frames, ignore_index=True)
    with style.paper_style():
        fig, axes = plt.subplots(len(datasets), 2, figsize=(style.TEXT_WIDTH, 2.0 * len(datasets) + 0.3),
                                 squeeze=False)
        for row, dataset in enumerate(datasets):
            _plot_dataset(axes[row], data[data["dataset"] == dataset], f"{model_label(model)} on {dataset}")
        handles, labels = axes[0][0].get_legend_handles_labels()
        handles.append(plt.Line2D([], [], marker="o", linestyle="", color=style.BEST_POINT))
        labels.append("best validation epoch")
        fig.tight_layout()
        style.figure_legend(fig, handles, labels, wide=True)
        seeds = sorted(set(data["seed"]))
        caption = (f"Fig. 2 (grid {results.grid}): validation Recall@20 of {model_label(model)} (Base) and its DMRec "
                   f"variants against epoch (left) and wall-clock training time (right); one seed per line "
                   f"(the first: seed {', '.join(map(str, seeds))}); red dot = best validation epoch; "
                   f"the right panel's title gives the test Recall@20 at each red dot (G/C/M = DMRec-G/C/M).")
        result = FigureResult("fig2_convergence", caption, data, notes=notes)
        return save_figure(fig, result, folder, prefix)
