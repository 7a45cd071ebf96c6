"""L-DiffRec trained as DiffRec's L-DiffRec/main.py trains it (the denoiser's own learning rate,
clusters on pre-trained LightGCN item embeddings, float64 loss weights) and its importance-sampling
bookkeeping without host reads (the device-side path, run here on CPU tensors)."""
import pytest
import torch

from benchmark.runner.config import ConfigError, model_defaults, resolve
from benchmark.runner.training.loaders import PairBatchLoader
from benchmark.runner.training.trainer import ProtocolTrainer
from benchmark.runner.trial import build_recbole, train_and_evaluate
from dmrec.models.ldiffrec import LatentDiffusion
from tests.model_checks import build_model

SETTINGS = {"matcher": "none", "train_batch_size": 16, "use_gpu": False}


def diffusion(steps: int = 5, history_per_step: int = 10, **kwargs) -> LatentDiffusion:
    return LatentDiffusion(steps, "linear-var", 0.5, 0.001, 0.005, history_per_step=history_per_step, **kwargs)


# --- the denoiser's own learning rate: one optimizer, two parameter groups ----------------------

def test_denoiser_group_has_its_rate_and_every_other_parameter_is_in_the_main_group_once(data_root):
    config = resolve("ldiffrec", "tiny", {**SETTINGS, "denoiser_learning_rate": 1e-4, "matcher": "mddm"})
    recbole_config, cls, (train_set, _, _) = build_recbole(config)
    model = cls(recbole_config, train_set)
    groups = ProtocolTrainer(recbole_config, model).optimizer.param_groups
    assert [group["lr"] for group in groups] == [5e-4, 1e-4]
    assert all(group["fused"] for group in groups)
    main, denoiser = ([id(p) for p in group["params"]] for group in groups)
    assert denoiser == [id(p) for p in model.denoiser.parameters()]
    everything = [id(p) for p in model.parameters()]
    assert sorted(main + denoiser) == sorted(everything)  # none lost, none doubled
    assert len(set(main)) == len(main) and not set(main) & set(denoiser)
    assert id(model.encoder_items) in main and any(id(p) in main for p in model.pmn.parameters())


def test_without_denoiser_rate_one_group_holds_every_parameter(data_root):
    config = resolve("ldiffrec", "tiny", SETTINGS)
    recbole_config, cls, (train_set, _, _) = build_recbole(config)
    model = cls(recbole_config, train_set)
    groups = ProtocolTrainer(recbole_config, model).optimizer.param_groups
    assert len(groups) == 1 and groups[0]["lr"] == 5e-4
    assert [id(p) for p in groups[0]["params"]] == [id(p) for p in model.parameters()]


@pytest.mark.parametrize("override, message", [
    ({"denoiser_learning_rate": 0.0}, "denoiser_learning_rate=0.0 must be > 0 or null"),
    ({"cluster_pretrain_epochs": 0}, "cluster_pretrain_epochs=0 must be >= 1"),
    ({"item_clusters_from": "graph"}, "unknown item_clusters_from 'graph'"),
])
def test_bad_values_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve("ldiffrec", "tiny", override)


# --- clusters on the item embeddings of a pre-trained LightGCN ---------------------------------

def trainer_lightgcn_items(train_set, recbole_config, epochs: int, seed: int) -> torch.Tensor:
    """(n_items - 1, d) item embeddings of LightGCN trained as a trial trains it: the model with its
    registered defaults, the runner's pair loader, fused Adam; 8192 pairs per step at lr 1e-2."""
    from baselines.lightgcn.lightgcn import LightGCN

    settings = {**model_defaults("lightgcn")[0], "device": torch.device("cpu"),
                **{key: recbole_config[key] for key in ("USER_ID_FIELD", "ITEM_ID_FIELD", "NEG_PREFIX")}}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LightGCN(settings, train_set)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
        loader = PairBatchLoader(train_set, 8192, torch.Generator().manual_seed(seed), neg_field=model.NEG_ITEM_ID)
        for _ in range(epochs):
            for interaction in loader:
                optimizer.zero_grad(set_to_none=True)
                model.calculate_loss(interaction).backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            return model.embed()[1][1:]


