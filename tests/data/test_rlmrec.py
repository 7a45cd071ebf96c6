import json
import logging
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from benchmark.data.layout import prepared_dir, read_meta
from tests.data.cli_output import error_line
from tests.data.rlmrec_fixture import dump, tiny_rlmrec_arrays, write_rlmrec


def _read_inter(path):
    pairs = np.loadtxt(path, dtype=np.int64, delimiter="\t", skiprows=1, ndmin=2)
    return {(int(u), int(i)) for u, i in pairs}


def _pairs(matrix):
    coo = sp.coo_matrix(matrix)
    return {(int(u), int(i)) for u, i in zip(coo.row, coo.col, strict=True)}


@pytest.mark.parametrize("protocol", [2, 5])
def test_rlmrec_folder_round_trips_into_the_prepared_layout(data_home, cli, tmp_path, protocol):
    arrays = write_rlmrec(tmp_path / "amazon", protocol=protocol)
    status, _, err = cli("prepare", "amazon", "--source", tmp_path / "amazon", "--name", "amazon-tiny")
    assert status == 0, err
    folder = prepared_dir("amazon-tiny")
    for split in ("train", "valid", "test"):
        assert _read_inter(folder / f"amazon-tiny.{split}.inter") == _pairs(arrays["splits"][split])
    np.testing.assert_allclose(np.load(folder / "user_vectors.npy"), arrays["user_vectors"], rtol=1e-6)
    np.testing.assert_allclose(np.load(folder / "item_vectors.npy"), arrays["item_vectors"], rtol=1e-6)
    assert json.loads((folder / "user_profiles.json").read_text())[3] == "user 3 likes quiet books"
    meta = read_meta("amazon-tiny")
    assert (meta["n_users"], meta["n_items"], meta["n_interactions"], meta["text_dim"]) == (12, 10, 60, 8)
    assert meta["text_encoder"] == "shipped with the data (usr_emb_np.pkl / itm_emb_np.pkl)"
    assert meta["paper_table1"]["matches"] is False
    assert "amazon: users = 12, the paper's Table 1 has 11,000" in err  # warned, not refused


def test_recbole_reads_the_prepared_rlmrec_dataset_with_aligned_vectors(data_home, cli, tmp_path):
    from benchmark.data.runtime import external_ids, recbole_dataset_config, text_vectors
    from benchmark.runner import compat

    arrays = write_rlmrec(tmp_path / "src")
    assert cli("prepare", "rlmrec", "--source", tmp_path / "src", "--name", "tiny-rlmrec")[0] == 0
    compat.install()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.model.general_recommender import Pop

    config = Config(model=Pop, config_dict={**recbole_dataset_config("tiny-rlmrec"), "show_progress": False})
    train, _valid, _test = create_dataset(config).build()
    item_vectors = text_vectors(train, "item")
    ids = external_ids(train, "item")
    np.testing.assert_allclose(item_vectors[1:], arrays["item_vectors"][ids[1:]], rtol=1e-6)
    assert np.all(item_vectors[0] == 0)
    users = external_ids(train, "user")[train.inter_feat["user_id"].numpy()]
    items = ids[train.inter_feat["item_id"].numpy()]
    assert set(zip(users.tolist(), items.tolist(), strict=True)) == _pairs(arrays["splits"]["train"])


@pytest.mark.parametrize("form", ["dict-of-dict", "dict-of-str", "str-keys", "list-of-str", "list-of-dict"])
def test_every_documented_profile_form_is_accepted(data_home, cli, tmp_path, form):
    arrays = tiny_rlmrec_arrays()
    texts = [f"user {u} profile" for u in range(12)]
    arrays["user_profiles"] = {
        "dict-of-dict": {np.int64(u): {"profile": t, "reasoning": "r"} for u, t in enumerate(texts)},
        "dict-of-str": dict(enumerate(texts)),
        "str-keys": {str(u): t for u, t in enumerate(texts)},
        "list-of-str": texts,
        "list-of-dict": [{"profile": t} for t in texts],
    }[form]
    write_rlmrec(tmp_path / "src", arrays)
    assert cli("prepare", "rlmrec", "--source", tmp_path / "src", "--name", "forms")[0] == 0
    assert json.loads((prepared_dir("forms") / "user_profiles.json").read_text()) == texts


