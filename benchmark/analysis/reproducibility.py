"""The reproducibility page: Table 2's base rows, ours against the paper, and the screening of settings.

Trials of the paper grid (`table2`) and of the screening grid (`fidelity`) are read from the results
store; the plain bases (Mult-VAE, L-DiffRec, CVGA, no matcher) on the paper's datasets are kept.
A record's *settings* are named by diffing its resolved config against
`benchmark.runner.config.resolve(model, dataset, {"preset": its preset, "seed": its seed})`: "released",
or "released + batch_order=fixed" for a trial that changed one key. Records with the same settings
are one row whichever grid stored them (the same config is the same trial), one value per seed.

`results/reproducibility.csv` (small, committed) holds one row per (base, dataset, settings,
metric): ours (mean, sample std with ddof=1, n, the per-seed values), the paper's value, the
relative difference, within 3% or not, the grids, commits, date and device. On a fresh clone (no
trial records) it is kept as committed, and everything below is rendered from it alone:

- the README's status block (`<!-- status:begin -->` ... `<!-- status:end -->`): per base and
  dataset the settings the paper grid resolves to, its four metrics against the paper;
- the page's screening block (`<!-- screening:begin -->` ... `<!-- screening:end -->` in
  `docs/reproducibility.md`): per base and dataset every setting run, its difference to the paper
  and its change against the paper grid's settings on the seeds both ran, and one sentence per cell
  saying whether the paper's number is reached within 3%.

    python -m benchmark.analysis.reproducibility            # rebuild the CSV if possible, rewrite both blocks
    python -m benchmark.analysis.reproducibility --check    # exit 1 when a block is out of date with the CSV
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
from functools import cache
from pathlib import Path

import pandas as pd

from benchmark.analysis.paper import WITHIN_PCT, published
from benchmark.analysis.stats import seed_mean_std
from benchmark.core.atomic import atomic_write
from benchmark.core.paths import REPO_ROOT, results_root
from benchmark.runner.store import ResultStore

PAPER_GRID = "table2"
GRIDS = (PAPER_GRID, "fidelity")  # the paper grid first: it names the settings the status shows
METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
METRIC_LABELS = {"recall@10": "Recall@10", "recall@20": "Recall@20", "ndcg@10": "NDCG@10", "ndcg@20": "NDCG@20"}
BASES = {"multvae": "Mult-VAE", "ldiffrec": "L-DiffRec", "cvga": "CVGA"}  # registry name -> paper's name
DATASETS = ("amazon", "yelp", "steam")
TOLERANCE = WITHIN_PCT / 100  # relative difference counted as "reproduced"
SEEDS_TO_DECIDE = 3  # a cell is called reached or not on the mean of this many seeds, no fewer
IGNORED_KEYS = ("model", "dataset", "seed")  # what a trial is, not how it was trained
NOT_RECORDED = "(not recorded)"
DEFAULT_DEVICE = "cpu"  # records from before `env.device` ran on the CPU
CSV_PATH = REPO_ROOT / "results" / "reproducibility.csv"
README_PATH = REPO_ROOT / "README.md"
PAGE_PATH = REPO_ROOT / "docs" / "reproducibility.md"
BEGIN, END = "<!-- status:begin -->", "<!-- status:end -->"
SCREENING_BEGIN, SCREENING_END = "<!-- screening:begin -->", "<!-- screening:end -->"
COLUMNS = ("base", "dataset", "settings", "paper_grid_settings", "metric", "ours_mean", "ours_std", "n_seeds",
           "per_seed", "paper", "rel_diff", "within_3pct", "grid", "commit", "date", "device")


# --- the paper's values and the settings of a record ---------------------------------------------

def paper_value(base: str, dataset: str, metric: str) -> float | None:
    """The paper's Table 2 value of a plain base (its paper name, e.g. "L-DiffRec"), or None."""
    model = {name: key for key, name in BASES.items()}.get(base, base)
    table = published()
    hit = table[(table.table == "table2") & (table.model == model) & (table.matcher == "none")
                & (table.dataset == dataset) & (table.metric == metric)]
    return float(hit.paper.iloc[0]) if len(hit) else None


