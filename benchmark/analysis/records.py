"""A grid's finished trials as one tidy DataFrame, read only through the results store.

Every table and figure starts here. A record becomes a row through the store's own `index_row`
(the row `index.csv` shows), plus what the analysis adds: the full config, whether the trial
stopped at its epoch cap, and the code version that produced it. Trials are grouped by (model,
dataset, matcher) and, inside such a group, by every config key whose value differs between trials
except `seed` (plus the dataset version, so results on a re-prepared dataset never mix with older
ones). Those differing keys become the trial's `config_label` ("beta=0.4, formulation=paper"), so no
table cell or plotted point ever averages two configurations silently.

Records arrive checked and at the current schema version (benchmark.runner.record): every field
read here has its type, and what a trial's defaults were comes from the record's own `defaults`,
never from today's config code.
"""
from __future__ import annotations

import json
import math
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from benchmark.analysis.roles import model_label, variant_label
from benchmark.core.paths import results_root

if TYPE_CHECKING:
    from benchmark.runner.store import ResultStore

METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")
SEED_KEYS = ("seed",)  # the only config key averaged over
SWEEP_KEY = "beta"  # Fig. 6 sweeps it; Table 2 keeps the model's default value
IDENTITY = ("model", "dataset", "matcher")
PER_USER_NEEDS = ("n_train", "ndcg@20")  # the per-user columns Fig. 3 reads


class NoResults(RuntimeError):
    """The grid has no finished trials; the message says how to produce some."""


def root_or_default(root: Path | str | None = None) -> Path:
    """`root` if given (the analysis' --results), else `benchmark.core.paths.results_root()`."""
    return Path(root).resolve() if root is not None else results_root()


def list_grids(root: Path | str | None = None) -> list[str]:
    """Grids that have a `trials/` folder under the results root; not the `<grid>_search` stores of
    `python -m benchmark.tune` (validation-only samples: their grid's report shows them)."""
    base = root_or_default(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "trials").is_dir() and not p.name.endswith("_search"))


def _value_key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def commit_of(record: dict) -> str:
    """The commit a record's trial ran at, with its dirty flag: 'commit 1b29e6c (clean)', or
    '(dirty flag not recorded)' for records that do not say."""
    provenance = record.get("provenance") or {}
    commit = provenance.get("commit")
    dirty = provenance.get("dirty")
    state = "dirty" if dirty else "clean" if dirty is False else "dirty flag not recorded"
    return f"commit {str(commit)[:10] if commit else 'unknown'} ({state})"


def code_hash_of(record: dict) -> str:
    """The short hash of the code that determines the record's model ('not recorded' for old records).
    It is per model: two models' trials of one commit have different hashes."""
    provenance = record.get("provenance") or {}
    return str(provenance["code_hash"])[:12] if provenance.get("code_hash") else "not recorded"


def code_version(record: dict) -> str:
    """The code behind a record, one line: commit, dirty flag and the short code hash."""
    return f"{commit_of(record)}, code {code_hash_of(record)}"


def epoch_cap(record: dict) -> int | None:
    """The configured epoch cap when the trial ran up to it (it did not stop early), else None."""
    cap, ran = (record.get("config") or {}).get("epochs"), record.get("epochs_run")
    if isinstance(cap, (int, float)) and isinstance(ran, (int, float)) and ran >= cap:
        return int(cap)
    return None