def test_stand_in_vectors_replace_shipped_ones_and_say_so_loudly(data_home, cli, tmp_path):
    write_rlmrec(tmp_path / "amazon")
    status, out, err = cli("prepare", "amazon", "--source", tmp_path / "amazon", "--stand-in-vectors", "24",
                           "--name", "amazon-standin")
    assert status == 0, err
    meta = read_meta("amazon-standin")
    assert meta["text_encoder"] == "stand-in (random, 24-d)" and meta["text_dim"] == 24
    assert "STAND-IN RANDOM TEXT VECTORS" in meta["stand_in_vectors"]["warning"]
    status, out, err = cli("stats", "amazon-standin")
    assert "stand-in (random, 24-d)" in out and "STAND-IN" in err


def test_missing_vectors_are_embedded_from_profiles_and_missing_text_leaves_none(data_home, cli, tmp_path):
    write_rlmrec(tmp_path / "with-profiles", vectors=False)
    assert cli("prepare", "rlmrec", "--source", tmp_path / "with-profiles", "--name", "embedded")[0] == 0
    meta = read_meta("embedded")
    assert meta["text_encoder"] == "all-MiniLM-L6-v2" and meta["text_dim"] == 384
    assert np.load(prepared_dir("embedded") / "item_vectors.npy").shape == (10, 384)

    write_rlmrec(tmp_path / "bare", vectors=False, profiles=False)
    assert cli("prepare", "rlmrec", "--source", tmp_path / "bare", "--name", "bare")[0] == 0
    meta = read_meta("bare")
    assert meta["text_encoder"] is None and not meta["has_user_vectors"] and not meta["has_profiles"]


def _corrupt(kind):
    """A change to a good fixture folder and the message the CLI must print."""
    def missing_split(folder):
        (folder / "val_mat.pkl").unlink()
    def code_in_pickle(folder):
        dump(folder / "tst_mat.pkl", logging.getLogger)  # a pickled global that is not numpy/scipy data
    def non_matrix(folder):
        dump(folder / "trn_mat.pkl", np.ones((12, 10)))
    def row_mismatch(folder):
        dump(folder / "usr_emb_np.pkl", np.ones((11, 8)))
    def nan_vectors(folder):
        vectors = np.ones((10, 8))
        vectors[4, 2] = np.nan
        dump(folder / "itm_emb_np.pkl", vectors)
    def empty_split(folder):
        dump(folder / "tst_mat.pkl", sp.coo_matrix((12, 10)))
    def shape_mismatch(folder):
        dump(folder / "val_mat.pkl", sp.coo_matrix(np.eye(12, 11)))
    def overlap(folder):
        arrays = tiny_rlmrec_arrays()
        dump(folder / "tst_mat.pkl", arrays["splits"]["train"])
    def short_profiles(folder):
        dump(folder / "itm_prf.pkl", {i: {"profile": "p"} for i in range(9)})
    def float_profile_keys(folder):
        dump(folder / "itm_prf.pkl", {i + 0.4: {"profile": "p"} for i in range(10)})
    def twice_profile_keys(folder):
        dump(folder / "usr_prf.pkl", {**{u: "p" for u in range(12)}, "3": "again"})
    def huge_vectors(folder):
        dump(folder / "usr_emb_np.pkl", np.full((12, 8), 1e300))
    return {
        "missing_split": (missing_split, r"val_mat\.pkl: missing split file"),
        "code_in_pickle": (code_in_pickle, r"tst_mat\.pkl: refused to unpickle logging\.getLogger"),
        "non_matrix": (non_matrix, r"trn_mat\.pkl: the train split is ndarray, not a scipy sparse matrix"),
        "row_mismatch": (row_mismatch, r"usr_emb_np\.pkl: 11 user vectors for 12 users"),
        "nan_vectors": (nan_vectors, r"itm_emb_np\.pkl: 1 item vectors hold NaN or inf \(first: row 4\)"),
        "empty_split": (empty_split, r"tst_mat\.pkl: the test split is empty"),
        "shape_mismatch": (shape_mismatch, r"val_mat\.pkl: the valid split has shape \(12, 11\), train has \(12, 10\)"),
        "overlap": (overlap, r"36 \(user, item\) pairs are in both train and test"),
        "short_profiles": (short_profiles, r"itm_prf\.pkl: 9 item profiles for 10 items"),
        "float_profile_keys": (float_profile_keys, r"itm_prf\.pkl: profile key 0\.4 is not an integer id"),
        "twice_profile_keys": (twice_profile_keys, r"usr_prf\.pkl: profile id 3 appears twice \(as '3' and"),
        "huge_vectors": (huge_vectors, r"usr_emb_np\.pkl: 12 user vectors hold values beyond float32's range "
                                       r"\(first: row 0\)"),
    }[kind]


