"""What a model reads besides the interactions, attached to its RecBole dataset before it is built.

Models sit below the data layer, so they never open a prepared folder: the data layer
(`benchmark.data.artefacts.attach_artefacts`, called once per trial by the runner) loads the text
vectors and produces the pre-trained embeddings a model class asks for, and attaches them here;
a model reads them with `text_vectors(dataset, kind)` and `lightgcn_embeddings(dataset, recipe)`.

A model asks for pre-trained embeddings through an optional classmethod
`pretrainings(config) -> tuple[LightGCNPretraining, ...]` (`requested_pretrainings`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.core.errors import DataError

ATTRIBUTE = "dmrec_artefacts"  # the attribute of a RecBole dataset that holds its DatasetArtefacts
INITS = ("xavier", "normal")


@dataclass(frozen=True)
class LightGCNPretraining:
    """A short BPR pre-training of LightGCN on the training split: every setting its embeddings
    depend on besides the data. `model` is the LightGCN class to train (baselines/lightgcn): the
    model that asks names it, so that code counts in the asking model's provenance, and the data
    layer imports no model. An architecture field left None takes the default in the yaml beside
    that class (baselines/lightgcn/lightgcn.yaml), filled in by the data layer.

    `init`: "xavier" draws the tables as the LightGCN model does (nn.Embedding, then Xavier-uniform)
    from the global stream seeded by `seed`, inside a forked RNG; "normal" draws 0.1 N(0, 1) from
    the pair sampler's generator before its first permutation. `fused_adam`: torch's fused Adam
    kernel, else the per-parameter loop (the two round differently)."""

    model: type
    epochs: int
    seed: int
    batch_size: int
    learning_rate: float
    init: str
    fused_adam: bool
    device: str = "cpu"
    embedding_size: int | None = None
    n_layers: int | None = None
    layer_combination: str | None = None
    keep_rate: float | None = None
    reg_weight: float | None = None

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, not {self.init!r}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, not {self.epochs}, {self.batch_size}")


@dataclass
class DatasetArtefacts:
    """What the data layer attached for one trial's model."""

    text: dict[str, np.ndarray] = field(default_factory=dict)  # "user"/"item" -> (n + 1, d), row 0 zeros
    text_missing: dict[str, Path] = field(default_factory=dict)  # kind -> the vector file the dataset lacks
    text_damaged: dict[str, str] = field(default_factory=dict)  # kind -> why its vector file is unusable
    lightgcn: dict[LightGCNPretraining, np.ndarray] = field(default_factory=dict)  # (M + N, d): users, items


class ArtefactsNotAttached(RuntimeError):
    """A model was built on a dataset the data layer never prepared for it (a wiring error)."""


def requested_pretrainings(model_class, config) -> tuple[LightGCNPretraining, ...]:
    """The pre-trainings `model_class` reads under `config` (none unless it defines `pretrainings`)."""
    ask = getattr(model_class, "pretrainings", None)
    return tuple(ask(config)) if ask is not None else ()


def attach(dataset, artefacts: DatasetArtefacts) -> None:
    setattr(dataset, ATTRIBUTE, artefacts)


def attached(dataset) -> DatasetArtefacts:
    artefacts = getattr(dataset, ATTRIBUTE, None)
    if artefacts is None:
        raise ArtefactsNotAttached(
            f"dataset '{getattr(dataset, 'dataset_name', '?')}' has no artefacts attached: build it through "
            "benchmark.runner.trial.build_recbole (or call benchmark.data.artefacts.attach_artefacts)")
    return artefacts


def missing_text_message(path: Path, kind: str, required_by: str) -> str:
    return (f"{path}: {required_by} needs {kind} text vectors, and dataset '{Path(path).parent.name}' has none "
            "(prepare it with profile texts or vectors, or pick an interaction-only model)")


def text_vectors(dataset, kind: str, required_by: str = "this model") -> np.ndarray:
    """The `kind` ("user"/"item") text vectors as rows of RecBole internal ids; row 0 is zeros.
    A fresh copy per call: a model may change its own in place."""
    artefacts = attached(dataset)
    if kind in artefacts.text:
        return artefacts.text[kind].copy()
    if kind in artefacts.text_damaged:
        raise DataError(artefacts.text_damaged[kind])
    if kind in artefacts.text_missing:
        raise DataError(missing_text_message(artefacts.text_missing[kind], kind, required_by))
    raise ValueError(f"kind must be 'user' or 'item', not {kind!r}")


def lightgcn_embeddings(dataset, recipe: LightGCNPretraining) -> np.ndarray:
    """(n_users + n_items, d) float32 propagated embeddings of the pre-trained LightGCN, users then
    items, rows = RecBole internal ids. The model must have asked for `recipe` in `pretrainings`."""
    artefacts = attached(dataset)
    if recipe not in artefacts.lightgcn:
        raise ArtefactsNotAttached(f"no LightGCN pre-training {recipe} attached: the model's "
                                   "`pretrainings(config)` must return it")
    return artefacts.lightgcn[recipe].copy()
