"""Fig. 5: the ablations w/o PMN, Add, w/o Mixing against DMRec-M: Recall@20 bars on the left axis,
NDCG@20 bars on the right axis, mean over seeds with the standard deviation as error bars."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
import pandas as pd

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import ABLATION_MATCHERS, BASE_MODELS, GridResults, model_label, select_defaults, \
    variant_label
from benchmark.analysis.stats import seed_mean_std

ORDER = (*ABLATION_MATCHERS, "mddm")


def ablation_frame(trials: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (dataset, matcher, label), group in trials.groupby(["dataset", "matcher", "config_label"], sort=False):
        row = {"dataset": dataset, "matcher": matcher, "variant": variant_label(matcher), "config_label": label}
        for metric in ("recall@20", "ndcg@20"):
            mean, std, n = seed_mean_std(group[f"test_{metric}"].astype(float))
            row.update({f"{metric} mean": mean, f"{metric} std": std, "n_seeds": n})
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["order"] = frame["matcher"].map(ORDER.index)
    return frame.sort_values(["dataset", "order", "config_label"]).drop(columns="order").reset_index(drop=True)


def fig5_ablation(results: GridResults, folder: Path, prefix: str) -> FigureResult:
    trials = results.trials
    with_ablation = trials[trials["matcher"].isin(ABLATION_MATCHERS)]
    if with_ablation.empty:
        raise Skipped("Fig. 5 needs ablation trials (matcher wo_pmn, add or wo_mixing)")
    models = [m for m in dict.fromkeys([*BASE_MODELS, *sorted(with_ablation["model"].unique())])
              if (with_ablation["model"] == m).any()]
    model = models[0]
    trials, notes = select_defaults(trials[(trials["model"] == model) & trials["matcher"].isin(ORDER)])
    data = ablation_frame(trials)
    datasets = sorted(data["dataset"].unique())
    for dataset in datasets:
        present = set(data.loc[data["dataset"] == dataset, "matcher"])
        missing = [variant_label(m) for m in ORDER if m not in present]
        if missing:
            notes.append(f"{', '.join(missing)} missing for {dataset}")
    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.3)
        for ax, dataset in zip(axes, datasets):
            own = data[data["dataset"] == dataset]
            x = np.arange(len(own))
            names = [v.replace(" ", "\n") + (f"\n[{c}]" if c else "") for v, c in zip(own["variant"], own["config_label"])]
            right = ax.twinx()
            width = 0.38
            ax.bar(x - width / 2, own["recall@20 mean"], width, yerr=own["recall@20 std"].fillna(0),
                   color=[style.variant_colour(v) for v in own["variant"]], edgecolor="black", linewidth=0.4,
                   capsize=2, error_kw={"linewidth": 0.6}, label="Recall@20")
            right.bar(x + width / 2, own["ndcg@20 mean"], width, yerr=own["ndcg@20 std"].fillna(0),
                      color=[style.variant_colour(v) for v in own["variant"]], alpha=0.45, hatch="////",
                      edgecolor="black", linewidth=0.4, capsize=2, error_kw={"linewidth": 0.6},
                      label="NDCG@20")
            for axis, metric in ((ax, "recall@20"), (right, "ndcg@20")):
                top = (own[f"{metric} mean"] + own[f"{metric} std"].fillna(0)).max()
                low = (own[f"{metric} mean"] - own[f"{metric} std"].fillna(0)).min()
                axis.set_ylim(max(0.0, low - (top - low) * 1.5 - 1e-3), top + (top - low) * 0.3 + 1e-3)
            ax.set_xticks(x, names)
            ax.set_ylabel("Recall@20")
            right.set_ylabel("NDCG@20")
            right.spines["top"].set_visible(False)
            ax.set_title(f"{model_label(model)} on {dataset}")
        proxies = [Patch(facecolor="#999999", edgecolor="black", linewidth=0.4),
                   Patch(facecolor="#999999", alpha=0.45, hatch="////", edgecolor="black", linewidth=0.4)]
        fig.tight_layout()
        style.figure_legend(fig, proxies, ["Recall@20 (solid, left)", "NDCG@20 (hatched, right)"],
                            wide=len(datasets) > 1)
    seeds = int(data["n_seeds"].max())
    caption = (f"Fig. 5 (grid {results.grid}): ablations of DMRec-M on {model_label(model)}: test Recall@20 (solid "
               f"bars, left axis) and NDCG@20 (hatched bars, right axis), mean over up to {seeds} seed(s), error "
               f"bars = standard deviation over seeds. Axes do not start at zero.")
    return save_figure(fig, FigureResult("fig5_ablation", caption, data, notes=notes), folder, prefix)
