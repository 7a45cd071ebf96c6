"""The artefacts a trial's model reads, produced and attached to its RecBole datasets before it is built.

    text vectors          the prepared `user_vectors.npy` / `item_vectors.npy`, aligned to RecBole's ids
    LightGCN embeddings   a short BPR pre-training of LightGCN on the training split, for the models
                          whose `pretrainings(config)` ask for one (L-DiffRec's item clusters with
                          `item_clusters_from: lightgcn`, LLMRec's semantic-proxy candidates): trained
                          by `train_lightgcn` with the one pair sampler, cached under the prepared
                          dataset's folder (`artefacts/lightgcn-<key>.npy`) keyed by all it depends on

The runner calls `attach_artefacts` once per trial (`benchmark.runner.trial.build_recbole`); models
read the result through `benchmark.core.artefacts`.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import asdict, replace
from functools import cache
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmark.core.artefacts import DatasetArtefacts, LightGCNPretraining, attach, requested_pretrainings
from benchmark.core.atomic import atomic_save_array, atomic_write
from benchmark.core.errors import DataError
from benchmark.core.interactions import train_matrix
from benchmark.core.pairs import PairSampler
from benchmark.data.layout import VECTOR_KINDS, read_meta, vector_file
from benchmark.data.runtime import text_vectors

log = logging.getLogger(__name__)

FORMAT = "lightgcn-embeddings-v1"  # bump when `train_lightgcn` changes: old cache entries stop matching
CACHE_FOLDER = "artefacts"  # inside the prepared dataset's folder: a re-prepared dataset starts empty
ARCHITECTURE = ("embedding_size", "n_layers", "layer_combination", "keep_rate", "reg_weight")


def attach_artefacts(config, model_class, datasets) -> DatasetArtefacts:
    """Load and produce what `model_class` reads under `config` (a RecBole Config) and attach it to
    each of `datasets` (train first: text vectors and pre-trainings read the training split)."""
    train = datasets[0]
    artefacts = DatasetArtefacts()
    for kind in VECTOR_KINDS:
        path = Path(train.dataset_path) / vector_file(kind)
        if not path.is_file():
            artefacts.text_missing[kind] = path
            continue
        try:
            artefacts.text[kind] = text_vectors(train, kind)
        except DataError as error:  # raised when a model reads them, as before: interaction-only models run
            artefacts.text_damaged[kind] = str(error)
    for recipe in requested_pretrainings(model_class, config):
        artefacts.lightgcn[recipe], _ = cached_lightgcn_embeddings(train, recipe)
    for dataset in datasets:
        attach(dataset, artefacts)
    return artefacts


@cache
def _architecture_defaults(path: str) -> dict:
    values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    missing = [key for key in ARCHITECTURE if key not in values]
    if missing:
        raise DataError(f"{path}: LightGCN defaults lack {', '.join(missing)}")
    return {key: values[key] for key in ARCHITECTURE}


def lightgcn_defaults(model: type) -> dict:
    """The architecture in the defaults yaml beside `model`'s module (the registry's rule:
    baselines/lightgcn/lightgcn.py -> lightgcn.yaml), what a recipe's None fields take."""
    return dict(_architecture_defaults(str(Path(inspect.getfile(model)).with_suffix(".yaml"))))


def resolved(recipe: LightGCNPretraining) -> LightGCNPretraining:
    """`recipe` with every architecture field given (None: the default beside its LightGCN class)."""
    defaults = lightgcn_defaults(recipe.model)
    return replace(recipe, **{key: defaults[key] for key in ARCHITECTURE if getattr(recipe, key) is None})


