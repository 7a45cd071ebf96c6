"""The page's screening block: per base and dataset every setting run, its change against the
settings it differs from by the fewest keys, and one sentence per metric: reached within 3% or not."""
from __future__ import annotations

import math

import pandas as pd

from benchmark.analysis.paper import WITHIN_PCT
from benchmark.analysis.reproducibility.cells import (
    cells_of,
    mark,
    md,
    ours_text,
    paper_settings_of,
    per_seed_values,
    rel_text,
    seeds_text,
)
from benchmark.analysis.reproducibility.facts import (
    METRIC_LABELS,
    METRICS,
    SCREENING_BEGIN,
    SCREENING_END,
    SEEDS_TO_DECIDE,
)
from benchmark.analysis.reproducibility.status import not_run_lines


def _change(row: dict, reference: dict | None) -> tuple[float, list[int]]:
    """Relative change of `row` against the reference settings over the seeds both ran (NaN: none shared)."""
    if reference is None:
        return math.nan, []
    ours, theirs = per_seed_values(row), per_seed_values(reference)
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
        return head + f"not run at the paper grid's settings ({md(paper_settings)})."
    n = int(reference["n_seeds"])
    at = f"{md(paper_settings)} gives {ours_text(reference)} over {n} seed{'s' * (n != 1)} ({rel_text(reference)})"
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
        sentence += (f" The largest move: {md(s)}, {change:+.1%} against {md(references[s])} "
                     f"(seed{'s' * (len(shared) != 1)} {seeds_text(shared)}).")
    within = [f"{md(s)} ({rel_text(row)}, {row['n_seeds']} seed{'s' * (row['n_seeds'] != '1')})"
              for s, row in others if row["within_3pct"] == "True"]
    if within and not reached:
        sentence += f" Within {WITHIN_PCT:g}% with: {'; '.join(within)}."
    elif others and not reached:
        s, row = min(others, key=lambda item: abs(float(item[1]["rel_diff"] or "inf")))
        sentence += f" No setting run reaches it; the closest is {md(s)} ({rel_text(row)})."
    return sentence


def render_screening(status: pd.DataFrame) -> str:
    """The page's screening block: per base and dataset run, every setting against the paper and the paper grid's."""
    lines = [SCREENING_BEGIN]
    for (base, dataset), settings in cells_of(status).items():
        if all(r["n_seeds"] in ("", "0") for by_metric in settings.values() for r in by_metric.values()):
            continue
        paper_settings = paper_settings_of(settings)
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
                lines.append(f"| {md(name)} (the paper grid's) | not run | " + " | ".join(["–"] * len(METRICS))
                             + " | | |")
                continue
            against = reference_of(name, settings, paper_settings) if name != paper_settings else ""
            cells = []
            for metric in METRICS:
                row = by_metric.get(metric)
                if row is None or row["n_seeds"] in ("", "0"):
                    cells.append("–")
                    continue
                cell = f"{ours_text(row)} ({rel_text(row)} {mark(row)})".replace(" )", ")")
                if name != paper_settings:
                    change, shared = _change(row, settings.get(against, {}).get(metric))
                    cell += f"; {change:+.1%} on seed{'s' * (len(shared) != 1)} {seeds_text(shared)}" \
                        if shared else "; no shared seed"
                cells.append(cell)
            label = f"{md(name)} (the paper grid's)" if name == paper_settings else md(name)
            lines.append(f"| {label} | {seeds_text(per_seed_values(first))} | {' | '.join(cells)} | {md(against)} "
                         f"| {first['grid']} |")
        lines += ["", *(_verdict(m, settings, paper_settings) for m in METRICS)]
    if len(lines) == 1:
        lines += ["", "No stored trial of a Table 2 base yet."]
    missing = not_run_lines(status)
    if missing:
        lines += ["", "### Not run yet", "", *missing]
    lines += ["", SCREENING_END]
    return "\n".join(lines)

