"""Unpacking a downloaded archive without trusting it.

Every member is checked before anything is written: absolute paths, drive letters, `..`
components, links that point outside the destination, and anything that is not a plain file,
folder or in-tree link are refused with an error naming the archive and the member. Extraction
goes to a fresh temporary folder beside the destination and is renamed into place at the end, so
a corrupt or hostile archive leaves nothing behind. The unpacked size and the member count are
bounded before extraction (a zip bomb is refused, not unpacked until the disk is full).
"""
from __future__ import annotations

import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from benchmark.core.errors import DataError

_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_UNPACKED_BYTES = 32 * 2**30  # RLMRec's archive unpacks to a few GB
MAX_MEMBERS = 100_000


def _check_totals(archive: Path, sizes: list[int]) -> None:
    if len(sizes) > MAX_MEMBERS:
        raise DataError(f"{archive}: {len(sizes):,} members, more than the {MAX_MEMBERS:,} accepted; "
                        "refusing to unpack")
    total = sum(sizes)
    if total > MAX_UNPACKED_BYTES:
        raise DataError(f"{archive}: would unpack to {total:,} bytes, more than the {MAX_UNPACKED_BYTES:,} accepted "
                        "(an archive bomb?); refusing to unpack")


def _check_name(archive: Path, name: str) -> str:
    """The member's normalized relative path, or a DataError for a path that could escape."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise DataError(f"{archive}: member '{name}' has an absolute path; refusing to unpack")
    if ".." in unified.split("/"):
        raise DataError(f"{archive}: member '{name}' contains '..'; refusing to unpack")
    return posixpath.normpath(unified)


def _check_link(archive: Path, name: str, target: str, relative_to: str) -> None:
    """A link target, resolved from `relative_to` inside the archive, must stay in the tree."""
    unified = target.replace("\\", "/")
    resolved = posixpath.normpath(posixpath.join(relative_to, unified))
    if unified.startswith("/") or _DRIVE.match(unified) or resolved == ".." or resolved.startswith("../"):
        raise DataError(f"{archive}: member '{name}' links to '{target}', outside the archive folder; "
                        "refusing to unpack")


def _check_zip(archive: Path, handle: zipfile.ZipFile) -> None:
    for info in handle.infolist():
        _check_name(archive, info.filename)
        kind = stat.S_IFMT(info.external_attr >> 16)  # unix file type, 0 when the zip does not say
        if kind == stat.S_IFLNK:
            raise DataError(f"{archive}: member '{info.filename}' is a symbolic link; refusing to unpack")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise DataError(f"{archive}: member '{info.filename}' is not a plain file or folder")
    _check_totals(archive, [info.file_size for info in handle.infolist()])


def _check_tar(archive: Path, handle: tarfile.TarFile) -> None:
    for member in handle.getmembers():
        name = _check_name(archive, member.name)
        if member.issym():
            _check_link(archive, member.name, member.linkname, posixpath.dirname(name))
        elif member.islnk():
            _check_link(archive, member.name, member.linkname, ".")
        elif not (member.isfile() or member.isdir()):
            raise DataError(f"{archive}: member '{member.name}' is not a plain file, folder or link")
    _check_totals(archive, [member.size for member in handle.getmembers()])


def unpack_archive(archive: str | Path, destination: str | Path) -> Path:
    """Unpack a zip or tar (.gz/.bz2/.xz) archive into `destination` (replaced if present)."""
    archive, destination = Path(archive), Path(destination)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.unpack.", dir=destination.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                _check_zip(archive, handle)
                handle.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as handle:
                _check_tar(archive, handle)
                handle.extractall(staging, filter="data")
        else:
            raise DataError(f"{archive}: not a zip or tar archive (corrupt or incomplete download?)")
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
        return destination
    except DataError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError, ValueError) as error:
        raise DataError(f"{archive}: corrupt archive ({type(error).__name__}: {error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
