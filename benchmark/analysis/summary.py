"""Seed aggregates per configuration: the numbers behind every table cell, and how they were trained."""
from __future__ import annotations

import math

import pandas as pd

from benchmark.analysis.roles import model_label, variant_label
from benchmark.analysis.stats import seed_mean_std

GROUP = ["model", "matcher", "config_label", "dataset"]
COLUMNS = ["model", "model_label", "matcher", "variant", "config_label", "dataset", "metric", "mean", "std",
           "n_seeds", "values", "seeds", "trial_ids", "n_trials", "n_capped", "capped_at"]


def summarise(trials: pd.DataFrame, metrics: tuple[str, ...], split: str = "test") -> pd.DataFrame:
    """One row per (model, matcher, config_label, dataset, metric): mean, std (ddof=1), n_seeds, the
    per-seed values (in seed order), the seeds, the trial ids, and how many trials ran up to their
    epoch cap (`n_capped`, `capped_at`: the cap, or None when every trial stopped early)."""
    rows = []
    for (model, matcher, label, dataset), group in trials.groupby(GROUP, sort=False):
        group = group.sort_values("seed")
        caps = [c for c in group.get("capped_at", pd.Series(dtype=object)) if c is not None and not _nan(c)]
        for metric in metrics:
            column = f"{split}_{metric}"
            values = group[column].astype(float).tolist() if column in group else [math.nan] * len(group)
            mean, std, n = seed_mean_std(values)
            rows.append({"model": model, "model_label": model_label(model), "matcher": matcher,
                         "variant": variant_label(matcher), "config_label": label, "dataset": dataset,
                         "metric": metric, "mean": mean, "std": std, "n_seeds": n,
                         "values": values, "seeds": group["seed"].tolist(), "trial_ids": group["trial_id"].tolist(),
                         "n_trials": len(group), "n_capped": len(caps), "capped_at": int(max(caps)) if caps else None})
    return pd.DataFrame(rows, columns=COLUMNS)


def _nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def capped_text(n_capped: int, n_trials: int, cap) -> str:
    """'' when no trial hit its epoch cap; else 'capped at 21 epochs' (with 'k of n trials' when not all)."""
    if not n_capped:
        return ""
    share = "" if n_capped == n_trials else f" ({n_capped} of {n_trials} trials)"
    return f"capped at {cap} epochs{share}"
