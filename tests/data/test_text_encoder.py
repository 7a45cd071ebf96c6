import numpy as np
import pytest

from benchmark.core.errors import DataError
from benchmark.data import text_encoder
from benchmark.data.text_encoder import (
    BUNDLED_SHA256,
    BUNDLED_WEIGHTS,
    TextEncoder,
    bundled_model_dir,
    cache_dir,
    cache_key,
    embed_cached,
    resolve_encoder,
    stand_in_vectors,
)

TEXTS = ["A 24-year-old male technician who enjoys comedy films.", "Fargo (1996): a crime and drama film.",
         "The Usual Suspects (1995): a crime and thriller film."]


def _bundled_copy(tmp_path, replace: dict[str, bytes]):
    """A folder that links to the bundled model's files, except those given in `replace`."""
    source = bundled_model_dir()
    folder = tmp_path / "model-copy"
    for path in source.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            name = path.relative_to(source).as_posix()
            if name in replace:
                target.write_bytes(replace[name])
            else:
                target.symlink_to(path)
    return folder


def test_the_bundled_minilm_embeds_and_the_cache_answers_without_loading(data_home, monkeypatch):
    encoder = resolve_encoder()
    assert encoder.name == "all-MiniLM-L6-v2" and encoder.pinned_sha256 == BUNDLED_SHA256
    vectors = embed_cached(encoder, TEXTS, "texts")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # MiniLM normalizes
    cos = vectors @ vectors.T
    assert cos[1, 2] > cos[0, 1] and cos[1, 2] > cos[0, 2]  # the two crime films are the closest pair
    assert (cache_dir() / f"{cache_key(encoder, TEXTS)}.npy").is_file()

    def no_loading(self):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(TextEncoder, "_load", no_loading)
    np.testing.assert_array_equal(embed_cached(resolve_encoder(), TEXTS, "texts"), vectors)
    with pytest.raises(AssertionError, match="cache should have answered"):
        embed_cached(resolve_encoder(), TEXTS[:2], "texts")  # other texts: other key, so it must embed


def test_the_cache_key_covers_encoder_files_and_exact_texts(tmp_path):
    default = resolve_encoder()
    config = (bundled_model_dir() / "sentence_bert_config.json").read_text().replace("256", "128")
    changed = TextEncoder(default.name, _bundled_copy(tmp_path, {"sentence_bert_config.json": config.encode()}))
    assert cache_key(default, TEXTS) != cache_key(changed, TEXTS)
    assert cache_key(default, TEXTS) != cache_key(default, [TEXTS[0] + " ", *TEXTS[1:]])
    renamed = TextEncoder("another-name", default.folder)
    assert cache_key(default, TEXTS) != cache_key(renamed, TEXTS)


def test_a_bundled_model_with_the_wrong_weights_hash_is_refused(tmp_path, monkeypatch):
    folder = _bundled_copy(tmp_path, {BUNDLED_WEIGHTS: b"not the MiniLM weights"})
    damaged = TextEncoder("all-MiniLM-L6-v2", folder, BUNDLED_SHA256)
    monkeypatch.setattr(text_encoder, "_LOADED", {})
    with pytest.raises(DataError, match=rf"{BUNDLED_WEIGHTS}: sha256 is [0-9a-f]{{64}}, expected {BUNDLED_SHA256}"):
        damaged.encode(TEXTS)
    assert text_encoder._LOADED == {}
    monkeypatch.setattr(text_encoder, "bundled_model_dir", lambda: folder)
    with pytest.raises(DataError, match="sha256"):
        _ = resolve_encoder().fingerprint


def test_an_encoder_that_is_neither_a_folder_nor_a_model_is_a_clear_error(tmp_path):
    not_a_folder = tmp_path / "weights.bin"
    not_a_folder.write_bytes(b"x")
    with pytest.raises(DataError, match=r"weights\.bin: a text encoder must be a sentence-transformers model folder"):
        resolve_encoder(str(not_a_folder))
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(DataError, match="empty-model: not a loadable sentence-transformers model"):
        resolve_encoder(str(empty)).encode(["x"])


def test_stand_in_vectors_are_seeded_unit_rows():
    first, again = stand_in_vectors(5, 16, seed=1), stand_in_vectors(5, 16, seed=1)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(first, stand_in_vectors(5, 16, seed=2))