@dataclass
class GridResults:
    """The finished trials of one grid: `trials` (one row per trial) and the store for per-trial files.

    `problems`: one line per stored file the analysis had to leave out (a corrupt per-user file, a
    record without model/dataset/seed); the report lists them and the command exits 1."""

    grid: str
    store: ResultStore
    trials: pd.DataFrame
    records: dict[str, dict] = field(repr=False, default_factory=dict)
    problems: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # one line per older-schema record left out
    superseded_versions: dict[str, set[str]] = field(default_factory=dict)  # dataset -> versions left out
    _per_user: dict[str, pd.DataFrame | None] = field(repr=False, default_factory=dict)

    def per_user(self, trial_id: str) -> pd.DataFrame | None:
        """The trial's per-user test metrics; None when the store has none or the file is unreadable
        (then one line in `problems` and on stderr: that trial only is left out)."""
        if trial_id not in self._per_user:
            frame = None
            try:
                frame = self.store.read_per_user(trial_id)
                missing = [c for c in PER_USER_NEEDS if c not in frame.columns]
                if missing:
                    raise ValueError(f"no column(s) {', '.join(missing)}")
            except KeyError:  # no per-user file: a record without one, not a damaged file
                frame = None
            except (OSError, EOFError, ValueError, zlib.error, UnicodeDecodeError) as error:
                frame = None
                line = (f"{self.store.per_user_path(trial_id)}: unreadable ({type(error).__name__}: "
                        f"{str(error).splitlines()[0] if str(error) else 'no detail'}); trial {trial_id} left out "
                        f"of the per-user figure")
                self.problems.append(line)
                print(f"warning: {line}", file=sys.stderr)
            self._per_user[trial_id] = frame
        return self._per_user[trial_id]

    @property
    def datasets(self) -> list[str]:
        return sorted(self.trials["dataset"].unique())

    def versions(self, trial_ids) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Of the given trials: commit line -> count, and model -> code hash -> count."""
        commits: dict[str, int] = {}
        hashes: dict[str, dict[str, int]] = {}
        for trial_id in trial_ids:
            record = self.records[trial_id]
            commit = commit_of(record)
            commits[commit] = commits.get(commit, 0) + 1
            per_model = hashes.setdefault(record["config"]["model"], {})
            code = code_hash_of(record)
            per_model[code] = per_model.get(code, 0) + 1
        return commits, hashes


def open_store(grid: str, root: Path | str | None = None):
    from benchmark.runner.store import ResultStore

    return ResultStore(grid, root=root_or_default(root))


def load_grid_results(grid: str, root: Path | str | None = None) -> GridResults:
    """Read every finished record of `grid`; raises NoResults when there is none."""
    store = open_store(grid, root)
    problems = []
    if store.trials_dir.is_dir():  # a record.json the store does not count as finished is damaged
        stored = {d.name for d in store.trials_dir.iterdir() if store.record_path(d.name).is_file()}
        problems += [f"{store.record_path(t)}: not a valid finished record (the warning above says why); left out"
                     for t in sorted(stored - store.finished_ids())]
    records = store.records()  # checked by the store: model, dataset and seed are there
    if not records:
        where = root_or_default(root) / grid
        raise NoResults(f"no finished trials in {where}/; run python -m benchmark.run --grid {grid}")
    every = records
    records, superseded = drop_superseded(records, prepared_versions({str(r["config"]["dataset"]) for r in records}))
    trials = label_configs(pd.DataFrame([trial_row(record) for record in records]))
    kept = {(str(r["config"]["dataset"]), str(r.get("dataset_version"))) for r in records}
    gone: dict[str, set[str]] = {}
    for dataset, version in {(str(r["config"]["dataset"]), str(r.get("dataset_version"))) for r in every} - kept:
        gone.setdefault(dataset, set()).add(version)
    return GridResults(grid, store, trials, {r["trial_id"]: r for r in records}, problems,
                       [f"{store.record_path(old)}: {why}; left out" for old, why in superseded], gone)


def prepared_versions(datasets: set[str]) -> dict[str, str]:
    """dataset -> the version in its prepared meta.json, for those prepared here."""
    from benchmark.core.errors import DataError
    from benchmark.data.layout import read_meta

    versions = {}
    for dataset in sorted(datasets):
        try:
            versions[dataset] = str(read_meta(dataset)["version"])
        except (DataError, ValueError, KeyError, TypeError):  # not prepared here, or unreadable: no preference
            continue
    return versions


def drop_superseded(records: list[dict], prepared: dict[str, str] | None = None
                    ) -> tuple[list[dict], list[tuple[str, str]]]:
    """`records` without the superseded ones; returns (kept, [(older trial id, why)]).

    Of an older dataset version: per dataset one version is current, the prepared one (`prepared`:
    dataset -> version in its meta.json) when some record has it, else that of the record finished
    last. Records of any other version are of data that is gone (the dataset was prepared again),
    not rows of their own.
    Repeated by a newer record: same value for every key the older one has, plus keys the older one
    lacks (its code predates them). A new model key changes every trial id, so a rerun stores such
    a record beside the old one instead of replacing it; counted together they would split a
    table's rows by the missing key. Records differing in a value (a `--set` run, a sweep point)
    both stay."""
    dropped = _of_older_dataset_versions(records, prepared or {})
    by_cell: dict[tuple, list[dict]] = {}
    for record in records:
        if record["trial_id"] in dropped:
            continue
        config = record["config"]
        by_cell.setdefault(tuple(_value_key(config.get(k)) for k in ("model", "dataset", "matcher", "seed")),
                           []).append(record)
    for group in by_cell.values():
        for older in group:
            for newer in group:
                extra = set(newer["config"]) - set(older["config"])
                if set(older["config"]) < set(newer["config"]) and all(
                        _value_key(newer["config"][k]) == _value_key(v) for k, v in older["config"].items()):
                    dropped[older["trial_id"]] = (f"superseded by trial {newer['trial_id']}, the same settings "
                                                  f"with keys newer code added ({', '.join(sorted(extra))})")
                    break
    return [r for r in records if r["trial_id"] not in dropped], sorted(dropped.items())


def current_dataset_versions(records: list[dict], prepared: dict[str, str]) -> dict[str, str]:
    """dataset -> its current version among `records` (see `drop_superseded`)."""
    latest: dict[str, tuple[str, str]] = {}
    seen: dict[str, set[str]] = {}
    for record in records:
        dataset, version = str(record["config"]["dataset"]), str(record.get("dataset_version"))
        seen.setdefault(dataset, set()).add(version)
        latest[dataset] = max(latest.get(dataset, ("", "")), (str(record.get("finished_at") or ""), version))
    return {d: prepared[d] if prepared.get(d) in seen[d] else latest[d][1] for d in seen}


def _of_older_dataset_versions(records: list[dict], prepared: dict[str, str]) -> dict[str, str]:
    current = current_dataset_versions(records, prepared)
    return {r["trial_id"]: (f"dataset '{r['config']['dataset']}' version {str(r.get('dataset_version'))[:12]}, "
                            f"superseded by version {current[str(r['config']['dataset'])][:12]} (the dataset "
                            f"was prepared again)")
            for r in records if str(r.get("dataset_version")) != current[str(r["config"]["dataset"])]}


def trial_row(record: dict) -> dict:
    """The store's index row of `record` plus the full config, the epoch cap it hit and its code version."""
    from benchmark.runner.store import index_row

    row = index_row({"grid": "", **record})
    for split in ("test", "valid"):
        for metric in METRICS:
            row.setdefault(f"{split}_{metric}", math.nan)
    row["matcher"] = row.get("matcher") or "none"
    row["capped_at"] = epoch_cap(record)
    row["code_version"] = code_version(record)
    row["_config"] = {**record["config"], "dataset_version": record.get("dataset_version")}
    row["_defaults"] = record["defaults"]
    return row


