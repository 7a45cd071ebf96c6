"""The generated blocks in their files: find one between its markers, replace it."""
from __future__ import annotations

from pathlib import Path

from benchmark.analysis.reproducibility.facts import BEGIN, END, README_PATH


def current_block(text: str, begin: str = BEGIN, end: str = END, where: Path = README_PATH) -> str:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{where}: no {begin} ... {end} markers")
    return text[start:stop + len(end)]


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END, where: Path = README_PATH) -> str:
    stored = current_block(text, begin, end, where)
    return text.replace(stored, block, 1)

