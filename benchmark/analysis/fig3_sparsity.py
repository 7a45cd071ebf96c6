"""Fig. 3: users in four groups by number of training interactions; bars = users per group (left axis),
lines = NDCG@20 of Mult-VAE and DMRec-M per group (right axis), averaged over seeds."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.analysis import style
from benchmark.analysis.artefacts import FigureResult, Skipped, save_figure
from benchmark.analysis.records import GridResults, select_defaults
from benchmark.analysis.roles import variant_label

# Upper edges at these user quantiles: the sparsest group holds ~45% of users, as in the paper's Fig. 3.
SPARSITY_QUANTILES = (0.45, 0.70, 0.90)
LINES = (("multvae", "none"), ("multvae", "mddm"))


def group_edges(n_train, quantiles=SPARSITY_QUANTILES) -> list[int]:
    """Inclusive upper edges e_1 < e_2 < e_3 of the first three groups.

    e_j is the smallest interaction count c with share(n_train <= c) >= q_j (numpy's 'inverted_cdf'
    quantile); when ties would repeat an edge it is raised to the previous edge + 1."""
    values = np.asarray(n_train)
    edges: list[int] = []
    for q in quantiles:
        edge = int(np.quantile(values, q, method="inverted_cdf"))
        if edges and edge <= edges[-1]:
            edge = edges[-1] + 1
        edges.append(edge)
    return edges


def assign_groups(n_train, edges) -> np.ndarray:
    """Group index per user: 0 for n <= e_1, j for e_j < n <= e_{j+1}, len(edges) for n > e_last."""
    return np.searchsorted(np.asarray(edges), np.asarray(n_train), side="left")


def group_ranges(n_train, edges) -> list[str]:
    """'a–b' interaction range of each group (within the observed min and max); 'none' if empty by construction."""
    low, high = int(np.min(n_train)), int(np.max(n_train))
    starts = [low, *(edge + 1 for edge in edges)]
    stops = [*edges, high]
    return [f"{a}–{b}" if b > a else f"{a}" if a == b else "none" for a, b in zip(starts, stops, strict=False)]


def sparsity_groups(results: GridResults, dataset: str, trials: pd.DataFrame, edges=None,
                    notes: list[str] | None = None) -> pd.DataFrame | None:
    """Per group: range, users, share and mean NDCG@20 of each line (mean over users, then over seeds).
    Groups are cut on the first Base trial's users; None when no Base trial has a per-user file."""
    notes = notes if notes is not None else []
    reference = trials[(trials["dataset"] == dataset) & (trials["matcher"] == "none")].sort_values("seed")
    present = [t for t in reference["trial_id"] if results.per_user(t) is not None]
    if not present:
        notes.append(f"{dataset}: no per-user file for any Mult-VAE Base trial; dataset left out")
        return None
    users = results.per_user(present[0])
    edges = list(edges) if edges is not None else group_edges(users["n_train"])
    groups = assign_groups(users["n_train"], edges)
    counts = np.bincount(groups, minlength=len(edges) + 1)
    frame = pd.DataFrame({"dataset": dataset, "group": np.arange(len(edges) + 1),
                          "range": group_ranges(users["n_train"], edges), "n_users": counts,
                          "share": counts / counts.sum(), "edges": ",".join(map(str, edges))})
    for model, matcher in LINES:
        own = trials[(trials["dataset"] == dataset) & (trials["model"] == model) & (trials["matcher"] == matcher)]
        per_seed = []
        for trial_id in own["trial_id"]:
            scores = results.per_user(trial_id)
            if scores is None:  # absent or unreadable (the latter is also in results.problems)
                notes.append(f"{dataset}: trial {trial_id} ({variant_label(matcher)}) has no readable per-user "
                             f"file; left out")
                continue
            by_group = scores.groupby(assign_groups(scores["n_train"], edges))["ndcg@20"].mean()
            per_seed.append(by_group.reindex(range(len(edges) + 1)).to_numpy())
        label = variant_label(matcher)
        with warnings.catch_warnings():  # an empty group has no mean: NaN, drawn as a gap
            warnings.simplefilter("ignore", RuntimeWarning)
            frame[f"ndcg@20 {label}"] = np.nanmean(per_seed, axis=0) if per_seed else np.nan
        frame[f"seeds {label}"] = len(per_seed)
    return frame