def varying_keys(configs: list[dict]) -> list[str]:
    """Config keys (seed excluded) whose values are not identical across `configs`."""
    keys = sorted(set().union(*configs)) if configs else []
    return [k for k in keys if k not in SEED_KEYS
            and len({_value_key(c.get(k)) for c in configs}) > 1]


def label_configs(trials: pd.DataFrame, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """Set `config_label` per trial: the keys that differ inside its (model, dataset, matcher) group."""
    trials = trials.copy()
    labels = pd.Series("", index=trials.index, dtype=object)
    for _, group in trials.groupby(list(IDENTITY), sort=False):
        keys = [k for k in varying_keys(list(group["_config"])) if k not in exclude]
        for index, config in group["_config"].items():
            labels[index] = ", ".join(f"{k}={_short(config.get(k))}" for k in keys)
    trials["config_label"] = labels
    return trials


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def recorded_default(defaults: dict, key: str):
    """The value `key` took at the model's defaults, as the record's `defaults` say; LookupError when they do not."""
    model = defaults.get("model")
    if model is None:
        raise LookupError(f"the record holds no defaults ({defaults.get('error', 'not recorded')})")
    if key not in model:
        raise LookupError(f"{model.get('model')} declares no '{key}'")
    return model[key]


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return _value_key(a) == _value_key(b)


def select_defaults(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep, per (model, dataset, matcher), the trials at the model's default `beta` when a grid sweeps it.

    Rule: if the group's configs differ in `beta`, keep the trials whose beta equals the default
    their own record names (`defaults.model.beta`: the config of that model, dataset and matcher with
    nothing set by a grid); if no record names one or no trial has it, keep every config (each
    becomes its own labelled row) and say so in a note. Labels are then recomputed over what is
    kept, so a single remaining config has no label.
    """
    kept, notes = [], []
    for (model, dataset, matcher), group in trials.groupby(list(IDENTITY), sort=False):
        if SWEEP_KEY in varying_keys(list(group["_config"])):
            group, note = _at_default(group)
            if note:
                notes.append(f"{model_label(model)} {variant_label(matcher)} on {dataset}: {note}")
        kept.append(group)
    selected = pd.concat(kept) if kept else trials.iloc[:0]
    return label_configs(selected), notes


def _at_default(group: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The trials of one group at their recorded default `beta`, or the whole group and a note why not."""
    defaults, at_default = [], []
    for config, recorded in zip(group["_config"], group["_defaults"], strict=True):
        try:
            default = recorded_default(recorded, SWEEP_KEY)
        except LookupError as error:
            at_default.append(False)
            problem = error
            continue
        defaults.append(default)
        at_default.append(_same(config.get(SWEEP_KEY), default))
    if not defaults:
        return group, (f"several {SWEEP_KEY} values and no recorded default ({problem}); "
                       f"each is shown as its own row")
    chosen = group[at_default]
    if chosen.empty:
        shown = ", ".join(sorted({_short(d) for d in defaults}))
        return group, f"no trial at the default {SWEEP_KEY}={shown}; every {SWEEP_KEY} is shown as its own row"
    return chosen, None


def environment_summary(results: GridResults) -> dict[str, list[str]]:
    """Distinct values of the recorded environment across the grid's records (ideally one each)."""
    seen: dict[str, set[str]] = {}
    for record in results.records.values():
        env = record.get("env") or {}
        entries = {"python": env.get("python"), "device": env.get("device"), "platform": env.get("platform"),
                   "git commit": env.get("git_commit"), "torch threads": env.get("torch_threads")}
        entries.update({f"package {k}": v for k, v in (env.get("packages") or {}).items()})
        for key, value in entries.items():
            seen.setdefault(key, set()).add(str(value) if value is not None else "unknown")
    return {key: sorted(values) for key, values in seen.items()}
