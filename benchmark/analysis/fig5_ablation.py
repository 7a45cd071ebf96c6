"""Fig. 5: the ablations w/o PMN, Add, w/o Mixing against DMRec-M: Recall@20 bars on the left axis,
NDCG@20 bars on the right axis, mean over seeds with the standard deviation as error bars."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.roles import ablation_matchers, base_models, model_label, variant_label
from benchmark.analysis.stats import seed_mean_std

FULL = "mddm"  # the ablations take DMRec-M apart


def _spread(std: pd.Series):
    """Error bars where a bar has a standard deviation; None (no bars drawn) when no bar has one."""
    return None if std.isna().all() else std.fillna(0).to_numpy()


def ablation_frame(trials: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (dataset, matcher, label), group in trials.groupby(["dataset", "matcher", "config_label"], sort=False):
        row = {"dataset": dataset, "matcher": matcher, "variant": variant_label(matcher), "config_label": label}
        for metric in ("recall@20", "ndcg@20"):
            mean, std, n = seed_mean_std(group[f"test_{metric}"].astype(float))
            row.update({f"{metric} mean": mean, f"{metric} std": std, "n_seeds": n})
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = (*ablation_matchers(), FULL)
    frame["order"] = frame["matcher"].map(lambda m: order.index(m) if m in order else len(order))
    return frame.sort_values(["dataset", "order", "config_label"]).drop(columns="order").reset_index(drop=True)


def fig5_ablation(results: GridResults, folder: Path, prefix: str) -> FigureResult:
    trials = results.trials
    ablations = ablation_matchers()
    # (model, dataset) pairs with DMRec-M and at least one ablation: the comparison the figure draws
    pairs = {(m, d) for (m, d), own in trials.groupby(["model", "dataset"])
             if (own["matcher"] == FULL).any() and own["matcher"].isin(ablations).any()}
    if not pairs:
        raise Skipped(f"Fig. 5 needs DMRec-M and an ablation ({', '.join(ablations)}) of one model on one dataset")
    models = [m for m in dict.fromkeys([*base_models(), *sorted(m for m, _ in pairs)]) if any(m == p for p, _ in pairs)]
    model = models[0]
    in_pairs = np.array([(m, d) in pairs for m, d in zip(trials["model"], trials["dataset"], strict=False)], dtype=bool)
    keep = trials["matcher"].isin((*ablations, FULL)).to_numpy() & in_pairs
    trials, notes = select_defaults(trials[keep & (trials["model"] == model)])
    data = ablation_frame(trials)
    datasets = sorted(data["dataset"].unique())
    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.3)
        for ax, dataset in zip(axes, datasets, strict=False):
            own = data[data["dataset"] == dataset]
            x = np.arange(len(own))
            names = [v.replace(" ", "\n") + (f"\n[{c}]" if c else "")
                     for v, c in zip(own["variant"], own["config_label"], strict=True)]
            right = ax.twinx()
            width = 0.38
            ax.bar(x - width / 2, own["recall@20 mean"], width, yerr=_spread(own["recall@20 std"]),
                   color=[style.variant_colour(v) for v in own["variant"]], edgecolor="black", linewidth=0.4,
                   capsize=2, error_kw={"linewidth": 0.6}, label="Recall@20")
            right.bar(x + width / 2, own["ndcg@20 mean"], width, yerr=_spread(own["ndcg@20 std"]),
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
    spread = ("error bars = sample standard deviation over seeds (ddof=1; none where a bar has one seed)"
              if seeds > 1 else "one seed per bar, so no error bars")
    caption = (f"Fig. 5 (grid {results.grid}): ablations of DMRec-M on {model_label(model)}: test Recall@20 (solid "
               f"bars, left axis) and NDCG@20 (hatched bars, right axis), mean over up to {seeds} seed(s); "
               f"{spread}. Axes do not start at zero.")
    return save_figure(fig, FigureResult("fig5_ablation", caption, data, notes=notes), folder, prefix)
