"""The Table 1 of every prepared dataset: the figures `python -m benchmark.data stats` prints."""
from __future__ import annotations

from benchmark.data.prepared import list_prepared, read_meta

COLUMNS = (
    ("dataset", lambda m: m["name"]),
    ("users", lambda m: f"{m['n_users']:,}"),
    ("items", lambda m: f"{m['n_items']:,}"),
    ("interactions", lambda m: f"{m['n_interactions']:,}"),
    ("sparsity", lambda m: f"{100 * m['sparsity']:.2f}%"),
    ("train", lambda m: f"{m['n_train']:,}"),
    ("valid", lambda m: f"{m['n_valid']:,}"),
    ("test", lambda m: f"{m['n_test']:,}"),
    ("text dim", lambda m: str(m.get("text_dim") or "-")),
    ("encoder", lambda m: m.get("text_encoder") or "none"),
)


def statistics_rows(names: list[str] | None = None) -> list[dict]:
    return [read_meta(name) for name in (names or list_prepared())]


def format_table(metas: list[dict]) -> str:
    """A Markdown table, one row per dataset, numbers right-aligned."""
    header = [title for title, _ in COLUMNS]
    rows = [[cell(meta) for _, cell in COLUMNS] for meta in metas]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    numeric = [title not in ("dataset", "encoder") for title in header]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
