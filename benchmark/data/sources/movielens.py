"""`ml-100k-text`: MovieLens-100K with profile texts, built offline from the copy RecBole ships.

Protocol (the paper's, on a dataset small enough to run anywhere): ratings >= 3 are kept as
implicit feedback; each user's kept interactions are split 3:1:1 at random with a fixed seed
(`splits.py`); users and items are renumbered 0..n-1 in increasing original id over the kept
interactions (every ML-100K user keeps at least 6, so nobody is dropped). Item profiles come from
title, year and genres; user profiles from demographics and the training split only
(`movielens_text.py`); both are embedded by a sentence-transformers encoder (default MiniLM).
"""
from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.core.errors import DataError
from benchmark.data.layout import SPLITS
from benchmark.data.prepared import PreparedDataset
from benchmark.data.recipe import PrepareOptions, TextVectors, files_fingerprint
from benchmark.data.sources.movielens_text import item_profile, titled, user_profiles
from benchmark.data.splits import SPLIT_SEED, split_per_user, split_sizes

NAME = "ml-100k-text"
MIN_RATING = 3
FILES = {"inter": "ml-100k.inter", "item": "ml-100k.item", "user": "ml-100k.user"}
COLUMNS = {
    "inter": ("user_id", "item_id", "rating"),
    "item": ("item_id", "movie_title", "release_year", "class"),
    "user": ("user_id", "age", "gender", "occupation"),
}
TEXT_FIELDS = ("item: title, release year, genres; user: age, gender, occupation, and the favourite "
               "genres and best-rated titles of the user's TRAINING interactions only")


def recbole_ml100k_dir() -> Path:
    """`recbole/dataset_example/ml-100k/` inside the installed RecBole (found without importing it)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("recbole: package not installed (it ships the MovieLens-100K files of ml-100k-text)")
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


def read_atomic(path: Path, columns: tuple[str, ...]) -> dict[str, list[str]]:
    """The named columns of a RecBole atomic file (tab-separated, header `name:type`), as strings."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a RecBole atomic file of MovieLens-100K)")
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: empty file")
    header = [field.split(":")[0] for field in rows[0]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header: {' '.join(rows[0])})")
    index = [header.index(c) for c in columns]
    table: dict[str, list[str]] = {c: [] for c in columns}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        for column, k in zip(columns, index, strict=True):
            table[column].append(row[k])
    return table


def _integers(values: list[str], path: Path, column: str) -> np.ndarray:
    try:
        return np.asarray([int(float(v)) for v in values], dtype=np.int64)
    except ValueError:
        raise DataError(f"{path}: column {column} holds a value that is not a number") from None


@dataclass
class MovieLensTables:
    """Kept interactions in contiguous ids and the per-id text material, before any split."""

    users: np.ndarray  # (n_kept,) contiguous user ids
    items: np.ndarray  # (n_kept,) contiguous item ids
    ratings: np.ndarray  # (n_kept,) 3.0 .. 5.0
    titles: list[str]  # per item, with the year: 'Fargo (1996)'
    genres: list[list[str]]  # per item
    item_texts: list[str]  # per item profile
    demographics: list[tuple[str, str, str]]  # per user (age, gender, occupation)
    folder: Path

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.demographics), len(self.titles)


