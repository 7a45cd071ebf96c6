"""One look for every figure: the registries' colour per model and DMRec variant, paper-column sizes,
and saving to PNG (200 dpi) + PDF. Red is kept for the best-test-point markers of Fig. 2."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmark.analysis import roles

COLUMN_WIDTH = 3.3  # inches, one column of a two-column paper
TEXT_WIDTH = 7.0  # inches, both columns
DPI = 200
BEST_POINT = "#d62728"

METRIC_COLOURS = {"recall@20": "#4c72b0", "ndcg@20": "#dd8452"}


def variant_colour(label: str) -> str:
    """A DMRec variant's colour, from the matcher registry (dmrec/matchers.py)."""
    return roles.variant_colour(label)


def model_colour(model: str) -> str:
    """A model's colour, from the model registry (baselines/registry.py)."""
    return roles.model_colour(model)


def model_marker(model: str) -> str:
    """A model's marker, from the model registry (baselines/registry.py)."""
    return roles.model_marker(model)


RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.frameon": False, "axes.spines.top": False, "lines.linewidth": 1.2,
    "lines.markersize": 3.5, "savefig.bbox": "tight", "savefig.pad_inches": 0.03, "pdf.fonttype": 42,
}


@contextmanager
def paper_style():
    with plt.rc_context(RC):
        yield


def panel_grid(n_panels: int, panel_height: float = 2.2, max_cols: int = 3):
    """(figure, flat list of axes): one column width for a single panel, text width otherwise."""
    cols = min(n_panels, max_cols)
    rows = -(-n_panels // cols)
    width = COLUMN_WIDTH if cols == 1 else TEXT_WIDTH
    fig, axes = plt.subplots(rows, cols, figsize=(width, panel_height * rows), squeeze=False)
    flat = list(axes.ravel())
    for extra in flat[n_panels:]:
        extra.set_visible(False)
    return fig, flat[:n_panels]


def save(fig, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.pdf"]
    for path in paths:  # explicit bbox: the rc context may already be closed when a figure is saved
        # no creation date in the PDF: the same numbers give the same bytes, so committed figures
        # change only when what they show changes
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.03, metadata=metadata)
    plt.close(fig)
    return paths


def figure_legend(fig, handles, labels, wide: bool) -> None:
    """One legend above all panels, so it never covers data; two columns when the figure is one column wide."""
    fig.legend(handles, labels, loc="lower center", ncol=len(labels) if wide else min(len(labels), 2),
               bbox_to_anchor=(0.5, 1.0))
