"""Run every table and figure for a grid and write its report, results/<grid>_report.md, and a
self-contained <grid>_report.html (the committed reference report is `default`'s).

Per grid the report opens with the results table (what the grid ran), then the code versions
behind each table (with a warning where one table mixes them), one line per paper-shaped table or
figure that was skipped and why, the stored files that had to be left out, the other tables, the
figures and the environment."""
from __future__ import annotations

import base64
import html
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.analysis import paper
from benchmark.analysis.artefacts import FigureResult, Skipped
from benchmark.analysis.fig2_convergence import fig2_convergence
from benchmark.analysis.fig3_sparsity import fig3_sparsity
from benchmark.analysis.fig4_posterior import fig4_posterior
from benchmark.analysis.fig5_ablation import fig5_ablation
from benchmark.analysis.fig6_beta import fig6_beta
from benchmark.analysis.records import GridResults, environment_summary, load_grid_results
from benchmark.analysis.rendering import Table, to_html, to_markdown, write_table
from benchmark.analysis.results_table import Reference, results_table
from benchmark.analysis.roles import model_label, model_order
from benchmark.analysis.table1 import table1
from benchmark.analysis.table2 import table2
from benchmark.analysis.table3 import table3
from benchmark.analysis.tuned import add_to_report as add_tuned_section

FIGURES = (fig2_convergence, fig3_sparsity, fig4_posterior, fig5_ablation, fig6_beta)
TUNED_SUFFIX = "_tuned"  # the tables of `benchmark.analysis.tuned`: every model tuned with the same budget
HEADLINE_TITLE = "Headline: equal budgets (every model tuned on validation)"
HEADLINE_TEXT = ("Each model and DMRec variant was tuned on validation Recall@20 with the same budget "
                 "(python -m benchmark.tune), then run on its seeds: the fair comparison. The tables at the grid's "
                 "own settings follow as secondary; there some rows ran to their epoch cap and may not have "
                 "converged.")
SECONDARY_TITLE = "Tables at the grid's settings (secondary: rows may be capped at an epoch limit)"


@dataclass
class GridReport:
    results: GridResults
    tables: list[Table] = field(default_factory=list)
    table_files: list[Path] = field(default_factory=list)
    figures: list[FigureResult] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # comparison summaries, failed figures
    skipped: list[str] = field(default_factory=list)  # one line per paper artefact left out, and why

    @property
    def problems(self) -> list[str]:
        """Stored files the analysis had to leave out (bad data: the command exits 1)."""
        return self.results.problems


def analyse_grid(grid: str, root: Path, tables_dir: Path, figures_dir: Path,
                 sparsity_edges: list[int] | None = None, reference: Reference | None = None) -> GridReport:
    """Every table (md/tex/csv) and figure (png/pdf/csv) of one grid; raises NoResults on an empty grid
    and BadReference when `reference` names no row of it (before anything is written).
    `sparsity_edges`: fixed upper edges of Fig. 3's first three groups instead of the quantile rule."""
    results = load_grid_results(grid, root)
    report = GridReport(results)
    report.tables.append(results_table(results, reference))
    datasets = table1(results)
    if datasets.body_rows():
        report.tables.append(datasets)
    else:  # no prepared copy of any dataset here (e.g. records copied from another machine)
        report.skipped.append(f"Table 1: skipped. No dataset of the grid is prepared here "
                              f"({'; '.join(datasets.notes)})")
    for key, build in (("table2", table2), ("table3", table3)):
        try:
            mean_table, std_table, summary = build(results)
        except Skipped as skipped:
            report.skipped.append(f"{key.replace('table', 'Table ')}: skipped. {skipped}")
            continue
        report.tables += [mean_table, std_table]
        comparison, line = paper.compare(summary, key)
        report.remarks.append(f"{key.replace('table', 'Table ')} vs paper: {line}")
        if comparison is not None:
            report.tables.append(comparison)
    for table in report.tables:
        report.table_files += write_table(table, tables_dir, grid)
    for figure in FIGURES:
        options = {"edges": sparsity_edges} if figure is fig3_sparsity and sparsity_edges else {}
        try:
            report.figures.append(figure(results, figures_dir, grid, **options))
        except Skipped as skipped:
            report.skipped.append(f"{figure.__name__}: skipped. {skipped}")
        except Exception as error:  # noqa: BLE001 (one broken figure must not cost the reader the rest of the report)
            report.results.problems.append(f"{figure.__name__}: FAILED ({type(error).__name__}: {error})")
            traceback.print_exc()
    add_tuned_section(report, grid, root, tables_dir, figures_dir)  # python -m benchmark.tune's tables
    return report


