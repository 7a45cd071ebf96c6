"""Grids are data: a yaml of blocks, each a cartesian product, expanded into frozen trials.

    benchmark/grids/<name>.yaml
        description: what the grid reproduces
        blocks:                               # or the keys of one block at the top level
          - name: bases                       # optional, for messages
            datasets: [amazon, yelp, steam]
            models: [multvae, ldiffrec, cvga]
            matchers: [none, godm, cpdm, mddm] # only for models whose yaml has a `matcher` key
            seeds: 10                         # n -> seeds 0..n-1, or an explicit list
            params: {epochs: 300}             # fixed overrides for every trial of the block
            sweep: {beta: [0.0, 0.5, 1.0]}    # extra axes of the product

A trial's config is `benchmark.config.resolve(model, dataset, params, {matcher}, sweep point,
{seed}, command-line --set)`; its id is the hash of that full config plus the dataset's content
version, so the same trial always has the same id and any change of value gives a new one.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmark.config import ConfigError, known_keys, model_defaults, resolve
from benchmark.data.prepared import DataError, read_meta
from benchmark.models import REGISTRY, get_spec

GRIDS_DIR = Path(__file__).with_name("grids")
GRID_KEYS = {"description", "blocks"}
BLOCK_KEYS = {"name", "datasets", "models", "matchers", "seeds", "params", "sweep"}
NO_MATCHER = "none"  # what a model without a matcher axis counts as when filtering by matcher


class GridError(ValueError):
    """A malformed grid yaml or a command-line narrowing that selects nothing; the message names where."""


def trial_id_of(config: dict, dataset_version: str) -> str:
    """sha256 of the sorted-key JSON of the full config plus the dataset version, first 16 hex digits."""
    payload = json.dumps({**config, "dataset_version": dataset_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Trial:
    """One point of a grid. The config is kept as JSON text, so a trial cannot be changed after expansion."""

    trial_id: str
    grid: str
    config_json: str
    dataset_version: str
    block: str = ""

    @property
    def config(self) -> dict:
        """A fresh copy of the full resolved config (a plain dict: what a Ray worker receives)."""
        return json.loads(self.config_json)

    @property
    def model(self) -> str:
        return self.config["model"]

    @property
    def dataset(self) -> str:
        return self.config["dataset"]

    @property
    def matcher(self) -> str:
        return self.config.get("matcher") or NO_MATCHER

    @property
    def seed(self) -> int:
        return self.config["seed"]

    def describe(self, axes: tuple[str, ...] = ()) -> str:
        config = self.config
        name = self.model if "matcher" not in config else f"{self.model}+{self.matcher}"
        extra = "".join(f" {k}={config[k]}" for k in axes if k != "seed" and config.get(k) is not None)
        return f"{name} on {self.dataset} seed {config['seed']}{extra}"


@dataclass(frozen=True)
class Block:
    name: str
    datasets: tuple[str, ...]
    models: tuple[str, ...]
    matchers: tuple[str, ...] | None
    seeds: tuple[int, ...]
    params: dict = field(hash=False)
    sweep: dict = field(hash=False)


@dataclass(frozen=True)
class Grid:
    name: str
    path: Path
    description: str
    blocks: tuple[Block, ...]

    @property
    def sweep_axes(self) -> tuple[str, ...]:
        """Names of the extra axes of any block (e.g. beta): a summary keeps them apart."""
        return tuple(dict.fromkeys(k for b in self.blocks for k in b.sweep))


@dataclass
class Narrowing:
    """Command-line changes to a grid: `datasets`/`seeds` replace, `models`/`matchers` filter,
    `params` (--set) override every model that declares the key."""

    datasets: list[str] | None = None
    models: list[str] | None = None
    matchers: list[str] | None = None
    seeds: int | list[int] | None = None
    params: dict = field(default_factory=dict)


def grid_path(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        return candidate.resolve()
    path = GRIDS_DIR / f"{name}.yaml"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in GRIDS_DIR.glob("*.yaml")))
        raise GridError(f"{path}: no grid named '{name}' (available: {available})")
    return path


def _seeds(value, where: str) -> tuple[int, ...]:
    if isinstance(value, bool) or value is None:
        raise GridError(f"{where}: seeds must be a count or a list of ints, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise GridError(f"{where}: seeds must be at least 1, got {value}")
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        return tuple(dict.fromkeys(value))
    raise GridError(f"{where}: seeds must be a count or a non-empty list of ints, got {value!r}")


def _names(value, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise GridError(f"{where}: '{key}' must be a non-empty list of names, got {value!r}")
    return tuple(dict.fromkeys(value))


def _block(raw, where: str) -> Block:
    if not isinstance(raw, dict):
        raise GridError(f"{where}: a block must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - BLOCK_KEYS)
    if unknown:
        raise GridError(f"{where}: unknown key(s) {unknown} (a block has: {', '.join(sorted(BLOCK_KEYS))})")
    for key in ("datasets", "models", "seeds"):
        if key not in raw:
            raise GridError(f"{where}: missing '{key}'")
    models = _names(raw["models"], "models", where)
    for model in models:
        if model not in REGISTRY:
            raise GridError(f"{where}: unknown model '{model}' (registered: {', '.join(sorted(REGISTRY))})")
    params, sweep = raw.get("params") or {}, raw.get("sweep") or {}
    if not isinstance(params, dict):
        raise GridError(f"{where}: 'params' must be a mapping")
    if not isinstance(sweep, dict) or not all(isinstance(v, list) and v for v in sweep.values()):
        raise GridError(f"{where}: 'sweep' must map each key to a non-empty list of values")
    for reserved in ("model", "dataset", "seed", "matcher"):
        if reserved in params or reserved in sweep:
            raise GridError(f"{where}: set '{reserved}' with the block's own axis, not params/sweep")
    return Block(
        name=str(raw.get("name", "")), datasets=_names(raw["datasets"], "datasets", where), models=models,
        matchers=_names(raw["matchers"], "matchers", where) if raw.get("matchers") is not None else None,
        seeds=_seeds(raw["seeds"], where), params=dict(params), sweep=dict(sweep),
    )


def load_grid(name: str) -> Grid:
    """Read and check `benchmark/grids/<name>.yaml` (or a path to a yaml file)."""
    path = grid_path(name)
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise GridError(f"{path}: not valid yaml ({error})") from None
    if not isinstance(content, dict):
        raise GridError(f"{path}: expected a mapping at the top level")
    if "blocks" in content:
        unknown = sorted(set(content) - GRID_KEYS)
        if unknown:
            raise GridError(f"{path}: unknown top-level key(s) {unknown} (expected: description, blocks)")
        raw_blocks = content["blocks"]
        if not isinstance(raw_blocks, list) or not raw_blocks:
            raise GridError(f"{path}: 'blocks' must be a non-empty list")
    else:
        raw_blocks = [{k: v for k, v in content.items() if k != "description"}]
    blocks = tuple(_block(raw, f"{path} block {i + 1}" + (f" ({raw.get('name')})" if isinstance(raw, dict) and raw.get("name") else ""))
                   for i, raw in enumerate(raw_blocks))
    return Grid(path.stem, path, str(content.get("description", "")), blocks)


def accepts_matcher(model: str) -> bool:
    """A model gets a matcher axis iff its defaults yaml declares `matcher`."""
    try:
        defaults, _, _ = model_defaults(model)
    except (AttributeError, ImportError) as error:  # the model's package is not importable
        raise GridError(f"model '{model}' ({get_spec(model).target}): its module cannot be found ({error})") from None
    return "matcher" in defaults


def _dataset_version(dataset: str, cache: dict) -> str:
    if dataset not in cache:
        try:
            cache[dataset] = read_meta(dataset)["version"]
        except DataError as error:
            raise DataError(f"grid needs dataset '{dataset}': {error}") from None
        except KeyError:
            raise DataError(f"dataset '{dataset}': meta.json has no 'version'; prepare it again "
                            f"(python -m benchmark.data prepare {dataset})") from None
    return cache[dataset]


def _check_narrowing(grid: Grid, narrowing: Narrowing) -> None:
    if narrowing.models:
        present = {m for b in grid.blocks for m in b.models}
        missing = [m for m in narrowing.models if m not in present]
        if missing:
            raise GridError(f"{grid.path}: --models {','.join(missing)} not in grid '{grid.name}' "
                            f"(it has: {', '.join(sorted(present))})")
    if narrowing.params:
        models = {m for b in grid.blocks for m in b.models if not narrowing.models or m in narrowing.models}
        for key in narrowing.params:
            if key in ("model", "dataset"):
                raise GridError(f"--set {key}=...: use --{key}s to choose {key}s")
            if not any(key in known_keys(m) for m in models):
                raise GridError(f"--set {key}=...: no model of the grid declares '{key}' "
                                f"(models: {', '.join(sorted(models))})")


def expand(grid: Grid | str, narrowing: Narrowing | None = None) -> list[Trial]:
    """Every trial of the grid after the command line's changes, in a stable order, without duplicates."""
    grid = load_grid(grid) if isinstance(grid, str) else grid
    narrowing = narrowing or Narrowing()
    _check_narrowing(grid, narrowing)
    seeds_override = _seeds(narrowing.seeds, "--seeds") if narrowing.seeds is not None else None
    versions: dict[str, str] = {}
    trials: dict[str, Trial] = {}
    for number, block in enumerate(grid.blocks, 1):
        where = f"{grid.path} block {number}" + (f" ({block.name})" if block.name else "")
        datasets = tuple(narrowing.datasets) if narrowing.datasets else block.datasets
        models = [m for m in block.models if not narrowing.models or m in narrowing.models]
        seeds = seeds_override or block.seeds
        sweep_keys = list(block.sweep)
        for dataset, model in itertools.product(datasets, models):
            matchers: list[str | None] = [None]
            if accepts_matcher(model) and block.matchers is not None:
                matchers = list(block.matchers)
            model_keys = known_keys(model)
            cli = {k: v for k, v in narrowing.params.items() if k in model_keys}
            for matcher, point, seed in itertools.product(matchers, itertools.product(*block.sweep.values()), seeds):
                layers = [block.params, {"matcher": matcher} if matcher is not None else {},
                          dict(zip(sweep_keys, point)), {"seed": seed}, cli]
                try:
                    config = resolve(model, dataset, *layers)
                except ConfigError as error:
                    raise GridError(f"{where}: {model} on {dataset}: {error}") from None
                if narrowing.matchers and (config.get("matcher") or NO_MATCHER) not in narrowing.matchers:
                    continue
                version = _dataset_version(dataset, versions)
                config_json = json.dumps(config, sort_keys=True)
                trial_id = trial_id_of(config, version)
                trials.setdefault(trial_id, Trial(trial_id, grid.name, config_json, version, block.name))
    if not trials:
        raise GridError(f"{grid.path}: the command-line narrowing leaves no trial in grid '{grid.name}'")
    return list(trials.values())
