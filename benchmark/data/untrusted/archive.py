"""Unpacking a downloaded archive without trusting it, or tarfile's and zipfile's own filters.

Only plain files and folders are unpacked: every link (symbolic or hard), device, FIFO, socket or
sparse member is refused, as are absolute names, `..`, name parts over 255 bytes and deep nesting.
Files are written by walking the member's path one folder at a time from an open descriptor of
the unpack folder (`O_DIRECTORY|O_NOFOLLOW`, `dir_fd`-relative `mkdir` and `open` with
`O_EXCL|O_NOFOLLOW`), so no path is ever resolved through something the archive made: a member
can only become a new file inside the unpack folder. The member count and the declared sizes are
bounded before anything is written, and the bytes actually unpacked are counted while streaming.
Extraction goes to a fresh temporary folder beside the destination, renamed into place at the
end, so a corrupt or hostile archive leaves nothing behind; each refusal names the archive and
the member.
"""
from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from benchmark.core.errors import DataError

_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_UNPACKED_BYTES = 32 * 2**30  # RLMRec's archive unpacks to a few GB
MAX_MEMBERS = 100_000
MAX_DEPTH = 32
NAME_MAX = 255  # bytes in one name part, as on Linux and macOS
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_ZIP_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
              stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}
_TAR_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link", tarfile.CHRTYPE: "a character device",
              tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO", tarfile.GNUTYPE_SPARSE: "a sparse file"}
# what a damaged archive raises from zipfile, tarfile and their decompressors
_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError, ValueError, zlib.error,
            lzma.LZMAError, NotImplementedError)


@dataclass(frozen=True)
class _Entry:
    """One member to unpack: its name as stored, its checked path parts, folder or file, declared size."""

    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]] | None


def _declared_size(entry: _Entry) -> int:
    return entry.size


def _refuse(archive: Path, name: str, problem: str) -> DataError:
    return DataError(f"{archive}: member '{name}' {problem}; refusing to unpack")


