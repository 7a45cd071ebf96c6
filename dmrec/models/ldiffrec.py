"""LDiffRec: a DMRec base model (see the class docstring)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from benchmark.data.errors import DataError
from benchmark.data.runtime import text_vectors
from benchmark.training.interactions import train_matrix
from dmrec.divergences import Gaussian
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


def item_clusters(dataset, n_clusters: int, seed: int) -> np.ndarray:
    """(n_items,) group of every item id (RecBole's padding item 0 joins group 0)."""
    n_items = dataset.item_num
    if n_clusters <= 1:
        return np.zeros(n_items, dtype=np.int64)
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
    """(B, dim) sinusoidal embedding [cos(t f), sin(t f)] of integer timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float().unsqueeze(1) * freqs.unsqueeze(0)
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
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
    """The Gaussian diffusion of DiffRec over latents, x0-predicting, with importance sampling."""

    def __init__(self, steps: int, noise_schedule: str, noise_scale: float, noise_min: float, noise_max: float,
                 beta_fixed: bool = False, history_per_step: int = 10):
        super().__init__()
        if noise_scale <= 0:
            raise ValueError("noise_scale must be > 0 for a diffusion (DiffRec's noise_scale = 0 is a plain MLP)")
        self.steps = steps
        self.history_per_step = history_per_step
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
        return values[t].float().unsqueeze(1)  # (B, 1)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self._at(self.sqrt_alphas_cumprod, t) * x_start + self._at(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod[t] / (1.0 - self.alphas_cumprod[t])

    def sample_timesteps(self, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(t, p_t * steps): uniform until every step has a full loss history, then
        p_t proportional to sqrt(E[L_t^2]) mixed with 0.1% uniform (DiffRec's importance sampling)."""
        if not bool((self.history_count == self.history_per_step).all()):
            return torch.randint(0, self.steps, (batch_size,), device=device), torch.ones(batch_size, device=device)
        weights = torch.sqrt((self.loss_history ** 2).mean(dim=1))
        probabilities = weights / weights.sum() * (1 - 0.001) + 0.001 / self.steps
        t = torch.multinomial(probabilities, batch_size, replacement=True)
        return t, (probabilities[t] * self.steps).float()

    @torch.no_grad()
    def record_losses(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Push each sample's loss into its step's history (a FIFO of the last `history_per_step`),
        in batch order, as DiffRec's per-sample loop does."""
        for step in range(self.steps):
            new = losses[t == step].double()
            if len(new) == 0:
                continue
            count = int(self.history_count[step])
            kept = torch.cat([self.loss_history[step, :count], new])[-self.history_per_step:]
            self.loss_history[step, :len(kept)] = kept
            self.history_count[step] = len(kept)

    def training_loss(self, denoiser: nn.Module, x_start: torch.Tensor,
                      reweight: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """((B,) importance-weighted per-sample losses, (B, d) predicted z_0)."""
        t, pt = self.sample_timesteps(len(x_start), x_start.device)
        x_t = self.q_sample(x_start, t, torch.randn_like(x_start))
        predicted = denoiser(x_t, t)
        mse = ((x_start - predicted) ** 2).mean(dim=1)
        if reweight:  # x0 objective: weight SNR(t-1) - SNR(t), 1 at t = 0
            weight = torch.where(t == 0, torch.ones_like(mse), (self.snr((t - 1).clamp_min(0)) - self.snr(t)).float())
        else:
            weight = torch.ones_like(mse)
        losses = weight * mse
        self.record_losses(t, losses.detach())
        return losses / pt, predicted

    @torch.no_grad()
    def reverse(self, denoiser: nn.Module, x_start: torch.Tensor, sampling_steps: int) -> torch.Tensor:
        """z_0 from `x_start` noised `sampling_steps` steps (0: not at all), then every reverse step
        taking the posterior mean, without noise."""
        x_t = x_start
        if sampling_steps > 0:
            t = torch.full((len(x_start),), sampling_steps - 1, dtype=torch.long, device=x_start.device)
            x_t = self.q_sample(x_start, t, torch.randn_like(x_start))
        for step in reversed(range(self.steps)):
            t = torch.full((len(x_t),), step, dtype=torch.long, device=x_t.device)
            predicted = denoiser(x_t, t)
            x_t = self._at(self.posterior_mean_coef1, t) * predicted + self._at(self.posterior_mean_coef2, t) * x_t
        return x_t


class LDiffRec(GenerativeRecommender):
    """L-DiffRec (Wang et al., "Diffusion Recommender Model", SIGIR 2023; YiyanXu/DiffRec), the
    latent diffusion recommender, with any DMRec matcher attached to its encoder's Gaussian.

        items        optionally split into `n_clusters` groups by k-means on their text vectors
                     (on a random projection of their interaction columns when the dataset has none)
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

        labels = item_clusters(dataset, self.n_clusters, int(config["seed"]))
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
                                         float(config["noise_max"]), bool(config["beta_fixed"]))
        self.build_language_branch(dataset, self.latent_dim, int(config["pmn_hidden_size"]))
        self.initialize_weights()
        self.init_group_encoders(labels, offsets, sizes)

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
        out = torch.tanh(batch.product(weight) + self.encoder_bias)  # (B, 2d), groups side by side
        return Gaussian(out[:, :self.latent_dim], out[:, self.latent_dim:])

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
        batch = self.user_batch(interaction[self.USER_ID], self.dropout)
        regularizer, gaussian = self.match(self.collaborative_gaussian(batch), batch)
        diffusion_losses, z0 = self.diffusion.training_loss(self.denoiser, gaussian.sample(), self.reweight)
        reconstruction = self.decoder.loss(z0, batch, target_values=batch.values)
        vae_loss = reconstruction + self.kl_weight() * regularizer
        lamda = self.diffusion_weight()
        self.update_count += 1
        if self.reweight:
            return lamda * diffusion_losses.mean() + vae_loss
        return diffusion_losses.mean() + lamda * vae_loss

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        z0 = self.diffusion.reverse(self.denoiser, self.prediction_gaussian(users).mean, self.sampling_steps)
        return self.decoder(z0)
