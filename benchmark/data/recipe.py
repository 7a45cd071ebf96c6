"""A builder's recipe: the options of `prepare`, how text vectors are chosen, and the fingerprint of
everything that determines a prepared copy, which says whether that copy is up to date."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.text_encoder import TextEncoder, embed_cached, resolve_encoder, sha256_file, stand_in_vectors

STAND_IN_SEED = 20250407  # user vectors use this seed, item vectors this seed + 1
STAND_IN_WARNING = ("STAND-IN RANDOM TEXT VECTORS: for speed runs only; they carry no language "
                    "information, so no result on this dataset says anything about text")


@dataclass(frozen=True)
class PrepareOptions:
    """The options of `python -m benchmark.data prepare` (see docs/datasets.md)."""

    source: Path | None = None  # input folder; None: the builder's default
    encoder: str | None = None  # sentence-transformers name or folder; None: the builder's default
    stand_in_dim: int | None = None  # write seeded random vectors of this size instead of embedding
    name: str | None = None  # store under this name instead of the builder's
    force: bool = False  # rebuild even when up to date, and re-embed instead of reading the cache
    # options of the interaction-file builder (`csv`) only; see `own_data.py`
    columns: tuple[tuple[str, str], ...] = ()  # (role, column name in the file), e.g. ("user", "uid")
    min_rating: float | None = None  # keep interactions rated at least this
    split: str | None = None  # "random" (default), "temporal" or "column:<name>"
    user_text: Path | None = None  # CSV of (id, text) per user
    item_text: Path | None = None  # CSV of (id, text) per item

    def given(self) -> set[str]:
        """Names of the options set to something other than their default."""
        return {name for name, f in self.__dataclass_fields__.items() if getattr(self, name) != f.default}


def stand_in_description(dim: int) -> str:
    return f"stand-in (random, {dim}-d)"


class TextVectors:
    """Chooses each kind's vectors: stand-in if asked, else shipped vectors (unless an encoder
    was chosen explicitly), else the embedded profiles, else none; and describes the choice."""

    def __init__(self, options: PrepareOptions):
        self.options = options
        self._encoder: TextEncoder | None = None
        self.sources: dict[str, str] = {}

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = resolve_encoder(self.options.encoder)
        return self._encoder

    def uses_encoder(self, has_shipped: bool, has_profiles: bool) -> bool:
        if self.options.stand_in_dim is not None or not has_profiles:
            return False
        return self.options.encoder is not None or not has_shipped

    def choose(self, kind: str, n: int, profiles: list[str] | None, shipped: np.ndarray | None,
               shipped_label: str = "shipped") -> np.ndarray | None:
        if self.options.stand_in_dim is not None:
            self.sources[kind] = stand_in_description(self.options.stand_in_dim)
            return stand_in_vectors(n, self.options.stand_in_dim, STAND_IN_SEED + (kind == "item"))
        if self.uses_encoder(shipped is not None, profiles is not None):
            self.sources[kind] = self.encoder.name
            return embed_cached(self.encoder, profiles, f"{kind} profiles", refresh=self.options.force)
        if shipped is not None:
            self.sources[kind] = shipped_label
            return shipped
        return None

    def info(self) -> dict:
        """The meta.json entries describing where the text vectors came from."""
        described = sorted(set(self.sources.values()))
        if not described:
            return {"text_encoder": None}
        text_encoder = (described[0] if len(described) == 1
                        else "; ".join(f"{k}: {v}" for k, v in sorted(self.sources.items())))
        info = {"text_encoder": text_encoder}
        if self._encoder is not None and self._encoder.name in described:
            info.update(self._encoder.describe())
            info["text_encoder"] = text_encoder
        if self.options.stand_in_dim is not None:
            info["stand_in_vectors"] = {"dim": self.options.stand_in_dim, "seed": STAND_IN_SEED,
                                        "warning": STAND_IN_WARNING}
        return info


def files_fingerprint(paths: list[Path]) -> dict[str, str]:
    return {path.name: sha256_file(path) for path in paths if path.is_file()}


def code_fingerprint() -> str:
    """Hash of this package's source: a change to any builder makes every prepared copy stale."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def recipe_hash(recipe: dict) -> str:
    text = json.dumps({**recipe, "code": code_fingerprint()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
