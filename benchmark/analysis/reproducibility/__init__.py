"""The reproducibility page: Table 2's base rows, ours against the paper, and the screening of settings.

Trials of the paper grid (`table2`) and of the screening grid (`fidelity`) are read from the results
store; the plain bases (Mult-VAE, L-DiffRec, CVGA, no matcher) on the paper's datasets are kept.
A record's *settings* are named by diffing its stored config against the preset's config its record
carries (`defaults.preset`, written beside it by the same code): "released", or "released +
batch_order=fixed" for a trial that changed one key. Records with the same settings
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

One module per idea: `facts` (the paper's values, the bases and datasets, the CSV's columns),
`settings` (a record's settings: its config against its own recorded defaults), `rows` (records ->
the CSV), `cells` (the CSV's rows per cell, as the blocks write them), `status` (the README's block),
`screening` (the page's block and its verdicts), `files` (the blocks in their files) and `cli`.
"""
from benchmark.analysis.reproducibility.cells import cells_of
from benchmark.analysis.reproducibility.cli import main
from benchmark.analysis.reproducibility.facts import (
    BASES,
    BEGIN,
    COLUMNS,
    CSV_PATH,
    DATASETS,
    END,
    GRIDS,
    METRIC_LABELS,
    METRICS,
    PAGE_PATH,
    PAPER_GRID,
    README_PATH,
    SCREENING_BEGIN,
    SCREENING_END,
    SEEDS_TO_DECIDE,
    TOLERANCE,
    paper_value,
)
from benchmark.analysis.reproducibility.files import current_block, replace_block
from benchmark.analysis.reproducibility.rows import read_status, rows_from_records, status_from_store, write_status
from benchmark.analysis.reproducibility.screening import reference_of, render_screening
from benchmark.analysis.reproducibility.settings import describe_settings, paper_grid_settings
from benchmark.analysis.reproducibility.status import not_run_lines, render_block, run_command

__all__ = ["BASES", "BEGIN", "COLUMNS", "CSV_PATH", "DATASETS", "END", "GRIDS", "METRICS", "METRIC_LABELS",
           "PAGE_PATH", "PAPER_GRID", "README_PATH", "SCREENING_BEGIN", "SCREENING_END", "SEEDS_TO_DECIDE",
           "TOLERANCE", "cells_of", "current_block", "describe_settings", "main", "not_run_lines",
           "paper_grid_settings", "paper_value", "read_status", "reference_of", "render_block", "render_screening",
           "replace_block", "rows_from_records", "run_command", "status_from_store", "write_status"]
