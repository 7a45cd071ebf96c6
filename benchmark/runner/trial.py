"""One trial: a resolved config in, a raw result record out. Runs the same with or without Ray.

    RecBole Config(model=Cls) -> prepared dataset (benchmark files) -> model -> ProtocolTrainer.fit
    -> test at the best validation epoch -> per-user metrics and posterior statistics
"""
from __future__ import annotations

import os
import platform
import time
from importlib import metadata

import numpy as np
import torch

from baselines.registry import get_spec
from benchmark.data.artefacts import attach_artefacts
from benchmark.data.layout import read_meta
from benchmark.data.runtime import external_ids, recbole_dataset_config
from benchmark.runner import compat
from benchmark.runner.checkout import source_commit
from benchmark.runner.provenance import code_provenance

RECORDED_PACKAGES = ("torch", "recbole", "numpy", "scipy", "pandas", "ray", "sentence-transformers")


def environment() -> dict:
    """Package versions, device and code version: what a reader needs to trust a number."""
    versions = {}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    commit = source_commit()
    return {
        "python": platform.python_version(), "packages": versions, "platform": platform.platform(),
        "device": (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                   else f"cpu ({platform.processor() or platform.machine()})"),
        "torch_threads": torch.get_num_threads(), "git_commit": commit,
    }


def build_recbole(config: dict):
    """(RecBole Config, model class, [train, valid, test] datasets) for a resolved trial config."""
    compat.install()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.utils import init_seed

    cls = get_spec(config["model"]).load_class()
    with compat.command_line_hidden():
        recbole_config = Config(model=cls, config_dict={
            **recbole_dataset_config(config["dataset"]),
            "gpu_id": os.environ.get("CUDA_VISIBLE_DEVICES", "0"),  # the GPU Ray assigned (RecBole would reset it to 0)
            **{k: v for k, v in config.items() if k not in ("model", "dataset")},
            "checkpoint_dir": "/nonexistent-dmrec-bench-keeps-weights-in-memory",
            "reproducibility": True, "show_progress": False, "log_wandb": False,
        })
    init_seed(config["seed"], True)
    datasets = create_dataset(recbole_config).build()
    attach_artefacts(recbole_config, cls, datasets)  # text vectors, pre-trained embeddings: what the model reads
    return recbole_config, cls, datasets


def train_and_evaluate(config: dict, verbose: bool = False) -> dict:
    """Train and evaluate one resolved config (see `benchmark.runner.config.resolve`); returns its record.

    Raises for a failing trial; `benchmark.runner.execute.run_and_store` is what stores the outcome."""
    from recbole.utils import init_seed

    from benchmark.runner.training.evaluation import RankingTarget
    from benchmark.runner.training.loaders import make_train_loader
    from benchmark.runner.training.trainer import ProtocolTrainer

    started = time.perf_counter()
    provenance = code_provenance(config["model"])  # before training: the code that is about to run
    recbole_config, cls, (train_set, valid_set, test_set) = build_recbole(config)
    init_seed(config["seed"], True)
    model = cls(recbole_config, train_set).to(recbole_config["device"])
    generator = torch.Generator().manual_seed(int(config["seed"]))
    loader = make_train_loader(model, train_set, recbole_config, generator)
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    test = RankingTarget.from_datasets("test", train_set, test_set,
                                       also_mask=(valid_set,) if config.get("test_excludes_valid") else ())
    trainer = ProtocolTrainer(recbole_config, model)
    setup_seconds = time.perf_counter() - started
    trainer.fit(loader, valid, verbose=verbose)
    tick = time.perf_counter()
    test_metrics = trainer.evaluate(test, load_best_model=True)
    test_seconds = time.perf_counter() - tick
    per_user = trainer.last_per_user
    record = {
        "config": dict(config),
        "dataset_version": read_meta(config["dataset"]).get("version"),
        "metrics": {"valid": dict(trainer.best_valid_result or {}), "test": dict(test_metrics)},
        "best_epoch": trainer.best_epoch,
        "epochs_run": trainer.epochs_run,
        "curve": trainer.curve,
        "per_user": {
            "user": external_ids(train_set, "user")[test.users.numpy()].tolist(),
            "n_train": test.n_train.tolist(),
            **{key: np.round(values, 6).tolist() for key, values in per_user.items()},
        },
        "posterior": posterior_statistics(model, train_set),
        "timings": {
            "setup_s": setup_seconds, "train_s": trainer.train_seconds, "valid_s": trainer.valid_seconds,
            "test_s": test_seconds, "total_s": time.perf_counter() - started,
            "s_per_epoch": trainer.train_seconds / max(trainer.epochs_run, 1),
            "epoch_s": [round(seconds, 4) for seconds in trainer.epoch_seconds],
        },
        "env": environment(),
        "provenance": provenance,
    }
    return record


@torch.no_grad()
def posterior_statistics(model, train_set, batch_size: int = 4096) -> dict | None:
    """Per-dimension variance across users of the posterior mean E_q[z_k] (the paper's a_k, Fig. 4),
    for models that expose `posterior_mean(users)`; None for the others."""
    if not hasattr(model, "posterior_mean"):
        return None
    from benchmark.core.interactions import train_matrix

    model.eval()
    users = torch.as_tensor(np.flatnonzero(np.diff(train_matrix(train_set).indptr)), dtype=torch.long)
    means = torch.cat([model.posterior_mean(users[i:i + batch_size].to(model.device)).double().cpu()
                       for i in range(0, len(users), batch_size)])
    return {"dim_variance": means.var(dim=0, unbiased=False).tolist(), "n_users": len(users)}
