"""Fig. 6: test Recall@20 against beta for GODM, CPDM and MDDM, with the base model as a horizontal line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import GridResults, label_configs, select_defaults
from benchmark.analysis.roles import base_models, dmrec_matchers, model_label, variant_label
from benchmark.analysis.stats import seed_mean_std


def sweep_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean/std Recall@20 per (dataset, matcher, other differing keys, beta)."""
    trials = label_configs(trials, exclude=("beta",))
    rows = []
    for (dataset, matcher, label, beta), group in trials.groupby(["dataset", "matcher", "config_label", "beta"]):
        mean, std, n = seed_mean_std(group["test_recall@20"].astype(float))
        rows.append({"dataset": dataset, "matcher": matcher, "variant": variant_label(matcher), "config_label": label,
                     "beta": float(beta), "recall@20 mean": mean, "recall@20 std": std, "n_seeds": n})
    return pd.DataFrame(rows)


def fig6_beta(results: GridResults, folder: Path, prefix: str) -> FigureResult:
    variants = dmrec_matchers()
    trials = results.trials[results.trials["matcher"].isin(variants) & results.trials["beta"].notna()]
    swept = trials.groupby(["model", "dataset", "matcher"])["beta"].nunique()
    swept = swept[swept > 1]
    if swept.empty:
        raise Skipped("Fig. 6 needs a beta sweep (a DMRec variant trained at two or more beta values)")
    models = [m for m in dict.fromkeys([*base_models(), *swept.index.get_level_values("model")])
              if m in swept.index.get_level_values("model")]
    model = models[0]
    data = sweep_frame(trials[trials["model"] == model])
    data = data[data.groupby(["dataset", "matcher", "config_label"])["beta"].transform("nunique") > 1]
    base_trials, notes = select_defaults(results.trials[(results.trials["model"] == model)
                                                        & (results.trials["matcher"] == "none")])
    datasets = sorted(data["dataset"].unique())
    base_rows = []
    for dataset in datasets:
        own = base_trials[base_trials["dataset"] == dataset]
        mean, std, n = seed_mean_std(own["test_recall@20"].astype(float))
        base_rows.append({"dataset": dataset, "matcher": "none", "variant": "Base", "config_label": "",
                          "beta": np.nan, "recall@20 mean": mean, "recall@20 std": std, "n_seeds": n})
        if own.empty:
            notes.append(f"Base missing for {dataset}: no horizontal line")
    data = pd.concat([data, pd.DataFrame(base_rows)], ignore_index=True)
    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.3)
        for ax, dataset in zip(axes, datasets, strict=False):
            own = data[(data["dataset"] == dataset) & (data["matcher"] != "none")]
            own = own.assign(order=own["matcher"].map(variants.index)).sort_values(["order", "config_label"])
            for (variant, label), line in own.groupby(["variant", "config_label"], sort=False):
                line = line.sort_values("beta")
                std = line["recall@20 std"]  # NaN at one seed: no error bar drawn
                ax.errorbar(line["beta"], line["recall@20 mean"], yerr=None if std.isna().all() else std.fillna(0),
                            marker="o", color=style.variant_colour(variant), capsize=1.5, elinewidth=0.6,
                            label=variant + (f" [{label}]" if label else ""))
            base = data[(data["dataset"] == dataset) & (data["matcher"] == "none")]["recall@20 mean"].iloc[0]
            if not np.isnan(base):
                ax.axhline(base, color=style.variant_colour("Base"), linestyle="--", linewidth=1,
                           label=f"{model_label(model)} (Base)")
            ax.set_xlabel(r"$\beta$")
            ax.set_ylabel("test Recall@20")
            ax.set_title(dataset)
            ax.margins(y=0.15)
        entries = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=False):
                entries.setdefault(label, handle)
        fig.tight_layout()
        style.figure_legend(fig, list(entries.values()), list(entries), wide=len(datasets) > 1)
    seeds = int(data["n_seeds"].max())
    shown = ", ".join(variant_label(m) for m in variants if (data["matcher"] == m).any())
    spread = (f"mean over up to {seeds} seeds, error bars = sample standard deviation (ddof=1; none at one seed)"
              if seeds > 1 else "one seed per point, so no error bars")
    caption = (f"Fig. 6 (grid {results.grid}): test Recall@20 of {model_label(model)} with {shown} "
               f"against beta ({spread}); dashed line = {model_label(model)} Base at its default config"
               + ("" if data.loc[data["matcher"] == "none", "recall@20 mean"].notna().any() else " (not run: no line)")
               + ".")
    return save_figure(fig, FigureResult("fig6_beta", caption, data, notes=notes), folder, prefix)
