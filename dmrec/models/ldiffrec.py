"""LDiffRec: a DMRec base model (see the class docstring)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from baselines.lightgcn.lightgcn import LightGCN
from benchmark.core.artefacts import LightGCNPretraining, lightgcn_embeddings, text_vectors
from benchmark.core.errors import DataError
from benchmark.core.interactions import batch_entry_count, member_entry_counts, train_matrix
from dmrec.divergences import Gaussian
from dmrec.members import SOLO_DRAWS
from dmrec.models.base import GenerativeRecommender, MultinomialHead


def kmeans(points: torch.Tensor, k: int, seed: int, iterations: int = 50) -> torch.Tensor:
    """(n,) cluster labels of `points` (n, f): Lloyd's algorithm from a seeded k-means++ start."""
    generator = torch.Generator().manual_seed(seed)
    points = points.double()
    centroids = points[torch.randint(len(points), (1,), generator=generator)]
    for _ in range(1, k):
        distance = torch.cdist(points, centroids).min(dim=1).values ** 2
        pick = torch.multinomial(distance / distance.sum() if distance.sum() > 0 else torch.ones_like(distance),
                                 1, generator=generator)
        centroids = torch.cat([centroids, points[pick]])
    labels = torch.cdist(points, centroids).argmin(dim=1)
    for _ in range(iterations):
        for c in range(k):
            if (labels == c).any():
                centroids[c] = points[labels == c].mean(dim=0)
        new_labels = torch.cdist(points, centroids).argmin(dim=1)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels


# The short LightGCN pre-training behind `item_clusters_from: lightgcn` (DiffRec clusters
# `item_emb.npy`, a trained LightGCN's item table): LightGCN with its defaults yaml, trained by the
# data layer (benchmark/data/artefacts.py) on the training split. 8192 pairs per step at lr 1e-2:
# at lr 1e-3 the 20 epochs leave it far less trained (measured: docs/models/ldiffrec.md).
CLUSTER_PRETRAIN_BATCH_SIZE = 8192
CLUSTER_PRETRAIN_LEARNING_RATE = 1e-2
CLUSTER_SOURCES = ("text", "lightgcn")


def cluster_pretraining(config) -> LightGCNPretraining:
    """The LightGCN pre-training whose item embeddings L-DiffRec clusters: seeded by the trial
    seed, on the trial's device, fused Adam (as the trainer's)."""
    return LightGCNPretraining(model=LightGCN, epochs=int(config["cluster_pretrain_epochs"]),
                               seed=int(config["seed"]), batch_size=CLUSTER_PRETRAIN_BATCH_SIZE,
                               learning_rate=CLUSTER_PRETRAIN_LEARNING_RATE, init="xavier", fused_adam=True,
                               device=str(torch.device(config["device"])))


def item_clusters(dataset, n_clusters: int, seed: int, features: torch.Tensor | None = None) -> np.ndarray:
    """(n_items,) group of every item id (RecBole's padding item 0 joins group 0): k-means on
    `features` (n_items - 1, f) of the real items, by default their text vectors (on a dataset
    without text, a random projection of their interaction columns)."""
    n_items = dataset.item_num
    if n_clusters <= 1:
        return np.zeros(n_items, dtype=np.int64)
    if features is None:
        try:
            features = torch.as_tensor(text_vectors(dataset, "item")[1:])
        except DataError:  # no text: each item's interaction column, randomly projected to 64-d
            columns = train_matrix(dataset).T.tocsr()[1:]
            projection = np.random.default_rng(seed).normal(size=(columns.shape[1], 64)) / 8.0
            features = torch.as_tensor(np.asarray(columns @ projection))
    labels = kmeans(features, n_clusters, seed).numpy()
    return np.concatenate([[0], labels]).astype(np.int64)