def _environment_lines(results: GridResults) -> list[str]:
    lines = []
    for key, values in environment_summary(results).items():
        flag = "" if len(values) == 1 else " (differs between trials)"
        lines.append(f"- {key}: {', '.join(values)}{flag}")
    return lines


def counted_failures(results: GridResults) -> int:
    """Failed trials, less those on a dataset version the report leaves out as superseded (the trial
    id of a failure is that of its config on the version it ran on)."""
    from benchmark.runner.grid import trial_id_of

    count = 0
    for trial_id in results.store.failed_ids():
        try:
            config = results.store.read_failed(trial_id)["config"]
            gone = results.superseded_versions.get(str(config["dataset"]), set())
            count += not any(trial_id_of(config, version) == trial_id for version in gone)
        except (KeyError, TypeError, ValueError):  # an unreadable failure record still counts
            count += 1
    return count


def _counts_line(results: GridResults) -> str:
    trials = results.trials
    failed = counted_failures(results) if hasattr(results.store, "failed_ids") else 0
    per_config = trials.groupby(["model", "matcher", "config_label", "dataset"])["seed"].nunique()
    spread = (f"{per_config.min()}" if per_config.min() == per_config.max()
              else f"{per_config.min()} to {per_config.max()}")
    return (f"{len(trials)} finished trial(s), {failed} failed; {trials['dataset'].nunique()} dataset(s); "
            f"seeds per configuration: {spread} (per-cell counts are in each table's std companion).")


def version_lines(report: GridReport) -> list[str]:
    """Per table: the commits and per-model code hashes of the trials behind it, and a warning where
    one table mixes code versions (several commits, or one model's trials from different code).
    A code hash covers one model's code, so different models have different hashes by design."""
    lines = []
    for table in report.tables:
        if not table.trial_ids or table.key.endswith("_std"):
            continue
        commits, hashes = report.results.versions(table.trial_ids)
        hashes = {m: hashes[m] for m in model_order(hashes)}
        per_model = "; ".join(f"{model_label(m)} " + ", ".join(f"{h} ({n})" if len(codes) > 1 else h
                                                              for h, n in codes.items())
                              for m, codes in hashes.items())
        listed = ", ".join(f"{c} ({n} trial(s))" if len(commits) > 1 else c for c, n in commits.items())
        lines.append(f"{table.key}: {listed}; code hash per model: {per_model}")
        mixed = [f"{len(commits)} commits"] if len(commits) > 1 else []
        mixed += [f"{model_label(m)} from {len(codes)} code versions" for m, codes in hashes.items() if len(codes) > 1]
        if mixed:
            lines.append(f"WARNING: {table.key} mixes code versions ({'; '.join(mixed)}); its rows may not be "
                         f"comparable (python -m benchmark.run --grid {report.results.grid} --rerun-stale reruns "
                         f"the trials today's code would not reproduce)")
    return lines


def _section(title: str, lines: list[str]) -> tuple[list[str], list[str]]:
    """(markdown, html) of a titled bullet list; nothing when `lines` is empty."""
    if not lines:
        return [], []
    return ([f"### {title}", "", *[f"- {line}" for line in lines], ""],
            [f"<h3>{html.escape(title)}</h3><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines)
             + "</ul>"])


