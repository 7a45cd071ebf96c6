"""Run every table and figure for a grid and write results/report.md and a self-contained report.html."""
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
from benchmark.analysis.records import GridResults, environment_summary, load_grid
from benchmark.analysis.rendering import Table, to_html, to_markdown, write_table
from benchmark.analysis.table1 import table1
from benchmark.analysis.table2 import table2
from benchmark.analysis.table3 import table3

FIGURES = (fig2_convergence, fig3_sparsity, fig4_posterior, fig5_ablation, fig6_beta)


@dataclass
class GridReport:
    results: GridResults
    tables: list[Table] = field(default_factory=list)
    table_files: list[Path] = field(default_factory=list)
    figures: list[FigureResult] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # skipped artefacts, comparison summaries


def analyse_grid(grid: str, root: Path, tables_dir: Path, figures_dir: Path,
                 sparsity_edges: list[int] | None = None) -> GridReport:
    """Every table (md/tex/csv) and figure (png/pdf/csv) of one grid; raises NoResults on an empty grid.
    `sparsity_edges`: fixed upper edges of Fig. 3's first three groups instead of the quantile rule."""
    results = load_grid(grid, root)
    report = GridReport(results)
    report.tables.append(table1(results))
    for key, build in (("table2", table2), ("table3", table3)):
        built = build(results)
        if built is None:
            report.remarks.append(f"{key.replace('table', 'Table ')}: skipped, the grid has none of its models.")
            continue
        mean_table, std_table, summary = built
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
            report.remarks.append(f"{figure.__name__}: skipped. {skipped}")
        except Exception as error:  # one broken figure must not cost the reader the rest of the report
            report.remarks.append(f"{figure.__name__}: FAILED ({type(error).__name__}: {error})")
            traceback.print_exc()
    return report


def _environment_lines(results: GridResults) -> list[str]:
    lines = []
    for key, values in environment_summary(results).items():
        flag = "" if len(values) == 1 else " (differs between trials)"
        lines.append(f"- {key}: {', '.join(values)}{flag}")
    return lines


def _counts_line(results: GridResults) -> str:
    trials = results.trials
    failed = len(results.store.failed_ids()) if hasattr(results.store, "failed_ids") else 0
    per_config = trials.groupby(["model", "matcher", "config_label", "dataset"])["seed"].nunique()
    spread = (f"{per_config.min()}" if per_config.min() == per_config.max()
              else f"{per_config.min()} to {per_config.max()}")
    return (f"{len(trials)} finished trial(s), {failed} failed; {trials['dataset'].nunique()} dataset(s); "
            f"seeds per configuration: {spread} (per-cell counts are in each table's std companion).")


def write_reports(reports: list[GridReport], report_dir: Path) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = report_dir / "report.md", report_dir / "report.html"
    md: list[str] = ["# dmrec-bench report", ""]
    body: list[str] = ["<h1>dmrec-bench report</h1>"]
    for report in reports:
        results = report.results
        md += [f"## Grid `{results.grid}`", "", _counts_line(results), "", "### Environment", "",
               *_environment_lines(results), ""]
        body += [f"<h2>Grid <code>{html.escape(results.grid)}</code></h2>", f"<p>{html.escape(_counts_line(results))}</p>",
                 "<h3>Environment</h3><ul>" + "".join(f"<li>{html.escape(line[2:])}</li>"
                                                       for line in _environment_lines(results)) + "</ul>"]
        if report.remarks:
            md += ["### Notes", "", *[f"- {remark}" for remark in report.remarks], ""]
            body += ["<h3>Notes</h3><ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in report.remarks) + "</ul>"]
        md += ["### Tables", ""]
        body += ["<h3>Tables</h3>"]
        for table in report.tables:
            md += [f"**{table.key}**: {table.caption}", "", to_markdown(table), ""]
            md += [f"- {note}" for note in table.notes] + ([""] if table.notes else [])
            body += [f"<p><b>{html.escape(table.key)}</b>: {html.escape(table.caption)}</p>", to_html(table)]
            if table.notes:
                body += ["<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in table.notes) + "</ul>"]
        md += ["### Figures", ""]
        body += ["<h3>Figures</h3>"]
        for figure in report.figures:
            png = next(p for p in figure.paths if p.suffix == ".png")
            relative = Path(os.path.relpath(png, report_dir)).as_posix()
            md += [f"![{figure.key}]({relative})", "", f"*{figure.caption}*", ""]
            md += [f"- missing/note: {note}" for note in figure.notes] + ([""] if figure.notes else [])
            encoded = base64.b64encode(png.read_bytes()).decode("ascii")
            body += [f'<figure><img alt="{figure.key}" style="max-width:100%" src="data:image/png;base64,{encoded}">'
                     f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"]
            if figure.notes:
                body += ["<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in figure.notes) + "</ul>"]
    md_path.write_text("\n".join(md) + "\n")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}"
             "td,th{border-bottom:1px solid #ccc;padding:2px 6px;text-align:right}"
             "figcaption{font-size:13px;font-style:italic}")
    html_path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>dmrec-bench report</title>"
                         f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
    return md_path, html_path
