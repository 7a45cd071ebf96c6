"""The trainer's schedule, its refusals (nothing untrained or diverged is tested as finished), and
its one host sync per epoch, on a real Mult-VAE over the tiny fixture."""
import math

import numpy as np
import pytest
import torch

from benchmark.runner.config import resolve
from benchmark.runner.training.evaluation import NonFiniteScores, RankingTarget
from benchmark.runner.training.loaders import make_train_loader
from benchmark.runner.training.trainer import NonFiniteLoss, NoValidation, ProtocolTrainer, validation_epochs
from benchmark.runner.trial import build_recbole, train_and_evaluate

SETTINGS = {"matcher": "none", "train_batch_size": 16, "stopping_step": 100, "use_gpu": False}


def test_validation_epochs_follow_first_and_step():
    assert validation_epochs(10, 3) == [3, 6, 9]
    assert validation_epochs(10, 3, None) == [3, 6, 9]
    assert validation_epochs(10, 3, 1) == [1, 4, 7, 10]  # the released trainer's epoch_idx % 3 == 0
    assert validation_epochs(7, 2, 5) == [5, 7]
    assert validation_epochs(2, 3) == [] and validation_epochs(0, 3) == [] and validation_epochs(-5, 3) == []
    with pytest.raises(ValueError, match="eval_step must be >= 1"):
        validation_epochs(10, 0)
    with pytest.raises(ValueError, match="first_eval_epoch must be >= 1"):
        validation_epochs(10, 3, 0)


def _config(epochs: int, eval_step: int = 3, first_eval_epoch="default") -> dict:
    """A resolved Mult-VAE config on `tiny` with the schedule set after resolving: `resolve` refuses
    a schedule without validation, and the trainer must refuse it too (a config from elsewhere)."""
    config = resolve("multvae", "tiny", SETTINGS)
    config.update(epochs=epochs, eval_step=eval_step)
    if first_eval_epoch != "default":
        config["first_eval_epoch"] = first_eval_epoch
    return config


def _trainer(epochs: int, eval_step: int = 3, first_eval_epoch="default"):
    """(trainer, loader, valid, test) for Mult-VAE on `tiny`."""
    config = _config(epochs, eval_step, first_eval_epoch)
    recbole_config, cls, (train_set, valid_set, test_set) = build_recbole(config)
    torch.manual_seed(0)
    model = cls(recbole_config, train_set)
    loader = make_train_loader(model, train_set, recbole_config, torch.Generator().manual_seed(0))
    valid = RankingTarget.from_datasets("valid", train_set, valid_set)
    test = RankingTarget.from_datasets("test", train_set, test_set)
    return ProtocolTrainer(recbole_config, model), loader, valid, test


@pytest.mark.parametrize("first, expected", [(1, [1, 4, 7]), (None, [3, 6]), ("default", [3, 6])])
def test_curve_follows_the_validation_schedule(data_root, first, expected):
    trainer, loader, valid, _ = _trainer(7, 3, first)
    trainer.fit(loader, valid)
    assert [row["epoch"] for row in trainer.curve] == expected
    assert trainer.best_epoch in expected and trainer.epochs_run == 7
    assert len(trainer.epoch_seconds) == 7 and all(s > 0 for s in trainer.epoch_seconds)
    assert math.isclose(sum(trainer.epoch_seconds), trainer.train_seconds)
    assert all(math.isfinite(row["train_loss"]) for row in trainer.curve)


@pytest.mark.parametrize("epochs, first", [(0, 3), (-5, 3), (2, 3)])
def test_no_validation_fails_the_trial_with_a_clear_error(data_root, epochs, first):
    with pytest.raises(NoValidation) as caught:
        train_and_evaluate(_config(epochs))
    assert str(caught.value) == f"no validation ran: epochs={epochs} but the first validation is after epoch {first}"


def test_first_eval_epoch_beyond_epochs_fails(data_root):
    trainer, loader, valid, _ = _trainer(4, 3, 5)
    with pytest.raises(NoValidation, match="epochs=4 but the first validation is after epoch 5"):
        trainer.fit(loader, valid)
    assert trainer.epochs_run == 0  # refused before any training


