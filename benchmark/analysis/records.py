"""A grid's finished trials as one tidy DataFrame, read only through the results store.

Every table and figure starts here. Trials are grouped by (model, dataset, matcher) and, inside
such a group, by every config key whose value differs between trials except `seed` (plus the
dataset version, so results on a re-prepared dataset never mix with older ones). Those differing
keys become the trial's `config_label` ("beta=0.4, formulation=paper"), so no table cell or
plotted point ever averages two configurations silently.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from benchmark.store import ResultStore

METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")
SEED_KEYS = ("seed",)  # the only config key averaged over
SWEEP_KEY = "beta"  # Fig. 6 sweeps it; Table 2 keeps the model's default value
IDENTITY = ("model", "dataset", "matcher")

MATCHER_LABELS = {
    "none": "Base", "godm": "DMRec-G", "cpdm": "DMRec-C", "mddm": "DMRec-M",
    "wo_pmn": "w/o PMN", "add": "Add", "wo_mixing": "w/o Mixing",
}
DMREC_MATCHERS = ("godm", "cpdm", "mddm")
ABLATION_MATCHERS = ("wo_pmn", "add", "wo_mixing")
BASE_MODELS = ("multvae", "ldiffrec", "cvga")
BASELINE_MODELS = ("lightgcn", "kar", "llmrec", "rlmrec_c", "rlmrec_g", "alpharec", "alpharec_star")


class NoResults(RuntimeError):
    """The grid has no finished trials; the message says how to produce some."""


def results_root(root: Path | str | None = None) -> Path:
    """`root` if given, else the store's default ($DMREC_RESULTS, else `<repo>/results`)."""
    from benchmark.paths import results_root as store_default  # noqa: PLC0415

    return Path(root).resolve() if root is not None else store_default()


def list_grids(root: Path | str | None = None) -> list[str]:
    """Grids that have a `trials/` folder under the results root."""
    base = results_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "trials").is_dir())


def model_label(model: str) -> str:
    from benchmark.models import REGISTRY  # noqa: PLC0415 (the registry imports no model code)

    return REGISTRY[model].label if model in REGISTRY else model


def variant_label(matcher: str) -> str:
    return MATCHER_LABELS.get(matcher, matcher)


def _value_key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class GridResults:
    """The finished trials of one grid: `trials` (one row per trial) and the store for per-trial files."""

    grid: str
    store: "ResultStore"
    trials: pd.DataFrame
    records: dict[str, dict] = field(repr=False, default_factory=dict)
    _per_user: dict[str, pd.DataFrame | None] = field(repr=False, default_factory=dict)

    def per_user(self, trial_id: str) -> pd.DataFrame | None:
        """The trial's per-user test metrics, or None when the store has no per-user file for it."""
        if trial_id not in self._per_user:
            try:
                self._per_user[trial_id] = self.store.read_per_user(trial_id)
            except KeyError:
                self._per_user[trial_id] = None
        return self._per_user[trial_id]

    @property
    def datasets(self) -> list[str]:
        return sorted(self.trials["dataset"].unique())


def open_store(grid: str, root: Path | str | None = None):
    from benchmark.store import ResultStore  # noqa: PLC0415

    return ResultStore(grid, root=results_root(root))


def load_grid(grid: str, root: Path | str | None = None) -> GridResults:
    """Read every finished record of `grid`; raises NoResults when there is none."""
    store = open_store(grid, root)
    records = [r for r in store.records() if r.get("status", "finished") == "finished"]
    if not records:
        where = results_root(root) / grid
        raise NoResults(f"no finished trials in {where}/; run python -m benchmark.run --grid {grid}")
    rows = [_trial_row(record) for record in records]
    trials = label_configs(pd.DataFrame(rows))
    return GridResults(grid, store, trials, {r["trial_id"]: r for r in records})


def _trial_row(record: dict) -> dict:
    config = record.get("config") or {}
    for key in ("model", "dataset", "seed"):
        if key not in config:
            raise ValueError(f"record {record.get('trial_id')}: config has no '{key}'")
    test = (record.get("metrics") or {}).get("test") or {}
    valid = (record.get("metrics") or {}).get("valid") or {}
    timings = record.get("timings") or {}
    row = {
        "trial_id": record["trial_id"], "model": config["model"], "dataset": config["dataset"],
        "matcher": config.get("matcher") or "none", "seed": config["seed"],
        "formulation": config.get("formulation"), "beta": config.get(SWEEP_KEY),
        "best_epoch": record.get("best_epoch"), "epochs_run": record.get("epochs_run"),
        "total_s": timings.get("total_s"), "s_per_epoch": timings.get("s_per_epoch"),
        "_config": {**config, "dataset_version": record.get("dataset_version")},
    }
    row.update({f"test_{m}": test.get(m, math.nan) for m in METRICS})
    row.update({f"valid_{m}": valid.get(m, math.nan) for m in METRICS})
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


def default_value(model: str, dataset: str, matcher: str, key: str):
    """The value `key` takes when a grid does not set it (benchmark.config.resolve), or raise LookupError."""
    from benchmark.config import ConfigError, resolve  # noqa: PLC0415

    try:
        layer = {"matcher": matcher} if matcher != "none" else {}
        resolved = resolve(model, dataset, layer)
    except (ConfigError, KeyError, ImportError, OSError, ValueError) as error:
        raise LookupError(f"cannot resolve the default {key} of {model}/{matcher} on {dataset}: {error}") from None
    if key not in resolved:
        raise LookupError(f"{model} declares no '{key}'")
    return resolved[key]


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return _value_key(a) == _value_key(b)


def select_defaults(trials: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep, per (model, dataset, matcher), the trials at the model's default `beta` when a grid sweeps it.

    Rule: if the group's configs differ in `beta`, keep the trials whose beta equals the value
    `benchmark.config.resolve(model, dataset, {matcher})` gives; if that cannot be resolved or no
    trial has it, keep every config (each becomes its own labelled row) and say so in a note.
    Labels are then recomputed over what is kept, so a single remaining config has no label.
    """
    kept, notes = [], []
    for (model, dataset, matcher), group in trials.groupby(list(IDENTITY), sort=False):
        if SWEEP_KEY in varying_keys(list(group["_config"])):
            try:
                default = default_value(model, dataset, matcher, SWEEP_KEY)
                chosen = group[[_same(c.get(SWEEP_KEY), default) for c in group["_config"]]]
                if chosen.empty:
                    notes.append(f"{model_label(model)} {variant_label(matcher)} on {dataset}: no trial at the default "
                                 f"{SWEEP_KEY}={_short(default)}; every {SWEEP_KEY} is shown as its own row")
                else:
                    group = chosen
            except LookupError as error:
                notes.append(f"{model_label(model)} {variant_label(matcher)} on {dataset}: several {SWEEP_KEY} values and "
                             f"no resolvable default ({error}); each is shown as its own row")
        kept.append(group)
    selected = pd.concat(kept) if kept else trials.iloc[:0]
    return label_configs(selected), notes


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
