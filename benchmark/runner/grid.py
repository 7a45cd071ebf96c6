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

A trial's config is `benchmark.runner.config.resolve(model, dataset, params, {matcher}, sweep point,
{seed}, command-line --set)`; its id is the hash of that full config plus the dataset's content
version, so the same trial always has the same id and any change of value gives a new one. A dataset
that is not prepared has no version yet: `expand(..., allow_unprepared=True)` (the dry run) lists its
trials without an id.

Grid files are data from anywhere: YAML aliases are refused (a 500-byte alias bomb expands to GBs),
and the file size, the seed count and the expanded trial count are bounded before expansion.
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from baselines.registry import REGISTRY, get_spec
from benchmark.core.errors import DataError
from benchmark.data.layout import list_prepared, prepared_dir, vector_file, verified_version
from benchmark.runner.config import AXES, COMMAND_LINE, ConfigError, Layer, known_keys, model_defaults, resolve

GRIDS_DIR = Path(__file__).resolve().parents[1] / "grids"
GRID_KEYS = {"description", "blocks"}
BLOCK_KEYS = {"name", "datasets", "models", "matchers", "seeds", "params", "sweep"}
NO_MATCHER = "none"  # what a model without a matcher axis counts as when filtering by matcher
MAX_GRID_BYTES = 1 * 2**20  # a grid is a page of yaml
MAX_SEEDS = 1000
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_TRIALS = 100_000


class GridError(ValueError):
    """A malformed grid yaml or a command-line narrowing that selects nothing; the message names where."""


def did_you_mean(name: str, known) -> str:
    """' (did you mean X?)' for the closest known name, else ' (known: a, b, ...)'."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(known)})"


class _DuplicateKey(yaml.YAMLError):
    """A mapping that names a key twice."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases: a grid never needs them, and they make bombs."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.constructor.ConstructorError(None, None, "YAML anchors and aliases are not allowed in a grid",
                                                    event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        """As SafeLoader's, but a key given twice is an error naming it (yaml would keep the last silently)."""
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: SafeLoader's own error follows
                    continue
                if duplicate:
                    raise _DuplicateKey(f"line {key_node.start_mark.line + 1}: the key {key!r} is given twice in "
                                        f"one mapping (yaml would keep the last silently)")
                seen.add(key)
        return super().construct_mapping(node, deep)


def known_datasets() -> set[str]:
    """Names a grid may use: every dataset builder and every prepared dataset."""
    from benchmark.data.registry import BUILDERS

    return set(BUILDERS) | set(list_prepared())


def current_dataset_version(dataset: str) -> str:
    """meta.json's version of a prepared dataset, after re-hashing its files (DataError otherwise)."""
    return verified_version(dataset)


def trial_id_of(config: dict, dataset_version: str) -> str:
    """sha256 of the sorted-key JSON of the full config plus the dataset version, first 16 hex digits."""
    payload = json.dumps({**config, "dataset_version": dataset_version}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Trial:
    """One point of a grid. The config is kept as JSON text, so a trial cannot be changed after expansion."""

    trial_id: str | None  # None while its dataset is not prepared (an id needs the data's version)
    grid: str
    config_json: str
    dataset_version: str | None
    block: str = ""

    @property
    def prepared(self) -> bool:
        return self.trial_id is not None

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
        raise GridError(f"{path}: no grid named '{name}'"
                        + did_you_mean(name, [p.stem for p in GRIDS_DIR.glob("*.yaml")]))
    return path


def _seeds(value, where: str) -> tuple[int, ...]:
    if isinstance(value, bool) or value is None:
        raise GridError(f"{where}: seeds must be a count or a list of ints, got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= MAX_SEEDS:
            raise GridError(f"{where}: seeds must be a count from 1 to {MAX_SEEDS}, got {value}")
        return tuple(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        if len(value) > MAX_SEEDS or not all(0 <= s <= MAX_SEED for s in value):
            raise GridError(f"{where}: at most {MAX_SEEDS} seeds, each in 0..{MAX_SEED}")
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
            raise GridError(f"{where}: unknown model '{model}'" + did_you_mean(model, REGISTRY))
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
        with open(path, "rb") as handle:
            raw = handle.read(MAX_GRID_BYTES + 1)
    except OSError as error:
        raise GridError(f"{path}: cannot read the grid ({error.strerror or error})") from None
    if len(raw) > MAX_GRID_BYTES:
        raise GridError(f"{path}: larger than {MAX_GRID_BYTES // 2**20} MB; a grid is a short yaml file")
    try:
        content = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # a SafeLoader
    except UnicodeDecodeError as error:
        raise GridError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except _DuplicateKey as error:
        raise GridError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise GridError(f"{path}: not valid yaml ({' '.join(str(error).split())})") from None
    except RecursionError:
        raise GridError(f"{path}: not valid yaml (nested too deeply)") from None
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
    def where(i: int, raw) -> str:
        named = isinstance(raw, dict) and raw.get("name")
        return f"{path} block {i + 1}" + (f" ({raw.get('name')})" if named else "")

    blocks = tuple(_block(raw, where(i, raw)) for i, raw in enumerate(raw_blocks))
    return Grid(path.stem, path, str(content.get("description", "")), blocks)


def accepts_matcher(model: str) -> bool:
    """A model gets a matcher axis iff its defaults yaml declares `matcher`."""
    try:
        defaults, _, _ = model_defaults(model)
    except (AttributeError, ImportError) as error:  # the model's package is not importable
        raise GridError(f"model '{model}' ({get_spec(model).target}): its module cannot be found ({error})") from None
    return "matcher" in defaults


def _dataset_version(dataset: str, cache: dict, allow_unprepared: bool) -> str | None:
    """The dataset's verified version; None for a known dataset that is not prepared when allowed."""
    if dataset not in cache:
        if dataset not in list_prepared():
            if dataset not in known_datasets():
                raise GridError(f"unknown dataset '{dataset}'" + did_you_mean(dataset, known_datasets()))
            if not allow_unprepared:
                raise DataError(f"dataset '{dataset}' is not prepared: run `python -m benchmark.data prepare "
                                f"{dataset}` first (or --dry-run to list the trials)")
            cache[dataset] = None
        else:
            try:
                cache[dataset] = current_dataset_version(dataset)
            except DataError as error:
                raise DataError(f"grid needs dataset '{dataset}': {error}") from None
    return cache[dataset]


