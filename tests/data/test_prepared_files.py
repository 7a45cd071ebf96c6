"""The prepared layout under damage: verified versions, corrupt meta.json and vectors, unwritable
roots, bad names, interrupted preparations. Each: exit 1 (bad data) or 2 (bad command line),
one line, no traceback, and nothing already prepared changed."""
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.core.errors import DataError
from benchmark.data import layout
from benchmark.data.layout import list_prepared, prepared_dir, read_meta, verified_version
from tests.data.cli_output import error_line

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_prepared(data_home, cli):
    assert cli("prepare", "tiny")[0] == 0
    return prepared_dir("tiny")


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_verified_version_matches_meta_and_is_cached(tiny_prepared, monkeypatch):
    meta = read_meta("tiny")
    assert verified_version("tiny") == meta["version"]
    calls = []
    monkeypatch.setattr(layout, "content_version", lambda *a: calls.append(a) or "never used")
    for _ in range(300):  # a grid of 300 trials re-checks from the cache
        assert verified_version("tiny") == meta["version"]
    assert calls == []


def test_a_truncated_train_file_is_caught_and_prepare_rebuilds_it(tiny_prepared, cli):
    train = tiny_prepared / "tiny.train.inter"
    good = train.read_bytes()
    train.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError) as damaged:
        verified_version("tiny")
    message = str(damaged.value)
    assert "prepared files of 'tiny' do not match meta.json (train.inter changed)" in message
    assert message.endswith("prepare it again with `python -m benchmark.data prepare tiny --force`")
    status, out, err = cli("prepare", "tiny")  # not "up to date": the files no longer hash to the version
    assert status == 0 and "tiny: prepared" in out and "train.inter changed" in err
    assert train.read_bytes() == good and verified_version("tiny") == read_meta("tiny")["version"]


def test_changed_vectors_are_named(tiny_prepared):
    vectors = np.load(tiny_prepared / "item_vectors.npy")
    vectors[0, 0] += 1.0
    np.save(tiny_prepared / "item_vectors.npy", vectors)
    with pytest.raises(DataError, match=r"\(item_vectors\.npy changed\)"):
        verified_version("tiny")


def test_prepared_files_are_0644_and_the_folder_0755(tiny_prepared):
    assert stat.S_IMODE(tiny_prepared.stat().st_mode) == 0o755
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tiny_prepared.iterdir()}
    assert set(modes.values()) == {0o644} and "meta.json" in modes


@pytest.mark.parametrize("content, reason", [
    ("{not json", "corrupt meta.json (Expecting property name"),
    ("[1, 2]", "corrupt meta.json (a list, not an object)"),
    ('{"n_users": "many"}', "corrupt meta.json (n_users, n_items"),
    ("[" * 100_000 + "]" * 100_000, "corrupt meta.json (RecursionError)"),
])
def test_a_corrupt_meta_json_is_one_line_for_list_stats_and_read_meta(tiny_prepared, cli, content, reason):
    (tiny_prepared / "meta.json").write_text(content)
    with pytest.raises(DataError, match=re.escape(reason)):
        read_meta("tiny")
    for command in (("list",), ("stats",), ("stats", "tiny")):
        status, _, err = cli(*command)
        assert status == 1 and "tiny/meta.json: " + reason in error_line(err)
        assert "prepare it again with `python -m benchmark.data prepare tiny --force`" in err


def test_prepare_over_a_corrupt_meta_json_rebuilds(tiny_prepared, cli):
    good = (tiny_prepared / "meta.json").read_text()
    (tiny_prepared / "meta.json").write_text("{not json")
    status, _, err = cli("prepare", "tiny")
    assert status == 0 and "corrupt meta.json" in err and "Traceback" not in err
    assert json.loads((tiny_prepared / "meta.json").read_text())["version"] == json.loads(good)["version"]


def test_a_damaged_vector_file_is_one_line_at_train_time_and_at_verification(tiny_prepared):
    from benchmark.data.runtime import text_vectors

    (tiny_prepared / "user_vectors.npy").write_bytes(b"\x93NUMPY garbage")

    class _Dataset:
        dataset_path = str(tiny_prepared)

    with pytest.raises(DataError, match=r"user_vectors\.npy: damaged vector file"):
        text_vectors(_Dataset(), "user")
    with pytest.raises(DataError, match=r"prepared files of 'tiny' do not match meta.json .*damaged vector file"):
        verified_version("tiny")


def test_a_corrupt_embedding_cache_file_is_recomputed_with_a_warning(data_home, caplog):
    from benchmark.data import text_encoder

    class _Encoder:
        name, fingerprint = "fake", "f" * 64

        def encode(self, texts, label):
            return np.ones((len(texts), 3), np.float32)

    texts = ["a", "b"]
    path = text_encoder.cache_dir() / f"{text_encoder.cache_key(_Encoder(), texts)}.npy"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x93NUMPY\x01\x00garbage")
    vectors = text_encoder.embed_cached(_Encoder(), texts)
    assert vectors.shape == (2, 3) and "damaged cache file" in caplog.text
    assert np.load(path).shape == (2, 3)  # replaced by the recomputed vectors


