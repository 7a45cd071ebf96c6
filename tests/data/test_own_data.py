"""Your own interactions as CSV/TSV/.inter: splits checked by hand, texts, and bad tables."""
import json
import re

import numpy as np
import pytest

from benchmark.core.errors import DataError
from benchmark.data.layout import list_prepared, prepared_dir, read_meta, verified_version
from benchmark.data.splits import SPLIT_SEED, split_per_user, split_sizes
from tests.data.cli_output import error_line

# a: 4 items (i3 rated 2; i1 repeated later), b: 3 with a timestamp tie, c: 2, d: 1 (rated 1)
ROWS = [
    ("a", "i1", 5, 10), ("a", "i2", 4, 30), ("a", "i3", 2, 20), ("a", "i4", 5, 40),
    ("b", "i1", 3, 5), ("b", "i5", 4, 5), ("b", "i2", 5, 1),
    ("c", "i3", 4, 7), ("c", "i4", 4, 8),
    ("d", "i5", 1, 3),
    ("a", "i1", 5, 50),
]
USERS, ITEMS = ["a", "b", "c", "d"], ["i1", "i2", "i3", "i4", "i5"]


def _write(path, rows=ROWS, header=("user", "item", "rating", "timestamp"), delimiter=","):
    path.write_text("\n".join([delimiter.join(header), *(delimiter.join(map(str, r)) for r in rows)]) + "\n")
    return path


def _pairs(name: str, split: str) -> set[tuple[str, str]]:
    folder = prepared_dir(name)
    users = json.loads((folder / "user_original_ids.json").read_text())
    items = json.loads((folder / "item_original_ids.json").read_text())
    lines = (folder / f"{name}.{split}.inter").read_text().splitlines()[1:]
    return {(users[int(u)], items[int(i)]) for u, i in (line.split("\t") for line in lines)}


def test_temporal_split_is_leave_last_out_with_stable_ties(data_home, cli, tmp_path):
    status, out, err = cli("prepare", "mine", "--source", _write(tmp_path / "interactions.csv"), "--split", "temporal")
    assert status == 0, err
    # b: i1 and i5 tie at 5, i5 is later in the file
    assert _pairs("mine", "test") == {("a", "i4"), ("b", "i5"), ("c", "i4")}
    assert _pairs("mine", "valid") == {("a", "i2"), ("b", "i1")}  # c has 2: train + test; d has 1: train
    assert _pairs("mine", "train") == {("a", "i1"), ("a", "i3"), ("b", "i2"), ("c", "i3"), ("d", "i5")}
    meta = read_meta("mine")
    counts = ("n_users", "n_items", "n_interactions", "n_train", "n_valid", "n_test")
    assert [meta[key] for key in counts] == [4, 5, 10, 5, 2, 3]
    assert meta["builder"] == "csv" and meta["split"]["kind"] == "temporal" and meta["text_encoder"] is None
    assert verified_version("mine") == meta["version"]
    status, out, _ = cli("prepare", "mine", "--source", tmp_path / "interactions.csv", "--split", "temporal")
    assert status == 0 and "mine: up to date" in out


def test_min_rating_drops_rows_before_the_split(data_home, cli, tmp_path):
    source = _write(tmp_path / "interactions.csv")
    assert cli("prepare", "liked", "--source", source, "--split", "temporal", "--min-rating", "3")[0] == 0
    meta = read_meta("liked")
    assert (meta["n_users"], meta["n_items"], meta["n_interactions"]) == (3, 5, 8)  # a-i3 and d-i5 gone, d with it
    assert _pairs("liked", "train") == {("a", "i1"), ("b", "i2"), ("c", "i3")}


def test_random_split_is_per_user_three_one_one_seeded_as_ml_100k_text(data_home, cli, tmp_path):
    assert cli("prepare", "mine", "--source", _write(tmp_path / "interactions.csv"))[0] == 0
    meta = read_meta("mine")
    # a: 4 distinct items -> 2/1/1, b: 3 -> 1/1/1, c: 2 -> 2/0/0, d: 1 -> 1/0/0
    assert [split_sizes(n) for n in (4, 3, 2, 1)] == [(2, 1, 1), (1, 1, 1), (2, 0, 0), (1, 0, 0)]
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (6, 2, 2)
    assert meta["split"]["seed"] == SPLIT_SEED
    pairs = sorted({(r[0], r[1]) for r in ROWS})
    users = np.array([USERS.index(u) for u, _ in pairs])
    items = np.array([ITEMS.index(i) for _, i in pairs])
    labels = split_per_user(users, items, SPLIT_SEED)
    for k, split in enumerate(("train", "valid", "test")):
        assert _pairs("mine", split) == {pairs[j] for j in np.flatnonzero(labels == k)}


