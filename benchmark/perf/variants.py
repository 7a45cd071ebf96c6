"""A model timed as a trial trains it: built by the runner's `build_trial`, one epoch, one evaluation."""
from __future__ import annotations

import dataclasses

import torch

from baselines.registry import get_spec
from benchmark.perf.clocks import clock
from benchmark.runner.config import resolve
from benchmark.runner.grid import NO_MATCHER, accepts_matcher
from benchmark.runner.trial import BuiltTrial, build_trial
from dmrec.matchers import MATCHERS


def variant_label(model: str, matcher: str) -> str:
    """What a table calls a variant: the matcher registry's label (DMRec-M), the model's for its base."""
    if matcher == NO_MATCHER:
        return get_spec(model).label
    return MATCHERS[matcher].label if matcher in MATCHERS else matcher


def matcher_label(matcher: str) -> str:
    """The matcher registry's label of `matcher` ("Base" for none), the name itself when not registered."""
    return MATCHERS[matcher].label if matcher in MATCHERS else matcher


def variant_config(model: str, dataset: str, matcher: str = NO_MATCHER, params: dict | None = None) -> dict:
    """The resolved config of `model` on `dataset` with `matcher` (ignored by a model without one)."""
    layer = dict(params or {})
    if accepts_matcher(model):
        layer["matcher"] = matcher
    return resolve(model, dataset, layer)


def build_variant(config: dict, device: torch.device) -> BuiltTrial:
    """The trial of a resolved config built on `device` (its targets there too)."""
    trial = build_trial({**config, "use_gpu": device.type == "cuda"})
    return dataclasses.replace(trial, valid=trial.valid.to(device), test=trial.test.to(device))


def timed_epoch(trainer, loader, epoch: int, device: torch.device) -> float:
    """Seconds of one training epoch as `fit` runs it (the model's epoch hook included)."""
    tick = clock(device)
    if hasattr(trainer.model, "on_epoch_start"):
        trainer.model.on_epoch_start(epoch)
    trainer._train_epoch(loader, epoch)
    return clock(device) - tick


def timed_evaluation(net, target, config, device: torch.device) -> float:
    from benchmark.runner.training.evaluation import evaluate_full_ranking

    tick = clock(device)
    evaluate_full_ranking(net, target, tuple(config["topk"]), int(config["eval_batch_size"]))
    seconds = clock(device) - tick
    net.train()
    return seconds
