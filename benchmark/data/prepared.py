"""The prepared-dataset layout: the one contract between the data builders and everything else.

A prepared dataset is a folder `<data_root>/prepared/<name>/` holding

    <name>.train.inter, <name>.valid.inter, <name>.test.inter
        RecBole atomic benchmark files (`user_id:token<TAB>item_id:token`), external ids are the
        integers 0..n_users-1 and 0..n_items-1
    user_vectors.npy, item_vectors.npy     (optional) float32 text vectors, row i = external id i
    user_profiles.json, item_profiles.json (optional) profile texts, list index = external id
    meta.json                              statistics, text encoder, source and a content version

Writers build the folder under a temporary name and rename it into place, so a failed preparation
leaves any previous copy intact. RecBole reads the interaction files itself (`benchmark_filename`);
models read the text vectors through `text_vectors(dataset)`, aligned to RecBole's internal ids.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.paths import data_root

SPLITS = ("train", "valid", "test")


class DataError(ValueError):
    """Bad or missing input data; the message names the file and the problem."""


def prepared_root() -> Path:
    return data_root() / "prepared"


def prepared_dir(name: str) -> Path:
    return prepared_root() / name


def list_prepared() -> list[str]:
    root = prepared_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())


@dataclass
class PreparedDataset:
    """Everything a builder hands over; `write_prepared` validates and stores it."""

    name: str
    splits: dict[str, sp.csr_matrix]  # "train"/"valid"/"test" -> (n_users, n_items) binary CSR
    user_vectors: np.ndarray | None = None  # (n_users, d_s)
    item_vectors: np.ndarray | None = None  # (n_items, d_s)
    user_profiles: list[str] | None = None
    item_profiles: list[str] | None = None
    info: dict | None = None  # source, encoder, text fields ...: copied into meta.json

    @property
    def n_users(self) -> int:
        return self.splits["train"].shape[0]

    @property
    def n_items(self) -> int:
        return self.splits["train"].shape[1]


def dataset_statistics(splits: dict[str, sp.csr_matrix]) -> dict:
    n_users, n_items = splits["train"].shape
    sizes = {f"n_{s}": int(splits[s].nnz) for s in SPLITS}
    total = sum(sizes.values())
    return {
        "n_users": int(n_users), "n_items": int(n_items), "n_interactions": total, **sizes,
        "sparsity": 1.0 - total / float(n_users * n_items),
    }


def write_prepared(data: PreparedDataset, root: Path | None = None) -> Path:
    """Validate `data` and store it atomically under `<root>/<name>`; returns the folder."""
    from benchmark.data.validate import validate_prepared  # noqa: PLC0415 (validation lives beside the builders)

    validate_prepared(data)
    root = Path(root) if root is not None else prepared_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{data.name}.", dir=root))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a prepared dataset is meant to be shared
    try:
        for split in SPLITS:
            _write_inter(tmp / f"{data.name}.{split}.inter", data.splits[split])
        digest = hashlib.sha256()
        for split in SPLITS:
            digest.update((tmp / f"{data.name}.{split}.inter").read_bytes())
        for kind, vectors in (("user", data.user_vectors), ("item", data.item_vectors)):
            if vectors is not None:
                array = np.ascontiguousarray(vectors, dtype=np.float32)
                np.save(tmp / f"{kind}_vectors.npy", array, allow_pickle=False)
                digest.update(array.tobytes())
        for kind, profiles in (("user", data.user_profiles), ("item", data.item_profiles)):
            if profiles is not None:
                (tmp / f"{kind}_profiles.json").write_text(json.dumps(list(profiles), ensure_ascii=False))
        meta = {
            "name": data.name,
            **dataset_statistics(data.splits),
            "text_dim": int(data.item_vectors.shape[1]) if data.item_vectors is not None else None,
            "has_user_vectors": data.user_vectors is not None,
            "has_item_vectors": data.item_vectors is not None,
            "has_profiles": data.user_profiles is not None or data.item_profiles is not None,
            "version": digest.hexdigest()[:16],
            **(data.info or {}),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        final = root / data.name
        backup = root / f".{data.name}.old"
        if backup.exists():
            shutil.rmtree(backup)
        if final.exists():
            final.rename(backup)
        tmp.rename(final)
        if backup.exists():
            shutil.rmtree(backup)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_inter(path: Path, matrix: sp.csr_matrix) -> None:
    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    with open(path, "w") as handle:
        handle.write("user_id:token\titem_id:token\n")
        np.savetxt(handle, np.stack([rows, cols], axis=1), fmt="%d", delimiter="\t")


def read_meta(name: str, root: Path | None = None) -> dict:
    folder = (Path(root) if root is not None else prepared_root()) / name
    path = folder / "meta.json"
    if not path.is_file():
        raise DataError(f"{path}: dataset '{name}' is not prepared (run `python -m benchmark.data prepare {name}`)")
    return json.loads(path.read_text())


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


def _internal_to_external(dataset, field: str) -> np.ndarray:
    """External integer id of each RecBole internal id (index 0 is RecBole's padding: -1)."""
    tokens = dataset.field2id_token[field]
    external = np.full(len(tokens), -1, dtype=np.int64)
    external[1:] = np.asarray(tokens[1:], dtype=np.int64)
    return external


def external_ids(dataset, kind: str) -> np.ndarray:
    field = dataset.uid_field if kind == "user" else dataset.iid_field
    return _internal_to_external(dataset, field)


def text_vectors(dataset, kind: str, required_by: str = "this model") -> np.ndarray:
    """The `kind` ("user"/"item") text vectors as rows of RecBole internal ids; row 0 is zeros."""
    folder = Path(dataset.dataset_path)
    path = folder / f"{kind}_vectors.npy"
    if not path.is_file():
        raise DataError(
            f"{path}: {required_by} needs {kind} text vectors, and dataset '{folder.name}' has none "
            "(prepare it with profile texts or vectors, or pick an interaction-only model)"
        )
    vectors = np.load(path, allow_pickle=False)
    ids = external_ids(dataset, kind)
    aligned = np.zeros((len(ids), vectors.shape[1]), dtype=np.float32)
    aligned[1:] = vectors[ids[1:]]
    return aligned