def test_clusters_read_the_item_embeddings_of_lightgcn_trained_as_a_trial_trains_it(data_root):
    net, recbole_config, train_set, _ = build_model("ldiffrec", n_clusters=3, item_clusters_from="lightgcn",
                                                    cluster_pretrain_epochs=3, seed=1)
    (recipe,) = type(net).pretrainings(recbole_config)
    assert (recipe.epochs, recipe.seed, recipe.batch_size, recipe.learning_rate) == (3, 1, 8192, 1e-2)
    features = net.cluster_features(recbole_config, train_set)
    assert torch.equal(features, trainer_lightgcn_items(train_set, recbole_config, 3, seed=1))
    assert features.shape == (train_set.item_num - 1, 64)
    assert not torch.equal(features, trainer_lightgcn_items(train_set, recbole_config, 3, seed=2))
    for no_pretraining in ({"item_clusters_from": "text", "n_clusters": 3},
                           {"item_clusters_from": "lightgcn", "n_clusters": 1}):
        plain, config, *_ = build_model("ldiffrec", **no_pretraining)
        assert type(plain).pretrainings(config) == ()


def test_lightgcn_clusters_partition_the_items(data_root):
    text, *_ = build_model("ldiffrec", n_clusters=3)
    graph, *_ = build_model("ldiffrec", n_clusters=3, item_clusters_from="lightgcn", cluster_pretrain_epochs=3)
    labels = graph.item_groups[1:]
    assert set(labels.tolist()) == {0, 1, 2} and sum(graph.group_sizes) == graph.latent_dim
    assert not torch.equal(labels, text.item_groups[1:])
    again, *_ = build_model("ldiffrec", n_clusters=3, item_clusters_from="lightgcn", cluster_pretrain_epochs=3)
    assert torch.equal(again.item_groups, graph.item_groups)
    graph_without_text, *_ = build_model("ldiffrec", dataset="tiny-notext", matcher="none",
                                         item_clusters_from="lightgcn", cluster_pretrain_epochs=3)
    assert set(graph_without_text.item_groups[1:].tolist()) == {0, 1}


# --- float64 loss weights -----------------------------------------------------------------------

class ZeroDenoiser(torch.nn.Module):
    def forward(self, z_t, timesteps):
        return torch.zeros_like(z_t)


@pytest.mark.parametrize("ready", [False, True])
def test_float64_loss_is_the_float64_weight_times_mse_over_pt(ready):
    x = torch.randn(64, 6)
    history = torch.rand(5, 10, dtype=torch.float64)
    results = {}
    for wide in (False, True):
        model = diffusion(float64_loss_weights=wide)
        if ready:
            model.history_count.fill_(model.history_per_step)
            model.loss_history.copy_(history)
        torch.manual_seed(3)
        t, pt = model.sample_timesteps(len(x), x.device)  # the draw training_loss makes next
        torch.manual_seed(3)
        losses, _ = model.training_loss(ZeroDenoiser(), x, reweight=True)
        results[wide] = losses, t, pt
    (narrow_losses, t, pt), (wide_losses, t64, pt64) = results[False], results[True]
    assert torch.equal(t, t64) and torch.equal(pt, pt64) and pt.dtype == torch.float64
    mse = (x ** 2).mean(dim=1)
    snr = model.alphas_cumprod / (1 - model.alphas_cumprod)
    weight = torch.where(t == 0, 1.0, snr[(t - 1).clamp_min(0)] - snr[t])  # (B,) float64
    assert wide_losses.dtype == torch.float64 and narrow_losses.dtype == torch.float32
    assert torch.equal(wide_losses, weight * mse / pt)  # DiffRec: float64 weight * float32 mse / float64 pt
    assert torch.equal(narrow_losses, weight.float() * mse / pt.float())  # the float32 code's rounding
    assert not torch.equal(narrow_losses.double(), wide_losses)


# --- importance sampling without host reads -----------------------------------------------------