def test_testing_without_a_validated_model_fails(data_root):
    trainer, _, _, test = _trainer(6)
    with pytest.raises(NoValidation, match="no selected model"):
        trainer.evaluate(test)


def _poison(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(math.nan)


def test_nan_loss_fails_naming_the_epoch(data_root):
    trainer, loader, valid, _ = _trainer(6)
    trainer.model.on_epoch_start = lambda epoch: _poison(trainer.model) if epoch == 1 else None
    with pytest.raises(NonFiniteLoss, match=r"loss is nan at epoch 2$"):
        trainer.fit(loader, valid)
    assert trainer.curve == [] and trainer.epochs_run == 1


def test_weights_turning_nan_before_a_validation_fail_it(data_root):
    """The last optimizer step of epoch 6 poisons the weights: every loss of the epoch was finite,
    so only the validation's score check can catch it (it used to store one arbitrary ranking)."""
    trainer, loader, valid, _ = _trainer(6)
    steps = {"n": 0}

    def after_step(optimizer, args, kwargs):
        steps["n"] += 1
        if steps["n"] == 6 * len(loader):
            _poison(trainer.model)

    trainer.optimizer.register_step_post_hook(after_step)
    expected = r"MultVAE: non-finite scores for \d+ of \d+ users at validation after epoch 6"
    with pytest.raises(NonFiniteScores, match=expected):
        trainer.fit(loader, valid)
    assert [row["epoch"] for row in trainer.curve] == [3]


def test_non_finite_scores_at_test_fail(data_root):
    trainer, loader, valid, test = _trainer(3)
    trainer.fit(loader, valid)
    trainer.best_state = {key: torch.full_like(value, math.nan) if value.is_floating_point() else value
                          for key, value in trainer.best_state.items()}
    with pytest.raises(NonFiniteScores, match="at test of the model of epoch 3"):
        trainer.evaluate(test)


class _SyncCounter(torch.Tensor):
    """A loss that counts the host reads of itself and of every tensor computed from it."""

    reads = 0

    def _read(self, method, *args):
        type(self).reads += 1
        return method(self.as_subclass(torch.Tensor), *args)

    def item(self):
        return self._read(torch.Tensor.item)

    def __float__(self):
        return self._read(torch.Tensor.__float__)

    def __bool__(self):
        return self._read(torch.Tensor.__bool__)


def test_one_host_read_of_the_loss_per_epoch(data_root):
    trainer, loader, valid, _ = _trainer(3)
    plain = trainer.model.calculate_loss
    trainer.model.calculate_loss = lambda interaction: plain(interaction).as_subclass(_SyncCounter)
    _SyncCounter.reads = 0
    trainer.fit(loader, valid)
    assert len(loader) == 4  # 4 steps per epoch, yet one read each epoch
    assert _SyncCounter.reads == 3
    assert np.isfinite(trainer.curve[0]["train_loss"])


@pytest.mark.parametrize("model", ["multvae", "ldiffrec", "cvga"])
def test_table2_settings_validate_after_epochs_1_4_7(data_root, model):
    """What `--grid table2` resolves to (its blocks set `preset: released`) runs the released schedule."""
    from benchmark.runner.grid import load_grid

    params = load_grid("table2").blocks[0].params
    config = resolve(model, "tiny", {**params, "matcher": "mddm", "epochs": 7, "stopping_step": 100,
                                     "train_batch_size": 16, "use_gpu": False})
    recbole_config, cls, (train_set, valid_set, _) = build_recbole(config)
    torch.manual_seed(0)
    net = cls(recbole_config, train_set)
    trainer = ProtocolTrainer(recbole_config, net)
    trainer.fit(make_train_loader(net, train_set, recbole_config, torch.Generator().manual_seed(0)),
                RankingTarget.from_datasets("valid", train_set, valid_set))
    assert [row["epoch"] for row in trainer.curve] == [1, 4, 7]


@pytest.mark.parametrize("model", ["multvae", "cvga", "ldiffrec"])
def test_training_steps_never_read_an_entry_count_from_the_device(data_root, model, monkeypatch):
    """Every gather of a training step is told its size by the loader (on a GPU the fallback
    `int(counts.sum())` would stall the queue once per step)."""
    from benchmark.core.interactions import SparseRows

    config = resolve(model, "tiny", {**SETTINGS, "epochs": 3})
    recbole_config, cls, (train_set, _, _) = build_recbole(config)
    torch.manual_seed(0)
    net = cls(recbole_config, train_set)
    trainer = ProtocolTrainer(recbole_config, net)
    loader = make_train_loader(net, train_set, recbole_config, torch.Generator().manual_seed(0))
    told, untold = [], []
    gather = SparseRows._gather

    def spy(self, rows, total=None):
        (untold if total is None else told).append(len(rows))
        return gather(self, rows, total)

    monkeypatch.setattr(SparseRows, "_gather", spy)
    trainer._train_epoch(loader, 0)
    assert len(told) >= len(loader) and untold == []


def _without_clock(curve: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in curve]


def test_the_epoch_hook_sees_every_epoch_in_order_and_changes_nothing(data_root):
    """One event per epoch, its values those the trainer keeps; a hooked fit trains the same numbers."""
    plain, loader, valid, test = _trainer(12, 2)
    plain.stopping_step = 1
    plain.fit(loader, valid)
    hooked, loader, valid, _ = _trainer(12, 2)
    hooked.stopping_step = 1
    events = []
    hooked.fit(loader, valid, on_epoch=events.append)
    assert _without_clock(hooked.curve) == _without_clock(plain.curve)
    assert (hooked.best_epoch, hooked.epochs_run, hooked.best_valid_result) == \
        (plain.best_epoch, plain.epochs_run, plain.best_valid_result)
    assert hooked.evaluate(test) == plain.evaluate(test)

    schedule = validation_epochs(12, 2)  # [2, 4, ..., 12]
    validations = {row["epoch"]: row for row in hooked.curve}
    assert [e.epoch for e in events] == list(range(1, hooked.epochs_run + 1))
    for event in events:
        assert (event.epochs, event.metric, event.seconds) == (12, "recall@20", hooked.epoch_seconds[event.epoch - 1])
        row = validations.get(event.epoch)
        if row is None:
            assert event.valid is None and event.valid_metrics == {}
        else:
            assert (event.loss, event.valid) == (row["train_loss"], row["recall@20"])
            assert event.valid_metrics["ndcg@20"] == row["ndcg@20"] and len(event.valid_metrics) == 6
        seen = [r for r in hooked.curve if r["epoch"] <= event.epoch]
        if not seen:
            assert event.best is None and event.best_epoch is None and event.stop_by == schedule[1]
        else:
            best = max(seen, key=lambda r: r["recall@20"])  # the first of equal scores: only a rise replaces it
            assert (event.best, event.best_epoch) == (best["recall@20"], best["epoch"])
            after = schedule.index(best["epoch"]) + 1  # stopping_step 1: the next validation ends it unless better
            assert event.stop_by == (schedule[after] if after < len(schedule) else 12)
    assert [e.elapsed for e in events] == sorted(e.elapsed for e in events)
    if hooked.epochs_run < 12:  # stopped early: at the epoch it foretold
        assert events[-1].stop_by == events[-1].epoch and events[-1].eta_s == 0


def test_the_epoch_event_foretells_an_early_stop_by_hand(data_root):
    """stopping_step 0 stops at the first validation (epoch 2 of [2, 4, 6]); with 3 s per epoch an
    event at epoch 1 has 3 s left, at most 15 s."""
    from benchmark.runner.training.events import EpochEvent

    trainer, loader, valid, _ = _trainer(6, 2)
    trainer.stopping_step = 0
    events = []
    trainer.fit(loader, valid, on_epoch=events.append)
    assert [(e.epoch, e.stop_by, e.best_epoch) for e in events] == [(1, 2, None), (2, 2, 2)]
    event = EpochEvent(epoch=1, epochs=6, loss=1.0, seconds=2.5, elapsed=3.0, metric="recall@20", valid=None,
                       best=None, best_epoch=None, stop_by=2)
    assert (event.seconds_per_epoch, event.eta_s, event.eta_max_s) == (3.0, 3.0, 15.0)
    assert EpochEvent.from_dict(event.as_dict()) == event