def test_a_split_column_and_renamed_columns_in_a_tsv(data_home, cli, tmp_path):
    rows = [("u1", "x", "train"), ("u1", "y", "valid"), ("u1", "z", "test"), ("u2", "x", "train"), ("u2", "z", "train")]
    source = _write(tmp_path / "mine.tsv", rows, header=("uid", "iid", "fold"), delimiter="\t")
    status, _, err = cli("prepare", "folds", "--source", source, "--columns", "user=uid,item=iid",
                         "--split", "column:fold")
    assert status == 0, err
    assert _pairs("folds", "train") == {("u1", "x"), ("u2", "x"), ("u2", "z")}
    assert _pairs("folds", "valid") == {("u1", "y")} and _pairs("folds", "test") == {("u1", "z")}


def test_a_recbole_inter_file_is_a_source_too(data_home, cli, tmp_path):
    header = ("user_id:token", "item_id:token", "rating:float", "timestamp:float")
    source = _write(tmp_path / "ratings.inter", header=header, delimiter="\t")
    status, _, err = cli("prepare", "from-inter", "--source", source, "--split", "temporal")
    assert status == 0, err
    assert _pairs("from-inter", "test") == {("a", "i4"), ("b", "i5"), ("c", "i4")}
    status, _, err = cli("prepare", "csv", "--source", source, "--split", "temporal")  # the builder by name
    assert status == 0 and "ratings" in list_prepared()


def test_texts_are_stored_per_original_id_with_stand_in_vectors(data_home, cli, tmp_path):
    source = _write(tmp_path / "interactions.csv")
    (tmp_path / "users.csv").write_text("id,text\n" + "".join(f'{u},"user {u}, who reads"\n' for u in reversed(USERS)))
    (tmp_path / "items.csv").write_text("id,text\nextra,never used\n" + "".join(f"{i},item {i}\n" for i in ITEMS))
    status, _, err = cli("prepare", "texts", "--source", source, "--user-text", tmp_path / "users.csv",
                         "--item-text", tmp_path / "items.csv", "--stand-in-vectors", "8")
    assert status == 0, err
    folder = prepared_dir("texts")
    assert json.loads((folder / "user_profiles.json").read_text()) == [f"user {u}, who reads" for u in USERS]
    assert json.loads((folder / "item_profiles.json").read_text()) == [f"item {i}" for i in ITEMS]
    assert np.load(folder / "user_vectors.npy").shape == (4, 8) and np.load(folder / "item_vectors.npy").shape == (5, 8)
    assert read_meta("texts")["text_encoder"] == "stand-in (random, 8-d)"


def test_texts_are_embedded_by_the_encoder_through_the_cache(data_home, cli, tmp_path):
    from benchmark.data.text_encoder import embed_cached, resolve_encoder

    source = _write(tmp_path / "interactions.csv")
    (tmp_path / "items.csv").write_text("id,text\n" + "".join(f"{i},a film numbered {i}\n" for i in ITEMS))
    status, _, err = cli("prepare", "embedded", "--source", source, "--item-text", tmp_path / "items.csv")
    assert status == 0, err
    vectors = np.load(prepared_dir("embedded") / "item_vectors.npy")
    assert vectors.shape == (5, 384) and not (prepared_dir("embedded") / "user_vectors.npy").exists()
    cached = embed_cached(resolve_encoder(), [f"a film numbered {i}" for i in ITEMS])  # a cache hit now
    np.testing.assert_array_equal(vectors, cached)