@cache
def _resolved(model: str, dataset: str, preset: str | None, seed) -> str:
    """Today's config of (model, dataset) at `preset` as JSON (cached: records share a few), or raise."""
    from benchmark.runner.config import resolve

    layer = {"seed": seed} if preset is None else {"preset": preset, "seed": seed}
    return json.dumps(resolve(model, dataset, layer), sort_keys=True)


def _same(a, b) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _shown(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return " ".join(text.split())


def describe_settings(config: dict) -> str:
    """How a record was trained, relative to its preset as today's config resolves it.

    Keys the record holds and today's config lacks (newer or older code) are shown from the
    record. A key today's config has and the record lacks (older code) is assumed to have run at the
    model's default when the preset leaves that default alone, and shown as "(not recorded)" when
    the preset changes it: older code could not have done what the preset asks."""
    from benchmark.runner.config import ConfigError

    preset = config.get("preset")
    name = preset if isinstance(preset, str) else "defaults"
    try:
        reference = json.loads(_resolved(config.get("model"), config.get("dataset"),
                                         preset if isinstance(preset, str) else None, config.get("seed", 0)))
        plain = json.loads(_resolved(config.get("model"), config.get("dataset"), None, config.get("seed", 0)))
    except (ConfigError, LookupError, ImportError, AttributeError, OSError, TypeError, ValueError) as error:
        # an unregistered model or a preset today's code lacks: say so, never crash
        return f"{name} (not resolvable today: {' '.join(str(error).split())[:80]})"
    changes = []
    for key in sorted(set(config) | set(reference)):
        if key in IGNORED_KEYS or key == "preset":
            continue
        if key not in config:
            if not _same(reference[key], plain.get(key)):
                changes.append(f"{key}={NOT_RECORDED}")
        elif key not in reference or not _same(config[key], reference[key]):
            changes.append(f"{key}={_shown(config[key])}")
    return " + ".join([name, *changes])


@cache
def paper_grid_settings(model: str, dataset: str) -> str:
    """The settings the paper grid's plain-base trials of (model, dataset) resolve to today."""
    from benchmark.runner.config import resolve
    from benchmark.runner.grid import load_grid

    for block in load_grid(PAPER_GRID).blocks:
        if model in block.models and dataset in block.datasets and (block.matchers is None or "none" in block.matchers):
            return describe_settings(resolve(model, dataset, block.params, {"seed": block.seeds[0]}))
    return "released"


# --- records -> the CSV's rows ----------------------------------------------------------------

def _commit(record: dict) -> str:
    """The short commit a record's trial ran at (with "+dirty" when its code was edited)."""
    provenance = record.get("provenance") if isinstance(record.get("provenance"), dict) else {}
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    commit = str(provenance.get("commit") or env.get("git_commit") or "unknown")
    return commit[:7] + ("+dirty" if provenance.get("dirty") else "")


def _device(record: dict) -> str:
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    return str(env.get("device") or DEFAULT_DEVICE)


def _number(value: float, digits: int) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _metric_row(base: str, dataset: str, settings: str, is_paper: bool, metric: str, records: list[dict],
                grids: set[str]) -> dict:
    """One CSV row: the records (one per seed, same settings) at one metric; `grids`: every grid that stored one."""
    per_seed = {r["config"]["seed"]: float(r["metrics"]["test"][metric]) for r in records
                if isinstance((r.get("metrics") or {}).get("test", {}).get(metric), (int, float))}
    mean, std, n = seed_mean_std(list(per_seed.values()))
    paper = paper_value(BASES[base], dataset, metric)
    rel = (mean - paper) / paper if paper and n else math.nan
    return {"base": BASES[base], "dataset": dataset, "settings": settings, "paper_grid_settings": str(is_paper),
            "metric": metric, "ours_mean": _number(mean, 6), "ours_std": _number(std, 6), "n_seeds": str(n),
            "per_seed": " ".join(f"{seed}:{value:.6f}" for seed, value in sorted(per_seed.items())),
            "paper": "" if paper is None else repr(paper), "rel_diff": _number(rel, 6),
            "within_3pct": "" if math.isnan(rel) else str(abs(rel) <= TOLERANCE),
            "grid": " ".join([*(g for g in GRIDS if g in grids), *sorted(grids - set(GRIDS))]),
            "commit": " ".join(sorted({_commit(r) for r in records})),
            "date": max((str(r.get("finished_at", "")) for r in records), default="")[:10],
            "device": "; ".join(sorted({_device(r) for r in records}))}


def rows_from_records(records: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The CSV's rows from finished records of any grid, and notes on what was left out.

    Per dataset only the newest dataset version counts (settings are compared on the same data);
    per (settings, seed) the newest record counts (a rerun, or the same trial in two grids)."""
    notes: list[str] = []
    bases = [r for r in records if isinstance(r.get("config"), dict) and r["config"].get("model") in BASES
             and r["config"].get("dataset") in DATASETS and r["config"].get("matcher", "none") in ("none", None)
             and isinstance(r["config"].get("seed"), int)]
    newest = sorted(bases, key=lambda r: str(r.get("finished_at", "")))
    version = {r["config"]["dataset"]: r.get("dataset_version") for r in newest}
    groups: dict[tuple[str, str, str], dict] = {}
    grids: dict[tuple[str, str, str], set[str]] = {}
    for record in newest:
        config = record["config"]
        if record.get("dataset_version") != version[config["dataset"]]:
            notes.append(f"{record.get('grid')}/{record.get('trial_id')}: dataset version "
                         f"{record.get('dataset_version')}, not the newest {version[config['dataset']]}; left out")
            continue
        key = (config["model"], config["dataset"], describe_settings(config))
        replaced = groups.setdefault(key, {}).get(config["seed"])
        if replaced is not None:
            notes.append(f"{replaced.get('grid')}/{replaced.get('trial_id')}: the same settings and seed as the newer "
                         f"{record.get('grid')}/{record.get('trial_id')}; left out")
        groups[key][config["seed"]] = record
        grids.setdefault(key, set()).update([str(record["grid"])] if record.get("grid") else [])
    rows = []
    for base in BASES:
        for dataset in DATASETS:
            paper_settings = paper_grid_settings(base, dataset)
            ran = sorted(settings for (b, d, settings) in groups if (b, d) == (base, dataset))
            for settings in [paper_settings, *(s for s in ran if s != paper_settings)]:
                chosen = list(groups.get((base, dataset, settings), {}).values())
                rows += [_metric_row(base, dataset, settings, settings == paper_settings, metric, chosen,
                                     grids.get((base, dataset, settings), set())) for metric in METRICS]
    return _as_text(pd.DataFrame(rows, columns=list(COLUMNS))), notes


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as the CSV reads back (all text), so a page from the store and one from the CSV are one."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str, keep_default_na=False)


def status_from_store(root: Path | None = None) -> tuple[pd.DataFrame, list[str]] | None:
    """The CSV's rows from the stored grids (`GRIDS`), or None when neither is stored under `root`."""
    stores = [ResultStore(grid, root if root is not None else results_root()) for grid in GRIDS]
    stores = [store for store in stores if store.trials_dir.is_dir()]
    if not stores:
        return None
    return rows_from_records([record for store in stores for record in store.records()])


def read_status(path: Path = CSV_PATH) -> pd.DataFrame:
    """The committed CSV, all text; ValueError naming the file when its columns are not `COLUMNS`."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(frame.columns) != list(COLUMNS):
        raise ValueError(f"{path}: expected columns {', '.join(COLUMNS)}; found {', '.join(frame.columns)}")
    return frame


def write_status(frame: pd.DataFrame, path: Path = CSV_PATH) -> None:
    """Write the CSV atomically: a killed run leaves the old file or the new one, never half of one."""
    atomic_write(path, frame.to_csv(index=False))


# --- rendering: the README's status block and the page's screening block ---------------------

def _per_seed(row: dict) -> dict[int, float]:
    return {int(seed): float(value) for seed, value in (item.split(":") for item in row["per_seed"].split())}


def _seeds_text(seeds) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _ours(row: dict) -> str:
    std = f" ± {float(row['ours_std']):.4f}" if row["ours_std"] else ""
    return f"{float(row['ours_mean']):.4f}{std}"


def _rel(row: dict) -> str:
    return f"{float(row['rel_diff']):+.1%}" if row["rel_diff"] else "–"


def _mark(row: dict) -> str:
    return {"True": "✓", "False": "✗"}.get(row["within_3pct"], "")


def _cells(status: pd.DataFrame) -> dict[tuple[str, str], dict[str, dict[str, dict]]]:
    """(base, dataset) -> settings -> metric -> row, in the CSV's order."""
    cells: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
    for row in status.to_dict("records"):
        cells.setdefault((row["base"], row["dataset"]), {}).setdefault(row["settings"], {})[row["metric"]] = row
    return cells


def _paper_settings(settings: dict[str, dict[str, dict]]) -> str:
    return next((s for s, by_metric in settings.items() if any(r["paper_grid_settings"] == "True"
                                                                  for r in by_metric.values())), "")


def render_block(status: pd.DataFrame) -> str:
    """The README's status table: per base and dataset run, the paper grid's settings against the paper."""
    lines = [BEGIN, "| Table 2 base | dataset | settings | seeds | "
             + " | ".join(METRIC_LABELS[m] for m in METRICS) + " | run at |",
             "|---|---|---|---|" + "---|" * len(METRICS) + "---|"]
    for (base, dataset), settings in _cells(status).items():
        by_metric = settings.get(_paper_settings(settings), {})
        first = next(iter(by_metric.values()), None)
        if first is None or first["n_seeds"] in ("", "0"):
            continue
        cells = [f"{_ours(r)} vs {float(r['paper']):.4f}, {_rel(r)} {_mark(r)}".rstrip() if r["paper"] else _ours(r)
                 for r in (by_metric[m] for m in METRICS if m in by_metric)]
        lines.append(f"| {base} | {dataset} | {_md(first['settings'])} | {first['n_seeds']} | {' | '.join(cells)} "
                     f"| `{first['commit']}`, {first['date']}, {first['device']} |")
    lines += ["", "Each cell: ours (mean ± sample std over the seeds) vs the paper, the relative difference, "
              f"✓ within {WITHIN_PCT:g}%."]
    lines += not_run_lines(status)
    lines.append(END)
    return "\n".join(lines)


def run_command(dataset: str, bases: list[str]) -> str:
    """The command that runs the paper grid's plain-base trials of `bases` (paper names) on `dataset`."""
    models = ",".join(key for key, name in BASES.items() if name in bases)
    return f"python -m benchmark.run --grid {PAPER_GRID} --datasets {dataset} --models {models} --matchers none"


def not_run_lines(status: pd.DataFrame) -> list[str]:
    """Per dataset, the bases with no trial at the paper grid's settings and the command that runs them."""
    not_run: dict[str, list[str]] = {}
    for (base, dataset), settings in _cells(status).items():
        first = next(iter(settings.get(_paper_settings(settings), {}).values()), None)
        if first is None or first["n_seeds"] in ("", "0"):
            not_run.setdefault(dataset, []).append(base)
    if not not_run:
        return []
    everyone = len(BASES)
    order = [*DATASETS, *sorted(set(not_run) - set(DATASETS))]
    lines = ["Not run yet at the paper grid's settings (which are, per dataset, in "
             "`docs/settings-by-dataset.md`), and the command that runs them:", ""]
    for dataset in (d for d in order if d in not_run):
        bases = not_run[dataset]
        lines.append(f"- {dataset} ({'every base' if len(bases) == everyone else ', '.join(bases)}): "
                     f"`{run_command(dataset, bases)}`")
    return lines


def _change(row: dict, reference: dict | None) -> tuple[float, list[int]]:
    """Relative change of `row` against the reference settings over the seeds both ran (NaN: none shared)."""
    if reference is None:
        return math.nan, []
    ours, theirs = _per_seed(row), _per_seed(reference)
    shared = sorted(set(ours) & set(theirs))
    if not shared:
        return math.nan, []
    before = sum(theirs[s] for s in shared) / len(shared)
    after = sum(ours[s] for s in shared) / len(shared)
    return (after - before) / before if before else math.nan, shared


def _ran(by_metric: dict[str, dict]) -> bool:
    return any(r["n_seeds"] not in ("", "0") for r in by_metric.values())


def reference_of(name: str, settings: dict[str, dict[str, dict]], paper_settings: str) -> str:
    """The settings `name` is compared with, so that a row shows what its own change moves: among the
    settings run from the same preset whose changed keys are a strict subset of `name`'s, the one
    with the most (one change at a time where the screening ran it so); else the paper grid's."""
    preset, *changes = name.split(" + ")
    best, best_size = paper_settings, -1
    for other, by_metric in settings.items():
        other_preset, *other_changes = other.split(" + ")
        if (other != name and other_preset == preset and set(other_changes) < set(changes)
                and len(other_changes) > best_size and _ran(by_metric)):
            best, best_size = other, len(other_changes)
    return best


def _verdict(metric: str, settings: dict[str, dict[str, dict]], paper_settings: str) -> str:
    """One plain sentence: is the paper's number of this cell reached within 3%, and which setting moves it."""
    reference = settings.get(paper_settings, {}).get(metric)
    paper = f"{float(reference['paper']):.4f}" if reference and reference["paper"] else "not published"
    head = f"- **{METRIC_LABELS[metric]}** (paper {paper}): "
    if reference is None or reference["n_seeds"] in ("", "0"):
        return head + f"not run at the paper grid's settings ({_md(paper_settings)})."
    n = int(reference["n_seeds"])
    at = f"{_md(paper_settings)} gives {_ours(reference)} over {n} seed{'s' * (n != 1)} ({_rel(reference)})"
    reached = reference["within_3pct"] == "True"
    if n >= SEEDS_TO_DECIDE:
        verdict = f"reached within {WITHIN_PCT:g}%" if reached else f"**not reached** within {WITHIN_PCT:g}%"
    else:
        verdict = (f"within {WITHIN_PCT:g}% so far" if reached else f"**not within** {WITHIN_PCT:g}% so far"
                   ) + f" ({SEEDS_TO_DECIDE} seeds decide)"
    sentence = f"{head}{verdict}: {at}."
    others = [(s, by_metric[metric]) for s, by_metric in settings.items()
              if s != paper_settings and metric in by_metric and by_metric[metric]["n_seeds"] not in ("", "0")]
    references = {s: reference_of(s, settings, paper_settings) for s, _ in others}
    moves = [(s, *_change(row, settings.get(references[s], {}).get(metric))) for s, row in others]
    moves = [(s, change, shared) for s, change, shared in moves if not math.isnan(change)]
    if moves:
        s, change, shared = max(moves, key=lambda move: abs(move[1]))
        sentence += (f" The largest move: {_md(s)}, {change:+.1%} against {_md(references[s])} "
                     f"(seed{'s' * (len(shared) != 1)} {_seeds_text(shared)}).")
    within = [f"{_md(s)} ({_rel(row)}, {row['n_seeds']} seed{'s' * (row['n_seeds'] != '1')})"
              for s, row in others if row["within_3pct"] == "True"]
    if within and not reached:
        sentence += f" Within {WITHIN_PCT:g}% with: {'; '.join(within)}."
    elif others and not reached:
        s, row = min(others, key=lambda item: abs(float(item[1]["rel_diff"] or "inf")))
        sentence += f" No setting run reaches it; the closest is {_md(s)} ({_rel(row)})."
    return sentence


def render_screening(status: pd.DataFrame) -> str:
    """The page's screening block: per base and dataset run, every setting against the paper and the paper grid's."""
    lines = [SCREENING_BEGIN]
    for (base, dataset), settings in _cells(status).items():
        if all(r["n_seeds"] in ("", "0") for by_metric in settings.values() for r in by_metric.values()):
            continue
        paper_settings = _paper_settings(settings)
        lines += ["", f"### {base} on {dataset}", "",
                  "| settings | seeds | " + " | ".join(METRIC_LABELS[m] for m in METRICS)
                  + " | change against | grid |",
                  "|---|---|" + "---|" * len(METRICS) + "---|---|"]
        papers = {m: row["paper"] for by_metric in settings.values() for m, row in by_metric.items()}
        lines.append("| the paper | | " + " | ".join(f"{float(papers[m]):.4f}" if papers.get(m) else "–"
                                                  for m in METRICS) + " | | |")
        for name, by_metric in settings.items():
            first = next(iter(by_metric.values()))
            if first["n_seeds"] in ("", "0"):
                lines.append(f"| {_md(name)} (the paper grid's) | not run | " + " | ".join(["–"] * len(METRICS))
                             + " | | |")
                continue
            against = reference_of(name, settings, paper_settings) if name != paper_settings else ""
            cells = []
            for metric in METRICS:
                row = by_metric.get(metric)
                if row is None or row["n_seeds"] in ("", "0"):
                    cells.append("–")
                    continue
                cell = f"{_ours(row)} ({_rel(row)} {_mark(row)})".replace(" )", ")")
                if name != paper_settings:
                    change, shared = _change(row, settings.get(against, {}).get(metric))
                    cell += f"; {change:+.1%} on seed{'s' * (len(shared) != 1)} {_seeds_text(shared)}" \
                        if shared else "; no shared seed"
                cells.append(cell)
            label = f"{_md(name)} (the paper grid's)" if name == paper_settings else _md(name)
            lines.append(f"| {label} | {_seeds_text(_per_seed(first))} | {' | '.join(cells)} | {_md(against)} "
                         f"| {first['grid']} |")
        lines += ["", *(_verdict(m, settings, paper_settings) for m in METRICS)]
    if len(lines) == 1:
        lines += ["", "No stored trial of a Table 2 base yet."]
    missing = not_run_lines(status)
    if missing:
        lines += ["", "### Not run yet", "", *missing]
    lines += ["", SCREENING_END]
    return "\n".join(lines)


# --- the blocks in their files -------------------------------------------------------------------

def current_block(text: str, begin: str = BEGIN, end: str = END, where: Path = README_PATH) -> str:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{where}: no {begin} ... {end} markers")
    return text[start:stop + len(end)]


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END, where: Path = README_PATH) -> str:
    stored = current_block(text, begin, end, where)
    return text.replace(stored, block, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.analysis.reproducibility",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--results", type=Path, default=None,
                        help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    parser.add_argument("--csv", type=Path, default=CSV_PATH, help="the reproducibility CSV")
    parser.add_argument("--readme", type=Path, default=README_PATH, help="the file holding the status markers")
    parser.add_argument("--page", type=Path, default=PAGE_PATH, help="the file holding the screening markers")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when the README's or the page's block is out of date")
    args = parser.parse_args(argv)
    if not args.check:
        fresh = status_from_store(args.results)
        if fresh is not None:
            frame, notes = fresh
            for note in notes:
                print(f"note: {note}")
            write_status(frame, args.csv)
            print(f"{args.csv}: rebuilt from the stored {' and '.join(GRIDS)} trials")
        else:
            print(f"{args.csv}: kept (neither {' nor '.join(GRIDS)} is stored under the results root)")
    targets = ((args.readme, BEGIN, END, render_block), (args.page, SCREENING_BEGIN, SCREENING_END, render_screening))
    try:
        status = read_status(args.csv)
        updates = []
        for path, begin, end, render in targets:
            text = path.read_text()
            block = render(status)
            if current_block(text, begin, end, path) != block:
                updates.append((path, replace_block(text, block, begin, end, path)))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check:
        for path, _ in updates:
            print(f"error: {path}: the generated block differs from {args.csv}; "
                  "run python -m benchmark.analysis.reproducibility", file=sys.stderr)
        if not updates:
            print(f"{args.readme} and {args.page}: up to date with {args.csv}")
        return 1 if updates else 0
    for path, text in updates:
        path.write_text(text)
        print(f"{path}: block rewritten")
    if not updates:
        print(f"{args.readme} and {args.page}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
