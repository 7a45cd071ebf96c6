"""Your own data (builder `csv`): an interaction table (CSV, TSV or a RecBole atomic `.inter` file).

    python -m benchmark.data prepare NAME --source interactions.csv [--columns user=uid,item=iid]
        [--min-rating 3] [--split random|temporal|column:NAME] [--user-text users.csv --item-text items.csv]

Columns: user and item (any tokens), optionally rating and timestamp (numbers, or ISO dates);
defaults are found by name (user/user_id, item/item_id, rating, timestamp; a `.inter` header's
`name:type` counts by name). The delimiter is a tab for .tsv/.inter, else sniffed among , ; | tab.
A repeated (user, item) pair counts once, at its first occurrence in time (then file order).
Users and items are renumbered 0..n-1 in increasing original id (numerically when every id is an
integer); `<kind>_original_ids.json` maps back.

Splits:
    random       per user 3:1:1 with the seed and rounding of ml-100k-text (`splits.py`)
    temporal     leave-last-out: a user's last interaction (by timestamp, ties by file order) is
                 test, the one before valid, the rest train; a user with 2 interactions gives 1
                 train + 1 test, with 1 only train
    column:NAME  the file's column NAME says train, valid or test for each row
Text files hold an `id` and a `text` column; every user (item) in the interactions needs a text.
The texts are embedded by `--encoder` through the embedding cache (or `--stand-in-vectors DIM`).
"""
from __future__ import annotations

import csv
import io
import logging
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmark.core.errors import DataError, DataRequestError
from benchmark.data.layout import SPLITS
from benchmark.data.prepared import PreparedDataset
from benchmark.data.recipe import PrepareOptions, TextVectors, files_fingerprint
from benchmark.data.splits import SPLIT_SEED, TEST, TRAIN, VALID, split_per_user, split_sizes

TABLE_SUFFIXES = (".csv", ".tsv", ".inter", ".txt")
ROLES = ("user", "item", "rating", "timestamp")
DEFAULT_COLUMNS = {"user": ("user", "user_id"), "item": ("item", "item_id"), "rating": ("rating",),
                   "timestamp": ("timestamp", "time")}
SPLIT_CHOICES = ("random", "temporal", "column:<name>")
_LABELS = {"train": TRAIN, "valid": VALID, "test": TEST}
csv.field_size_limit(1 << 24)  # long profile texts
log = logging.getLogger("benchmark.data")


def parse_columns(text: str) -> tuple[tuple[str, str], ...]:
    """`user=uid,item=iid` -> (("user", "uid"), ("item", "iid")); a DataRequestError for anything else."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, _, column = part.partition("=")
        if role not in ROLES or not column:
            raise DataRequestError(f"--columns {text}: expected ROLE=COLUMN pairs with ROLE one of {', '.join(ROLES)}")
        pairs.append((role, column))
    return tuple(pairs)


def check_split_choice(split: str | None) -> str:
    split = split or "random"
    if split not in ("random", "temporal") and not (split.startswith("column:") and len(split) > len("column:")):
        raise DataRequestError(f"--split {split}: expected one of {', '.join(SPLIT_CHOICES)}")
    return split


def _delimiter(path: Path, head: str) -> str:
    if path.suffix.lower() in (".tsv", ".inter"):
        return "\t"
    try:
        return csv.Sniffer().sniff(head.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header names, rows) of a delimited text file; `.inter` headers lose their `:type`."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise DataError(f"{path}: empty file")
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(path, text[:65536])))
    except csv.Error as error:
        raise DataError(f"{path}: not a readable table ({error})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path}: no cells (only separators and blanks)")
    header = [cell.strip() for cell in rows[0]]
    if path.suffix.lower() == ".inter":
        header = [cell.split(":", 1)[0] for cell in header]
    if not rows[1:]:
        raise DataError(f"{path}: a header and no rows")
    return header, rows[1:]


def _column(header: list[str], path: Path, role: str, given: dict[str, str], required: bool) -> int | None:
    if role in given:
        if given[role] not in header:
            raise DataError(f"{path}: no column '{given[role]}' (--columns {role}=...; header: {', '.join(header)})")
        return header.index(given[role])
    for candidate in DEFAULT_COLUMNS.get(role, (role,)):
        if candidate in header:
            return header.index(candidate)
    if required:
        raise DataError(f"{path}: no {role} column (looked for {' or '.join(DEFAULT_COLUMNS.get(role, (role,)))}; "
                        f"header: {', '.join(header)}; name it with --columns {role}=COLUMN)")
    return None


def _cells(rows: list[list[str]], index: int, path: Path, header_width: int) -> list[str]:
    values = []
    for line, row in enumerate(rows, start=2):
        if index >= len(row):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header has {header_width}")
        values.append(row[index].strip())
    return values


def _numbers(values: list[str], path: Path, role: str, dates: bool = False) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for k, value in enumerate(values):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
            if dates:
                try:
                    number = datetime.fromisoformat(value).timestamp()
                except ValueError:
                    pass
        if not math.isfinite(number):
            raise DataError(f"{path}: line {k + 2}: {role} {value!r} is not a finite number")
        out[k] = number
    return out


def _renumber(tokens: list[str]) -> tuple[list[str], np.ndarray]:
    """Sorted distinct ids (numerically when all are integers) and each token's position among them."""
    distinct = set(tokens)
    try:
        order = sorted(distinct, key=int)
    except ValueError:
        order = sorted(distinct)
    position = {token: k for k, token in enumerate(order)}
    return order, np.fromiter((position[t] for t in tokens), dtype=np.int64, count=len(tokens))


