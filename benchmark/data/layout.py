"""The on-disk layout of a prepared dataset: the one contract between the builders and everything else.

A prepared dataset is a folder `<data_root>/prepared/<name>/` holding

    <name>.train.inter, <name>.valid.inter, <name>.test.inter
        RecBole atomic benchmark files (`user_id:token<TAB>item_id:token`), external ids are the
        integers 0..n_users-1 and 0..n_items-1
    user_vectors.npy, item_vectors.npy     (optional) float32 text vectors, row i = external id i
    user_profiles.json, item_profiles.json (optional) profile texts, list index = external id
    user_original_ids.json, ...            (optional) the source's id of each external id
    meta.json                              statistics, text encoder, source and a content `version`

`version` is a hash of the interaction files and the vectors; trial ids include it, and
`verified_version` re-hashes the files so damaged data never counts as the data a trial used.
Writers stage a folder named `.<name>.staging-<pid>.<host>-*` beside the final one and rename it into place;
a staging folder is never listed, and one left by a dead process of this host is removed by the
next writer.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np

from benchmark.core.errors import DataError
from benchmark.core.paths import data_root

SPLITS = ("train", "valid", "test")
VECTOR_KINDS = ("user", "item")
STAGING_MARK = ".staging-"
REQUIRED_COUNTS = ("n_users", "n_items", "n_interactions", "n_train", "n_valid", "n_test")
_VERIFIED: dict[tuple, str] = {}  # (folder, files' (name, size, mtime_ns)) -> version, per process


def prepared_root() -> Path:
    return data_root() / "prepared"


def prepared_dir(name: str, root: Path | None = None) -> Path:
    return (Path(root) if root is not None else prepared_root()) / name


def inter_file(name: str, split: str) -> str:
    return f"{name}.{split}.inter"


def vector_file(kind: str) -> str:
    return f"{kind}_vectors.npy"


def _host() -> str:
    return socket.gethostname()[:40]


def staging_prefix(name: str) -> str:
    """Prefix of the folder a writer of `name` builds in; pid and host say whether its writer lives."""
    return f".{name}{STAGING_MARK}{os.getpid()}.{_host()}-"


def backup_dir(root: Path, name: str) -> Path:
    """Where the previous copy waits while a new one is renamed into place."""
    return root / f".{name}.old"


def list_prepared(root: Path | None = None) -> list[str]:
    """Names of the prepared datasets (hidden staging and backup folders are not datasets)."""
    root = Path(root) if root is not None else prepared_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / "meta.json").is_file())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_staging(root: Path) -> list[str]:
    """Remove what an interrupted writer left in `root`; returns what was done, one line each.

    A staging folder of a dead process is deleted; a backup whose dataset folder is missing (the
    writer died between its two renames) is put back, otherwise deleted."""
    done = []
    if not root.is_dir():
        return done
    for path in sorted(root.iterdir()):
        name = path.name
        if not name.startswith(".") or not path.is_dir():
            continue
        if STAGING_MARK in name:
            pid, _, host = name.split(STAGING_MARK, 1)[1].rsplit("-", 1)[0].partition(".")
            if pid.isdigit() and host == _host() and not _pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path} (left by an interrupted prepare)")
        elif name.endswith(".old"):
            final = root / name[1:-len(".old")]
            if not final.exists():
                path.rename(final)
                done.append(f"restored {final} from {path} (an interrupted prepare had moved it aside)")
            else:
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path} (left by an interrupted prepare)")
    return done


def prepare_command(name: str, meta: dict | None = None) -> str:
    """The command that (re)builds dataset `name`, as its meta.json recorded it (else a plain guess)."""
    recorded = (meta or {}).get("prepare_command")
    if isinstance(recorded, str) and recorded.startswith("python -m benchmark.data prepare "):
        return f"{recorded} --force"
    builder = (meta or {}).get("builder")
    if isinstance(builder, str) and builder and builder != name:
        return f"python -m benchmark.data prepare {builder} --name {name} --force"
    return f"python -m benchmark.data prepare {name} --force"


def read_meta(name: str, root: Path | None = None) -> dict:
    """meta.json of a prepared dataset, checked for the entries everything else relies on."""
    path = prepared_dir(name, root) / "meta.json"
    if not path.is_file():
        raise DataError(f"{path}: dataset '{name}' is not prepared (run `python -m benchmark.data prepare {name}`)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, OSError) as error:
        reason = type(error).__name__ if isinstance(error, RecursionError) else " ".join(str(error).split())
        raise DataError(f"{path}: corrupt meta.json ({reason}); prepare it again with "
                        f"`{prepare_command(name)}`") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: corrupt meta.json (a {type(meta).__name__}, not an object); "
                        f"prepare it again with `{prepare_command(name)}`")
    bad = [key for key in REQUIRED_COUNTS
           if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 0]
    if not isinstance(meta.get("version"), str):
        bad.append("version")
    if bad:
        raise DataError(f"{path}: corrupt meta.json ({', '.join(bad)} missing or of the wrong type); "
                        f"prepare it again with `{prepare_command(name, meta)}`")
    return meta


def _hashed_files(folder: Path, name: str) -> list[Path]:
    return [*(folder / inter_file(name, split) for split in SPLITS), *(folder / vector_file(k) for k in VECTOR_KINDS)]


def file_hashes(folder: Path, name: str) -> dict[str, str]:
    """sha256 of each interaction and vector file present: meta.json keeps them to name a changed file."""
    hashes = {}
    for path in _hashed_files(folder, name):
        if path.is_file():
            hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def content_version(folder: Path, name: str) -> str:
    """The hash `version` is: the three interaction files' bytes, then each vector array's float32 bytes."""
    digest = hashlib.sha256()
    for split in SPLITS:
        path = folder / inter_file(name, split)
        if not path.is_file():
            raise DataError(f"{path}: missing interaction file of dataset '{name}'")
        digest.update(path.read_bytes())
    for kind in VECTOR_KINDS:
        path = folder / vector_file(kind)
        if path.is_file():
            digest.update(np.ascontiguousarray(load_vector_file(path), dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def load_vector_file(path: Path) -> np.ndarray:
    """A prepared `.npy` vector file (never pickled objects); a damaged one is a one-line DataError."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: damaged vector file ({' '.join(str(error).split())})") from None
    if vectors.ndim != 2 or vectors.dtype.kind != "f":
        raise DataError(f"{path}: damaged vector file ({vectors.ndim}-d {vectors.dtype}, expected 2-d float)")
    return vectors