PREPARE_TEXT = {"user": "--user-text CSV", "item": "--item-text CSV"}


def text_needs(model: str, matcher: str | None) -> tuple[str, ...]:
    """The text vectors ("user", "item") a trial of `model` with `matcher` reads: the model
    registry's `text` and, with a DMRec matcher, the matcher registry's."""
    from dmrec.matchers import MATCHERS

    needs = set(get_spec(model).text)
    if matcher is not None and matcher in MATCHERS:
        needs |= set(MATCHERS[matcher].text)
    return tuple(kind for kind in ("user", "item") if kind in needs)


def check_text(model: str, matcher: str | None, dataset: str) -> None:
    """Refuse, before anything runs, a trial that needs text vectors its prepared dataset lacks."""
    missing = [kind for kind in text_needs(model, matcher) if not (prepared_dir(dataset) / vector_file(kind)).is_file()]
    if missing:
        who = f"model '{model}'" + (f" with matcher '{matcher}'" if matcher and matcher != NO_MATCHER else "")
        raise GridError(f"dataset '{dataset}' has no {' and '.join(missing)} text vectors, which {who} needs: "
                        f"prepare it with {' '.join(PREPARE_TEXT[k] for k in missing)} (your own data) or "
                        f"--stand-in-vectors DIM, or leave the model out")