def _parts(archive: Path, name: str) -> tuple[str, ...]:
    """The member's path as checked name parts (empty and '.' parts dropped), or a DataError."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise _refuse(archive, name, "has an absolute path")
    parts = tuple(part for part in unified.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "contains '..'")
    if not parts:
        raise _refuse(archive, name, "names no file")
    if "\0" in unified:
        raise _refuse(archive, name, "has a NUL character in its name")
    try:
        encoded = [os.fsencode(part) for part in parts]
    except UnicodeEncodeError:
        raise _refuse(archive, name, "has a name that cannot be a file name here") from None
    if any(len(part) > NAME_MAX for part in encoded):
        raise _refuse(archive, name, f"has a name part over {NAME_MAX} bytes")
    if len(parts) > MAX_DEPTH:
        raise _refuse(archive, name, f"is nested {len(parts)} folders deep, more than the {MAX_DEPTH} accepted")
    return parts


def _count(archive: Path, count: int) -> None:
    if count > MAX_MEMBERS:
        raise DataError(f"{archive}: more than the {MAX_MEMBERS:,} members accepted; refusing to unpack")


def _zip_entries(archive: Path, handle: zipfile.ZipFile) -> list[_Entry]:
    infos = handle.infolist()
    if len(infos) > MAX_MEMBERS:
        raise DataError(f"{archive}: {len(infos):,} members, more than the {MAX_MEMBERS:,} accepted; "
                        "refusing to unpack")
    entries = []
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)  # the unix file type, 0 when the zip does not say
        if kind in _ZIP_KINDS:
            raise _refuse(archive, info.filename, f"is {_ZIP_KINDS[kind]}")
        if info.flag_bits & 0x1:
            raise _refuse(archive, info.filename, "is encrypted")
        parts = _parts(archive, info.filename)  # before ZipInfo.is_dir, which fails on an empty name
        is_dir = info.filename.endswith("/") or kind == stat.S_IFDIR
        entries.append(_Entry(info.filename, parts, is_dir, 0 if is_dir else info.file_size,
                              None if is_dir else (lambda info=info: handle.open(info))))
    return entries


def _tar_entries(archive: Path, handle: tarfile.TarFile) -> list[_Entry]:
    entries = []
    for member in handle:  # read lazily, so a tar of millions of headers stops at the bound
        _count(archive, len(entries) + 1)
        if member.type in _TAR_KINDS:
            raise _refuse(archive, member.name, f"is {_TAR_KINDS[member.type]}")
        if not (member.isreg() or member.isdir()):
            raise _refuse(archive, member.name, "is not a plain file or folder")
        entries.append(_Entry(member.name, _parts(archive, member.name), member.isdir(), member.size,
                              None if member.isdir() else (lambda member=member: handle.extractfile(member))))
    return entries


def _check_totals(archive: Path, entries: list[_Entry]) -> None:
    total = sum(_declared_size(entry) for entry in entries)
    if total > MAX_UNPACKED_BYTES:
        raise DataError(f"{archive}: would unpack to {total:,} bytes, more than the {MAX_UNPACKED_BYTES:,} accepted "
                        "(an archive bomb?); refusing to unpack")


def _open_folder(archive: Path, entry: _Entry, parent: int, depth: int) -> int:
    """The descriptor of folder `entry.parts[depth]` under `parent`, made if missing, never a link."""
    name = entry.parts[depth]
    try:
        os.mkdir(name, 0o755, dir_fd=parent)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except (NotADirectoryError, OSError) as error:  # a file of that name (ENOTDIR) or a link (ELOOP)
        where = "/".join(entry.parts[:depth + 1])
        raise DataError(f"{archive}: member '{entry.name}': '{where}' is not a folder "
                        f"({os.strerror(error.errno or 0)}); refusing to unpack") from None


def _write_file(archive: Path, entry: _Entry, parent: int, written: int) -> int:
    """Stream the member into a new file under `parent`; the total written so far, bounded."""
    try:
        target = os.open(entry.parts[-1], _FILE_FLAGS, 0o644, dir_fd=parent)
    except FileExistsError:
        raise _refuse(archive, entry.name, "is in the archive twice (or is also a folder)") from None
    limit = min(_declared_size(entry), MAX_UNPACKED_BYTES - written)
    with os.fdopen(target, "wb") as sink, entry.open() as source:
        size = 0
        while block := source.read(_CHUNK):
            size += len(block)
            if size > limit:
                raise _refuse(archive, entry.name, f"unpacks to more than {limit:,} bytes (its declared size or "
                                                   "what is left of the bound)")
            sink.write(block)
    return written + size


def _write_entries(archive: Path, entries: list[_Entry], root: int) -> None:
    written = 0
    for entry in entries:
        folders = entry.parts if entry.is_dir else entry.parts[:-1]
        parent = os.dup(root)
        try:
            for depth in range(len(folders)):
                child = _open_folder(archive, entry, parent, depth)
                os.close(parent)
                parent = child
            if not entry.is_dir:
                written = _write_file(archive, entry, parent, written)
        finally:
            os.close(parent)


def _unpack_into(archive: Path, staging: Path) -> None:
    root = os.open(staging, _DIR_FLAGS)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                entries = _zip_entries(archive, handle)
                _check_totals(archive, entries)
                _write_entries(archive, entries, root)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as handle:
                entries = _tar_entries(archive, handle)
                _check_totals(archive, entries)
                _write_entries(archive, entries, root)
        else:
            raise DataError(f"{archive}: not a zip or tar archive (corrupt or incomplete download?)")
    finally:
        os.close(root)


def unpack_archive(archive: str | Path, destination: str | Path) -> Path:
    """Unpack a zip or tar (.gz/.bz2/.xz) archive into `destination` (replaced if present)."""
    archive, destination = Path(archive), Path(destination)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.unpack.", dir=destination.parent))
    try:
        _unpack_into(archive, staging)
        if destination.is_symlink() or destination.is_file():
            destination.unlink()
        elif destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
        return destination
    except DataError:
        raise
    except _CORRUPT as error:
        raise DataError(f"{archive}: corrupt archive ({type(error).__name__}: {error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
