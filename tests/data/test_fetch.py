import io
import socket
import tarfile
import zipfile

import pytest

from benchmark.core.errors import DataError
from benchmark.data.layout import list_prepared, read_meta
from benchmark.data.sources.fetch import fetch_rlmrec
from benchmark.data.sources.rlmrec import raw_rlmrec_dir
from benchmark.data.untrusted.archive import unpack_archive
from tests.data.cli_output import error_line
from tests.data.rlmrec_fixture import tiny_rlmrec_arrays, write_rlmrec


def _rlmrec_zip(tmp_path, datasets=("amazon", "yelp", "steam")):
    """A zip in the layout of RLMRec's data.zip: <top>/<dataset>/*.pkl (plus macOS litter)."""
    staging = tmp_path / "staging"
    for k, name in enumerate(datasets):
        write_rlmrec(staging / "data" / name, tiny_rlmrec_arrays(n_users=12 + k, n_items=10, seed=k))
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(staging.rglob("*")):
            handle.write(path, path.relative_to(staging).as_posix())
        handle.writestr("__MACOSX/data/amazon/._trn_mat.pkl", b"resource fork")
    return archive


def _tar_with(tmp_path, member: tarfile.TarInfo, data: bytes = b"") -> object:
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        good = tarfile.TarInfo("data/readme.txt")
        good.size = 2
        handle.addfile(good, io.BytesIO(b"ok"))
        handle.addfile(member, io.BytesIO(data) if data else None)
    return archive


def test_fetch_from_a_local_archive_unpacks_and_prepares_every_dataset(data_home, cli, tmp_path):
    status, out, err = cli("fetch", "rlmrec", "--archive", _rlmrec_zip(tmp_path))
    assert status == 0, err
    assert list_prepared() == ["amazon", "steam", "yelp"]
    assert [read_meta(n)["n_users"] for n in ("amazon", "yelp", "steam")] == [12, 13, 14]
    assert (raw_rlmrec_dir() / "yelp" / "trn_mat.pkl").is_file()
    assert read_meta("steam")["source"] == f"RLMRec format ({raw_rlmrec_dir() / 'steam'})"
    # the unpacked folders are now the default sources
    status, out, _ = cli("prepare", "yelp")
    assert status == 0 and "up to date" in out


def test_an_archive_missing_some_datasets_prepares_the_others_and_warns(data_home, cli, tmp_path):
    status, _, err = cli("fetch", "rlmrec", "--archive", _rlmrec_zip(tmp_path, ("steam",)))
    assert status == 0 and list_prepared() == ["steam"]
    assert "holds no amazon, yelp folder" in err


@pytest.mark.parametrize("member, reason", [
    ("../evil.txt", "contains '..'"),
    ("data/../../evil.txt", "contains '..'"),
    ("/tmp/evil.txt", "has an absolute path"),
    ("C:/evil.txt", "has an absolute path"),
])
def test_zip_members_that_escape_are_refused_before_anything_is_written(data_home, tmp_path, member, reason):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/amazon/fine.txt", b"fine")
        handle.writestr(member, b"evil")
    destination = tmp_path / "out" / "unpacked"
    with pytest.raises(DataError, match=reason) as refused:
        unpack_archive(archive, destination)
    assert str(archive) in str(refused.value) and member in str(refused.value)
    assert not destination.exists() and list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("kind, target, reason", [
    (tarfile.SYMTYPE, "../../../outside", "is a symbolic link"),
    (tarfile.SYMTYPE, "/etc/passwd", "is a symbolic link"),
    (tarfile.SYMTYPE, "../amazon/fine.txt", "is a symbolic link"),  # links inside the tree too
    (tarfile.LNKTYPE, "../outside", "is a hard link"),
    (tarfile.CHRTYPE, "", "is a character device"),
])
def test_tar_links_and_devices_are_refused(tmp_path, kind, target, reason):
    member = tarfile.TarInfo("data/amazon/link")
    member.type = kind
    member.linkname = target
    with pytest.raises(DataError, match=reason):
        unpack_archive(_tar_with(tmp_path, member), tmp_path / "out" / "unpacked")
    assert not (tmp_path / "out" / "unpacked").exists()


