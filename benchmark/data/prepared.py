"""Writing a prepared dataset: what a builder hands over, validated, then stored atomically.

The folder layout and `version` are `layout.py`'s; this module only writes them. The folder is built
under a staging name beside the final one and renamed into place, so a failed or interrupted
preparation leaves any previous copy intact. Files are 0644 and folders 0755: prepared data is shared.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.core.errors import DataError
from benchmark.data.layout import (
    SPLITS,
    backup_dir,
    clean_staging,
    content_version,
    file_hashes,
    inter_file,
    prepared_root,
    staging_prefix,
    vector_file,
)
from benchmark.data.validate import validate_prepared

FILE_MODE, FOLDER_MODE = 0o644, 0o755


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
    original_ids: dict[str, list[str]] | None = None  # "user"/"item" -> the source's id of each external id

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


def _write_inter(path: Path, matrix: sp.csr_matrix) -> None:
    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    with open(path, "w") as handle:
        handle.write("user_id:token\titem_id:token\n")
        np.savetxt(handle, np.stack([rows, cols], axis=1), fmt="%d", delimiter="\t")


def _write_files(folder: Path, data: PreparedDataset) -> dict:
    """Every file but meta.json; returns meta.json's content."""
    for split in SPLITS:
        _write_inter(folder / inter_file(data.name, split), data.splits[split])
    for kind, vectors in (("user", data.user_vectors), ("item", data.item_vectors)):
        if vectors is not None:
            np.save(folder / vector_file(kind), np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    for kind, profiles in (("user", data.user_profiles), ("item", data.item_profiles)):
        if profiles is not None:
            (folder / f"{kind}_profiles.json").write_text(json.dumps(list(profiles), ensure_ascii=False))
    for kind, ids in (data.original_ids or {}).items():
        (folder / f"{kind}_original_ids.json").write_text(json.dumps(list(ids), ensure_ascii=False))
    return {
        "name": data.name,
        **dataset_statistics(data.splits),
        "text_dim": int(data.item_vectors.shape[1]) if data.item_vectors is not None else None,
        "has_user_vectors": data.user_vectors is not None,
        "has_item_vectors": data.item_vectors is not None,
        "has_profiles": data.user_profiles is not None or data.item_profiles is not None,
        "version": content_version(folder, data.name),
        "file_hashes": file_hashes(folder, data.name),
        **(data.info or {}),
    }


def write_prepared(data: PreparedDataset, root: Path | None = None) -> Path:
    """Validate `data` and store it atomically under `<root>/<name>`; returns the folder."""
    validate_prepared(data)
    root = Path(root) if root is not None else prepared_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        clean_staging(root)
        staging = Path(tempfile.mkdtemp(prefix=staging_prefix(data.name), dir=root))
    except OSError as error:
        raise DataError(f"{root}: cannot write prepared datasets here ({error.strerror or error})") from None
    final, backup = root / data.name, backup_dir(root, data.name)
    try:
        meta = _write_files(staging, data)
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        for path in staging.iterdir():
            os.chmod(path, FILE_MODE)
        os.chmod(staging, FOLDER_MODE)  # mkdtemp makes it 0700
        if backup.exists():
            shutil.rmtree(backup)
        if final.exists():
            final.rename(backup)
        staging.rename(final)
        shutil.rmtree(backup, ignore_errors=True)
        return final
    except OSError as error:
        if backup.exists() and not final.exists():
            backup.rename(final)
        raise DataError(f"{error.filename or root}: cannot write the prepared dataset '{data.name}' "
                        f"({error.strerror or error}); any previous copy is kept") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
