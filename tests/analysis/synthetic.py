"""Synthetic result stores for the analysis tests: records shaped like run_trial's, written through
the real ResultStore, with planted effects so tables and figures have something definite to show."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.runner.config import resolve
from benchmark.runner.store import ResultStore

METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")
BASELINES = ("lightgcn", "kar", "llmrec", "rlmrec_c", "rlmrec_g", "alpharec", "alpharec_star")
MATCHER_GAIN = {"none": 0.0, "godm": 0.004, "cpdm": 0.006, "mddm": 0.008,
                "wo_pmn": 0.002, "add": 0.001, "wo_mixing": 0.005}
MODEL_LEVEL = {"multvae": 0.150, "cvga": 0.160, "lightgcn": 0.140, "kar": 0.142, "llmrec": 0.147,
               "rlmrec_c": 0.148, "rlmrec_g": 0.145, "alpharec": 0.141, "alpharec_star": 0.143}
ENV = {"python": "3.12.0", "packages": {"torch": "2.13.0", "recbole": "1.2.1"}, "platform": "Linux-test",
       "device": "cpu (x86_64)", "torch_threads": 1, "git_commit": "abc1234"}


def trial_id(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def write_trial(root: Path, grid: str, record: dict, per_user: pd.DataFrame | None = None,
                status: str = "finished") -> str:
    """Store `record` through benchmark.runner.store.ResultStore, as the runner does (per_user as columns)."""
    store = ResultStore(grid, root=Path(root))
    if status == "failed":
        store.write_failed(record["trial_id"], record["config"], RuntimeError("synthetic failure"))
    else:
        with_users = {**record, "per_user": per_user.to_dict("list")} if per_user is not None else record
        store.write_finished(record["trial_id"], with_users, force=True)
    return record["trial_id"]


def default_beta(model: str, dataset: str, matcher: str):
    """The beta today's model yaml leaves a (model, dataset, matcher) at: what a record written now says."""
    return resolve(model, dataset, {"matcher": matcher})["beta"]


def _noise(config: dict, scale: float) -> float:
    """Deterministic per-config noise in [-scale, scale]."""
    digest = int(hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8], 16)
    return scale * (2 * (digest / 0xFFFFFFFF) - 1)


def make_record(config: dict, recall20: float, dataset_version: str = "v1", posterior_dims: int | None = None,
                n_epochs: int = 10, metrics: dict | None = None) -> dict:
    """A finished record whose test Recall@20 is `recall20`; other metrics follow fixed ratios."""
    ratios = {"recall@5": 0.4, "ndcg@5": 0.35, "recall@10": 0.65, "ndcg@10": 0.5, "recall@20": 1.0, "ndcg@20": 0.62}
    test = metrics or {m: round(recall20 * r, 6) for m, r in ratios.items()}
    epochs = [3 * (i + 1) for i in range(n_epochs)]
    best = epochs[n_epochs // 2]
    curve = [{"epoch": e, "time_s": 0.5 * e, "train_loss": 10.0 / e,
              "recall@20": round(recall20 * (1 - 0.5 * abs(e - best) / epochs[-1]), 6),
              "ndcg@20": round(0.62 * recall20 * (1 - 0.5 * abs(e - best) / epochs[-1]), 6)} for e in epochs]
    posterior = None
    if posterior_dims:
        rng = np.random.default_rng(int(trial_id(config), 16))
        spread = 1.5 if config.get("matcher", "none") == "none" else 0.6
        posterior = {"dim_variance": np.exp(rng.normal(-2, spread, posterior_dims)).tolist(), "n_users": 40}
    return {
        "trial_id": trial_id(config), "finished_at": "2026-11-24T12:00:00Z", "config": config,
        "dataset_version": dataset_version, "metrics": {"valid": dict(test), "test": test},
        "best_epoch": best, "epochs_run": epochs[-1], "curve": curve, "posterior": posterior,
        "timings": {"setup_s": 1.0, "train_s": 0.5 * epochs[-1], "valid_s": 1.0, "test_s": 0.1,
                    "total_s": 2.1 + 0.5 * epochs[-1], "s_per_epoch": 0.5},
        "env": ENV, "provenance": {"commit": ENV["git_commit"], "dirty": None},
    }


def per_user_frame(n_train: np.ndarray, level: float, seed: int) -> pd.DataFrame:
    """Per-user test metrics; NDCG@20 grows with activity so the sparsity groups differ."""
    rng = np.random.default_rng(seed)
    base = np.clip(level * (0.5 + np.log1p(n_train) / 4) + rng.normal(0, 0.01, len(n_train)), 0, 1)
    frame = pd.DataFrame({"user": np.arange(len(n_train)), "n_train": n_train})
    for metric, ratio in (("recall@5", 0.4), ("ndcg@5", 0.35), ("recall@10", 0.65), ("ndcg@10", 0.5),
                          ("recall@20", 1.0), ("ndcg@20", 0.62)):
        frame[metric] = np.round(base * ratio, 6)
    return frame


USER_ACTIVITY = np.array([1] * 10 + [2] * 8 + [3] * 6 + [5] * 5 + [8] * 4 + [12] * 3 + [20] * 2 + [40] * 2)


def build_store(root: Path, grid: str, datasets=("amazon", "tiny"), seeds=(1, 2), versions: dict | None = None,
                default_beta=lambda model, dataset, matcher: None, sweep=(0.0, 0.5, 1.0), skip=()) -> list[str]:
    """Bases + DMRec variants (Mult-VAE, CVGA), ablations, a beta sweep on Mult-VAE and the seven
    baselines, `seeds` each, with curves, posterior statistics and per-user files.
    `default_beta(model, dataset, matcher)`: the beta a grid leaves unset (the models' yaml: null);
    sweep trials set beta explicitly and score 0.01 lower per unit of |beta - 0.5|.
    `skip`: (model, matcher, dataset) triples to leave out, for partial-result tests."""
    versions = versions or {}
    ids = set()
    for dataset in datasets:
        configs = []
        for model in ("multvae", "cvga"):
            for matcher in ("none", "godm", "cpdm", "mddm"):
                configs.append({"model": model, "matcher": matcher, "beta": default_beta(model, dataset, matcher)})
        configs += [{"model": "multvae", "matcher": m, "beta": default_beta("multvae", dataset, m)}
                    for m in ("wo_pmn", "add", "wo_mixing")]
        configs += [{"model": "multvae", "matcher": m, "beta": b} for m in ("godm", "cpdm", "mddm") for b in sweep]
        configs += [{"model": m} for m in BASELINES]
        for partial in configs:
            if (partial["model"], partial.get("matcher", "none"), dataset) in skip:
                continue
            for seed in seeds:
                config = {**partial, "dataset": dataset, "seed": seed, "learning_rate": 0.001}
                if "matcher" in partial:
                    config["formulation"] = "paper"
                matcher = partial.get("matcher", "none")
                beta = partial.get("beta")
                beta_effect = -0.01 * abs(beta - 0.5) if beta is not None and matcher != "none" else 0.0
                recall = MODEL_LEVEL[partial["model"]] + MATCHER_GAIN[matcher] + beta_effect + _noise(config, 0.002)
                record = make_record(config, round(recall, 6), versions.get(dataset, "v1"),
                                     posterior_dims=16 if partial["model"] in ("multvae", "cvga") else None)
                if record["trial_id"] in ids:
                    continue
                ids.add(record["trial_id"])
                write_trial(root, grid, record, per_user_frame(USER_ACTIVITY, recall, seed))
    return sorted(ids)
