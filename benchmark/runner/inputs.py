"""A trial's inputs, resolved once by the runner and handed down to building and training.

    TrialInputs    trial id, grid, the resolved config, the dataset's verified version, the code
                   provenance and the model class: everything a trial reads, made in one place
                   (`resolve_inputs`), frozen
    as_dict        its plain-dict form (what a Ray worker receives); `from_dict` is the way back

Building and training read these fields and nothing else about where a trial comes from: they never
ask the registry, the provenance hash or the prepared dataset's meta.json again. The one check
left for the worker is `check_dataset`: the files on disk are still the version the grid was
expanded with, checked just before training.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from baselines.registry import get_spec
from benchmark.data.layout import verified_version
from benchmark.runner.provenance import code_provenance

if TYPE_CHECKING:
    from benchmark.runner.grid import Trial

DICT_KEYS = ("trial_id", "grid", "config", "dataset_version", "provenance")


class DatasetChanged(RuntimeError):
    """The prepared dataset is no longer the version a trial's inputs were resolved with."""


@dataclass(frozen=True)
class TrialInputs:
    """What one trial runs from. Config and provenance are kept as JSON text, so neither can change
    after the runner resolved them; `config` and `provenance` return fresh copies."""

    trial_id: str | None  # None for a config trained outside a grid (tests)
    grid: str
    config_json: str
    dataset_version: str
    provenance_json: str
    model_class: type = field(compare=False, repr=False)  # a class is not plain data: `as_dict` leaves it out

    @property
    def config(self) -> dict:
        return json.loads(self.config_json)

    @property
    def provenance(self) -> dict:
        return json.loads(self.provenance_json)

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    def as_dict(self) -> dict:
        """The plain-dict form: JSON values only (a Ray worker receives this)."""
        return {"trial_id": self.trial_id, "grid": self.grid, "config": self.config,
                "dataset_version": self.dataset_version, "provenance": self.provenance}

    @classmethod
    def from_dict(cls, data: Mapping) -> TrialInputs:
        """The inputs `as_dict` gave; the model class is found again by the config's model name."""
        missing = [key for key in DICT_KEYS if key not in data]
        if missing:
            raise ValueError(f"trial inputs lack {', '.join(missing)}")
        config = dict(data["config"])
        return cls(data["trial_id"], data["grid"], _frozen(config), data["dataset_version"],
                   _frozen(data["provenance"]), get_spec(config["model"]).load_class())


def _frozen(value) -> str:
    return json.dumps(value, sort_keys=True)


def resolve_inputs(config: Mapping, dataset_version: str | None = None, trial_id: str | None = None,
                   grid: str = "") -> TrialInputs:
    """The one place a trial's inputs are resolved: the model class from the registry, the code
    provenance of that model (before training: the code about to run), and the dataset's version
    (`dataset_version` as the grid verified it, else verified here)."""
    config = dict(config)
    model = config["model"]
    if dataset_version is None:
        dataset_version = verified_version(config["dataset"])
    return TrialInputs(trial_id, grid, _frozen(config), dataset_version, _frozen(code_provenance(model)),
                       get_spec(model).load_class())


def inputs_of(trial: Trial) -> TrialInputs:
    """The inputs of one expanded grid trial."""
    return resolve_inputs(trial.config, trial.dataset_version, trial.trial_id, trial.grid)


def check_dataset(inputs: TrialInputs) -> None:
    """Raise `DatasetChanged` when the prepared files no longer hash to the inputs' version."""
    current = verified_version(inputs.dataset)
    if current != inputs.dataset_version:
        raise DatasetChanged(f"dataset '{inputs.dataset}' changed since the grid was expanded "
                             f"(version {inputs.dataset_version} -> {current}); run the grid again")