@pytest.mark.parametrize("steps, history_per_step", [(5, 10), (7, 3), (1, 4)])
def test_vectorised_history_update_equals_the_loop(steps, history_per_step):
    generator = torch.Generator().manual_seed(steps * 100 + history_per_step)
    loop, vectorised = diffusion(steps, history_per_step), diffusion(steps, history_per_step)
    absent_seen = overflow_seen = False
    for _ in range(40):
        size = int(torch.randint(1, 4 * history_per_step * steps, (1,), generator=generator))
        if int(torch.randint(0, 3, (1,), generator=generator)) == 0:  # a batch that misses some steps
            t = torch.randint(0, max(steps // 2, 1), (size,), generator=generator)
        else:
            t = torch.randint(0, steps, (size,), generator=generator)
        losses = torch.rand(size, generator=generator)
        absent_seen |= len(t.unique()) < steps
        overflow_seen |= int(torch.bincount(t, minlength=steps).max()) > history_per_step
        loop.record_losses(t, losses)
        vectorised.record_losses_on_device(t, losses)
        assert torch.equal(vectorised.history_count, loop.history_count)
        assert torch.equal(vectorised.loss_history, loop.loss_history)
    assert overflow_seen and (absent_seen or steps == 1)
    assert bool((loop.history_count == history_per_step).all())


def test_vectorised_history_keeps_the_last_entries_in_batch_order():
    model = diffusion(2, 3)
    model.record_losses_on_device(torch.tensor([0, 1, 0]), torch.tensor([1.0, 2.0, 3.0]))
    assert model.history_count.tolist() == [2, 1]
    assert model.loss_history.tolist() == [[1.0, 3.0, 0.0], [2.0, 0.0, 0.0]]
    model.record_losses_on_device(torch.tensor([0, 0, 1, 0]), torch.tensor([4.0, 5.0, 6.0, 7.0]))
    assert model.history_count.tolist() == [3, 2]
    assert model.loss_history.tolist() == [[4.0, 5.0, 7.0], [2.0, 6.0, 0.0]]


def test_device_draw_is_uniform_until_every_history_is_full():
    model = diffusion(5, 10)
    model.loss_history[0] = 1e6  # the importance draw would pick step 0 almost surely
    model.history_count.copy_(torch.tensor([10, 10, 10, 10, 9]))
    torch.manual_seed(0)
    t, pt = model.sample_timesteps_on_device(20000, "cpu")
    assert pt.dtype == torch.float64 and torch.equal(pt, torch.ones_like(pt))
    share = torch.bincount(t, minlength=5) / len(t)
    assert share.min() > 0.18 and share.max() < 0.22
    model.loss_history.zero_()
    model.history_count.fill_(10)  # ready, but every loss 0: the probabilities stay valid
    t, pt = model.sample_timesteps_on_device(1000, "cpu")
    assert t.min() >= 0 and t.max() < 5 and torch.allclose(pt, torch.ones_like(pt))


def test_device_draw_is_the_importance_draw_once_ready():
    model = diffusion(5, 10)
    model.history_count.fill_(10)
    model.loss_history.copy_(torch.tensor([4.0, 2.0, 1.0, 0.5, 0.0]).unsqueeze(1).expand(5, 10))
    probabilities = model.importance_probabilities()
    torch.manual_seed(0)
    t, pt = model.sample_timesteps_on_device(40000, "cpu")
    assert t.min() >= 0 and t.max() < 5
    assert torch.equal(pt, probabilities[t] * 5)
    share = torch.bincount(t, minlength=5).double() / len(t)
    assert torch.allclose(share, probabilities, atol=0.01)
    assert share[4] < 0.001  # the 0.1% uniform share spread over 5 steps: 0.0002 per step


# --- the authors' training, end to end ----------------------------------------------------------

def test_authors_training_runs_and_is_recorded(data_root):
    authors = {"denoiser_learning_rate": 1e-4, "item_clusters_from": "lightgcn", "cluster_pretrain_epochs": 2,
               "float64_loss_weights": True, "first_eval_epoch": 5, "eval_step": 5, "stopping_step": 3}
    config = resolve("ldiffrec", "tiny", {**SETTINGS, **authors, "epochs": 10, "seed": 4})
    record = train_and_evaluate(config)
    assert [row["epoch"] for row in record["curve"]] == [5, 10]
    assert {k: record["config"][k] for k in authors} == authors
    assert all(0 <= value <= 1 for value in record["metrics"]["test"].values())
    assert train_and_evaluate(config)["metrics"] == record["metrics"]  # seeded, pre-training included
