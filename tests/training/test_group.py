"""Trial groups (`dmrec.members`, `benchmark.runner.training.group`): in float64 every member of a
group of 3 seeds is its solo trial: the same losses and gradients step by step, the same stop
epoch and test metrics over a whole tiny trial, for Mult-VAE, L-DiffRec and CVGA, plain and with
DMRec-M; a member that stops early leaves the others unchanged; a group stopped mid-way and
started again with its unfinished members gives the same records."""
from __future__ import annotations

import pytest
import torch

from benchmark.runner.config import resolve
from benchmark.runner.inputs import resolve_inputs
from benchmark.runner.training.group import group_batches
from benchmark.runner.trial import build_group, build_trial, train_and_evaluate, train_group
from dmrec.members import MemberStreams, keep_members, member_tensors, stack_members

SEEDS = (0, 1, 2)
CASES = [(model, matcher) for model in ("multvae", "ldiffrec", "cvga") for matcher in ("none", "mddm")]
# a short schedule in which the three seeds stop at different validations (checked below)
SHORT = {"train_batch_size": 16, "use_gpu": False, "epochs": 30, "stopping_step": 1, "eval_step": 1}
SCHEDULE = {("cvga", "none"): {"eval_step": 3}}  # where validating every epoch stops every seed alike


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def members(model: str, matcher: str, seeds=SEEDS, **overrides):
    return [resolve_inputs(resolve(model, "tiny", {**SHORT, "matcher": matcher, "seed": seed, **overrides}))
            for seed in seeds]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def solo_steps(inputs, steps: int) -> list[tuple[float, dict[str, torch.Tensor]]]:
    """(loss, gradients by parameter name) of a solo trial's first `steps` optimizer steps."""
    trial = build_trial(inputs.config, inputs.model_class)
    model, optimizer = trial.model, trial.trainer.optimizer
    model.train()
    out = []
    for interaction in trial.loader:
        optimizer.zero_grad(set_to_none=True)
        loss = model.calculate_loss(interaction)
        loss.backward()
        gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        out.append((float(loss.detach()), gradients))
        optimizer.step()
        if len(out) == steps:
            return out
    raise AssertionError("the tiny epoch has fewer batches than asked for")


def group_steps(inputs, steps: int) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """((K,) losses, stacked gradients by parameter name) of the group's first `steps` steps."""
    trainer = build_group(inputs).trainer
    group, optimizer = trainer.group, trainer.optimizer
    group.train()
    out = []
    for interaction in group_batches([m.loader for m in trainer.members], "cpu"):
        optimizer.zero_grad(set_to_none=True)
        losses = group.calculate_loss(interaction)
        losses.sum().backward()
        out.append((losses.detach().clone(), {name: p.grad.clone() for name, p in group.named_parameters()
                                              if p.grad is not None}))
        optimizer.step()
        if len(out) == steps:
            return out
    raise AssertionError("the tiny epoch has fewer batches than asked for")


@pytest.mark.parametrize(("model", "matcher"), CASES)
def test_each_member_has_its_solo_losses_and_gradients_for_five_steps(data_root, float64, model, matcher):
    inputs = members(model, matcher, train_batch_size=4)  # five steps within the tiny epoch
    grouped = group_steps(inputs, 5)
    for index, member in enumerate(inputs):
        for step, (loss, gradients) in enumerate(solo_steps(member, 5)):
            group_loss, group_gradients = grouped[step]
            assert abs(float(group_loss[index]) - loss) <= 1e-10 * abs(loss), (index, step)
            assert set(group_gradients) == set(gradients), "a member's parameters are its solo model's"
            for name, gradient in gradients.items():
                assert relative(group_gradients[name][index], gradient) <= 1e-10, (index, step, name)


def outcomes_of(inputs, **kwargs) -> dict[int, object]:
    got: dict[int, object] = {}
    train_group(inputs, on_member_done=lambda index, outcome: got.__setitem__(index, outcome), **kwargs)
    assert sorted(got) == list(range(len(inputs))), "every member is reported once"
    return got


def assert_same_trial(solo: dict, member: dict) -> None:
    assert member["best_epoch"] == solo["best_epoch"]
    assert member["epochs_run"] == solo["epochs_run"]
    assert [row["epoch"] for row in member["curve"]] == [row["epoch"] for row in solo["curve"]]
    for row_solo, row_member in zip(solo["curve"], member["curve"], strict=True):
        assert row_member["train_loss"] == pytest.approx(row_solo["train_loss"], rel=1e-10)
    for split in ("valid", "test"):
        assert member["metrics"][split].keys() == solo["metrics"][split].keys()
        for key, value in solo["metrics"][split].items():
            assert member["metrics"][split][key] == pytest.approx(value, abs=1e-6), (split, key)
    assert member["posterior"]["dim_variance"] == pytest.approx(solo["posterior"]["dim_variance"], rel=1e-6, abs=1e-12)
    assert member["config"] == solo["config"]


@pytest.mark.parametrize(("model", "matcher"), CASES)
def test_each_member_of_a_whole_group_trial_is_its_solo_trial(data_root, float64, model, matcher):
    inputs = members(model, matcher, **SCHEDULE.get((model, matcher), {}))
    solo = [train_and_evaluate(member) for member in inputs]
    grouped = outcomes_of(inputs)
    for index in range(len(inputs)):
        assert not isinstance(grouped[index], Exception), grouped[index]
        assert_same_trial(solo[index], grouped[index])
        assert grouped[index]["group"]["size"] == 3
        assert grouped[index]["group"]["members"] == [member.trial_id for member in inputs]
    assert len({record["epochs_run"] for record in solo}) > 1, "the members should stop at different epochs"