def test_an_unwritable_data_root_is_one_line_and_exit_1(tmp_path, monkeypatch, cli):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DMREC_DATA", str(blocker / "data"))  # tests run as root: a file, not permissions, blocks
    status, _, err = cli("prepare", "tiny")
    assert status == 1 and "cannot write prepared datasets here" in error_line(err)


@pytest.mark.parametrize("name, shown", [
    ("tiny\n", "'tiny\\n'"), ("x" * 256, "'" + "x" * 40 + "...'"), ("../up", "'../up'"), (".hidden", "'.hidden'"),
])
def test_unusable_names_are_a_bad_command_line(tiny_prepared, cli, name, shown):
    before = _snapshot(tiny_prepared)
    status, _, err = cli("prepare", "tiny", "--name", name)
    assert status == 2 and f"error: {shown}: not a usable dataset name" in error_line(err)
    assert list_prepared() == ["tiny"] and _snapshot(tiny_prepared) == before


def test_a_staging_folder_of_an_interrupted_prepare_is_never_listed_and_cleaned_next_time(tiny_prepared, cli):
    root = tiny_prepared.parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()[:40]
    leftover = root / f".tiny-notext.staging-{int(dead.stdout)}.{host}-abcd"
    leftover.mkdir()
    (leftover / "meta.json").write_text(json.dumps(read_meta("tiny")))  # died just before the rename
    live = root / f".other.staging-{os.getpid()}.{host}-efgh"  # a writer that is still running
    live.mkdir()
    elsewhere = root / f".other.staging-{int(dead.stdout)}.another-host-ijkl"  # pids of other hosts mean nothing here
    elsewhere.mkdir()
    assert list_prepared() == ["tiny"]
    status, out, _ = cli("list")
    assert status == 0 and ".staging-" not in out and "tiny-notext" not in out.split("prepared in")[1]
    assert cli("prepare", "tiny-notext")[0] == 0
    assert not leftover.exists() and live.exists() and elsewhere.exists()
    assert list_prepared() == ["tiny", "tiny-notext"]


def test_a_dataset_moved_aside_by_an_interrupted_swap_is_restored(tiny_prepared, cli):
    before = _snapshot(tiny_prepared)
    backup = tiny_prepared.parent / ".tiny.old"
    tiny_prepared.rename(backup)  # died between "old copy aside" and "new copy in"
    assert layout.clean_staging(tiny_prepared.parent) == [
        f"restored {tiny_prepared} from {backup} (an interrupted prepare had moved it aside)"]
    assert _snapshot(tiny_prepared) == before


def test_cli_help_shows_defaults_and_bad_options_exit_2(cli):
    status, out, _ = cli("prepare", "--help")
    assert status == 0 and "(default: random)" in out and "--min-rating" in out
    status, _, err = cli("prepare", "tiny", "--stand-in-vectors", "0")
    assert status == 2 and "0 is not a positive integer" in err
    status, _, err = cli("prepare", "tiny", "--split", "temporal")
    assert status == 2 and "tiny: this builder does not take --split" in error_line(err)
    status, _, err = cli("stats", "tyni")
    assert status == 2 and "tyni: not a prepared dataset" in error_line(err)


def test_prepare_tiny_works_in_a_fresh_process_and_matches_the_test_fixture(tmp_path):
    """The command the smoke grid's error advises, as a user on a fresh clone would type it."""
    from tests.fixtures import prepare_tiny

    env = {**os.environ, "DMREC_DATA": str(tmp_path / "root")}
    for name in ("tiny", "tiny-notext"):
        done = subprocess.run([sys.executable, "-m", "benchmark.data", "prepare", name], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    fixture = prepare_tiny(tmp_path / "fixture", name="tiny")
    built = tmp_path / "root" / "prepared" / "tiny"
    for file in ("tiny.train.inter", "tiny.valid.inter", "tiny.test.inter", "user_vectors.npy", "item_vectors.npy"):
        assert (built / file).read_bytes() == (fixture / file).read_bytes()
    meta = json.loads((built / "meta.json").read_text())
    assert (meta["n_users"], meta["n_items"], meta["n_interactions"], meta["builder"]) == (64, 48, 768, "tiny")
    assert not (tmp_path / "root" / "prepared" / "tiny-notext" / "user_vectors.npy").exists()


def test_the_smoke_grid_names_only_datasets_a_builder_makes():
    import yaml

    from benchmark.data.registry import BUILDERS

    grid = yaml.safe_load((REPO / "benchmark" / "grids" / "smoke.yaml").read_text())
    assert {d for block in grid["blocks"] for d in block["datasets"]} <= set(BUILDERS)