def test_tar_traversal_is_refused(tmp_path):
    escaping = tarfile.TarInfo("../evil.txt")
    escaping.size = 4
    with pytest.raises(DataError, match=r"member '\.\./evil\.txt' contains '\.\.'"):
        unpack_archive(_tar_with(tmp_path, escaping, b"evil"), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_corrupt_archives_are_one_line_errors(data_home, cli, tmp_path):
    garbage = tmp_path / "data.zip"
    garbage.write_bytes(b"this is not an archive" * 100)
    status, _, err = cli("fetch", "rlmrec", "--archive", garbage)
    assert status == 1 and f"{garbage}: not a zip or tar archive" in error_line(err)

    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(_rlmrec_zip(tmp_path).read_bytes()[:-100])
    status, _, err = cli("fetch", "rlmrec", "--archive", truncated)
    assert status == 1 and str(truncated) in error_line(err)

    damaged = tmp_path / "damaged.zip"
    data = bytearray(_rlmrec_zip(tmp_path).read_bytes())
    start = data.index(b"trn_mat.pkl") + len(b"trn_mat.pkl") + 40  # inside the first member's bytes
    data[start:start + 64] = b"\x00" * 64
    damaged.write_bytes(bytes(data))
    status, _, err = cli("fetch", "rlmrec", "--archive", damaged)
    assert status == 1 and f"{damaged}: corrupt archive" in error_line(err)
    assert list_prepared() == []


def test_offline_fetch_fails_fast_and_says_what_to_download_and_where(data_home, tmp_path):
    with socket.socket() as probe:  # a local port that nobody listens on: connection refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.zip"
    with pytest.raises(DataError) as failed:
        fetch_rlmrec(url=url, timeout=2)
    message = str(failed.value)
    assert url in message and str(raw_rlmrec_dir() / "data.zip") in message and "--archive PATH" in message
    assert not (raw_rlmrec_dir() / "data.zip").exists() and not (raw_rlmrec_dir() / "data.zip.part").exists()


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_zip_bomb_is_refused_before_unpacking_and_leaves_nothing(data_home, cli, tmp_path, monkeypatch):
    from benchmark.data.untrusted import archive as archive_module

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("data/amazon/zeros.bin", b"\0" * 4_000_000)  # 4 MB deflates to ~4 KB
    assert bomb.stat().st_size < 10_000
    monkeypatch.setattr(archive_module, "MAX_UNPACKED_BYTES", 1_000_000)
    status, _, err = cli("fetch", "rlmrec", "--archive", bomb)
    line = error_line(err)
    assert status == 1 and f"{bomb}: would unpack to 4,000,000 bytes, more than the 1,000,000 accepted" in line
    assert [p.name for p in raw_rlmrec_dir().iterdir()] == []  # no partial unpack left
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as handle:
        for k in range(30):
            handle.writestr(f"data/f{k}.txt", b"x")
    monkeypatch.setattr(archive_module, "MAX_MEMBERS", 20)
    status, _, err = cli("fetch", "rlmrec", "--archive", many)
    assert status == 1 and "30 members, more than the 20 accepted" in error_line(err)


def test_a_tar_bomb_is_refused_the_same_way(tmp_path, monkeypatch):
    from benchmark.data.untrusted import archive as archive_module

    monkeypatch.setattr(archive_module, "MAX_UNPACKED_BYTES", 1000)
    member = tarfile.TarInfo("data/big.bin")
    member.size = 5000
    with pytest.raises(DataError, match=r"would unpack to 5,00\d bytes, more than the 1,000 accepted"):
        unpack_archive(_tar_with(tmp_path, member, b"\0" * 5000), tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failed_fetch_keeps_the_previous_raw_and_prepared_copies(data_home, cli, tmp_path):
    assert cli("fetch", "rlmrec", "--archive", _rlmrec_zip(tmp_path / "good", ("amazon",)))[0] == 0
    raw_before = _snapshot(raw_rlmrec_dir() / "amazon")
    prepared_before = _snapshot(data_home / "prepared" / "amazon")
    staging = tmp_path / "bad" / "staging" / "data" / "amazon"
    write_rlmrec(staging, tiny_rlmrec_arrays(n_users=20, seed=5))
    (staging / "tst_mat.pkl").write_bytes(b"not a pickle")
    bad = tmp_path / "bad" / "data.zip"
    with zipfile.ZipFile(bad, "w") as handle:
        for path in sorted((tmp_path / "bad" / "staging").rglob("*")):
            handle.write(path, path.relative_to(tmp_path / "bad" / "staging").as_posix())
    status, _, err = cli("fetch", "rlmrec", "--archive", bad, "--force")
    assert status == 1 and "tst_mat.pkl: not a readable pickle" in error_line(err)
    assert _snapshot(raw_rlmrec_dir() / "amazon") == raw_before
    assert _snapshot(data_home / "prepared" / "amazon") == prepared_before
    assert sorted(p.name for p in raw_rlmrec_dir().iterdir()) == ["amazon"]
