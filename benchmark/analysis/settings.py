"""The "Settings by dataset" page: what the paper grids run each model with on each paper dataset,
and where each value comes from.

Built from the model yamls alone (no results): for every model of the paper grids (`table2`,
`table3`) and paper dataset, the config its block resolves to (`benchmark.runner.config.resolve` with the
block's params, `preset: released`) is compared with the model's defaults (protocol < model yaml).
The page lists every key resolved away from those defaults and every key a per-dataset entry sets
(the yaml's `datasets:` and its preset's `datasets:`), with the layer that set it and its source:
the `# source: ...` comment on the dataset entry's line (for a preset's own values, the comment
above the preset), and the key's own comment as a note.

    python -m benchmark.analysis.settings                  # rewrite docs/settings-by-dataset.md
    python -m benchmark.analysis.settings --check          # exit 1 when the page is out of date
    python -m benchmark.analysis.settings --show ldiffrec yelp   # the resolved config, as JSON
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from benchmark.core.paper import PAPER_DATASETS
from benchmark.core.paths import REPO_ROOT
from benchmark.runner.config import (
    dataset_entry,
    defaults_files,
    model_defaults,
    preset_layers,
    resolve,
)

PAPER_GRIDS = ("table2", "table3")  # the grids whose models and datasets the page covers
PAGE_PATH = REPO_ROOT / "docs" / "settings-by-dataset.md"
SOURCE_MARK = "source:"  # opens the comment on a dataset entry's line
IGNORED_KEYS = ("model", "dataset", "seed", "preset", "matcher", "beta")  # axes, or resolved elsewhere (β)

_LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_][\w.-]*)\s*:(?P<rest>.*)$")


# --- comments of a yaml file, by key path ------------------------------------------------------

def _comment(rest: str) -> str:
    """The comment of the text after a key's colon ('' when none); '#' opens one after a blank or first."""
    match = re.search(r"(?:^|\s)#\s?(.*)$", rest)
    return match.group(1).strip() if match else ""


@cache
def yaml_comments(path: str) -> tuple[dict[tuple[str, ...], str], dict[tuple[str, ...], str]]:
    """Two maps (key, subkey, ...) -> text, for every block-style key of one yaml: the comment on the
    key's line, and the comment lines directly above it (joined)."""
    inline: dict[tuple[str, ...], str] = {}
    above: dict[tuple[str, ...], str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in Path(path).read_text().splitlines():
        if line.strip().startswith("#"):
            pending.append(line.strip().lstrip("#").strip())
            continue
        match = _LINE.match(line)
        if not match:
            pending = []
            continue  # blank, or a list item
        indent = len(match.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group("key")))
        path_ = tuple(key for _, key in stack)
        inline[path_] = _comment(match.group("rest"))
        above[path_] = " ".join(pending)
        pending = []
    return inline, above


def model_comments(model: str, kind: int = 0) -> dict[tuple[str, ...], str]:
    """`yaml_comments` (kind 0: on the line, 1: above it) over the model's `extends:` chain, the
    extending file's comments winning."""
    merged: dict[tuple[str, ...], str] = {}
    for path in defaults_files(model):
        merged.update(yaml_comments(str(path))[kind])
    return merged


# --- where a per-dataset value comes from --------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One per-dataset entry of a model yaml: where it sits, its values and its source comment."""
    scope: tuple[str, ...]  # ("datasets",) or ("presets", NAME, "datasets")
    dataset: str
    values: dict
    source: str  # the entry line's comment ('' when it has none)
    key_comments: dict[str, str]

    @property
    def where(self) -> str:
        return ".".join((*self.scope, self.dataset))

    @property
    def cited(self) -> str:
        """The source comment without its `source:` mark."""
        return self.source[len(SOURCE_MARK):].strip() if self.source.startswith(SOURCE_MARK) else self.source


def dataset_entries(model: str, dataset: str, preset: str | None) -> list[Entry]:
    """The per-dataset entries `resolve(model, dataset, {"preset": preset})` applies, in order."""
    _, per_dataset, presets = model_defaults(model)
    comments = model_comments(model)
    found = []
    scopes = [(("datasets",), per_dataset)]
    if preset is not None:
        scopes.append((("presets", preset, "datasets"), (presets.get(preset) or {}).get("datasets") or {}))
    for scope, entries in scopes:
        name = dataset_entry(dataset, entries)
        if name is None:
            continue
        values = dict(entries[name] or {})
        found.append(Entry(scope, name, values, comments.get((*scope, name), ""),
                           {key: comments.get((*scope, name, key), "") for key in values}))
    return found


