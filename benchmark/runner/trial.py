"""One trial: its resolved inputs in, a raw result record out. Runs the same with or without Ray.

    TrialInputs (benchmark.runner.inputs) -> RecBole Config(model=Cls) and the prepared dataset's
    splits -> `build_trial`: model, train loader, validation/test targets, ProtocolTrainer -> fit
    -> test at the best validation epoch -> `trial_record`: per-user metrics, posterior statistics

`build_trial` is the one construction of a trial: the runner, the search samples
(`benchmark.tuning.sample`), the speed benchmark (`benchmark.perf`) and the model tests build through it.
`trial_record` is the one shape of a stored record, for runner trials and search samples alike.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np
import torch

from baselines.registry import get_spec
from benchmark.data.artefacts import attach_artefacts
from benchmark.data.runtime import external_ids, recbole_dataset_config
from benchmark.runner import compat
from benchmark.runner.checkout import source_commit
from benchmark.runner.inputs import TrialInputs, resolve_inputs

if TYPE_CHECKING:  # the training modules import RecBole: loaded when a trial is built
    from collections.abc import Callable, Sequence

    from benchmark.runner.training.evaluation import RankingTarget
    from benchmark.runner.training.events import EpochEvent
    from benchmark.runner.training.trainer import ProtocolTrainer

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


def build_recbole(config: dict, model_class: type | None = None):
    """(RecBole Config, model class, [train, valid, test] datasets) for a resolved trial config: the one
    place the Config and the datasets are built. `model_class`: the trial inputs' class (looked up by
    the config's model name when not given)."""
    compat.install()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.utils import init_seed

    cls = model_class or get_spec(config["model"]).load_class()
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


@dataclass
class BuiltTrial:
    """A trial ready to train: what `build_trial` makes."""

    recbole_config: object  # RecBole Config
    train_set: object  # RecBole dataset of the training split
    model: torch.nn.Module  # on the Config's device
    loader: object  # the model's train loader (`make_train_loader`)
    valid: RankingTarget
    test: RankingTarget | None  # None when built without the test split (a search sample)
    trainer: ProtocolTrainer


def build_trial(config: dict, model_class: type | None = None, test_split: bool = True) -> BuiltTrial:
    """Model, train loader, validation (and test) targets and trainer of a resolved config, seeded by its
    `seed` in a fixed order (a seed gives the same trial everywhere). Without `test_split` the test
    interactions go no further than RecBole's id mapping: no test target exists."""
    from recbole.utils import init_seed

    from benchmark.runner.training.evaluation import RankingTarget
    from benchmark.runner.training.loaders import make_train_loader
    from benchmark.runner.training.trainer import ProtocolTrainer

    recbole_config, cls, splits = build_recbole(config, model_class)
    train_set, valid_set = splits[0], splits[1]
    test_set = splits[2] if test_split else None
    del splits
    seed = int(config["seed"])
    init_seed(seed, True)
    model = cls(recbole_config, train_set).to(recbole_config["device"])
    loader = make_train_loader(model, train_set, recbole_config, torch.Generator().manual_seed(seed))
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    test = None
    if test_set is not None:
        test = RankingTarget.from_datasets("test", train_set, test_set,
                                           also_mask=(valid_set,) if config.get("test_excludes_valid") else ())
    return BuiltTrial(recbole_config, train_set, model, loader, valid, test, ProtocolTrainer(recbole_config, model))


def training_timings(trainer: ProtocolTrainer, started: float) -> dict:
    """Seconds of training and validation so far, and since `started` (a perf_counter reading)."""
    return {"train_s": trainer.train_seconds, "valid_s": trainer.valid_seconds,
            "total_s": time.perf_counter() - started,
            "s_per_epoch": trainer.train_seconds / max(trainer.epochs_run, 1)}


def trial_record(inputs: TrialInputs, trainer: ProtocolTrainer, timings: dict, env: dict,
                 test_metrics: dict | None = None, **details) -> dict:
    """The record of a trained trial (the store adds trial_id, grid, status, finished_at). `details`:
    what only some records hold (a runner trial's per_user and posterior, a search sample's search)."""
    return {
        "config": inputs.config,
        "dataset_version": inputs.dataset_version,
        "metrics": {"valid": dict(trainer.best_valid_result or {}), "test": dict(test_metrics or {})},
        "best_epoch": trainer.best_epoch,
        "epochs_run": trainer.epochs_run,
        "curve": list(trainer.curve),
        "timings": timings,
        "env": env,
        "provenance": inputs.provenance,
        **details,
    }


def train_and_evaluate(inputs: TrialInputs | dict, verbose: bool = False,
                       on_epoch: Callable[[EpochEvent], None] | None = None) -> dict:
    """Train and evaluate one trial; returns its record. `inputs`: as the runner resolved them
    (`benchmark.runner.inputs`), or a resolved config (see `benchmark.runner.config.resolve`), whose
    inputs are resolved here. `on_epoch`: the trainer's epoch hook (`ProtocolTrainer.fit`).

    Raises for a failing trial; `benchmark.runner.execute.run_and_store` is what stores the outcome."""
    if not isinstance(inputs, TrialInputs):
        inputs = resolve_inputs(inputs)
    started = time.perf_counter()
    trial = build_trial(inputs.config, inputs.model_class)
    setup_seconds = time.perf_counter() - started
    trainer = trial.trainer
    trainer.fit(trial.loader, trial.valid, verbose=verbose, on_epoch=on_epoch)
    tick = time.perf_counter()
    test_metrics = trainer.evaluate(trial.test, load_best_model=True)
    test_seconds = time.perf_counter() - tick
    per_user = {
        "user": external_ids(trial.train_set, "user")[trial.test.users.numpy()].tolist(),
        "n_train": trial.test.n_train.tolist(),
        **{key: np.round(values, 6).tolist() for key, values in trainer.last_per_user.items()},
    }
    posterior = posterior_statistics(trial.model, trial.train_set)
    timings = {"setup_s": setup_seconds, **training_timings(trainer, started), "test_s": test_seconds,
               "epoch_s": [round(seconds, 4) for seconds in trainer.epoch_seconds]}
    return trial_record(inputs, trainer, timings, environment(), test_metrics, per_user=per_user, posterior=posterior)


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


def train_group(members: Sequence[TrialInputs], verbose: bool = False,
                on_epoch: Sequence[Callable[[EpochEvent], None] | None] | None = None,
                on_member_done: Callable[[int, dict | Exception], None] | None = None) -> None:
    """Train trials that differ only in their seed together; `on_member_done(index, outcome)` is
    called once per member as soon as it has ended: its record (as `train_and_evaluate` returns it)
    or the exception its solo trial would have raised. `on_epoch[index]`: that member's epoch hook."""
    hooks = list(on_epoch) if on_epoch is not None else [None] * len(members)
    for index, inputs in enumerate(members):
        try:
            outcome = train_and_evaluate(inputs, verbose=verbose, on_epoch=hooks[index])
        except Exception as error:  # noqa: BLE001 (a member's failure is its own outcome)
            outcome = error
        if on_member_done is not None:
            on_member_done(index, outcome)
