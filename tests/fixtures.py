"""Test helpers around the `tiny` builder's planted dataset (benchmark/data/sources/tiny.py)."""
from __future__ import annotations

from pathlib import Path

from benchmark.data.prepared import write_prepared
from benchmark.data.sources.tiny import planted_dataset as tiny_dataset  # the `tiny` builder's dataset; kwargs vary it


def prepare_tiny(root: Path, **kwargs) -> Path:
    return write_prepared(tiny_dataset(**kwargs), root)


def recbole_splits(name: str):
    """RecBole's [train, valid, test] datasets of a prepared dataset, read through RecBole's Config."""
    from benchmark.runner import compat

    compat.install()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.model.general_recommender import Pop

    from benchmark.data.runtime import recbole_dataset_config

    config = Config(model=Pop, config_dict={**recbole_dataset_config(name), "show_progress": False})
    return create_dataset(config).build()