# --- the paper grids' settings -------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One row of the page."""
    model: str
    dataset: str
    key: str
    value: object
    default: object
    layer: str  # which layer of the model yaml (or the grid) set it
    note: str  # the comment on the key's own line


@cache
def paper_grid_runs() -> tuple[tuple[str, str, str, str], ...]:
    """(grid, model, dataset, params as JSON) of every model and paper dataset of the paper grids, once each."""
    from benchmark.runner.grid import load_grid

    runs: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for grid in PAPER_GRIDS:
        for block in load_grid(grid).blocks:
            for model in block.models:
                for dataset in block.datasets:
                    runs.setdefault((model, dataset), (grid, model, dataset, json.dumps(block.params, sort_keys=True)))
    return tuple(runs.values())


def paper_grid_config(model: str, dataset: str) -> dict:
    """The config the paper grids' plain-model trial of (model, dataset) resolves to (seed 0)."""
    for _, name, paper, params in paper_grid_runs():
        if (name, paper) == (model, dataset):
            return resolve(model, dataset, json.loads(params), {"seed": 0})
    raise KeyError(f"no paper grid runs {model} on {dataset} (grids: {', '.join(PAPER_GRIDS)})")


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def model_default(model: str) -> dict:
    """Protocol < model yaml, checked as `resolve` checks it: a dataset no entry names, no preset."""
    return resolve(model, "__defaults__")


def settings_of(model: str, dataset: str) -> list[Setting]:
    """The page's rows of one model and paper dataset, keys sorted."""
    params = _params(model, dataset)
    config = paper_grid_config(model, dataset)
    default = model_default(model)
    preset = params.get("preset")
    entries = dataset_entries(model, dataset, preset)
    _, _, presets = model_defaults(model)
    preset_values = preset_layers(presets, preset, dataset, "")[0][1] if preset is not None else {}
    comments = model_comments(model)
    rows = []
    for key in sorted(config):
        if key in IGNORED_KEYS:
            continue
        set_by = [entry for entry in entries if key in entry.values]
        if key in params:
            layer, note = f"grid {_grid_of(model, dataset)}", ""
        elif set_by:
            layer, note = set_by[-1].where, set_by[-1].key_comments.get(key, "")
        elif key in preset_values and not _same(config[key], default.get(key)):
            layer, note = f"presets.{preset}", comments.get(("presets", preset, key), "")
        elif _same(config[key], default.get(key)):
            continue
        else:  # not reached while the layers above are the only ones a paper grid applies
            layer, note = "?", ""
        rows.append(Setting(model, dataset, key, config[key], default.get(key), layer, note))
    return rows


def _grid_of(model: str, dataset: str) -> str:
    return next(g for g, m, d, _ in paper_grid_runs() if (m, d) == (model, dataset))


# --- the page --------------------------------------------------------------------------------------

def _value(value) -> str:
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render_page() -> str:
    models = list(dict.fromkeys(m for _, m, _, _ in paper_grid_runs()))
    lines = _page_intro() + _beta_table()
    for model in models:
        lines += _model_section(model)
    return "\n".join(lines) + "\n"


