"""Fig. 4: spread over latent dimensions k of log a_k, a_k = variance across users of E_q[z_k]
(the record's posterior.dim_variance), Mult-VAE Base vs DMRec-M, one panel per dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.roles import variant_label

BOXES = (("multvae", "none"), ("multvae", "mddm"))
FLOOR = 1e-30  # a collapsed dimension (a_k = 0) is drawn at log(1e-30) and counted in a note


def posterior_frame(results: GridResults, trials: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for trial in trials.itertuples(index=False):
        posterior = results.records[trial.trial_id].get("posterior")
        if not posterior or not posterior.get("dim_variance"):
            continue
        variance = np.asarray(posterior["dim_variance"], dtype=float)
        rows.append(pd.DataFrame({"dataset": trial.dataset, "variant": variant_label(trial.matcher),
                                  "seed": trial.seed, "trial_id": trial.trial_id, "dim": np.arange(len(variance)),
                                  "a_k": variance, "log_a_k": np.log(np.maximum(variance, FLOOR))}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["dataset", "variant", "seed", "trial_id", "dim", "a_k", "log_a_k"])


def fig4_posterior(results: GridResults, folder: Path, prefix: str) -> FigureResult:
    trials = results.trials
    mask = np.zeros(len(trials), dtype=bool)
    for model, matcher in BOXES:
        mask |= ((trials["model"] == model) & (trials["matcher"] == matcher)).to_numpy()
    trials, notes = select_defaults(trials[mask])
    data = posterior_frame(results, trials)
    variants = [variant_label(m) for _, m in BOXES]
    # a panel needs both boxes: one box alone compares nothing
    datasets = [d for d in sorted(data["dataset"].unique())
                if set(variants) <= set(data.loc[data["dataset"] == d, "variant"])]
    if not datasets:
        raise Skipped("Fig. 4 needs Mult-VAE Base and DMRec-M records with posterior statistics on one dataset")
    data = data[data["dataset"].isin(datasets)].reset_index(drop=True)
    collapsed = int((data["a_k"] <= 0).sum())
    if collapsed:
        notes.append(f"{collapsed} dimension(s) with a_k = 0 drawn at log({FLOOR:g})")
    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.2)
        for ax, dataset in zip(axes, datasets, strict=False):
            own = data[data["dataset"] == dataset]
            present = [v for v in variants if (own["variant"] == v).any()]
            boxes = ax.boxplot([own.loc[own["variant"] == v, "log_a_k"] for v in present], patch_artist=True,
                               widths=0.55, flierprops={"markersize": 2},
                               medianprops={"color": "black", "linewidth": 1.2})
            ax.set_xticks(range(1, len(present) + 1), ["Mult-VAE" if v == "Base" else v for v in present])
            for patch, variant in zip(boxes["boxes"], present, strict=False):
                patch.set_facecolor(style.variant_colour(variant))
                patch.set_alpha(0.6)
            ax.set_ylabel(r"$\ln a_k$")
            ax.set_title(dataset)
        fig.tight_layout()
    seeds = sorted(set(data["seed"]))
    dims = data.groupby("trial_id")["dim"].count().iloc[0]
    caption = (f"Fig. 4 (grid {results.grid}): natural log of a_k, the variance across users of the posterior mean "
               f"E_q[z_k], over the {dims} latent dimensions; Mult-VAE (Base) vs DMRec-M; dimensions of all "
               f"{len(seeds)} seed(s) pooled in each box.")
    return save_figure(fig, FigureResult("fig4_posterior", caption, data, notes=notes), folder, prefix)
