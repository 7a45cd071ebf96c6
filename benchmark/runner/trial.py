"""One trial: its resolved inputs in, a raw result record out. Runs the same with or without Ray.

    TrialInputs (benchmark.runner.inputs) -> RecBole Config(model=Cls) and the prepared dataset's
    splits -> `build_trial`: model, train loader, validation/test targets, ProtocolTrainer -> fit
    -> test at the best validation epoch -> `trial_record`: per-user metrics, posterior statistics

`build_trial` is the one construction of a trial: the runner, the search samples
(`benchmark.tuning.sample`), the speed benchmark (`benchmark.perf`) and the model tests build through it.
`trial_record` is the one shape of a stored record, for runner trials and search samples alike.
"""
from __future__ import annotations

import copy
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
    from benchmark.runner.training.group import GroupTrainer
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
    from benchmark.runner.training.trainer import ProtocolTrainer

    recbole_config, cls, splits = build_recbole(config, model_class)
    model, loader = build_model(recbole_config, cls, splits[0])
    valid, test = ranking_targets(config, splits, test_split)
    return BuiltTrial(recbole_config, splits[0], model, loader, valid, test, ProtocolTrainer(recbole_config, model))


def build_model(recbole_config, cls: type, train_set) -> tuple[torch.nn.Module, object]:
    """(model on the Config's device, train loader), seeded by the Config's `seed` in a fixed order."""
    from recbole.utils import init_seed

    from benchmark.runner.training.loaders import make_train_loader

    seed = int(recbole_config["seed"])
    init_seed(seed, True)
    model = cls(recbole_config, train_set).to(recbole_config["device"])
    return model, make_train_loader(model, train_set, recbole_config, torch.Generator().manual_seed(seed))


def ranking_targets(config: dict, splits, test_split: bool = True) -> tuple[RankingTarget, RankingTarget | None]:
    """The validation target and (with `test_split`) the test target of a trial's splits."""
    from benchmark.runner.training.evaluation import RankingTarget

    train_set, valid_set = splits[0], splits[1]
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    if not test_split:
        return valid, None
    return valid, RankingTarget.from_datasets("test", train_set, splits[2],
                                              also_mask=(valid_set,) if config.get("test_excludes_valid") else ())


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
    trial.trainer.fit(trial.loader, trial.valid, verbose=verbose, on_epoch=on_epoch)
    return tested_record(inputs, trial.trainer, trial.train_set, trial.test, started, setup_seconds)


def tested_record(inputs: TrialInputs, trainer: ProtocolTrainer, train_set, test: RankingTarget, started: float,
                  setup_seconds: float, **details) -> dict:
    """Test a trained trial's model at its best validation epoch; its record (`details` as in `trial_record`)."""
    tick = time.perf_counter()
    test_metrics = trainer.evaluate(test, load_best_model=True)
    test_seconds = time.perf_counter() - tick
    per_user = {
        "user": external_ids(train_set, "user")[test.users.numpy()].tolist(),
        "n_train": test.n_train.tolist(),
        **{key: np.round(values, 6).tolist() for key, values in trainer.last_per_user.items()},
    }
    posterior = posterior_statistics(trainer.model, train_set)
    timings = {"setup_s": setup_seconds, **training_timings(trainer, started), "test_s": test_seconds,
               "epoch_s": [round(seconds, 4) for seconds in trainer.epoch_seconds]}
    return trial_record(inputs, trainer, timings, environment(), test_metrics, per_user=per_user,
                        posterior=posterior, **details)


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
    or the exception its solo trial would have raised. `on_epoch[index]`: that member's epoch hook.

    Members of a model that can form groups (`groups = True`: the DMRec bases) train as one batched
    model (`benchmark.runner.training.group`); a single member, or another model's, trains solo."""
    hooks = list(on_epoch) if on_epoch is not None else [None] * len(members)
    done = on_member_done or (lambda index, outcome: None)
    if len(members) < 2 or not getattr(members[0].model_class, "groups", False):
        for index, inputs in enumerate(members):
            try:
                outcome = train_and_evaluate(inputs, verbose=verbose, on_epoch=hooks[index])
            except Exception as error:  # noqa: BLE001 (a member's failure is its own outcome)
                outcome = error
            done(index, outcome)
        return
    ended: set[int] = set()

    def report(index: int, outcome) -> None:
        ended.add(index)
        done(index, outcome)

    try:
        _train_as_group(list(members), hooks, report, verbose)
    except Exception as error:  # noqa: BLE001 (building or training the group failed: every member still running)
        for index in range(len(members)):
            if index not in ended:
                done(index, error)