def verified_version(name: str, root: Path | None = None) -> str:
    """meta.json's `version`, after checking the prepared files still hash to it.

    Cached per (folder, each file's size and mtime_ns), so a grid of many trials hashes once."""
    folder = prepared_dir(name, root)
    meta = read_meta(name, root)
    stamp = []
    for path in [folder / "meta.json", *_hashed_files(folder, name)]:
        try:
            info = path.stat()
            stamp.append((path.name, info.st_size, info.st_mtime_ns))
        except FileNotFoundError:
            stamp.append((path.name, None, None))
    key = (str(folder.resolve()), tuple(stamp))
    if _VERIFIED.get(key) == meta["version"]:
        return meta["version"]
    try:
        found = content_version(folder, name)
    except DataError as error:
        raise DataError(f"prepared files of '{name}' do not match meta.json ({error}); prepare it again with "
                        f"`{prepare_command(name, meta)}`") from None
    if found != meta["version"]:
        recorded = meta.get("file_hashes") if isinstance(meta.get("file_hashes"), dict) else {}
        current = file_hashes(folder, name)
        changed = sorted(f for f in set(recorded) | set(current) if recorded.get(f) != current.get(f))
        what = (", ".join(f.removeprefix(f"{name}.") for f in changed) + " changed" if changed and recorded
                else "content changed")
        raise DataError(f"{folder}: prepared files of '{name}' do not match meta.json ({what}); prepare it again "
                        f"with `{prepare_command(name, meta)}`")
    _VERIFIED[key] = found
    return found
