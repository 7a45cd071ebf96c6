"""A tiny dataset in RLMRec's on-disk format (pickled scipy matrices, vectors, profiles)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

SPLIT_FILES = ("trn_mat.pkl", "val_mat.pkl", "tst_mat.pkl")


def tiny_rlmrec_arrays(n_users: int = 12, n_items: int = 10, dim: int = 8, seed: int = 0) -> dict:
    """Each user has 5 distinct items, 3 train / 1 valid / 1 test; float64 vectors as RLMRec ships."""
    rng = np.random.default_rng(seed)
    rows = {"train": [], "valid": [], "test": []}
    for u in range(n_users):
        items = rng.choice(n_items, 5, replace=False)
        for split, chosen in (("train", items[:3]), ("valid", items[3:4]), ("test", items[4:])):
            rows[split] += [(u, int(i)) for i in chosen]
    matrices = {}
    for split, pairs in rows.items():
        users, items = np.asarray(pairs).T
        matrices[split] = sp.coo_matrix((np.ones(len(pairs)), (users, items)), shape=(n_users, n_items))
    return {
        "splits": matrices,
        "user_vectors": rng.normal(size=(n_users, dim)),
        "item_vectors": rng.normal(size=(n_items, dim)),
        "user_profiles": {u: {"profile": f"user {u} likes quiet books", "reasoning": "because"}
                          for u in range(n_users)},
        "item_profiles": {i: {"profile": f"item {i} suits patient readers", "reasoning": "because"}
                          for i in range(n_items)},
    }


def write_rlmrec(folder: Path, arrays: dict | None = None, vectors: bool = True, profiles: bool = True,
                 protocol: int = 4) -> dict:
    """Write `arrays` (default: `tiny_rlmrec_arrays()`) into `folder` as RLMRec's pickles."""
    arrays = arrays or tiny_rlmrec_arrays()
    folder.mkdir(parents=True, exist_ok=True)
    for file, split in zip(SPLIT_FILES, ("train", "valid", "test"), strict=True):
        dump(folder / file, arrays["splits"][split], protocol)
    if vectors:
        dump(folder / "usr_emb_np.pkl", arrays["user_vectors"], protocol)
        dump(folder / "itm_emb_np.pkl", arrays["item_vectors"], protocol)
    if profiles:
        dump(folder / "usr_prf.pkl", arrays["user_profiles"], protocol)
        dump(folder / "itm_prf.pkl", arrays["item_profiles"], protocol)
    return arrays


def dump(path: Path, obj, protocol: int = 4) -> None:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