def _check_narrowing(grid: Grid, narrowing: Narrowing) -> None:
    if narrowing.models:
        present = {m for b in grid.blocks for m in b.models}
        for model in narrowing.models:
            if model not in REGISTRY:
                raise GridError(f"--models: unknown model '{model}'" + did_you_mean(model, REGISTRY))
        missing = [m for m in narrowing.models if m not in present]
        if missing:
            raise GridError(f"{grid.path}: --models {','.join(missing)} not in grid '{grid.name}' "
                            f"(it has: {', '.join(sorted(present))})")
    if narrowing.matchers:
        from dmrec.matchers import MATCHERS

        for matcher in narrowing.matchers:
            if matcher not in MATCHERS and matcher != NO_MATCHER:
                known = {*MATCHERS, NO_MATCHER}
                raise GridError(f"--matchers: unknown matcher '{matcher}'" + did_you_mean(matcher, known))
    if narrowing.datasets:
        known = known_datasets()
        for dataset in narrowing.datasets:
            if dataset not in known:
                raise GridError(f"--datasets: unknown dataset '{dataset}'" + did_you_mean(dataset, known))
    if narrowing.params:
        models = {m for b in grid.blocks for m in b.models if not narrowing.models or m in narrowing.models}
        for key in narrowing.params:
            if key in AXES:
                raise GridError(f"--set {key}=...: '{key}' is an axis of the grid; choose it with --{key}s")
            if not any(key in known_keys(m) for m in models):
                raise GridError(f"--set {key}=...: no model of the grid declares '{key}' "
                                f"(models: {', '.join(sorted(models))})")


def _size(grid: Grid, narrowing: Narrowing, seeds_override) -> int:
    """An upper bound on the trial count, computed before any trial is built."""
    total = 0
    for block in grid.blocks:
        datasets = len(narrowing.datasets) if narrowing.datasets else len(block.datasets)
        models = len([m for m in block.models if not narrowing.models or m in narrowing.models])
        matchers = len(block.matchers) if block.matchers else 1
        seeds = len(seeds_override or block.seeds)
        total += datasets * models * matchers * seeds * math.prod(len(v) for v in block.sweep.values())
    return total


def expand(grid: Grid | str, narrowing: Narrowing | None = None, allow_unprepared: bool = False) -> list[Trial]:
    """Every trial of the grid after the command line's changes, in a stable order, without duplicates.

    A dataset that is not prepared is a DataError naming the command that prepares it, unless
    `allow_unprepared`: then its trials come without an id (`Trial.prepared` is False)."""
    grid = load_grid(grid) if isinstance(grid, str) else grid
    narrowing = narrowing or Narrowing()
    _check_narrowing(grid, narrowing)
    seeds_override = _seeds(narrowing.seeds, "--seeds") if narrowing.seeds is not None else None
    size = _size(grid, narrowing, seeds_override)
    if size > MAX_TRIALS:
        raise GridError(f"{grid.path}: expands to {size:,} trials, more than the limit of {MAX_TRIALS:,}")
    versions: dict[str, str | None] = {}
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
            cli = Layer({k: v for k, v in narrowing.params.items() if k in model_keys}, COMMAND_LINE)
            for matcher, point, seed in itertools.product(matchers, itertools.product(*block.sweep.values()), seeds):
                layers = [block.params, {"matcher": matcher} if matcher is not None else {},
                          dict(zip(sweep_keys, point, strict=True)), {"seed": seed}, cli]
                try:
                    config = resolve(model, dataset, *layers)
                except ConfigError as error:
                    raise GridError(f"{where}: {model} on {dataset}: {error}") from None
                if narrowing.matchers and (config.get("matcher") or NO_MATCHER) not in narrowing.matchers:
                    continue
                version = _dataset_version(dataset, versions, allow_unprepared)
                if version is not None:
                    check_text(model, config.get("matcher"), dataset)
                config_json = json.dumps(config, sort_keys=True)
                trial_id = trial_id_of(config, version) if version is not None else None
                key = trial_id or f"unprepared:{config_json}"
                trials.setdefault(key, Trial(trial_id, grid.name, config_json, version, block.name))
    if not trials:
        raise GridError(f"{grid.path}: the command-line narrowing leaves no trial in grid '{grid.name}'")
    return list(trials.values())


def shard(trials: list[Trial], index: int, count: int) -> list[Trial]:
    """The trials of part `index` (1..count) of `count` fixed parts of a grid, chosen by trial id, so a
    shard's part does not depend on when it starts or on what is already stored."""
    return [t for t in trials if t.trial_id is not None and int(t.trial_id, 16) % count == index - 1]
