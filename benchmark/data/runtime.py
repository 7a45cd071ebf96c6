"""What models and the trainer read from a prepared dataset at train time.

RecBole reads the interaction files itself (`recbole_dataset_config`); `text_vectors(dataset, kind)`
reads the text vectors aligned to RecBole's internal ids, which `benchmark.data.artefacts` attaches
to the dataset for the model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.core.artefacts import missing_text_message
from benchmark.core.errors import DataError
from benchmark.data.layout import SPLITS, load_vector_file, prepared_root, read_meta, vector_file


def recbole_dataset_config(name: str, root: Path | None = None) -> dict:
    """The RecBole Config entries that make it read a prepared dataset's benchmark files."""
    read_meta(name, root)
    return {
        "data_path": str(Path(root) if root is not None else prepared_root()),
        "dataset": name,
        "benchmark_filename": list(SPLITS),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": None,
        "TIME_FIELD": None,
        "load_col": {"inter": ["user_id", "item_id"]},
        "user_inter_num_interval": None,
        "item_inter_num_interval": None,
        "val_interval": None,
        "filter_inter_by_user_or_item": False,
    }


def external_ids(dataset, kind: str) -> np.ndarray:
    """External integer id of each RecBole internal id of `kind` ("user"/"item"); index 0 (padding) is -1."""
    field = dataset.uid_field if kind == "user" else dataset.iid_field
    tokens = dataset.field2id_token[field]
    external = np.full(len(tokens), -1, dtype=np.int64)
    external[1:] = np.asarray(tokens[1:], dtype=np.int64)
    return external


def text_vectors(dataset, kind: str, required_by: str = "this model") -> np.ndarray:
    """The `kind` ("user"/"item") text vectors as rows of RecBole internal ids; row 0 is zeros.

    Read from the prepared files; models read the copy attached to their dataset
    (`benchmark.core.artefacts.text_vectors`)."""
    path = Path(dataset.dataset_path) / vector_file(kind)
    if not path.is_file():
        raise DataError(missing_text_message(path, kind, required_by))
    vectors = load_vector_file(path)
    ids = external_ids(dataset, kind)
    if len(ids) > 1 and int(ids[1:].max()) >= vectors.shape[0]:
        raise DataError(f"{path}: {vectors.shape[0]} {kind} vectors, but the interactions name {kind} "
                        f"{int(ids[1:].max())}; prepare the dataset again")
    aligned = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
    aligned[1:] = vectors[ids[1:]]
    return aligned
