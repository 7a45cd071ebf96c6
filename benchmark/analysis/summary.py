"""Seed aggregates per configuration: the numbers behind every table cell."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.records import model_label, variant_label
from benchmark.analysis.stats import seed_mean_std

GROUP = ["model", "matcher", "config_label", "dataset"]


def summarise(trials: pd.DataFrame, metrics: tuple[str, ...], split: str = "test") -> pd.DataFrame:
    """One row per (model, matcher, config_label, dataset, metric): mean, std (ddof=1), n_seeds, the
    per-seed values (in seed order) and the seeds themselves."""
    rows = []
    for (model, matcher, label, dataset), group in trials.groupby(GROUP, sort=False):
        group = group.sort_values("seed")
        for metric in metrics:
            values = group[f"{split}_{metric}"].astype(float).tolist()
            mean, std, n = seed_mean_std(values)
            rows.append({"model": model, "model_label": model_label(model), "matcher": matcher,
                         "variant": variant_label(matcher), "config_label": label, "dataset": dataset,
                         "metric": metric, "mean": mean, "std": std, "n_seeds": n,
                         "values": values, "seeds": group["seed"].tolist()})
    return pd.DataFrame(rows, columns=["model", "model_label", "matcher", "variant", "config_label", "dataset",
                                       "metric", "mean", "std", "n_seeds", "values", "seeds"])