def fig3_sparsity(results: GridResults, folder: Path, prefix: str, edges=None) -> FigureResult:
    trials = results.trials
    wanted = np.zeros(len(trials), dtype=bool)
    for model, matcher in LINES:
        wanted |= ((trials["model"] == model) & (trials["matcher"] == matcher)).to_numpy()
    trials, notes = select_defaults(trials[wanted])
    datasets = sorted(set(trials.loc[trials["matcher"] == "none", "dataset"])
                      & set(trials.loc[trials["matcher"] == "mddm", "dataset"]))
    if not datasets:
        raise Skipped("Fig. 3 needs Mult-VAE Base and DMRec-M trials on one dataset")
    frames = [sparsity_groups(results, d, trials, edges, notes) for d in datasets]
    datasets = [d for d, frame in zip(datasets, frames, strict=False) if frame is not None]
    if not datasets:
        raise Skipped("Fig. 3 needs readable per-user results of Mult-VAE Base; " + " ".join(notes))
    data = pd.concat([frame for frame in frames if frame is not None], ignore_index=True)

    with style.paper_style():
        fig, axes = style.panel_grid(len(datasets), panel_height=2.4)
        for ax, dataset in zip(axes, datasets, strict=False):
            own = data[data["dataset"] == dataset]
            x = np.arange(len(own))
            ax.bar(x, own["n_users"], color="#c9d6e8", edgecolor="#7f9cc0", width=0.6, label="users")
            ax.set_ylabel("number of users")
            ax.set_xticks(x, [f"{r}\n({s:.0%})" for r, s in zip(own["range"], own["share"], strict=False)])
            ax.set_xlabel("training interactions (share of users)")
            ax.set_ylim(0, own["n_users"].max() * 1.1)
            right = ax.twinx()
            for _, matcher in LINES:
                label = variant_label(matcher)
                right.plot(x, own[f"ndcg@20 {label}"], marker="o", color=style.variant_colour(label),
                           label=f"{'Mult-VAE' if matcher == 'none' else 'DMRec-M'} NDCG@20")
            right.set_ylabel("NDCG@20")
            lines = own.filter(like="ndcg@20").to_numpy()
            low, high = np.nanmin(lines), np.nanmax(lines)
            pad = (high - low) * 0.25 + 1e-3
            right.set_ylim(max(0.0, low - pad), high + pad)
            right.spines["top"].set_visible(False)
            ax.set_title(dataset)
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        labels = ["users per group (left)", *(f"{t} (right)" for t in right.get_legend_handles_labels()[1])]
        fig.tight_layout()
        style.figure_legend(fig, handles, labels, wide=len(datasets) > 1)
    edges_text = "; ".join(f"{d}: {data.loc[data['dataset'] == d, 'edges'].iloc[0]}" for d in datasets)
    caption = (f"Fig. 3 (grid {results.grid}): test users split into four groups by training interactions; upper "
               f"edges of groups 1-3 ({edges_text}) "
               + ("fixed with --sparsity-edges. " if edges is not None else
                  f"at the {', '.join(f'{q:.0%}' for q in SPARSITY_QUANTILES)} user quantiles. ")
               + "Bars = users per group (left axis); lines = mean "
               f"NDCG@20 of Mult-VAE (Base) and DMRec-M (right axis), averaged over users, then over "
               f"{_seed_text(data)}.")
    return save_figure(fig, FigureResult("fig3_sparsity", caption, data, notes=notes), folder, prefix)


def _seed_text(data: pd.DataFrame) -> str:
    """'seeds (up to 3)', or 'one seed' where every line has one."""
    most = int(data.filter(like="seeds ").to_numpy().max())
    return f"seeds (up to {most})" if most > 1 else "one seed (no averaging over seeds)"