def _table_blocks(table: Table) -> tuple[list[str], list[str]]:
    md = [f"**{table.key}**: {table.caption}", "", to_markdown(table), ""]
    md += [f"- {note}" for note in table.notes] + ([""] if table.notes else [])
    body = [f"<p><b>{html.escape(table.key)}</b>: {html.escape(table.caption)}</p>", to_html(table)]
    if table.notes:
        body += ["<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>"]
    return md, body


def write_reports(reports: list[GridReport], report_dir: Path) -> list[tuple[Path, Path]]:
    """One report per grid: <report_dir>/<grid>_report.md and .html; their paths."""
    return [write_report(report, report_dir) for report in reports]


def write_report(report: GridReport, report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    grid = report.results.grid
    md_path, html_path = report_dir / f"{grid}_report.md", report_dir / f"{grid}_report.html"
    md, body = _grid_blocks(report, report_dir)
    md_path.write_text("\n".join(["# dmrec-bench report", "", *md]) + "\n")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}"
             "td,th{border-bottom:1px solid #ccc;padding:2px 6px;text-align:right}"
             "figcaption{font-size:13px;font-style:italic}")
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>dmrec-bench report</title>"
                         f"<style>{style}</style></head><body><h1>dmrec-bench report</h1>{''.join(body)}"
                         "</body></html>\n")
    return md_path, html_path


def _grid_blocks(report: GridReport, report_dir: Path) -> tuple[list[str], list[str]]:
    """(markdown lines, html fragments) of one grid's report."""
    results = report.results
    md = [f"## Grid `{results.grid}`", "", _counts_line(results), ""]
    body = [f"<h2>Grid <code>{html.escape(results.grid)}</code></h2>", f"<p>{html.escape(_counts_line(results))}</p>"]
    first = report.tables[0]
    headline = [t for t in report.tables[1:] if t.key.endswith(TUNED_SUFFIX)]
    others = [t for t in report.tables[1:] if t not in headline]
    if headline:
        md += [f"### {HEADLINE_TITLE}", "", HEADLINE_TEXT, ""]
        body += [f"<h3>{html.escape(HEADLINE_TITLE)}</h3>", f"<p>{html.escape(HEADLINE_TEXT)}</p>"]
        for table in headline:
            table_md, table_html = _table_blocks(table)
            md += table_md
            body += table_html
    md += ["### Results", ""]
    body += ["<h3>Results</h3>"]
    table_md, table_html = _table_blocks(first)
    md += table_md
    body += table_html
    for title, lines in (("Code versions", version_lines(report)), ("Skipped", report.skipped),
                         ("Left out (bad data)", report.problems),
                         ("Left out (superseded)", report.results.superseded), ("Notes", report.remarks)):
        section_md, section_html = _section(title, lines)
        md += section_md
        body += section_html
    if others:
        title = SECONDARY_TITLE if headline else "Tables"
        md += [f"### {title}", ""]
        body += [f"<h3>{html.escape(title)}</h3>"]
    for table in others:
        table_md, table_html = _table_blocks(table)
        md += table_md
        body += table_html
    figures_md, figures_html = _figure_blocks(report.figures, report_dir)
    section_md, section_html = _section("Environment", [line[2:] for line in _environment_lines(results)])
    return md + figures_md + section_md, body + figures_html + section_html


def _figure_blocks(figures: list[FigureResult], report_dir: Path) -> tuple[list[str], list[str]]:
    if not figures:
        return [], []
    md, body = ["### Figures", ""], ["<h3>Figures</h3>"]
    for figure in figures:
        png = next(p for p in figure.paths if p.suffix == ".png")
        relative = Path(os.path.relpath(png, report_dir)).as_posix()
        md += [f"![{figure.key}]({relative})", "", f"*{figure.caption}*", ""]
        md += [f"- note: {note}" for note in figure.notes] + ([""] if figure.notes else [])
        encoded = base64.b64encode(png.read_bytes()).decode("ascii")
        body += [f'<figure><img alt="{figure.key}" style="max-width:100%" src="data:image/png;base64,{encoded}">'
                 f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"]
        if figure.notes:
            body += ["<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in figure.notes) + "</ul>"]
    return md, body
