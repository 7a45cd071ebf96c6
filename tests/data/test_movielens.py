import json

import numpy as np
import pytest

from benchmark.data.layout import prepared_dir, read_meta
from benchmark.data.sources.movielens import load_movielens, recbole_ml100k_dir
from benchmark.data.sources.movielens_text import item_profile, readable_title, user_profile, user_profiles
from benchmark.data.splits import SPLIT_SEED, TEST, TRAIN, VALID, split_per_user


@pytest.fixture(scope="module")
def movielens():
    tables = load_movielens(recbole_ml100k_dir())
    return tables, split_per_user(tables.users, tables.items, SPLIT_SEED)


def _profiles(tables, users, items, ratings, labels):
    return user_profiles(users, items, ratings, labels, tables.shape[0], tables.demographics, tables.titles,
                         tables.genres)


def test_movielens_counts_after_keeping_ratings_of_three_and_more(movielens):
    tables, _ = movielens
    assert tables.shape == (943, 1574)
    assert len(tables.users) == 82_520 and tables.ratings.min() == 3.0


def test_user_profiles_are_a_function_of_the_training_split_only(movielens):
    tables, labels = movielens
    profiles = _profiles(tables, tables.users, tables.items, tables.ratings, labels)
    # rewrite every held-out interaction: other items, other ratings, valid and test swapped
    held_out = labels != TRAIN
    rng = np.random.default_rng(1)
    items = tables.items.copy()
    items[held_out] = rng.integers(0, tables.shape[1], held_out.sum())
    ratings = tables.ratings.copy()
    ratings[held_out] = 5.0
    swapped = labels.copy()
    swapped[labels == VALID], swapped[labels == TEST] = TEST, VALID
    assert _profiles(tables, tables.users, items, ratings, swapped) == profiles
    # ...while changing the training interactions does change them (the check is not vacuous)
    train_ratings = tables.ratings.copy()
    train_ratings[labels == TRAIN] = 8.0 - train_ratings[labels == TRAIN]
    assert _profiles(tables, tables.users, tables.items, train_ratings, labels) != profiles


def test_no_held_out_title_appears_in_a_user_profile(movielens):
    tables, labels = movielens
    profiles = _profiles(tables, tables.users, tables.items, tables.ratings, labels)
    for user in range(0, tables.shape[0], 7):
        mine = tables.users == user
        train_titles = {tables.titles[i] for i in tables.items[mine & (labels == TRAIN)]}
        for item in tables.items[mine & (labels != TRAIN)]:
            title = tables.titles[item]
            if not any(title in seen for seen in train_titles):
                assert title not in profiles[user]


def test_profile_texts_read_naturally():
    assert readable_title("Usual Suspects, The") == "The Usual Suspects"
    assert readable_title("Postino, Il") == "Il Postino"
    assert readable_title("Fargo") == "Fargo"
    assert item_profile("Usual Suspects, The", "1995", ["Crime", "Thriller"]) == \
        "The Usual Suspects (1995): a crime and thriller film."
    alien = item_profile("Alien", "1979", ["Action", "Horror", "Sci-Fi"])
    assert alien == "Alien (1979): an action, horror and sci-fi film."
    assert item_profile("Mystery", "", ["unknown"]) == "Mystery: a film."
    liked = [("Fargo (1996)", ["Crime", "Drama"], 5.0), ("Heat (1995)", ["Action", "Crime"], 3.0),
             ("Babe (1995)", ["Comedy"], 4.0), ("Alien (1979)", ["Horror"], 3.0)]
    # crime weighs 3 + 1, drama 3, comedy 2, action 1, horror 1
    assert user_profile("18", "F", "engineer", liked) == (
        "An 18-year-old female engineer. She mostly enjoys crime, drama and comedy films, "
        "with favourites such as Fargo (1996), Babe (1995) and Heat (1995).")
    assert user_profile("30", "M", "none", []) == "A 30-year-old man."


def test_prepare_with_stand_in_vectors_writes_the_protocol_and_is_then_up_to_date(data_home, cli):
    status, out, err = cli("prepare", "ml-100k-text", "--stand-in-vectors", "8")
    assert status == 0, err
    meta = read_meta("ml-100k-text")
    assert (meta["n_users"], meta["n_items"], meta["n_interactions"]) == (943, 1574, 82_520)
    assert (meta["n_train"], meta["n_valid"], meta["n_test"]) == (49_506, 16_507, 16_507)
    assert meta["split"]["seed"] == SPLIT_SEED and meta["text_encoder"] == "stand-in (random, 8-d)"
    assert "STAND-IN" in meta["stand_in_vectors"]["warning"]
    folder = prepared_dir("ml-100k-text")
    assert np.load(folder / "user_vectors.npy").shape == (943, 8)
    assert len(json.loads((folder / "item_profiles.json").read_text())) == 1574
    status, out, _ = cli("prepare", "ml-100k-text", "--stand-in-vectors", "8")
    assert status == 0 and "up to date" in out
    status, out, _ = cli("prepare", "ml-100k-text", "--stand-in-vectors", "8", "--force")
    assert status == 0 and "prepared" in out and read_meta("ml-100k-text")["version"] == meta["version"]
