"""The README's status block: per base and dataset, the paper grid's settings against the paper, and
the bases not run yet with the command that runs them."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.paper import WITHIN_PCT
from benchmark.analysis.reproducibility.cells import cells_of, mark, md, ours_text, paper_settings_of, rel_text
from benchmark.analysis.reproducibility.facts import BASES, BEGIN, DATASETS, END, METRIC_LABELS, METRICS, PAPER_GRID


def render_block(status: pd.DataFrame) -> str:
    """The README's status table: per base and dataset run, the paper grid's settings against the paper."""
    lines = [BEGIN, "| Table 2 base | dataset | settings | seeds | "
             + " | ".join(METRIC_LABELS[m] for m in METRICS) + " | run at |",
             "|---|---|---|---|" + "---|" * len(METRICS) + "---|"]
    for (base, dataset), settings in cells_of(status).items():
        by_metric = settings.get(paper_settings_of(settings), {})
        first = next(iter(by_metric.values()), None)
        if first is None or first["n_seeds"] in ("", "0"):
            continue
        cells = [f"{ours_text(r)} vs {float(r['paper']):.4f}, {rel_text(r)} {mark(r)}".rstrip() if r["paper"]
                 else ours_text(r) for r in (by_metric[m] for m in METRICS if m in by_metric)]
        lines.append(f"| {base} | {dataset} | {md(first['settings'])} | {first['n_seeds']} | {' | '.join(cells)} "
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
    for (base, dataset), settings in cells_of(status).items():
        first = next(iter(settings.get(paper_settings_of(settings), {}).values()), None)
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