def cache_key(dataset, recipe: LightGCNPretraining) -> dict:
    """Everything the embeddings depend on: the data (name, content version, training matrix), the
    resolved recipe, and what computes it (device kind and model, CPU threads, torch's version)."""
    folder = Path(dataset.dataset_path)
    matrix = train_matrix(dataset)
    device = torch.device(recipe.device)
    return {
        "format": FORMAT, "dataset": folder.name, "version": read_meta(folder.name, folder.parent)["version"],
        "train_shape": list(matrix.shape), "train_nnz": int(matrix.nnz),
        **{key: value for key, value in asdict(resolved(recipe)).items() if key not in ("model", "device")},
        "model": f"{recipe.model.__module__}:{recipe.model.__qualname__}",
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        # more than one CPU thread sums sparse products in varying order: keyed, so a one-thread
        # trial never reads what a many-thread process trained
        "cpu_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__,
    }


def cache_path(dataset, recipe: LightGCNPretraining) -> Path:
    key = json.dumps(cache_key(dataset, recipe), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(dataset.dataset_path) / CACHE_FOLDER / f"lightgcn-{digest}.npy"


def cached_lightgcn_embeddings(dataset, recipe: LightGCNPretraining) -> tuple[np.ndarray, str]:
    """(embeddings (n_users + n_items, d) float32, "cache" | "built"): read from the cache, else
    trained and stored atomically (with its key beside it, as json)."""
    path = cache_path(dataset, recipe)
    width = resolved(recipe).embedding_size
    if path.is_file():
        try:
            embeddings = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            log.warning("%s: damaged cache file (%s); training again", path, " ".join(str(error).split()))
        else:
            if embeddings.shape == (dataset.user_num + dataset.item_num, width) and embeddings.dtype == np.float32:
                return embeddings, "cache"
            log.warning("%s: cached embeddings of shape %s, expected %s; training again", path,
                        embeddings.shape, (dataset.user_num + dataset.item_num, width))
    embeddings = train_lightgcn(dataset, recipe)
    atomic_write(path.with_suffix(".json"), json.dumps(cache_key(dataset, recipe), indent=1, sort_keys=True))
    atomic_save_array(path, embeddings)
    return embeddings, "built"


def train_lightgcn(dataset, recipe: LightGCNPretraining) -> np.ndarray:
    """(n_users + n_items, d) float32 layer-combined embeddings, users then items, of the LightGCN
    model `recipe.model` trained `recipe.epochs` epochs with BPR on the training split.

    A pre-training, not a trial: no validation, never sees valid/test. Seeded by `recipe.seed`
    inside a forked RNG, so the global stream a model's own initialisation draws from afterwards is
    the same as without it."""
    recipe = resolved(recipe)
    device = torch.device(recipe.device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(recipe.seed)
        generator = torch.Generator().manual_seed(recipe.seed)
        model = _initial_lightgcn(dataset, recipe, generator).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate, fused=recipe.fused_adam)
        sampler = PairSampler(train_matrix(dataset), generator, name=dataset.dataset_name)
        model.train()
        for _ in range(recipe.epochs):
            for users, items, negatives in sampler.batches(recipe.batch_size):
                batch = {model.USER_ID: users.to(device), model.ITEM_ID: items.to(device),
                         model.NEG_ITEM_ID: negatives.squeeze(1).to(device)}
                optimizer.zero_grad(set_to_none=True)
                model.calculate_loss(batch).backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            users_out, items_out = model.embed()
    return torch.cat([users_out, items_out]).cpu().numpy()


def _initial_lightgcn(dataset, recipe: LightGCNPretraining, generator: torch.Generator):
    """The LightGCN model (drawing its Xavier tables from the global stream), its tables replaced by
    0.1 N(0, 1) draws from `generator` under `init: normal`."""
    settings = {**{key: getattr(recipe, key) for key in ARCHITECTURE}, "device": torch.device(recipe.device),
                **{key: dataset.config[key] for key in ("USER_ID_FIELD", "ITEM_ID_FIELD", "NEG_PREFIX")}}
    model = recipe.model(settings, dataset)
    if recipe.init == "normal":
        n_users = model.n_users
        table = 0.1 * torch.randn(n_users + model.n_items, recipe.embedding_size, generator=generator)
        with torch.no_grad():
            model.user_embedding.weight.copy_(table[:n_users])
            model.item_embedding.weight.copy_(table[n_users:])
    return model
