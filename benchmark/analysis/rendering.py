"""One table, three renderings: Markdown (for the report), LaTeX booktabs (to paste) and a tidy CSV.

A `Table` holds already formatted cell texts plus a mark per cell ('bold', 'underline' or ''),
so the Markdown and LaTeX versions can never disagree on which number is best.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Cell:
    text: str
    mark: str = ""  # 'bold' | 'underline' | ''


RULE = None  # a row that is a horizontal rule between blocks


@dataclass
class Table:
    """`columns`: (group, label) pairs; `rows`: lists of Cell, or RULE; `data`: tidy numbers for the CSV."""

    key: str
    caption: str
    columns: list[tuple[str, str]]
    rows: list[list[Cell] | None]
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    trial_ids: list[str] = field(default_factory=list)  # the trials behind its numbers (for provenance)

    def body_rows(self) -> list[list[Cell]]:
        return [row for row in self.rows if row is not RULE]


def _markdown_cell(cell: Cell) -> str:
    text = cell.text.replace("|", "\\|")
    if cell.mark == "bold":
        return f"**{text}**"
    if cell.mark == "underline":
        return f"<u>{text}</u>"
    return text


def to_markdown(table: Table) -> str:
    header = [f"{group} {label}".strip() for group, label in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.body_rows()]
    return "\n".join(lines)


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}",
                  "–": "--", "≤": r"$\leq$", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def _latex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    if cell.mark == "bold":
        return rf"\textbf{{{text}}}"
    if cell.mark == "underline":
        return rf"\underline{{{text}}}"
    return text


def to_latex(table: Table) -> str:
    """A booktabs tabular inside a table environment; grouped column headers get \\cmidrule."""
    n_label = sum(1 for group, _ in table.columns if not group)
    spec = "l" * n_label + "r" * (len(table.columns) - n_label)
    lines = [r"% requires \usepackage{booktabs,graphicx}", r"\begin{table*}[t]", r"\centering",
             rf"\caption{{{latex_escape(table.caption)}}}", rf"\label{{tab:{table.key}}}",
             r"\resizebox{\textwidth}{!}{%", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    spans = _group_spans(table.columns)
    if any(group for group, _, _ in spans):
        cells, rules = [], []
        for group, start, width in spans:
            if group:
                cells.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(group)}}}")
                rules.append(rf"\cmidrule(lr){{{start + 1}-{start + width}}}")
            else:
                cells += [""] * width
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines.append(" & ".join(latex_escape(label) for _, label in table.columns) + r" \\")
    lines.append(r"\midrule")
    for row in table.rows:
        lines.append(r"\midrule" if row is RULE else " & ".join(_latex_cell(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def _group_spans(columns: list[tuple[str, str]]) -> list[tuple[str, int, int]]:
    spans: list[tuple[str, int, int]] = []
    for index, (group, _) in enumerate(columns):
        if spans and spans[-1][0] == group:
            name, start, width = spans[-1]
            spans[-1] = (name, start, width + 1)
        else:
            spans.append((group, index, 1))
    return spans


def to_html(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = html.escape(c.text)
        return f"<b>{text}</b>" if c.mark == "bold" else f"<u>{text}</u>" if c.mark == "underline" else text

    head = "".join(f"<th>{html.escape((group + ' ' + label).strip())}</th>" for group, label in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in table.body_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_table(table: Table, folder: Path, prefix: str) -> list[Path]:
    """Write `<prefix>_<key>.md/.tex/.csv` into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{prefix}_{table.key}"
    markdown = f"{table.caption}\n\n{to_markdown(table)}\n"
    if table.notes:
        markdown += "\n" + "\n".join(f"- {note}" for note in table.notes) + "\n"
    paths = [stem.with_suffix(".md"), stem.with_suffix(".tex"), stem.with_suffix(".csv")]
    paths[0].write_text(markdown)
    paths[1].write_text(to_latex(table))
    table.data.to_csv(paths[2], index=False)
    return paths