def test_a_group_stopped_midway_and_started_again_gives_the_same_records(data_root, float64):
    inputs = members("multvae", "mddm")
    whole = outcomes_of(inputs)
    first_end = min(record["epochs_run"] for record in whole.values())
    stopping = {"epochs": 0}

    def stop_after_the_first_end(event) -> None:  # a kill: after some members ended, before the rest
        stopping["epochs"] = event.epoch
        if event.epoch == first_end + 1:
            raise RuntimeError("stopped")

    hooks = [stop_after_the_first_end if i == max(whole, key=lambda i: whole[i]["epochs_run"]) else None
             for i in range(3)]
    interrupted = outcomes_of(inputs, on_epoch=hooks)
    ended = [i for i, outcome in interrupted.items() if not isinstance(outcome, Exception)]
    unfinished = [i for i, outcome in interrupted.items() if isinstance(outcome, Exception)]
    assert ended and unfinished, "the stop falls between the first member's end and the last one's"
    for index in ended:
        assert_same_trial(whole[index], interrupted[index])
    resumed = outcomes_of([inputs[i] for i in unfinished])
    for position, index in enumerate(unfinished):
        record = resumed[position]
        if len(unfinished) == 1:  # a single remaining member trains as a solo trial
            assert "group" not in record
        assert_same_trial(whole[index], record)


def test_a_group_of_one_is_the_solo_trial_byte_for_byte(data_root):
    inputs = members("multvae", "none", seeds=(3,), epochs=6)
    solo = train_and_evaluate(inputs[0])
    grouped = outcomes_of(inputs)[0]
    assert grouped["metrics"] == solo["metrics"] and grouped["curve"][0]["train_loss"] == solo["curve"][0]["train_loss"]
    assert "group" not in grouped


def test_a_model_that_cannot_form_groups_trains_its_members_one_after_another(data_root):
    inputs = [resolve_inputs(resolve("lightgcn", "tiny", {"use_gpu": False, "epochs": 3, "seed": s})) for s in (0, 1)]
    solo = [train_and_evaluate(member) for member in inputs]
    grouped = outcomes_of(inputs)
    for index in range(2):
        assert grouped[index]["metrics"] == solo[index]["metrics"]
        assert "group" not in grouped[index]


def test_keep_members_shrinks_parameters_optimizer_state_and_streams_together(data_root):
    built = [build_trial(member.config, member.model_class) for member in members("multvae", "mddm")]
    streams = MemberStreams("cpu")
    for _ in built:
        streams.capture()
    group = stack_members([trial.model for trial in built], streams)
    optimizer = torch.optim.Adam(group.parameters(), lr=1e-3)
    for p in group.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    last = member_tensors(group, 2)
    state_before = {name: optimizer.state[p]["exp_avg"][2].clone() for name, p in group.named_parameters()}
    keep_members(group, [2], optimizer)
    assert group.members == 1 and len(streams) == 1
    for name, tensor in member_tensors(group, 0).items():
        assert torch.equal(tensor, last[name]), name
    for name, p in group.named_parameters():
        assert optimizer.state[p]["exp_avg"].shape == p.shape
        assert torch.equal(optimizer.state[p]["exp_avg"][0], state_before[name])


def test_a_member_whose_loss_turns_nan_fails_alone(data_root, float64):
    """A learning rate that makes one seed diverge is not something the tiny data offers: the NaN is
    planted in member 1's weights after the group is built, as a diverged member would hold them."""
    inputs = members("multvae", "none", epochs=6)
    built = build_group(inputs)
    with torch.no_grad():
        built.trainer.group.decoder_out.weight[1].fill_(float("nan"))
    got = {}

    def on_end(member):
        got[member.index] = member.outcome

    built.trainer.fit(built.valid, [None] * 3, on_end)
    assert isinstance(got[1], FloatingPointError) and "loss is nan at epoch 1" in str(got[1])
    assert got[0] is None and got[2] is None


def test_members_that_differ_in_more_than_their_seed_are_refused_every_one(data_root):
    inputs = members("multvae", "none", seeds=(0,), epochs=3) + members("multvae", "none", seeds=(1,), epochs=3,
                                                                        learning_rate=0.01)
    got = outcomes_of(inputs)
    for outcome in got.values():
        assert isinstance(outcome, ValueError), outcome
        assert "learning_rate" in str(outcome) and "only in its seed" in str(outcome)


def test_a_members_clock_is_its_share_of_the_groups(data_root):
    inputs = members("cvga", "none", epochs=6, eval_step=3)
    got = outcomes_of(inputs)
    first_epochs = {record["timings"]["epoch_s"][0] for record in got.values()}
    assert len(first_epochs) == 1, "the first epoch is shared alike by the three members"
    for record in got.values():
        timings = record["timings"]
        assert len(timings["epoch_s"]) == record["epochs_run"]
        assert timings["total_s"] == pytest.approx(sum(timings[k] for k in ("setup_s", "train_s", "valid_s", "test_s")))
        assert timings["total_s"] < record["group"]["wall_s"], "a share is less than the group's wall time"
        assert record["curve"][-1]["time_s"] <= timings["train_s"] + timings["valid_s"] + 1e-9
