"""Fuzzing the archive extractor: any bytes, any tar or zip member list ends in an unpacked folder or a
DataError naming the archive, never another exception, and nothing is ever written outside the
destination."""
import io
import os
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from benchmark.core.errors import DataError
from benchmark.data.untrusted.archive import unpack_archive

set_hypothesis_home_dir(tempfile.mkdtemp(prefix="dmrec-hypothesis-"))  # nothing written into the repository
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
PARTS = ["data", "amazon", "a", ".", "..", "", "x" * 300, "C:", "\\", "..\\..", "trn_mat.pkl", "\u00e9", "a b"]
names = st.lists(st.sampled_from(PARTS), min_size=1, max_size=5).map("/".join) | st.text(max_size=20)
TAR_TYPES = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
             tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, b"V", b"Z"]
members = st.lists(st.tuples(names, st.sampled_from(TAR_TYPES), names, st.binary(max_size=40)), max_size=6)


def _tar(entries, compression: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}", format=tarfile.PAX_FORMAT) as handle:
        for name, kind, link, data in entries:
            member = tarfile.TarInfo(name)
            member.type, member.linkname = kind, link
            regular = kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
            member.size = len(data) if regular else 0
            handle.addfile(member, io.BytesIO(data) if regular else None)
    return buffer.getvalue()


def _zip(entries) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as handle, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, and writes it
        for name, kind, _, data in entries:
            info = zipfile.ZipInfo(name or "empty")
            info.external_attr = {tarfile.SYMTYPE: 0o120777, tarfile.DIRTYPE: 0o040755,
                                  tarfile.FIFOTYPE: 0o010644}.get(kind, 0o100644) << 16
            handle.writestr(info, data)
    return buffer.getvalue()


def _unpack(content: bytes):
    """Unpack into a fresh folder; nothing but the archive and the destination may appear beside them."""
    with tempfile.TemporaryDirectory(prefix="dmrec-fuzz-archive-") as folder:
        work = Path(folder) / "work"
        work.mkdir()
        archive = work / "fuzz.archive"
        archive.write_bytes(content)
        try:
            unpacked = unpack_archive(archive, work / "out")
        except DataError as error:
            assert str(archive) in str(error)
            outcome = "refused"
        else:
            assert not any(p.is_symlink() for p in unpacked.rglob("*"))
            assert all(p.is_dir() or p.is_file() for p in unpacked.rglob("*"))
            outcome = "unpacked"
        assert sorted(os.listdir(work)) == sorted(["fuzz.archive", *(["out"] if outcome == "unpacked" else [])])
        assert os.listdir(folder) == ["work"]
        event(outcome)


@FUZZ
@given(members, st.sampled_from(["", "gz", "bz2", "xz"]))
def test_any_tar_unpacks_inside_or_is_refused(entries, compression):
    _unpack(_tar(entries, compression))


@FUZZ
@given(members)
def test_any_zip_unpacks_inside_or_is_refused(entries):
    _unpack(_zip(entries))


@FUZZ
@given(st.sampled_from(["tar", "tar.gz", "zip"]), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)),
                                                          min_size=1, max_size=8), st.integers(0, 2000))
def test_damaged_archives_unpack_or_are_refused(kind, flips, cut):
    entries = [("data/amazon/trn_mat.pkl", tarfile.REGTYPE, "", b"\x80\x04K\x01." * 20), ("data/b", tarfile.DIRTYPE,
                                                                                           "", b"")]
    content = bytearray(_zip(entries) if kind == "zip" else _tar(entries, "gz" if kind == "tar.gz" else ""))
    for position, value in flips:
        content[position % len(content)] = value
    _unpack(bytes(content[:max(1, len(content) - cut)]))


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes_unpack_or_are_refused(content):
    _unpack(content)