def group_latent_sizes(labels: np.ndarray, n_clusters: int, latent_dim: int) -> list[int]:
    """DiffRec's split: d_c = int(|I_c| / N * latent_dim) (at least 1), the last group takes the rest."""
    real = labels[1:]
    sizes = [max(int((real == c).sum() / len(real) * latent_dim), 1) for c in range(n_clusters - 1)]
    sizes.append(latent_dim - sum(sizes))
    if sizes[-1] < 1:
        raise ValueError(f"latent_dim {latent_dim} is too small for {n_clusters} item clusters")
    return sizes


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(B, dim) sinusoidal embedding [cos(t f), sin(t f)] of integer timesteps ((K, B, dim) for (K, B))."""
    half = dim // 2
    dtype = torch.get_default_dtype()  # float32 unless a float64 check asks for more
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=dtype, device=timesteps.device) / half)
    args = timesteps.to(dtype).unsqueeze(-1) * freqs
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[..., :1])], dim=-1)
    return embedding


class Denoiser(nn.Module):
    """DiffRec's DNN: [dropout(z_t), Linear(time embedding)] -> Linear -> tanh -> ... -> z_0."""

    def __init__(self, latent_dim: int, hidden_dims: list[int], time_dim: int, dropout: float):
        super().__init__()
        self.time_dim = time_dim
        self.time_layer = nn.Linear(time_dim, time_dim)
        dims = [latent_dim + time_dim, *hidden_dims, latent_dim]
        layers: list[nn.Module] = []
        for d_in, d_out in itertools.pairwise(dims):
            layers += [nn.Linear(d_in, d_out), nn.Tanh()]
        self.layers = nn.Sequential(*layers[:-1])
        self.dropout = nn.Dropout(dropout)

    def forward(self, z_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        time = self.time_layer(timestep_embedding(timesteps, self.time_dim))
        return self.layers(torch.cat([self.dropout(z_t), time], dim=-1))


class LatentDiffusion(nn.Module):
    """The Gaussian diffusion of DiffRec over latents, x0-predicting, with importance sampling.

    `float64_loss_weights`: the SNR weights, the sampling probabilities p_t and so the per-sample
    losses stay in float64, as in DiffRec; off, they are rounded to float32 (as every stored run).

    Two implementations of the importance-sampling bookkeeping: on the CPU the step-by-step one
    (`sample_timesteps`, `record_losses`), which every stored CPU record was made with and keeps
    them byte-identical; elsewhere `*_on_device`, which give the same loss history with no read of
    the device by the host (a GPU step then never waits for the host). In a group (`dmrec.members`)
    each member keeps its own history and draws its own timesteps."""

    draws = SOLO_DRAWS
    member_buffers = ("loss_history", "history_count")  # each member's own, though they start equal

    def __init__(self, steps: int, noise_schedule: str, noise_scale: float, noise_min: float, noise_max: float,
                 beta_fixed: bool = False, history_per_step: int = 10, float64_loss_weights: bool = False):
        super().__init__()
        if noise_scale <= 0:
            raise ValueError("noise_scale must be > 0 for a diffusion (DiffRec's noise_scale = 0 is a plain MLP)")
        self.steps = steps
        self.history_per_step = history_per_step
        self.float64_loss_weights = float64_loss_weights
        betas = self.schedule(noise_schedule, steps, noise_scale * noise_min, noise_scale * noise_max)
        if beta_fixed:
            betas[0] = 1e-5
        betas = torch.as_tensor(betas, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, 0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        for name, value in {
            "alphas_cumprod": alphas_cumprod,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod),
            "loss_history": torch.zeros(steps, history_per_step, dtype=torch.float64),
            "history_count": torch.zeros(steps, dtype=torch.long),
        }.items():
            self.register_buffer(name, value, persistent=False)

    @staticmethod
    def schedule(name: str, steps: int, start: float, end: float) -> np.ndarray:
        if name == "linear":
            return np.linspace(start, end, steps, dtype=np.float64)
        if name == "linear-var":  # the forward process' variance 1 - alpha_bar_t grows linearly
            alpha_bar = 1.0 - np.linspace(start, end, steps, dtype=np.float64)
            return np.concatenate([[1.0 - alpha_bar[0]], np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], 0.999)])
        raise ValueError(f"noise_schedule must be 'linear' or 'linear-var', not {name!r}")

    @staticmethod
    def _at(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return values[t].to(torch.get_default_dtype()).unsqueeze(-1)  # (B, 1)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._at(self.sqrt_alphas_cumprod, t) * x_start + self._at(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod[t] / (1.0 - self.alphas_cumprod[t])

    def importance_probabilities(self, history: torch.Tensor | None = None) -> torch.Tensor:
        """(steps,) float64 p_t proportional to sqrt(E[L_t^2]) over each step's loss history, mixed
        with 0.1% uniform (DiffRec's importance sampling)."""
        history = self.loss_history if history is None else history
        weights = torch.sqrt((history ** 2).mean(dim=1))
        return weights / weights.sum() * (1 - 0.001) + 0.001 / self.steps

    def sample_timesteps(self, batch_size: int, device, history: torch.Tensor | None = None,
                         count: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """((B,) t, (B,) float64 p_t * steps): uniform until every step has a full loss history,
        then importance-sampled. Reads the history's counts on the host (one sync per call).
        `history`, `count`: a group member's (default: this model's own)."""
        history = self.loss_history if history is None else history
        count = self.history_count if count is None else count
        if not bool((count == self.history_per_step).all()):
            t = torch.randint(0, self.steps, (batch_size,), device=device)
            return t, torch.ones(batch_size, dtype=torch.float64, device=device)
        probabilities = self.importance_probabilities(history)
        t = torch.multinomial(probabilities, batch_size, replacement=True)
        return t, probabilities[t] * self.steps

    def sample_timesteps_on_device(self, batch_size: int, device, history: torch.Tensor | None = None,
                                   count: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`sample_timesteps` without a host read: both draws are made and `torch.where` keeps the
        importance draw once every history is full. Until then (or if the history sums to 0 or is
        not finite) the probabilities are replaced by uniform ones, so the unused draw is valid."""
        history = self.loss_history if history is None else history
        count = self.history_count if count is None else count
        ready = (count == self.history_per_step).all()  # 0-d bool, on the device
        uniform_t = torch.randint(0, self.steps, (batch_size,), device=device)
        weights = torch.sqrt((history ** 2).mean(dim=1))
        total = weights.sum()
        usable = ready & torch.isfinite(total) & (total > 0)
        shares = torch.where(usable, weights / total, torch.full_like(weights, 1.0 / self.steps))
        probabilities = shares * (1 - 0.001) + 0.001 / self.steps
        importance_t = torch.multinomial(probabilities, batch_size, replacement=True)
        t = torch.where(ready, importance_t, uniform_t)
        return t, torch.where(ready, probabilities[t] * self.steps, 1.0)

    @torch.no_grad()
    def record_losses(self, t: torch.Tensor, losses: torch.Tensor, history: torch.Tensor | None = None,
                      count: torch.Tensor | None = None) -> None:
        """Push each sample's loss into its step's history (a FIFO of the last `history_per_step`),
        in batch order, as DiffRec's per-sample loop does. `history`, `count`: as in `sample_timesteps`."""
        history = self.loss_history if history is None else history
        count = self.history_count if count is None else count
        for step in range(self.steps):
            new = losses[t == step].double()
            if len(new) == 0:
                continue
            stored = int(count[step])
            kept = torch.cat([history[step, :stored], new])[-self.history_per_step:]
            history[step, :len(kept)] = kept
            count[step] = len(kept)

    @torch.no_grad()
    def record_losses_on_device(self, t: torch.Tensor, losses: torch.Tensor, history: torch.Tensor | None = None,
                                count: torch.Tensor | None = None) -> None:
        """`record_losses` without a host read: sample j of step s goes after that step's current
        entries at its rank among the batch's samples of step s; each history then keeps its last
        `history_per_step` entries (shifted left by what overflows)."""
        history_now = self.loss_history if history is None else history
        count = self.history_count if count is None else count
        size = self.history_per_step
        one_hot = t.unsqueeze(1) == torch.arange(self.steps, device=t.device)  # (B, steps)
        rank = (one_hot.long().cumsum(0) - 1).gather(1, t.unsqueeze(1)).squeeze(1)  # (B,) order within its step
        length = count + one_hot.sum(0)  # (steps,) entries before trimming
        shift = (length - size).clamp_min(0)  # (steps,) oldest entries pushed out
        source = torch.arange(size, device=t.device) + shift.unsqueeze(1)  # (steps, size) old slot kept at each slot
        kept_old = source < count.unsqueeze(1)
        updated = torch.where(kept_old, history_now.gather(1, source.clamp_max(size - 1)), history_now)
        updated = torch.cat([updated, updated.new_zeros(self.steps, 1)], dim=1)  # last column: pushed-out samples
        slot = count[t] + rank - shift[t]  # (B,) < 0: pushed out by later samples of its step
        updated[t, torch.where(slot >= 0, slot, size)] = losses.double()
        history_now.copy_(updated[:, :size])
        count.copy_(length.clamp_max(size))

    def _timesteps(self, x_start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(t, p_t * steps) of a batch's samples, (B,) each, or (K, B) drawn per member in a group."""
        sample = self.sample_timesteps if x_start.device.type == "cpu" else self.sample_timesteps_on_device
        batch_size = x_start.shape[-2]
        return self.draws.each(lambda history, count: sample(batch_size, x_start.device, history, count),
                               self.loss_history, self.history_count)

    def _record(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        record = self.record_losses if t.device.type == "cpu" else self.record_losses_on_device
        if t.dim() == 1:
            return record(t, losses)
        for member in range(len(t)):  # a group: each member's own history
            record(t[member], losses[member], self.loss_history[member], self.history_count[member])

    def training_loss(self, denoiser: nn.Module, x_start: torch.Tensor,
                      reweight: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """((B,) importance-weighted per-sample losses, float64 with `float64_loss_weights`,
        (B, d) predicted z_0)."""
        t, pt = self._timesteps(x_start)
        x_t = self.q_sample(x_start, t, self.draws.each(torch.randn_like, x_start))
        predicted = denoiser(x_t, t)
        mse = ((x_start - predicted) ** 2).mean(dim=-1)
        if reweight:  # x0 objective: weight SNR(t-1) - SNR(t), 1 at t = 0
            snr_difference = self.snr((t - 1).clamp_min(0)) - self.snr(t)  # (B,) float64
            weight = torch.where(t == 0, torch.ones_like(snr_difference), snr_difference)
        else:
            weight = torch.ones_like(mse, dtype=torch.float64)
        if not self.float64_loss_weights:  # rounded once, as the float32 code always did
            weight, pt = weight.to(torch.get_default_dtype()), pt.to(torch.get_default_dtype())
        losses = weight * mse
        self._record(t, losses.detach())
        return losses / pt, predicted

    @torch.no_grad()
    def reverse(self, denoiser: nn.Module, x_start: torch.Tensor, sampling_steps: int) -> torch.Tensor:
        """z_0 from `x_start` noised `sampling_steps` steps (0: not at all), then every reverse step
        taking the posterior mean, without noise."""
        x_t = x_start
        if sampling_steps > 0:
            t = torch.full(x_start.shape[:-1], sampling_steps - 1, dtype=torch.long, device=x_start.device)
            x_t = self.q_sample(x_start, t, self.draws.each(torch.randn_like, x_start))
        for step in reversed(range(self.steps)):
            t = torch.full(x_t.shape[:-1], step, dtype=torch.long, device=x_t.device)
            predicted = denoiser(x_t, t)
            x_t = self._at(self.posterior_mean_coef1, t) * predicted + self._at(self.posterior_mean_coef2, t) * x_t
        return x_t


class LDiffRec(GenerativeRecommender):
    """L-DiffRec (Wang et al., "Diffusion Recommender Model", SIGIR 2023; YiyanXu/DiffRec), the
    latent diffusion recommender, with any DMRec matcher attached to its encoder's Gaussian.

        items        optionally split into `n_clusters` groups by k-means on their text vectors
                     (on a random projection of their interaction columns when the dataset has none),
                     or, as DiffRec, on a pre-trained LightGCN's item embeddings (`item_clusters_from`)
        encoder      per group c: x_u[I_c] (input dropout) -> Linear(|I_c|, 2 d_c) -> tanh -> (mu, logvar);
                     the groups' d_c add up to latent_dim (300), d_c proportional to |I_c|
        diffusion    `steps` forward steps over the sampled latent; an MLP denoiser with a sinusoidal
                     time embedding predicts z_0; timesteps importance-sampled from each step's loss
                     history, losses reweighted by SNR(t-1) - SNR(t) (DiffRec's `reweight`)
        decoder      the denoised latent -> Linear(latent_dim, N)
        loss         lambda * diffusion + multinomial reconstruction + annealed KL (the matcher's
                     regularizer takes the KL's place); lambda anneals down per epoch, the KL weight up per step
        prediction   the Gaussian's mean, through every reverse step without noise, decoded

    As in DiffRec's code, the reconstruction target is the input after dropout. The per-group
    encoders are one (N, 2 x latent_dim) table read sparsely, with a fixed block mask: item i only
    feeds its own group's latent coordinates.
    """

    groups = True  # written for a member axis too: (K, B, ...) activations, (K,) losses

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.latent_dim = int(config["latent_dim"])
        self.n_clusters = int(config["n_clusters"])
        self.dropout = float(config["dropout"])
        self.lamda, self.lamda_cap, self.lamda_anneal_epochs = (float(config["lamda"]), float(config["anneal_cap"]),
                                                                int(config["anneal_steps"]))
        self.kl_cap, self.kl_anneal_steps = float(config["vae_anneal_cap"]), int(config["vae_anneal_steps"])
        self.reweight = bool(config["reweight"])
        self.sampling_steps = int(config["sampling_steps"])
        if self.sampling_steps > int(config["steps"]):
            raise ValueError(f"sampling_steps ({self.sampling_steps}) must be <= steps ({config['steps']})")
        self.epoch = 0
        self.update_count = 0

        self.denoiser_learning_rate = config["denoiser_learning_rate"]  # None: the autoencoder's rate
        labels = item_clusters(dataset, self.n_clusters, int(config["seed"]), self.cluster_features(config, dataset))
        sizes = group_latent_sizes(labels, max(self.n_clusters, 1), self.latent_dim)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        mask = torch.zeros(self.n_items, 2 * self.latent_dim)
        for c, (start, size) in enumerate(zip(offsets, sizes, strict=True)):
            members = torch.as_tensor(np.flatnonzero(labels == c))
            mask[members.unsqueeze(1), torch.arange(start, start + size)] = 1.0  # mean coordinates
            mask[members.unsqueeze(1), torch.arange(self.latent_dim + start, self.latent_dim + start + size)] = 1.0
        self.register_buffer("item_groups", torch.as_tensor(labels), persistent=False)
        self.register_buffer("group_mask", mask if self.n_clusters > 1 else None, persistent=False)
        self.group_sizes = sizes
        self.encoder_items = nn.Parameter(torch.empty(self.n_items, 2 * self.latent_dim))
        self.encoder_bias = nn.Parameter(torch.zeros(2 * self.latent_dim))
        self.decoder = MultinomialHead(self.latent_dim, self.n_items)
        self.denoiser = Denoiser(self.latent_dim, list(config["mlp_dims"]), int(config["time_embedding_size"]),
                                 float(config["denoiser_dropout"]))
        self.diffusion = LatentDiffusion(int(config["steps"]), str(config["noise_schedule"]),
                                         float(config["noise_scale"]), float(config["noise_min"]),
                                         float(config["noise_max"]), bool(config["beta_fixed"]),
                                         float64_loss_weights=bool(config["float64_loss_weights"]))
        self.build_language_branch(dataset, self.latent_dim, int(config["pmn_hidden_size"]))
        self.initialize_weights()
        self.init_group_encoders(labels, offsets, sizes)

    @classmethod
    def pretrainings(cls, config) -> tuple[LightGCNPretraining, ...]:
        """What the data layer trains before the model is built: the LightGCN behind
        `item_clusters_from: lightgcn` (benchmark.core.artefacts)."""
        if str(config["item_clusters_from"]) != "lightgcn" or int(config["n_clusters"]) <= 1:
            return ()
        return (cluster_pretraining(config),)

    def cluster_features(self, config, dataset) -> torch.Tensor | None:
        """What the items are clustered on: None (text vectors, `item_clusters`' default) or, with
        `item_clusters_from: lightgcn`, the (n_items - 1, d) item embeddings of a short LightGCN
        pre-training (`pretrainings`)."""
        source = str(config["item_clusters_from"])
        if source not in CLUSTER_SOURCES:
            raise ValueError(f"item_clusters_from must be one of {CLUSTER_SOURCES}, not {source!r}")
        if source == "text" or self.n_clusters <= 1:
            return None
        embeddings = lightgcn_embeddings(dataset, cluster_pretraining(config))  # users, then items
        return torch.as_tensor(embeddings[dataset.user_num + 1:])  # the real items (item 0 is padding)

    def optimizer_groups(self, learning_rate: float) -> list[dict]:
        """The trainer's parameter groups: every parameter at `learning_rate`, or, with
        `denoiser_learning_rate` set, the denoiser's at that rate (DiffRec's optimizer2, lr2)."""
        if self.denoiser_learning_rate is None:
            return [{"params": list(self.parameters())}]
        denoiser = list(self.denoiser.parameters())
        own = {id(p) for p in denoiser}
        return [{"params": [p for p in self.parameters() if id(p) not in own], "lr": learning_rate},
                {"params": denoiser, "lr": float(self.denoiser_learning_rate)}]

    @torch.no_grad()
    def init_group_encoders(self, labels: np.ndarray, offsets: np.ndarray, sizes: list[int]) -> None:
        """Each group's Linear(|I_c|, 2 d_c) as `weight_init` says, fan_in |I_c| counting real items
        only: Xavier-normal (fans |I_c| and 2 d_c) with a zero bias, or nn.Linear's default
        U(-1/sqrt(|I_c|), 1/sqrt(|I_c|)) for weights and bias. Row 0 (padding) stays 0."""
        scale = torch.zeros(2 * self.latent_dim)
        for c, (start, size) in enumerate(zip(offsets, sizes, strict=True)):
            members = max(int((labels[1:] == c).sum()), 1)
            if self.weight_init == "xavier":
                value = math.sqrt(2.0 / (members + 2 * size))
            else:
                value = 1.0 / math.sqrt(members)
            scale[start:start + size] = value
            scale[self.latent_dim + start:self.latent_dim + start + size] = value
        if self.weight_init == "xavier":
            self.encoder_items.normal_().mul_(scale)
            self.encoder_bias.zero_()
        else:
            self.encoder_items.uniform_(-1.0, 1.0).mul_(scale)
            self.encoder_bias.uniform_(-1.0, 1.0).mul_(scale)
        if self.group_mask is not None:
            self.encoder_items.mul_(self.group_mask)
        self.encoder_items[0].zero_()

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def collaborative_gaussian(self, batch) -> Gaussian:
        weight = self.encoder_items if self.group_mask is None else self.encoder_items * self.group_mask
        out = torch.tanh(batch.product(weight) + self.encoder_bias.unsqueeze(-2))  # (B, 2d), groups side by side
        return Gaussian(out[..., :self.latent_dim], out[..., self.latent_dim:])

    def diffusion_weight(self) -> float:
        """lambda, annealed per epoch from `lamda` down to `anneal_cap` over `anneal_steps` epochs."""
        if self.lamda_anneal_epochs > 0:
            return max((1.0 - self.epoch / self.lamda_anneal_epochs) * self.lamda, self.lamda_cap)
        return max(self.lamda, self.lamda_cap)

    def kl_weight(self) -> float:
        """The KL weight, annealed per step up to `vae_anneal_cap` over `vae_anneal_steps` steps."""
        if self.kl_anneal_steps > 0:
            return min(self.kl_cap, self.update_count / self.kl_anneal_steps)
        return self.kl_cap

    def calculate_loss(self, interaction):
        batch = self.user_batch(interaction[self.USER_ID], self.dropout, entries=batch_entry_count(interaction),
                                member_entries=member_entry_counts(interaction))
        regularizer, gaussian = self.match(self.collaborative_gaussian(batch), batch)
        diffusion_losses, z0 = self.diffusion.training_loss(self.denoiser, self.sample(gaussian), self.reweight)
        reconstruction = self.decoder.loss(z0, batch, target_values=batch.values)
        vae_loss = reconstruction + self.kl_weight() * regularizer
        lamda = self.diffusion_weight()
        self.update_count += 1
        if self.reweight:
            return lamda * diffusion_losses.mean(dim=-1) + vae_loss
        return diffusion_losses.mean(dim=-1) + lamda * vae_loss

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        z0 = self.diffusion.reverse(self.denoiser, self.prediction_gaussian(users).mean, self.sampling_steps)
        return self.decoder(z0)
