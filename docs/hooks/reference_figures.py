"""MkDocs hook: the committed reference figures (`figures/*.png`) become files of the site.

The figures live where the analysis writes them, outside `docs/`; serving them from there keeps
one copy, so the pages always show the committed reference outputs.
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    figures = Path(config["docs_dir"]).resolve().parent / "figures"
    for png in sorted(figures.glob("*.png")):
        files.append(File.generated(config, f"figures/{png.name}", abs_src_path=str(png)))
    return files
