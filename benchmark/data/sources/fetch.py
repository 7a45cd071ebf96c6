"""`fetch rlmrec`: download RLMRec's public data archive, unpack it safely, prepare its datasets.

The archive is the one RLMRec's README (github.com/HKUDS/RLMRec) points to; it unpacks to
`amazon/`, `yelp/`, `steam/` folders in RLMRec's format (possibly under a top folder). They are
moved to `<data_root>/raw/rlmrec/<dataset>/`, the default source of `prepare amazon|yelp|steam`.
"""
from __future__ import annotations

import logging
import shutil
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from benchmark.core.errors import DataError
from benchmark.core.paper import PAPER_DATASETS
from benchmark.data.recipe import PrepareOptions
from benchmark.data.sources.rlmrec import SPLIT_FILES, raw_rlmrec_dir
from benchmark.data.untrusted.archive import unpack_archive

log = logging.getLogger("benchmark.data")

RLMREC_ARCHIVE_URL = "https://archive.org/download/rlmrec_data/data.zip"
RLMREC_MIRROR = "https://drive.google.com/file/d/1PzePFsBcYofG1MV2FisFLBM2lMytbMdW/view"  # the README's second link
CONNECT_TIMEOUT_S = 10.0


def download(url: str, target: Path, timeout: float = CONNECT_TIMEOUT_S) -> Path:
    """Stream `url` to `target` (via a .part file); fail fast and say what to do by hand."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as handle:
            total = int(response.headers.get("Content-Length") or 0)
            from tqdm import tqdm

            with tqdm(total=total or None, unit="B", unit_scale=True, desc=target.name) as progress:
                for block in iter(lambda: response.read(1 << 20), b""):
                    handle.write(block)
                    progress.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as error:
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DataError(
            f"{url}: download failed ({reason}); download the RLMRec data archive by hand "
            f"(from {url} or {RLMREC_MIRROR}) and put it at {target}, or run "
            "`python -m benchmark.data fetch rlmrec --archive PATH`") from None
    partial.replace(target)
    return target


def find_dataset_folders(root: Path) -> dict[str, Path]:
    """Each paper dataset's folder (one holding the split files) anywhere under `root`."""
    found = {}
    for split_file in sorted(root.rglob(SPLIT_FILES["train"])):
        folder = split_file.parent
        if folder.name in PAPER_DATASETS and "__MACOSX" not in folder.parts and folder.name not in found:
            found[folder.name] = folder
    return found


def fetch_rlmrec(archive: Path | None = None, url: str = RLMREC_ARCHIVE_URL, options: PrepareOptions | None = None,
                 timeout: float = CONNECT_TIMEOUT_S) -> list:
    """Get the archive (download unless `archive` is given), unpack it, prepare every dataset in it."""
    options = options or PrepareOptions()
    raw = raw_rlmrec_dir()
    if archive is None:
        archive = raw / "data.zip"
        if not archive.is_file():
            download(url, archive, timeout)
    unpacked = unpack_archive(archive, raw / "unpacked")
    results = []
    try:
        found = find_dataset_folders(unpacked)
        if not found:
            raise DataError(f"{archive}: no amazon/, yelp/ or steam/ folder holding {SPLIT_FILES['train']} inside")
        missing = [name for name in PAPER_DATASETS if name not in found]
        if missing:
            log.warning("%s holds no %s folder", archive, ", ".join(missing))
        for name, folder in found.items():
            results.append(_swap_in_and_prepare(raw / name, folder, options))
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    return results


def _swap_in_and_prepare(destination: Path, folder: Path, options: PrepareOptions):
    """Put the unpacked `folder` at `destination` and prepare it; should that fail, the previous
    raw copy is put back (the previous prepared copy is only ever replaced by a successful one)."""
    from benchmark.data.registry import prepare

    previous = destination.with_name(f".{destination.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if destination.exists():
        destination.rename(previous)
    folder.rename(destination)
    try:
        result = prepare(destination.name, replace(options, source=destination, name=None))
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        if previous.exists():
            previous.rename(destination)
        raise
    shutil.rmtree(previous, ignore_errors=True)
    return result