def _page_intro() -> list[str]:
    return [
        "# Settings by dataset",
        "",
        "<!-- generated by `python -m benchmark.analysis.settings` from the model yamls: edit those, then rerun it "
        "(tests/test_settings_by_dataset.py fails while this page is out of date) -->",
        "",
        "The paper grids (`table2`, `table3`) run every model with `preset: released`: as its authors' "
        "released code trains it, on each dataset with the settings those authors published for that "
        "dataset. This page lists, per model and paper dataset, every key the paper grid resolves away "
        "from the model's defaults (the protocol and the model yaml's top-level values) and every key "
        "a per-dataset entry sets, with the layer that sets it and its source: repository, file, and "
        "the line, config block or checkpoint name. Where the authors published nothing for a dataset, "
        "the row says which settings run instead and why.",
        "",
        "A model yaml holds its settings by dataset in two places, applied in this order "
        "(later wins; `benchmark/runner/config.py` documents the whole precedence):",
        "",
        "1. the protocol (`benchmark/runner/protocol.yaml`), then the model yaml's own values;",
        "2. its top-level `datasets: {<dataset>: {...}}`: the model's own settings by dataset, whatever "
        "the preset (Mult-VAE's input dropout, DiffRec's noise schedule);",
        "3. the preset's own values (`presets: {released: {...}}`);",
        "4. the preset's `datasets:` (`presets: {released: {..., datasets: {steam: {...}}}}`): settings "
        "by dataset that belong to the preset's source only (RLMRec's LightGCN has 2 layers on Steam; "
        "the LightGCN paper's model keeps 3);",
        "5. the grid's params, then the command line (`--set`).",
        "",
        "A dataset named `<paper>-<anything>` (e.g. `amazon-standin`) takes the `<paper>` entries. "
        "What a trial actually ran with is its resolved config: each stored record holds it "
        "(`record.json`, key `\"config\"`), and the trial id is a hash of it. "
        "`python -m benchmark.run --grid table2 --dry-run` lists the trials those configs make; "
        "`python -m benchmark.analysis.settings --show MODEL DATASET` prints the config the paper grid "
        "resolves for one model and dataset, as JSON.",
        "",
        "β, the DMRec matching weight, is resolved per matcher and dataset to the released code's value "
        "(BlueGhostYi/DMRec `encoder/config/beta.md`; `RELEASED_BETA` in `dmrec/matchers.py`):",
        "",
    ]


def _beta_table() -> list[str]:
    from dmrec.matchers import RELEASED_BETA

    lines = ["| matcher | " + " | ".join(PAPER_DATASETS) + " |", "|---|" + "---|" * len(PAPER_DATASETS)]
    for matcher, by_dataset in RELEASED_BETA.items():
        lines.append(f"| {matcher} | " + " | ".join(f"{by_dataset[d]:g}" for d in PAPER_DATASETS) + " |")
    return lines


def _model_section(model: str) -> list[str]:
    """One model's table of settings by dataset, then the sources its rows cite."""
    from baselines.registry import get_spec

    spec = get_spec(model)
    yamls = ", ".join(f"`{p.relative_to(REPO_ROOT)}`" for p in defaults_files(model))
    lines = ["", f"## {spec.label} (`{model}`)", "", f"Model yaml: {yamls}.", "",
             "| dataset | key | value | model default | set by | note |", "|---|---|---|---|---|---|"]
    sources: dict[str, str] = {}
    for dataset in PAPER_DATASETS:
        if not any(d == dataset and m == model for _, m, d, _ in paper_grid_runs()):
            continue
        preset = _params(model, dataset).get("preset")
        for entry in dataset_entries(model, dataset, preset):
            sources[entry.where] = entry.cited
        for row in settings_of(model, dataset):
            lines.append(f"| {dataset} | `{row.key}` | {_value(row.value)} | {_value(row.default)} "
                         f"| `{row.layer}` | {_cell(row.note)} |")
            if row.layer.startswith("presets.") and row.layer.count(".") == 1:
                sources[row.layer] = model_comments(model, 1).get(tuple(row.layer.split(".")), "")
        if not any(e.values for e in dataset_entries(model, dataset, preset)):
            lines.append(f"| {dataset} | – | – | – | – | no setting published for {dataset}: "
                         "see its source below |")
    lines += ["", "Sources:", ""]
    lines += [f"- `{where}`: {_cell(text) or '(none given)'}" for where, text in sorted(sources.items())]
    return lines


def _params(model: str, dataset: str) -> dict:
    return json.loads(next(p for _, m, d, p in paper_grid_runs() if (m, d) == (model, dataset)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.analysis.settings",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", type=Path, default=PAGE_PATH, help="the page to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when the page is out of date")
    parser.add_argument("--show", nargs=2, metavar=("MODEL", "DATASET"),
                        help="print the config the paper grid resolves for MODEL on DATASET, as JSON")
    args = parser.parse_args(argv)
    if args.show:
        try:
            config = paper_grid_config(*args.show)
        except (KeyError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(json.dumps(config, indent=1, sort_keys=True))
        return 0
    page = render_page()
    current = args.page.read_text() if args.page.exists() else ""
    if args.check:
        if current != page:
            print(f"error: {args.page} is out of date with the model yamls; run python -m benchmark.analysis.settings",
                  file=sys.stderr)
            return 1
        print(f"{args.page}: up to date")
        return 0
    if current != page:
        args.page.write_text(page)
        print(f"{args.page}: written")
    else:
        print(f"{args.page}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
