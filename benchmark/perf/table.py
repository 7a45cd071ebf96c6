"""A stage's table: rows of plain values and the notes that say where the numbers came from, rendered
through the analysis' Markdown renderer and pandas' CSV writer."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.analysis import rendering
from benchmark.core.atomic import atomic_write


def cell_text(value) -> str:
    """A cell as the Markdown shows it: 4 significant digits, thousands grouped, NaN as n/a."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@dataclass
class Table:
    """One stage's result: rows of plain values, the notes that say where numbers came from."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """The rows as a frame of the table's columns; a cell a row lacks is empty."""
        return pd.DataFrame([{c: row.get(c, "") for c in self.columns} for row in self.rows], columns=self.columns)

    def markdown(self) -> str:
        cells = [[rendering.Cell(cell_text(row.get(c, ""))) for c in self.columns] for row in self.rows]
        table = rendering.Table(self.name, self.title, [("", c) for c in self.columns], cells, self.frame())
        return f"### {self.title}\n\n{rendering.to_markdown(table)}\n\n" + "".join(f"- {note}\n" for note in self.notes)

    def csv(self) -> str:
        return self.frame().to_csv(index=False, lineterminator="\n", na_rep="nan")

    def write(self, out: Path | None) -> None:
        """Print the table, and write `<out>/perf_<name>.{csv,md}` atomically."""
        print("\n" + self.markdown(), flush=True)
        if out is None:
            return
        for suffix, text in (("csv", self.csv()), ("md", self.markdown())):
            atomic_write(out / f"perf_{self.name}.{suffix}", text)
