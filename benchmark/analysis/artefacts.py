"""What a figure function hands back: its files, caption, notes and the exact data it plotted."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.analysis import style


@dataclass
class FigureResult:
    key: str  # "fig3_sparsity"
    caption: str
    data: pd.DataFrame  # every plotted number; also written as CSV beside the figure
    paths: list[Path] = field(default_factory=list)  # png, pdf, csv
    notes: list[str] = field(default_factory=list)


class Skipped(Exception):
    """A figure whose inputs are absent from the grid; the message goes into the report."""


def save_figure(fig, result: FigureResult, folder: Path, prefix: str) -> FigureResult:
    stem = f"{prefix}_{result.key}"
    result.paths = style.save(fig, folder, stem)
    csv = folder / f"{stem}.csv"
    result.data.to_csv(csv, index=False)
    result.paths.append(csv)
    return result
