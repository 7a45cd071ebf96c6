"""Unpacking trusts nothing in the archive: links, devices and names that could escape are refused,
regular files are written component by component inside the target, sizes are bounded while streaming."""
import io
import os
import tarfile
import warnings
import zipfile

import pytest

from benchmark.core.errors import DataError
from benchmark.data.sources.rlmrec import raw_rlmrec_dir
from benchmark.data.untrusted import archive as archive_module
from benchmark.data.untrusted.archive import unpack_archive
from tests.data.cli_output import error_line

STEPS = "abcdefghijklmnop"


def _add(handle: tarfile.TarFile, name: str, *, kind=tarfile.REGTYPE, link: str = "", data: bytes = b"") -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    member.mode = 0o777 if kind == tarfile.DIRTYPE else 0o644
    member.size = len(data) if kind == tarfile.REGTYPE else 0
    handle.addfile(member, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _realpath_overflow_tar(path, unpack_dir_length: int, hardlink: bool):
    """The archive of CVE-2025-4517: nested long folder names, symlinks a..p into them, and a link whose
    resolved path passes PATH_MAX, so that `os.path.realpath` (and tarfile's 'data' filter, and any lexical
    check) stops resolving and an 'escape' link reaches the unpack folder's parent."""
    component = "d" * ((os.pathconf("/", "PC_PATH_MAX") - unpack_dir_length - 1) // (len(STEPS) + 1))
    with tarfile.open(path, "w") as handle:
        folder = ""
        for step in STEPS:
            _add(handle, os.path.join(folder, component), kind=tarfile.DIRTYPE)
            _add(handle, os.path.join(folder, step), kind=tarfile.SYMTYPE, link=component)
            folder = os.path.join(folder, component)
        too_long = os.path.join(*STEPS, "l" * 254)
        _add(handle, too_long, kind=tarfile.SYMTYPE, link=os.path.join(*[".."] * len(STEPS)))
        _add(handle, "escape", kind=tarfile.SYMTYPE, link=os.path.join(too_long, ".."))
        if hardlink:
            _add(handle, "flaglink", kind=tarfile.LNKTYPE, link=os.path.join("escape", "flag"))
            _add(handle, "flaglink", data=b"overwritten")
        else:
            _add(handle, "escape/newfile", data=b"new")
    return path


@pytest.mark.parametrize("hardlink", [False, True], ids=["new-file", "hardlink-overwrite"])
def test_the_realpath_overflow_archive_writes_nothing_outside(data_home, cli, tmp_path, hardlink):
    raw = raw_rlmrec_dir()
    raw.mkdir(parents=True)
    (raw / "flag").write_text("precious")
    # the unpack folder is a temporary folder beside raw/unpacked: .unpacked.unpack.XXXXXXXX
    crafted = _realpath_overflow_tar(tmp_path / "crafted.tar", len(str(raw / ".unpacked.unpack.xxxxxxxx")), hardlink)
    status, _, err = cli("fetch", "rlmrec", "--archive", crafted)
    line = error_line(err)
    assert status == 1 and f"{crafted}: member 'a' is a symbolic link" in line, line
    assert (raw / "flag").read_text() == "precious"
    assert sorted(p.name for p in raw.iterdir()) == ["flag"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.tar", "data-root"]


@pytest.mark.parametrize("kind, what", [
    (tarfile.SYMTYPE, "a symbolic link"),
    (tarfile.LNKTYPE, "a hard link"),
    (tarfile.CHRTYPE, "a character device"),
    (tarfile.BLKTYPE, "a block device"),
    (tarfile.FIFOTYPE, "a FIFO"),
    (tarfile.GNUTYPE_SPARSE, "a sparse file"),
])
def test_every_tar_link_device_and_fifo_is_refused_even_inside_the_tree(tmp_path, kind, what):
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as handle:
        _add(handle, "data/readme.txt", data=b"ok")
        _add(handle, "data/alias", kind=kind, link="readme.txt")
    with pytest.raises(DataError, match=f"member 'data/alias' is {what}; refusing to unpack"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.tar"]


def _zip_member(name: str, unix_mode: int, data: bytes = b"") -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = unix_mode << 16
    return info, data


@pytest.mark.parametrize("mode, what", [
    (0o120777, "a symbolic link"), (0o020644, "a character device"), (0o010644, "a FIFO"), (0o140755, "a socket"),
])
def test_zip_links_and_devices_are_refused(tmp_path, mode, what):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/readme.txt", b"ok")
        handle.writestr(*_zip_member("data/alias", mode, b"../../../etc/passwd"))
    with pytest.raises(DataError, match=f"member 'data/alias' is {what}; refusing to unpack"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.zip"]


@pytest.mark.parametrize("names, reason", [
    (["data/x", "data/x"], "member 'data/x' is in the archive twice"),
    (["data/x", "data/x/y"], "member 'data/x/y': 'data/x' is not a folder"),
    (["data/" + "n" * 256], "has a name part over 255 bytes"),
    (["/".join(["d"] * 40)], "is nested 40 folders deep, more than the 32 accepted"),
    (["data//x/./y\\..\\z"], "contains '..'"),
    (["\\evil"], "has an absolute path"),
    (["."], "names no file"),
])
def test_names_that_cannot_be_written_as_given_are_refused(tmp_path, names, reason):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, and writes it
        for name in names:
            handle.writestr(name, b"x")
    with pytest.raises(DataError, match=reason):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names.zip"]


def test_plain_files_and_folders_unpack_with_our_permissions(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        _add(handle, "./top", kind=tarfile.DIRTYPE)
        _add(handle, "top/amazon/trn.txt", data=b"train")
        _add(handle, "top//amazon/./empty.txt")
        setuid = tarfile.TarInfo("top/run.sh")
        setuid.mode, setuid.size = 0o4777, 2
        handle.addfile(setuid, io.BytesIO(b"#!"))
    out = unpack_archive(archive, tmp_path / "out")
    files = {p.relative_to(out).as_posix(): p for p in out.rglob("*")}
    assert sorted(files) == ["top", "top/amazon", "top/amazon/empty.txt", "top/amazon/trn.txt", "top/run.sh"]
    assert files["top/amazon/trn.txt"].read_bytes() == b"train" and files["top/amazon/empty.txt"].read_bytes() == b""
    assert {oct(p.stat().st_mode & 0o7777) for p in files.values() if p.is_file()} == {"0o644"}
    assert {oct(p.stat().st_mode & 0o7777) for p in files.values() if p.is_dir()} == {"0o755"}


def test_a_member_larger_than_declared_is_cut_off_while_streaming(tmp_path, monkeypatch):
    """A zip whose central directory understates a member: counted while writing, not trusted."""
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as handle:
        handle.writestr("data/big.bin", b"\1" * 5000)
    monkeypatch.setattr(archive_module, "MAX_UNPACKED_BYTES", 4000)
    monkeypatch.setattr(archive_module, "_declared_size", lambda entry: 10)  # what a lying header would say
    with pytest.raises(DataError, match=r"member 'data/big\.bin' unpacks to more than"):
        unpack_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["liar.zip"]


def test_a_link_as_destination_is_replaced_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (tmp_path / "out").symlink_to(elsewhere)
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/x.txt", b"x")
    out = unpack_archive(archive, tmp_path / "out")
    assert not out.is_symlink() and (out / "data" / "x.txt").read_bytes() == b"x"
    assert [p.name for p in elsewhere.iterdir()] == ["keep.txt"]


def test_a_zip_member_named_only_nul_is_refused(tmp_path):
    archive = tmp_path / "nul.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("@", b"x")
    archive.write_bytes(archive.read_bytes().replace(b"@", b"\0"))  # zipfile reads the name back as ''
    with pytest.raises(DataError, match="member '' names no file"):
        unpack_archive(archive, tmp_path / "out")