@pytest.mark.parametrize("content, options, status, message", [
    ("user,thing\na,x\n", (), 1, "interactions.csv: no item column (looked for item or item_id"),
    ("user,item,rating\na,x,good\n", ("--min-rating", "3"), 1,
     "interactions.csv: line 2: rating 'good' is not a finite number"),
    ("user,item,rating\na,x,4\nb,y,nan\n", (), 1, "interactions.csv: line 3: rating 'nan' is not a finite number"),
    ("user,item\na,x\n", ("--min-rating", "3"), 1, "--min-rating needs a rating column"),
    ("", (), 1, "interactions.csv: empty file"),
    ("user,item\n", (), 1, "interactions.csv: a header and no rows"),
    ("user,item\na,x\nb,y\n", ("--split", "temporal"), 1, "--split temporal needs a timestamp column"),
    ("user,item\na,x\nb,y\n", (), 1, "the valid split is empty with --split random"),
    ("user,item,fold\na,x,train\na,y,holdout\n", ("--split", "column:fold"), 1, "line 3: split 'holdout' is not train"),
    ("user,item\na,x\n", ("--split", "sideways"), 2,
     "--split sideways: expected one of random, temporal, column:<name>"),
    ("user,item\na,x\n", ("--columns", "user=uid,item=iid"), 1,
     "no column 'uid' (--columns user=...; header: user, item)"),
])
def test_bad_tables_are_one_line(data_home, cli, tmp_path, content, options, status, message):
    source = tmp_path / "interactions.csv"
    source.write_text(content)
    found, _, err = cli("prepare", "mine", "--source", source, *options)
    assert found == status and message in error_line(err)
    assert list_prepared() == []


def test_bad_columns_option_is_a_bad_command_line(cli, tmp_path):
    status, _, err = cli("prepare", "mine", "--source", tmp_path / "x.csv", "--columns", "person=uid")
    assert status == 2 and "expected ROLE=COLUMN pairs" in err


def test_meta_json_keeps_the_command_that_makes_the_dataset_again(data_home, cli, tmp_path):
    source = _write(tmp_path / "my interactions.csv")
    assert cli("prepare", "mine", "--source", source, "--split", "temporal", "--min-rating", "3")[0] == 0
    command = read_meta("mine")["prepare_command"]
    assert command == (f"python -m benchmark.data prepare csv --name mine --min-rating 3.0 "
                       f"--source '{source.resolve()}' --split temporal")
    train = prepared_dir("mine") / "mine.train.inter"
    train.write_text(train.read_text()[:-3])
    with pytest.raises(DataError, match="prepare it again with `" + re.escape(command) + " --force`"):
        verified_version("mine")


@pytest.mark.parametrize("delimiter", [";", "|", "\t"])
def test_the_delimiter_of_a_csv_is_sniffed(data_home, cli, tmp_path, delimiter):
    source = _write(tmp_path / "interactions.csv", delimiter=delimiter)
    status, _, err = cli("prepare", "sniffed", "--source", source, "--split", "temporal")
    assert status == 0, err
    assert _pairs("sniffed", "test") == {("a", "i4"), ("b", "i5"), ("c", "i4")}


def test_iso_dates_order_a_temporal_split(data_home, cli, tmp_path):
    rows = [("u", "late", "2024-03-01T10:00:00"), ("u", "early", "2023-12-31"), ("u", "middle", "2024-01-15"),
            ("v", "early", "2024-01-01"), ("v", "late", "2024-02-01")]
    source = _write(tmp_path / "dated.csv", rows, header=("user", "item", "timestamp"))
    assert cli("prepare", "dated", "--source", source, "--split", "temporal")[0] == 0
    assert _pairs("dated", "test") == {("u", "late"), ("v", "late")}
    assert _pairs("dated", "valid") == {("u", "middle")}


def test_extra_columns_are_named_in_one_warning(data_home, cli, tmp_path):
    rows = [(*row, "x", "y") for row in ROWS]
    source = _write(tmp_path / "extra.csv", rows, header=("user", "item", "rating", "timestamp", "ratng", "genre"))
    status, _, err = cli("prepare", "extra", "--source", source, "--split", "temporal")
    assert status == 0, err
    assert err.splitlines() == [f"warning: {source}: columns 'ratng', 'genre' not used (read: user, item, rating, "
                                "timestamp and a --split column; name them with --columns ROLE=COLUMN)"]
    folds = _write(tmp_path / "folds.csv", [(u, i, "train") for u, i, *_ in ROWS], header=("uid", "item", "fold"))
    status, _, err = cli("prepare", "folds", "--source", folds, "--split", "column:fold", "--columns", "user=uid")
    assert "not used" not in err  # the split column and a renamed column are read
    status, _, err = cli("prepare", "plain", "--source", _write(tmp_path / "plain.csv"))
    assert status == 0 and err == ""