@pytest.mark.parametrize("kind", ["missing_split", "code_in_pickle", "non_matrix", "row_mismatch", "nan_vectors",
                                  "empty_split", "shape_mismatch", "overlap", "short_profiles", "float_profile_keys",
                                  "twice_profile_keys", "huge_vectors"])
def test_bad_input_is_one_clear_line_and_the_prior_copy_survives(data_home, cli, tmp_path, kind):
    source = tmp_path / "amazon"
    write_rlmrec(source)
    assert cli("prepare", "amazon", "--source", source)[0] == 0
    before = {p.name: p.read_bytes() for p in prepared_dir("amazon").iterdir()}

    change, message = _corrupt(kind)
    change(source)
    status, _, err = cli("prepare", "amazon", "--source", source, "--force")
    assert status == 1
    line = error_line(err)
    assert err.count("\n") == 1, err  # no warning lines besides
    assert line.startswith("error: ") and str(source) in line
    assert __import__("re").search(message, line), line
    after = {p.name: p.read_bytes() for p in prepared_dir("amazon").iterdir()}
    assert after == before
    assert sorted(p.name for p in prepared_dir("amazon").parent.iterdir()) == ["amazon"]  # no temporary left over


def test_unknown_dataset_and_missing_source_are_clear_errors(data_home, cli, tmp_path):
    status, _, err = cli("prepare", "movielens-1b")
    assert status == 2 and "movielens-1b: unknown dataset (builders: tiny," in error_line(err)
    status, _, err = cli("prepare", "ml100k-text")
    assert status == 2 and "ml100k-text: unknown dataset; did you mean 'ml-100k-text'?" in error_line(err)
    status, _, err = cli("prepare", "yelp")
    assert status == 1 and "raw/rlmrec/yelp: source folder not found" in error_line(err)
    status, _, err = cli("prepare", "rlmrec")
    assert status == 2 and "needs --source DIR" in error_line(err)
    status, _, err = cli("prepare", "amazon", "--source", tmp_path, "--name", "../escape")
    assert status == 2 and "not a usable dataset name" in error_line(err)


@pytest.mark.parametrize("side", [2**26, 2**31 - 1])
def test_a_shape_far_beyond_the_ids_held_is_refused_before_memory_is_taken(data_home, cli, tmp_path, side):
    """One entry per split in a (side x side) matrix: the shape is bounded by the data, checked before any
    conversion (a CSR of 2**31 rows takes 8 GiB; 2**26 users and items once prepared in 16 s at 1.6 GB)."""
    source = tmp_path / "huge"
    source.mkdir()
    for k, file in enumerate(("trn_mat.pkl", "val_mat.pkl", "tst_mat.pkl")):
        dump(source / file, sp.coo_matrix((np.ones(1), ([k], [k])), shape=(side, side)))
    tracemalloc.start()
    try:
        status, _, err = cli("prepare", "rlmrec", "--source", source, "--name", "huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 1 and error_line(err) == (
        f"error: {source / 'trn_mat.pkl'}: shape ({side}, {side}) declares {side:,} users, but the splits hold "
        "interactions of 3 (ids up to 2); refusing a shape this far beyond the data (at most twice the users held "
        "+ 1,000)")
    assert peak < 50 * 2**20, f"{peak:,} bytes allocated"


def test_a_short_tail_of_users_and_items_without_interactions_is_kept(data_home, cli, tmp_path):
    arrays = tiny_rlmrec_arrays()
    arrays["splits"] = {split: sp.coo_matrix(m.toarray()[:, :10].tolist() + [[0] * 10] * 30, dtype=float)
                        for split, m in arrays["splits"].items()}  # 30 users without any interaction
    write_rlmrec(tmp_path / "tail", arrays, vectors=False, profiles=False)
    assert cli("prepare", "rlmrec", "--source", tmp_path / "tail", "--name", "tail")[0] == 0
    assert (read_meta("tail")["n_users"], read_meta("tail")["n_items"]) == (42, 10)


def test_stand_in_vectors_wider_than_accepted_are_refused_before_any_is_drawn(data_home, cli, tmp_path):
    write_rlmrec(tmp_path / "amazon")
    tracemalloc.start()
    try:
        status, _, err = cli("prepare", "amazon", "--source", tmp_path / "amazon", "--stand-in-vectors", 100_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 2 and error_line(err) == ("error: --stand-in-vectors 100000000: the dimension must be 1 to 8192")
    assert peak < 50 * 2**20 and not prepared_dir("amazon").exists()