def load_movielens(folder: Path) -> MovieLensTables:
    """Read the three atomic files, keep ratings >= MIN_RATING, renumber by increasing original id."""
    paths = {kind: folder / file for kind, file in FILES.items()}
    inter = read_atomic(paths["inter"], COLUMNS["inter"])
    raw_users = _integers(inter["user_id"], paths["inter"], "user_id")
    raw_items = _integers(inter["item_id"], paths["inter"], "item_id")
    try:
        ratings = np.asarray([float(r) for r in inter["rating"]])
    except ValueError:
        raise DataError(f"{paths['inter']}: column rating holds a value that is not a number") from None
    keep = ratings >= MIN_RATING
    if not keep.any():
        raise DataError(f"{paths['inter']}: no rating >= {MIN_RATING}")
    user_ids, users = np.unique(raw_users[keep], return_inverse=True)
    item_ids, items = np.unique(raw_items[keep], return_inverse=True)

    item_table = read_atomic(paths["item"], COLUMNS["item"])
    by_item = {int(i): k for k, i in enumerate(_integers(item_table["item_id"], paths["item"], "item_id"))}
    lost = [int(i) for i in item_ids if int(i) not in by_item]
    if lost:
        raise DataError(f"{paths['item']}: {len(lost)} rated items have no row (first: item_id {lost[0]})")
    rows = [by_item[int(i)] for i in item_ids]
    title, year = item_table["movie_title"], item_table["release_year"]
    genres = [item_table["class"][r].split() for r in rows]

    user_table = read_atomic(paths["user"], COLUMNS["user"])
    by_user = {int(u): k for k, u in enumerate(_integers(user_table["user_id"], paths["user"], "user_id"))}
    lost = [int(u) for u in user_ids if int(u) not in by_user]
    if lost:
        raise DataError(f"{paths['user']}: {len(lost)} users have no row (first: user_id {lost[0]})")
    demographics = [tuple(user_table[c][by_user[int(u)]] for c in ("age", "gender", "occupation")) for u in user_ids]
    return MovieLensTables(
        users, items, ratings[keep],
        titles=[titled(title[r], year[r]) for r in rows], genres=genres,
        item_texts=[item_profile(title[r], year[r], genres[k]) for k, r in enumerate(rows)],
        demographics=demographics, folder=folder,
    )


class MovieLensText:
    name = NAME
    summary = "MovieLens-100K with title/genre/demographic profiles (embedded, offline; the default)"
    options = ("source", "encoder", "stand_in_dim")

    def default_name(self, options: PrepareOptions) -> str:
        return self.name

    def default_source(self) -> Path:
        return recbole_ml100k_dir()

    def _folder(self, options: PrepareOptions) -> Path:
        folder = Path(options.source) if options.source else self.default_source()
        if not folder.is_dir():
            raise DataError(f"{folder}: source folder not found")
        return folder

    def recipe(self, options: PrepareOptions, vectors: TextVectors) -> dict:
        folder = self._folder(options)
        return {"builder": NAME, "files": files_fingerprint([folder / f for f in FILES.values()]), "seed": SPLIT_SEED,
                "min_rating": MIN_RATING, "stand_in": options.stand_in_dim,
                "encoder": vectors.encoder.fingerprint if vectors.uses_encoder(False, True) else None}

    def build(self, options: PrepareOptions, out_name: str, vectors: TextVectors) -> PreparedDataset:
        tables = load_movielens(self._folder(options))
        users, items = tables.users, tables.items
        labels = split_per_user(users, items, SPLIT_SEED)
        splits = {
            split: sp.csr_matrix((np.ones(int((labels == k).sum()), np.float32),
                                  (users[labels == k], items[labels == k])), shape=tables.shape)
            for k, split in enumerate(SPLITS)
        }
        user_texts = user_profiles(users, items, tables.ratings, labels, tables.shape[0], tables.demographics,
                                   tables.titles, tables.genres)
        user_vectors = vectors.choose("user", tables.shape[0], user_texts, None)
        item_vectors = vectors.choose("item", tables.shape[1], tables.item_texts, None)
        return PreparedDataset(out_name, splits, user_vectors, item_vectors, user_texts, tables.item_texts, info={
            "source": f"MovieLens-100K as shipped by RecBole ({tables.folder})",
            "text_fields": TEXT_FIELDS,
            "split": {"protocol": "ratings >= 3 kept; per-user random 3:1:1 train/valid/test",
                      "seed": SPLIT_SEED, "rounding": "n_valid = n_test = floor(n/5 + 1/2), n_train = the rest (>= 1)",
                      "example_sizes": {n: list(split_sizes(n)) for n in (5, 6, 8, 20)}},
            "id_mapping": "external id k = k-th smallest original MovieLens id among kept interactions",
            **vectors.info(),
        })
