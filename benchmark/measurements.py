"""Measurements as dated artefacts: every measured table is a file that says when, where and how.

A measurement (the perf table, the default run's wall time, per-model costs) is written to
`docs/measurements/<kind>.md`, the latest one, which the docs pages include, and to
`docs/measurements/<kind>/<date>-<commit>.md`, the history. Each file starts with a header giving
the date, the commit (and whether the tree was dirty), the machine, the Python and torch versions
and the exact command, so a number never outlives the knowledge of what produced it.
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shlex
from pathlib import Path

from benchmark.core.atomic import atomic_write
from benchmark.core.paths import REPO_ROOT
from benchmark.runner.checkout import is_dirty, source_commit

MEASUREMENTS_DIR = REPO_ROOT / "docs" / "measurements"


def commit_state() -> tuple[str, bool]:
    """(short commit or "unknown", dirty): dirty when tracked files differ from the commit."""
    commit = source_commit()
    return (commit[:7] if commit else "unknown"), bool(is_dirty())


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def gpu_name() -> str:
    """The visible GPU(s), or "none"; torch is imported only here, when a measurement is written."""
    try:
        import torch  # heavy, and only needed for this one question
    except ImportError:
        return "none"
    if not torch.cuda.is_available():
        return "none"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def header(command: list[str], when: dt.datetime | None = None, state: tuple[str, bool] | None = None,
           machine: str | None = None, software: str | None = None) -> str:
    """The provenance block that opens every measurement file (Markdown, no heading). `state`:
    the (commit, dirty) that made what is measured, when it is not the checkout's own (stored runs);
    `machine`, `software`: where it was measured, when that is not this machine (a GPU box's report)."""
    when = when or dt.datetime.now(dt.timezone.utc)
    commit, dirty = state or commit_state()
    machine = machine or f"{cpu_model()}, {os.cpu_count()} cores; GPU: {gpu_name()}"
    software = software or f"Python {platform.python_version()}, torch {_version('torch')}"
    lines = [
        f"- **date**: {when.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **commit**: `{commit}`" + (" (with uncommitted changes)" if dirty else ""),
        f"- **machine**: {machine}",
        f"- **software**: {software}",
        f"- **command**: `{shlex.join(command)}`",
    ]
    return "\n".join(lines) + "\n"


def record_measurement(kind: str, command: list[str], markdown: str, root: Path | None = None,
                       state: tuple[str, bool] | None = None, when: dt.datetime | None = None,
                       machine: str | None = None, software: str | None = None) -> Path:
    """Write `markdown` under a provenance header as the latest `<kind>.md` and as dated history.

    Returns the path of the dated history file. `kind` names the measurement (`perf`,
    `default-run`, ...) and becomes a file name, so it must be a plain slug.
    """
    if not kind or not all(c.isalnum() or c in "-_" for c in kind):
        raise ValueError(f"measurement kind {kind!r}: use letters, digits, '-' and '_' only")
    base = Path(root) if root is not None else MEASUREMENTS_DIR
    when = when or dt.datetime.now(dt.timezone.utc)
    commit, dirty = state or commit_state()
    text = header(command, when, (commit, dirty), machine, software) + "\n" + markdown.strip() + "\n"
    history = base / kind / f"{when.strftime('%Y-%m-%d')}-{commit}{'-dirty' if dirty else ''}.md"
    for path in (history, base / f"{kind}.md"):
        atomic_write(path, text)
    return history


def run_costs(records: list[dict], failed: int = 0) -> str:
    """The cost of a grid's stored run as Markdown: trials, wall time from the first trial's start to
    the last one's end (read from the records: `finished_at` minus `timings.total_s`), the summed
    single-core time, and per (model, matcher) the trials, mean seconds each and epochs run."""
    if not records:
        raise ValueError("no finished trials to measure")
    ends = [dt.datetime.fromisoformat(r["finished_at"]) for r in records]
    starts = [end - dt.timedelta(seconds=float(r["timings"]["total_s"])) for end, r in zip(ends, records, strict=True)]
    wall = (max(ends) - min(starts)).total_seconds()
    total = sum(float(r["timings"]["total_s"]) for r in records)
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        config = record["config"]
        groups.setdefault((config["model"], config.get("matcher") or "none"), []).append(record)
    lines = [f"{len(records)} finished trials, {failed} failed; wall time from the first trial's start to the last "
             f"one's end **{wall / 60:.1f} min**; the trials add up to {total:,.0f} s of trial time.", "",
             "| model | matcher | trials | each, s (mean) | epochs run |", "|---|---|---|---|---|"]
    from baselines.registry import REGISTRY

    order = {name: position for position, name in enumerate(REGISTRY)}
    for (model, matcher), group in sorted(groups.items(), key=lambda item: (order.get(item[0][0], len(order)),
                                                                               item[0])):
        seconds = sum(float(r["timings"]["total_s"]) for r in group) / len(group)
        epochs = sorted(int(r["epochs_run"]) for r in group)
        span = f"{epochs[0]}" if epochs[0] == epochs[-1] else f"{epochs[0]}-{epochs[-1]}"
        lines.append(f"| {model} | {matcher} | {len(group)} | {seconds:.0f} | {span} |")
    return "\n".join(lines)


def records_state(records: list[dict]) -> tuple[str, bool] | None:
    """(commit, dirty) of the code that made the records, when they all name one commit; else None
    (the checkout's state is written, as for any measurement)."""
    states = {((r.get("provenance") or {}).get("commit"), (r.get("provenance") or {}).get("dirty")) for r in records}
    if len(states) != 1:
        return None
    ((commit, dirty),) = states
    return (commit[:7], bool(dirty)) if isinstance(commit, str) else None


def main(argv: list[str] | None = None) -> int:
    """`run-costs --grid G`: record a stored run's cost as `<G>-run`; `record KIND --from FILE`: record a
    table a script wrote, e.g. on a GPU box, under the header of the machine it runs on."""
    import argparse
    import sys

    from benchmark import version
    from benchmark.runner.store import ResultStore

    parser = argparse.ArgumentParser(prog="python -m benchmark.measurements",
                                     description="Write a measurement file under docs/measurements/.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="action", required=True)
    costs = commands.add_parser("run-costs", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                help="wall time and per-model costs of a grid's stored trials")
    costs.add_argument("--grid", required=True, help="the grid whose stored trials to measure")
    costs.add_argument("--command", default="./run_all.sh", help="the command that ran the grid (recorded as is)")
    costs.add_argument("--results", help="results root (default: $DMREC_RESULTS, else <repo>/results)")
    record = commands.add_parser("record", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                 help="a Markdown table a script wrote (benchmark/gpu_measure.sh), under this "
                                      "machine's header")
    record.add_argument("kind", help="the measurement's name, e.g. perf-cuda")
    record.add_argument("--from", dest="source", type=Path, required=True, help="the Markdown file to record")
    record.add_argument("--command", required=True, help="the command that measured it (recorded as is)")
    record.add_argument("--root", type=Path, help="where to write (default: docs/measurements)")
    args = parser.parse_args(argv)
    if args.action == "record":
        try:
            markdown = args.source.read_text()
            path = record_measurement(args.kind, shlex.split(args.command), markdown, root=args.root)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            print(f"error: {args.source}: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
        return 0
    store = ResultStore(args.grid, Path(args.results) if args.results else None)
    try:
        markdown = run_costs(store.records(), len(store.failed_ids()))
    except ValueError as error:
        print(f"error: {store.folder}: {error}", file=sys.stderr)
        return 1
    path = record_measurement(f"{args.grid}-run", shlex.split(args.command), markdown,
                              state=records_state(store.records()))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