def temporal_labels(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Leave-last-out labels: per user, last by time (ties by row order) is TEST, the one before VALID."""
    order = np.lexsort((np.arange(len(users)), times, users))  # by user, then time, then row
    labels = np.full(len(users), TRAIN, dtype=np.int8)
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    for rows in np.split(order, boundaries):
        if len(rows) >= 2:
            labels[rows[-1]] = TEST
        if len(rows) >= 3:
            labels[rows[-2]] = VALID
    return labels


def read_texts(path: Path, ids: list[str], kind: str) -> list[str]:
    """The text of each id in `ids` from an (id, text) table."""
    header, rows = read_table(path)
    if "id" not in header or "text" not in header:
        raise DataError(f"{path}: a {kind} text file needs columns id and text (header: {', '.join(header)})")
    keys = _cells(rows, header.index("id"), path, len(header))
    texts = _cells(rows, header.index("text"), path, len(header))
    by_id = dict(zip(keys, texts, strict=True))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(f"{path}: {len(missing)} {kind}s of the interactions have no text (first: id {missing[0]})")
    return [by_id[i] for i in ids]


class InteractionFile:
    name = "csv"
    summary = "your own interactions: prepare NAME --source FILE.csv|.tsv|.inter [--split ...] (see --help)"
    options = ("source", "encoder", "stand_in_dim", "columns", "min_rating", "split", "user_text", "item_text")

    def default_name(self, options: PrepareOptions) -> str:
        return Path(options.source).stem if options.source else self.name

    def _source(self, options: PrepareOptions) -> Path:
        if options.source is None:
            raise DataRequestError("csv: needs --source FILE (a .csv, .tsv or .inter interaction table)")
        source = Path(options.source)
        if not source.is_file():
            raise DataError(f"{source}: interaction file not found")
        return source

    def recipe(self, options: PrepareOptions, vectors: TextVectors) -> dict:
        source = self._source(options)
        texts = [Path(p) for p in (options.user_text, options.item_text) if p is not None]
        return {"builder": self.name, "files": files_fingerprint([source, *texts]), "seed": SPLIT_SEED,
                "columns": sorted(options.columns), "min_rating": options.min_rating,
                "split": check_split_choice(options.split), "stand_in": options.stand_in_dim,
                "text_files": [p.name for p in texts],
                "encoder": vectors.encoder.fingerprint if texts and vectors.uses_encoder(False, True) else None}

    def build(self, options: PrepareOptions, out_name: str, vectors: TextVectors) -> PreparedDataset:
        source = self._source(options)
        split = check_split_choice(options.split)
        header, rows = read_table(source)
        index = {role: _column(header, source, role, dict(options.columns), role in ("user", "item"))
                 for role in ROLES}
        _warn_unused_columns(source, header, index, split)
        users = _cells(rows, index["user"], source, len(header))
        items = _cells(rows, index["item"], source, len(header))
        keep, times = _kept_and_times(source, header, rows, index, options.min_rating, split)
        given_labels = _given_labels(source, header, rows, split) if split.startswith("column:") else None
        for k, (user, item) in enumerate(zip(users, items, strict=True)):
            if not user or not item:
                raise DataError(f"{source}: line {k + 2}: empty user or item id")
        kept = np.flatnonzero(keep)
        if not len(kept):
            raise DataError(f"{source}: no interaction left (--min-rating {options.min_rating})")
        rows_kept = _first_occurrences(users, items, kept, times)
        user_ids, u = _renumber([users[k] for k in rows_kept])
        item_ids, i = _renumber([items[k] for k in rows_kept])
        if split == "random":
            labels = split_per_user(u, i, SPLIT_SEED)
        elif split == "temporal":
            labels = temporal_labels(u, times[rows_kept])
        else:
            labels = given_labels[rows_kept]
        shape = (len(user_ids), len(item_ids))
        splits = {name: sp.csr_matrix((np.ones(int((labels == k).sum()), np.float32), (u[labels == k], i[labels == k])),
                                      shape=shape) for k, name in enumerate(SPLITS)}
        for name in SPLITS:
            if splits[name].nnz == 0:
                raise DataError(f"{source}: the {name} split is empty with --split {split} "
                                f"({len(rows_kept)} interactions of {shape[0]} users)")
        profiles = {"user": None, "item": None}
        for kind, path, ids in (("user", options.user_text, user_ids), ("item", options.item_text, item_ids)):
            if path is not None:
                profiles[kind] = read_texts(Path(path), ids, kind)
        chosen = {kind: vectors.choose(kind, shape[k], profiles[kind], None)
                  if profiles[kind] is not None or options.stand_in_dim is not None else None
                  for k, kind in enumerate(("user", "item"))}
        return PreparedDataset(out_name, splits, chosen["user"], chosen["item"], profiles["user"], profiles["item"],
                               _info(source, options, split, vectors),
                               original_ids={"user": user_ids, "item": item_ids})


def _warn_unused_columns(source: Path, header: list[str], index: dict[str, int | None], split: str) -> None:
    """Name, in one warning, the columns nothing reads (a misspelt rating or timestamp column shows here)."""
    used = {k for k in index.values() if k is not None}
    if split.startswith("column:") and split.removeprefix("column:") in header:
        used.add(header.index(split.removeprefix("column:")))
    unused = [name for k, name in enumerate(header) if k not in used]
    if unused:
        log.warning("%s: column%s %s not used (read: user, item, rating, timestamp and a --split column; "
                    "name them with --columns ROLE=COLUMN)", source, "s" if len(unused) > 1 else "",
                    ", ".join(repr(name) for name in unused))


def _kept_and_times(source: Path, header: list[str], rows: list[list[str]], index: dict[str, int | None],
                    min_rating: float | None, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Which rows pass --min-rating, and each row's time (None without a timestamp column)."""
    keep = np.ones(len(rows), dtype=bool)
    if index["rating"] is not None:  # checked even when unused: a non-number says the column is not a rating
        ratings = _numbers(_cells(rows, index["rating"], source, len(header)), source, "rating")
        if min_rating is not None:
            keep &= ratings >= min_rating
    elif min_rating is not None:
        raise DataError(f"{source}: --min-rating needs a rating column (header: {', '.join(header)})")
    times = None
    if index["timestamp"] is not None:
        times = _numbers(_cells(rows, index["timestamp"], source, len(header)), source, "timestamp", dates=True)
    elif split == "temporal":
        raise DataError(f"{source}: --split temporal needs a timestamp column (header: {', '.join(header)})")
    return keep, times


def _given_labels(source: Path, header: list[str], rows: list[list[str]], split: str) -> np.ndarray:
    """Each row's split from the file's own column (`--split column:NAME`)."""
    column = split.removeprefix("column:")
    if column not in header:
        raise DataError(f"{source}: no split column '{column}' (header: {', '.join(header)})")
    names = _cells(rows, header.index(column), source, len(header))
    bad = next((k for k, v in enumerate(names) if v not in _LABELS), None)
    if bad is not None:
        raise DataError(f"{source}: line {bad + 2}: split {names[bad]!r} is not train, valid or test")
    return np.asarray([_LABELS[v] for v in names], dtype=np.int8)


def _first_occurrences(users: list[str], items: list[str], kept: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """The rows kept, one per (user, item): the first in time, then in file order; in file order."""
    order = kept[np.lexsort((kept, times[kept]))] if times is not None else kept
    seen, first = set(), []
    for k in order:
        if (users[k], items[k]) not in seen:
            seen.add((users[k], items[k]))
            first.append(k)
    return np.sort(np.asarray(first, dtype=np.int64))


def _info(source: Path, options: PrepareOptions, split: str, vectors: TextVectors) -> dict:
    """meta.json's description of where the interactions, texts and split came from."""
    protocol = {
        "random": "per-user random 3:1:1 train/valid/test",
        "temporal": "per-user leave-last-out by timestamp (last: test, the one before: valid)",
    }.get(split, f"as given by column '{split.removeprefix('column:')}'")
    examples = {"example_sizes": {n: list(split_sizes(n)) for n in (5, 6, 8, 20)}} if split == "random" else {}
    return {
        "source": f"interaction table ({source.resolve()})",
        "text_fields": ", ".join(f"{kind}: {Path(path).name}" for kind, path in
                                 (("user", options.user_text), ("item", options.item_text)) if path) or "none",
        "split": {"protocol": protocol, "kind": split, "seed": SPLIT_SEED if split == "random" else None,
                  "min_rating": options.min_rating, "duplicates": "a repeated (user, item) pair counts once",
                  **examples},
        "id_mapping": "external id k = k-th smallest original id (numeric when all ids are integers); "
                      "see <kind>_original_ids.json",
        **vectors.info(),
    }