def check_siblings(members: Sequence[TrialInputs]) -> None:
    """Refuse members that differ in anything but their seed: a group trains them all by the first's config."""
    def without_seed(inputs: TrialInputs) -> tuple:
        return {k: v for k, v in inputs.config.items() if k != "seed"}, inputs.dataset_version

    first = without_seed(members[0])
    for inputs in members[1:]:
        if without_seed(inputs) != first:
            differing = sorted(k for k in set(first[0]) | set(inputs.config)
                               if k != "seed" and first[0].get(k) != inputs.config.get(k))
            raise ValueError(f"trial {inputs.trial_id} differs from {members[0].trial_id} in "
                             f"{', '.join(differing) or 'its dataset version'}, not only in its seed: not one group")


@dataclass
class BuiltGroup:
    """A trial group ready to train: what `build_group` makes."""

    trainer: GroupTrainer
    train_set: object
    valid: RankingTarget
    test: RankingTarget
    started: float  # perf_counter when building began
    setup_seconds: float


def build_group(members: Sequence[TrialInputs]) -> BuiltGroup:
    """One data load, one model per member (each built exactly as its solo trial builds it, its
    random stream captured right after), stacked into one group model under one `GroupTrainer`."""
    from benchmark.data.artefacts import attach_artefacts
    from benchmark.runner.training.group import GroupTrainer, Member
    from benchmark.runner.training.trainer import ProtocolTrainer
    from dmrec.members import MemberStreams, stack_members

    started = time.perf_counter()
    first = members[0].config
    recbole_config, cls, splits = build_recbole(first, members[0].model_class)
    valid, test = ranking_targets(first, splits)
    streams, group_members = MemberStreams(recbole_config["device"]), []
    for index, inputs in enumerate(members):
        member_config = recbole_config
        if index:
            member_config = copy.deepcopy(recbole_config)
            member_config["seed"] = int(inputs.config["seed"])
            attach_artefacts(member_config, cls, splits)  # what this seed's model reads (e.g. its own pre-training)
        model, loader = build_model(member_config, cls, splits[0])
        streams.capture()  # the generators as its solo trial's training finds them
        group_members.append(Member(index, ProtocolTrainer(member_config, model), loader))
    group = stack_members([member.trainer.model for member in group_members], streams)
    trainer = GroupTrainer(group, group_members, recbole_config)
    return BuiltGroup(trainer, splits[0], valid, test, started, time.perf_counter() - started)


def _train_as_group(members: list[TrialInputs], hooks: list, report: Callable[[int, object], None],
                    verbose: bool) -> None:
    """`build_group`, then the batched training; each member tested and reported as it ends."""
    from benchmark.runner.training.group import load_best

    check_siblings(members)
    built = build_group(members)
    group = {"size": len(members), "members": [inputs.trial_id for inputs in members]}

    def on_end(member) -> None:
        if member.outcome is not None:
            return report(member.index, member.outcome)
        try:
            load_best(member)
            record = tested_record(members[member.index], member.trainer, built.train_set, built.test, built.started,
                                   built.setup_seconds / len(members), group=dict(group))
            timings = record["timings"]  # its share of the group's time; the group's wall time beside it
            record["group"]["wall_s"] = timings["total_s"]
            timings["total_s"] = sum(timings[key] for key in ("setup_s", "train_s", "valid_s", "test_s"))
        except Exception as error:  # noqa: BLE001 (this member's test failed; the others go on)
            record = error
        report(member.index, record)

    built.trainer.fit(built.valid, hooks, on_end, verbose)
