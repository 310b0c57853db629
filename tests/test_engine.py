"""The training engine (Chapter 0): budgets, phases of updates, resizing, precision, EMA, resume, shipping."""
import math
import time

import pytest
import torch
from torch import nn

from inpaintlib.training.checkpoint import build_generator, read_checkpoint, ship_checkpoint
from inpaintlib.training.ema import ExponentialMovingAverage
from inpaintlib.training.precision import autocast_networks, resolve_precision
from inpaintlib.training.schedules import Budget, lr_factor, phase_boundaries, value_at
from inpaintlib.training.engine import Phase, Update, set_learning_rate, train
from test_train import TinyGenerator, TinyRecipe


# ------------------------------------------------------------------ schedules
def test_budget_and_phase_boundaries():
    assert Budget(steps=10).progress(5, 1e9) == 0.5  # a step budget ignores the clock
    assert Budget(minutes=2).progress(10**6, 60) == 0.5  # a minutes budget ignores the steps
    assert Budget(minutes=1).done(1, 60.0) and not Budget(minutes=1).done(1, 59.9)
    with pytest.raises(ValueError, match="budget"):
        Budget(steps=0)
    assert phase_boundaries([0.6, 0.1, 0.3]) == pytest.approx([0.6, 0.7, 1.0])
    assert phase_boundaries([0.6, 0.1, 0.3], total_steps=10) == [6, 7, 10]
    assert phase_boundaries([0.6, 0.1, 0.3], total_steps=3) == [2, 3, 4]  # every phase gets a step
    assert value_at(((0.0, 64), (0.75, 128)), 0.5, 99) == 64
    assert value_at(((0.0, 64), (0.75, 128)), 0.75, 99) == 128
    assert lr_factor("constant", 0.7) == 1.0
    assert lr_factor("cosine", 0.0, 0.1) == pytest.approx(1.0)
    assert lr_factor("cosine", 0.5, 0.1) == pytest.approx(0.55)
    assert lr_factor("cosine", 1.0, 0.1) == pytest.approx(0.1)


def test_minutes_budget_ends_the_run():
    r = train(TinyRecipe(), profile="smoke", out=False, progress=False, minutes=0.02)  # 1.2 s
    assert r.meta["finished"] and r.meta["steps"] > 1
    assert 1.2 <= r.meta["train_seconds"] < 1.2 + 1.0
    assert r.meta["budget"] == "Budget(minutes=0.02)"
    assert r.meta["threads"] == torch.get_num_threads() and r.meta["precision"] in ("fp32", "bf16")


def test_phases_and_resizing_follow_the_budget_fractions():
    recipe = TinyRecipe()
    recipe.phase_plan = [Phase("warm", train=("generator",), fraction=0.25),
                         Phase("joint", train=("generator", "discriminator"), fraction=0.75)]
    r = train(recipe, profile="smoke", out=False, progress=False, steps=8, resize_schedule=((0.0, 16), (0.5, 32)))
    assert r.history["phase"] == ["warm"] * 2 + ["joint"] * 6
    assert r.history["size"] == [16] * 4 + [32] * 4


def test_a_timed_run_places_phases_by_time():
    recipe = TinyRecipe()
    recipe.phase_plan = [Phase("a", train=("generator",), fraction=0.5), Phase("b", train=("generator",), fraction=0.5)]
    r = train(recipe, profile="smoke", out=False, progress=False, minutes=0.02, log_every=1)
    minutes, phases = r.history["minutes"], r.history["phase"]
    assert {"a", "b"} == set(phases)
    first_b = phases.index("b")
    assert all(p == "a" for p in phases[:first_b]) and all(p == "b" for p in phases[first_b:])
    # a step's phase is chosen by the clock at its start, which is the logged time of the step before:
    # the last "a" step started before half-time (0.01 min), the first "b" step at or after it
    assert first_b >= 2
    assert minutes[first_b - 2] <= 0.01 <= minutes[first_b - 1]  # logged to 3 decimals of a minute


# ------------------------------------------------------------------ precision
def test_bf16_and_fp32_give_the_same_loss_to_a_tolerance():
    recipe = TinyRecipe()
    nets = recipe.build_networks(recipe.settings)
    torch.manual_seed(0)
    images, masks = torch.rand(2, 3, 32, 32), recipe.sample_masks(2, 32, 32, torch.Generator().manual_seed(0))
    with autocast_networks(nets, "fp32"):
        ref, _ = recipe.generator_loss(nets, images, masks)
    with autocast_networks(nets, "bf16"):
        low, _ = recipe.generator_loss(nets, images, masks)
        out = nets["generator"](images, masks)
    assert out.dtype == torch.float32 and low.dtype == torch.float32  # losses stay float32
    assert "forward" not in vars(nets["generator"])  # the wrapper is gone after the block
    assert low.item() != ref.item()  # autocast really ran the convolutions in bfloat16
    assert low.item() == pytest.approx(ref.item(), rel=2e-2)


def test_precision_auto_is_fp32_without_native_bf16(monkeypatch):
    import inpaintlib.training.precision as P

    monkeypatch.setattr(P, "cpu_supports_bf16", lambda: False)
    assert P.resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setattr(P, "cpu_supports_bf16", lambda: True)
    assert P.resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", torch.device("cpu"))


# ------------------------------------------------------------------ EMA
def test_ema_follows_its_formula():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = ExponentialMovingAverage(net, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net)  # beta_1 = min(0.5, 2/11) = 2/11
    assert ema.module.weight.item() == pytest.approx(1 - 2 / 11)
    ema.update(net)  # beta_2 = min(0.5, 3/12) = 1/4: 0.25 * (9/11) + 0.75
    assert ema.module.weight.item() == pytest.approx(0.25 * (9 / 11) + 0.75)
    with pytest.raises(ValueError):
        ExponentialMovingAverage(net, decay=1.0)


def test_training_with_ema_returns_and_ships_the_average(tmp_path):
    r = train(TinyRecipe(), profile="smoke", out=tmp_path / "ema.pt", progress=False, steps=6, ema_decay=0.9)
    avg, last = r.nets["generator"], r.nets["generator_last"]
    assert any(not torch.equal(p, q) for p, q in zip(avg.parameters(), last.parameters()))
    ckpt = read_checkpoint(r.checkpoint)
    assert torch.equal(ckpt["state_dicts"]["generator"]["net.0.weight"], avg.net[0].weight)
    assert ckpt["ema"]["updates"] == 6


# ------------------------------------------------------------------ phases of updates
class CountingRecipe(TinyRecipe):
    """Records the batch every loss sees (the sum of its images identifies it)."""

    def __init__(self):
        self.seen = []

    def critic_loss(self, nets, images, masks):
        self.seen.append(("critic", float(images.sum())))
        return self.discriminator_loss(nets, images, masks)

    def generator_loss(self, nets, images, masks):
        self.seen.append(("generator", float(images.sum())))
        return super().generator_loss(nets, images, masks)


def test_a_wgan_phase_draws_a_fresh_batch_for_every_critic_update():
    recipe = CountingRecipe()
    recipe.phase_plan = [Phase("wgan", fraction=1.0, updates=(
        Update("discriminator", "critic_loss", repeats=5, fresh_batch=True),
        Update("generator", "generator_loss")))]
    r = train(recipe, profile="smoke", out=False, progress=False, steps=2)
    kinds = [k for k, _ in recipe.seen]
    assert kinds == (["critic"] * 5 + ["generator"]) * 2
    critic_batches = [v for k, v in recipe.seen if k == "critic"]
    assert len(set(critic_batches)) == 10  # ten different batches
    assert recipe.seen[5][1] == recipe.seen[4][1]  # the generator reuses the last critic batch
    assert r.meta["batches_drawn"] == 10 and r.meta["crops_seen"] == 20


def test_phase_hooks_per_network_learning_rates_and_two_gan_pairs():
    """EdgeConnect's shape: two generator/discriminator pairs, three stages, without touching the loop."""

    class TwoPairs(TinyRecipe):
        started = []

        def build_networks(self, settings):
            torch.manual_seed(1)
            return {"generator": TinyGenerator(), "discriminator": nn.Conv2d(3, 1, 4, 4),
                    "edge_generator": TinyGenerator(), "edge_discriminator": nn.Conv2d(3, 1, 4, 4)}

        def edge_loss(self, nets, images, masks):
            loss = nets["edge_generator"](images, masks).mean()
            return loss, {"edge": loss}

        def edge_d_loss(self, nets, images, masks):
            loss = nets["edge_discriminator"](images).mean()
            return loss, {"edge_d": loss}

        def d_loss(self, nets, images, masks):
            loss = nets["discriminator"](images).mean()
            return loss, {"d": loss}

        def phases(self, settings, nets):
            def fine_tune(recipe, nets, optimizers):
                recipe.started.append("joint")
                set_learning_rate(optimizers["generator"], 5e-5)

            return [
                Phase("edge", fraction=1 / 3, updates=(Update("edge_discriminator", "edge_d_loss"),
                                                       Update("edge_generator", "edge_loss"))),
                Phase("inpaint", fraction=1 / 3, updates=(Update("discriminator", "d_loss"),
                                                          Update("generator", "generator_loss"))),
                Phase("joint", fraction=1 / 3, on_start=fine_tune,
                      updates=(Update("edge_generator", "edge_loss"), Update("generator", "generator_loss"))),
            ]

    recipe = TwoPairs()
    nets0 = {k: [p.clone() for p in v.parameters()] for k, v in recipe.build_networks(recipe.settings).items()}
    r = train(recipe, profile="smoke", out=False, progress=False, steps=3, lrs={"edge_generator": 1e-3})
    assert r.history["phase"] == ["edge", "inpaint", "joint"] and recipe.started == ["joint"]
    moved = {k: any(not torch.equal(p, q) for p, q in zip(nets0[k], r.nets[k].parameters())) for k in nets0}
    assert moved == {"generator": True, "discriminator": True, "edge_generator": True, "edge_discriminator": True}
    assert math.isnan(r.history["edge_generator/edge"][1])  # not trained in the middle stage
    assert {"edge_discriminator/edge_d", "G/l1", "D/d"} <= set(r.history)


def test_the_phase_hook_changes_the_learning_rate_the_optimiser_uses():
    seen = []

    class Hooked(TinyRecipe):
        def phases(self, settings, nets):
            return [Phase("a", fraction=0.5, train=("generator",)),
                    Phase("b", fraction=0.5, train=("generator",),
                          on_start=lambda recipe, nets, opts: set_learning_rate(opts["generator"], 5e-5))]

        def generator_loss(self, nets, images, masks):
            return super().generator_loss(nets, images, masks)

    recipe = Hooked()
    original = recipe.build_optimizers

    def spy(nets, settings):
        opts = original(nets, settings)
        step = opts["generator"].step

        def recording_step(*a, **k):
            seen.append(opts["generator"].param_groups[0]["lr"])
            return step(*a, **k)

        opts["generator"].step = recording_step
        return opts

    recipe.build_optimizers = spy
    train(recipe, profile="smoke", out=False, progress=False, steps=4)
    assert seen == [pytest.approx(1e-2)] * 2 + [pytest.approx(5e-5)] * 2


# ------------------------------------------------------------------ resume, deadline, shipping
def test_deadline_stops_and_the_same_call_resumes_to_the_same_weights(tmp_path, monkeypatch):
    """A run cut by its deadline after 3 of 6 steps, then resumed, equals the uninterrupted run
    (EMA, cosine learning rate and progressive resizing included)."""
    import types

    import inpaintlib.training.engine as T

    kw = dict(profile="smoke", progress=False, ema_decay=0.9, resize_schedule=((0.0, 16), (0.5, 32)),
              lr_schedule="cosine")
    full = train(TinyRecipe(), out=tmp_path / "full.pt", steps=6, **kw)

    class Interrupt(TinyRecipe):
        updates = 0

        def generator_loss(self, nets, images, masks):
            if self is interrupted:  # not the engine's copy that counts a step's FLOPs
                Interrupt.updates += 1
            return super().generator_loss(nets, images, masks)

    interrupted = Interrupt()

    # a clock that jumps past the deadline once 3 generator updates are done
    clock = types.SimpleNamespace(perf_counter=time.perf_counter,
                                  time=lambda: 2e9 if Interrupt.updates >= 3 else 1e9)
    monkeypatch.setattr(T, "time", clock)
    cut = train(interrupted, out=tmp_path / "cut.pt", steps=6, deadline=1.5e9, **kw)
    monkeypatch.undo()
    assert not cut.meta["finished"] and cut.meta["steps"] == 3 and cut.meta["metrics"] == {}
    resumed = train(TinyRecipe(), out=tmp_path / "cut.pt", steps=6, resume=tmp_path / "cut.pt", **kw)
    assert resumed.meta["finished"] and resumed.history["step"] == full.history["step"]
    assert resumed.history["size"] == full.history["size"] == [16] * 3 + [32] * 3
    for k in ("generator", "generator_last"):
        for p, q in zip(full.nets[k].parameters(), resumed.nets[k].parameters()):
            assert torch.equal(p, q)


def test_a_run_resumed_in_another_arithmetic_records_both(tmp_path):
    """A partial run started in float32 (a CPU without bfloat16) and finished in bfloat16 must not
    claim one arithmetic for the whole: its checkpoint says ``"fp32 + bf16"``, in that order."""
    kw = dict(profile="smoke", progress=False, steps=2, out=tmp_path / "run.pt")
    cut = train(TinyRecipe(), precision="fp32", deadline=0.0, **kw)  # stops before its first step
    assert not cut.meta["finished"] and cut.meta["precision"] == "fp32"
    done = train(TinyRecipe(), precision="bf16", resume=tmp_path / "run.pt", **kw)
    assert done.meta["finished"] and done.meta["steps"] == 2
    assert done.meta["precision"] == "fp32 + bf16" and done.meta["cpu"] == cut.meta["cpu"]
    again = train(TinyRecipe(), precision="fp32", resume=tmp_path / "run.pt", **kw)
    assert again.meta["precision"] == "fp32 + bf16"  # each arithmetic is named once



def test_a_run_resumed_with_more_threads_records_both_and_sums_its_core_minutes(tmp_path, monkeypatch):
    """A run cut on one thread and finished on two (a partial run that a later session gives both
    cores): its checkpoint says ``"1 + 2"`` threads, and its core-minutes are each part's seconds
    times that part's threads (30 s x 1 + 30 s x 2 = 1.5 min), not the whole run's seconds times
    the last part's (2 min). Each step takes 30 s on a stand-in clock."""
    import types

    import inpaintlib.training.engine as T

    clock = {"s": 0.0}

    class ThirtySeconds(TinyRecipe):
        def generator_loss(self, nets, images, masks):
            clock["s"] += 30.0
            return super().generator_loss(nets, images, masks)

    monkeypatch.setattr(T, "time", types.SimpleNamespace(perf_counter=lambda: clock["s"], time=time.time))
    before = torch.get_num_threads()
    kw = dict(profile="smoke", progress=False, out=tmp_path / "run.pt")
    try:
        cut = train(ThirtySeconds(), threads=1, steps=1, **kw)
        done = train(ThirtySeconds(), threads=2, steps=2, resume=tmp_path / "run.pt", **kw)
    finally:
        torch.set_num_threads(before)
    assert cut.meta["threads"] == 1 and cut.meta["train_seconds"] >= 30.0
    assert done.meta["steps"] == 2 and done.meta["threads"] == "1 + 2" and done.meta["device"] == "cpu"
    first, second = cut.meta["train_seconds"], done.meta["train_seconds"] - cut.meta["train_seconds"]
    assert second >= 30.0
    assert done.meta["core_minutes"] == pytest.approx((first + 2 * second) / 60, abs=0.01)

def _cut_and_resume(recipe_cls, tmp_path, monkeypatch, steps: int, cut_at: int, **kw):
    """Train ``steps`` steps uninterrupted, then again cut by its deadline after ``cut_at`` steps and
    resumed from the cut's checkpoint: the two final checkpoints (every network, every optimiser)."""
    import types

    import inpaintlib.training.engine as T

    full = train(recipe_cls(), out=tmp_path / "full.pt", steps=steps, progress=False, **kw)
    done = []

    class Cut(recipe_cls):
        def generator_loss(self, nets, images, masks):  # one call per step in these recipes
            if self is cut_recipe:  # not the engine's copy that counts a step's FLOPs
                done.append(1)
            return super().generator_loss(nets, images, masks)

    cut_recipe = Cut()

    clock = types.SimpleNamespace(perf_counter=time.perf_counter,
                                  time=lambda: 2e9 if len(done) >= cut_at else 1e9)
    monkeypatch.setattr(T, "time", clock)
    cut = train(cut_recipe, out=tmp_path / "cut.pt", steps=steps, deadline=1.5e9, progress=False, **kw)
    monkeypatch.undo()
    assert not cut.meta["finished"] and cut.meta["steps"] == cut_at
    resumed = train(recipe_cls(), out=tmp_path / "cut.pt", steps=steps, resume=tmp_path / "cut.pt",
                    progress=False, **kw)
    assert resumed.meta["finished"] and resumed.meta["steps"] == full.meta["steps"]
    return read_checkpoint(full.checkpoint), read_checkpoint(resumed.checkpoint)


def _assert_bit_identical(a: dict, b: dict) -> int:
    """Every network and every optimiser state of checkpoints ``a`` and ``b`` equal (torch.equal)."""
    def tensors(tree, prefix=""):
        if torch.is_tensor(tree):
            yield prefix, tree
        elif isinstance(tree, dict):
            for k, v in tree.items():
                yield from tensors(v, f"{prefix}/{k}")
        elif isinstance(tree, (list, tuple)):
            for i, v in enumerate(tree):
                yield from tensors(v, f"{prefix}/{i}")

    ta = dict(tensors({"nets": a["state_dicts"], "opt": a["optimizers"]}))
    tb = dict(tensors({"nets": b["state_dicts"], "opt": b["optimizers"]}))
    assert ta.keys() == tb.keys()
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differ, f"{len(differ)} of {len(ta)} tensors differ after resuming, e.g. {differ[:3]}"
    logged = set(a["history"]) - {"minutes"}  # the clock is not part of the run's result
    assert logged == set(b["history"]) - {"minutes"}
    assert all(str(a["history"][k]) == str(b["history"][k]) for k in logged)  # as text: NaN != NaN
    return len(ta)


def test_resume_inside_the_critic_phase_of_a_gradient_penalty_recipe_is_bit_identical(tmp_path, monkeypatch):
    """DeepFill v1: 6 reconstruction steps, then critic steps whose penalty draws random mixing
    factors; cut at step 8 (inside the critic phase) and resumed, every tensor equals the
    uninterrupted run's. (Before the engine reseeded each step, 87 tensors differed.)"""
    from inpaintlib.models.deepfill_v1 import DeepFillV1Recipe

    full, resumed = _cut_and_resume(DeepFillV1Recipe, tmp_path, monkeypatch, steps=10, cut_at=8,
                                    profile="smoke", image_size=32)
    assert full["history"]["phase"][7] == "adversarial" and set(full["optimizers"]) == {"generator", "discriminator"}
    assert _assert_bit_identical(full, resumed) > 100


class TwoPairsWithPenalty(TinyRecipe):
    """Two generator/critic pairs (EdgeConnect's shape) whose critics draw a random gradient penalty."""

    def build_networks(self, settings):
        torch.manual_seed(1)
        def critic():  # not linear: a linear critic's gradient, hence its penalty, ignores the draw
            return nn.Sequential(nn.Conv2d(3, 4, 4, 4), nn.Tanh(), nn.Conv2d(4, 1, 1))

        return {"generator": TinyGenerator(), "discriminator": critic(),
                "edge_generator": TinyGenerator(), "edge_discriminator": critic()}

    def _critic(self, nets, name, images, masks, gen):
        from inpaintlib.losses.terms import gradient_penalty

        fake = nets[gen](images * (1 - masks), masks).detach()
        gp = gradient_penalty(nets[name], images, fake)
        loss = nets[name](fake).mean() - nets[name](images).mean() + 10 * gp
        return loss, {"gp": gp.detach()}

    def edge_d_loss(self, nets, images, masks):
        return self._critic(nets, "edge_discriminator", images, masks, "edge_generator")

    def d_loss(self, nets, images, masks):
        return self._critic(nets, "discriminator", images, masks, "generator")

    def edge_loss(self, nets, images, masks):
        loss = (nets["edge_generator"](images * (1 - masks), masks) - images).abs().mean()
        return loss, {"edge": loss.detach()}

    def phases(self, settings, nets):
        return [Phase("edge", fraction=0.5, updates=(
                    Update("edge_discriminator", "edge_d_loss", repeats=2, fresh_batch=True),
                    Update("edge_generator", "edge_loss"), Update("generator", "generator_loss"))),
                Phase("inpaint", fraction=0.5, updates=(
                    Update("discriminator", "d_loss", repeats=2, fresh_batch=True),
                    Update("generator", "generator_loss")))]


def test_resume_inside_the_critic_phase_of_a_two_pair_recipe_is_bit_identical(tmp_path, monkeypatch):
    full, resumed = _cut_and_resume(TwoPairsWithPenalty, tmp_path, monkeypatch, steps=8, cut_at=5,
                                    profile="smoke", ema_decay=0.9)
    assert full["history"]["phase"][4] == "inpaint" and len(full["optimizers"]) == 4
    _assert_bit_identical(full, resumed)


class WarmThenJoint(TinyRecipe):
    def phases(self, settings, nets):
        return [Phase("warm", train=("generator",), fraction=0.25),
                Phase("joint", train=("generator", "discriminator"), fraction=0.75)]


FLOP_RUN = dict(profile="smoke", flops=1e8, resize_schedule=((0.0, 16), (0.5, 32)))


def test_a_flop_budget_becomes_a_step_plan_whose_phases_and_sizes_are_fractions_of_its_flops():
    r = train(WarmThenJoint(), out=False, progress=False, **FLOP_RUN)
    meta, h = r.meta, r.history
    cost = {k: meta["flops_per_step"][f"{k[0]}@{k[1]}"] for k in zip(h["phase"], h["size"])}
    # hand count of the tiny networks (2 FLOPs per multiply-add; the first conv's input needs no
    # gradient): generator 4->4->3 channels, 3x3, forward F1 + F2, backward F1 + 2 F2, batch 2
    f1, f2 = 2 * 4 * 4 * 9 * 16 * 16, 2 * 4 * 3 * 9 * 16 * 16
    assert meta["flops_per_step"]["warm@16"] == 2 * (2 * f1 + 3 * f2)
    per_step = [cost[k] for k in zip(h["phase"], h["size"])]
    assert meta["flops"] == sum(per_step) and abs(meta["flops"] - 1e8) <= max(per_step) / 2
    assert abs(meta["flops"] / 1e8 - 1) < 0.02 and meta["steps"] == meta["step_plan_steps"] == len(per_step)
    spent = [sum(per_step[:i]) / 1e8 for i in range(len(per_step))]  # the fraction before each step
    assert all((ph == "warm") == (f < 0.25) for ph, f in zip(h["phase"], spent))
    assert all((size == 16) == (f < 0.5) for size, f in zip(h["size"], spent))
    assert meta["budget"] == "Budget(flops=1e+08)" and meta["flop_budget"] == 1e8
    from inpaintlib.training.engine import plan_budget

    plan, _ = plan_budget(WarmThenJoint(), "smoke", flops=1e8, resize_schedule=((0.0, 16), (0.5, 32)))
    parts = plan.parts()  # the plan made without training is the one the run followed
    assert sum(n for n, _ in parts.values()) == meta["steps"] and plan.total_flops == meta["flops"]
    assert list(parts) == [(0, 16), (1, 16), (1, 32)] and parts[0, 16][1] == meta["flops_per_step"]["warm@16"]


def test_planned_phases_reads_each_phase_s_steps_and_flops_back_from_a_run_s_metadata():
    from inpaintlib.training.schedules import planned_phases

    r = train(WarmThenJoint(), out=False, progress=False, **FLOP_RUN)  # smoke: logs every step
    split = {"warm": 0.25, "joint": 0.75}
    plan = planned_phases(r.meta, split)
    logged = {p: r.history["phase"].count(p) for p in split}
    assert {p: n for p, (n, _) in plan.items()} == logged  # the steps the run made
    flops = {p: sum(r.meta["flops_per_step"][f"{ph}@{px}"] for ph, px in zip(r.history["phase"], r.history["size"])
                    if ph == p) for p in split}
    assert {p: f for p, (_, f) in plan.items()} == flops and flops["warm"] < flops["joint"]
    assert planned_phases({"budget": "Budget(steps=3)", "steps": 3}, split) == {"warm": (1, None), "joint": (2, None)}
    assert planned_phases({"budget": "Budget(minutes=90.0)", "steps": 5000}, split) is None  # time decided
    with pytest.raises(ValueError, match="lacks the phases"):
        planned_phases(r.meta, {"warm": 0.5, "adversarial": 0.5})


def test_a_flop_budget_gives_the_same_steps_and_weights_again_and_resumes_bit_identically(tmp_path, monkeypatch):
    again = train(WarmThenJoint(), out=False, progress=False, **FLOP_RUN)
    full, resumed = _cut_and_resume(WarmThenJoint, tmp_path, monkeypatch, steps=None, cut_at=30, **FLOP_RUN)
    assert full["history"]["phase"] == again.history["phase"] and full["step"] == again.meta["steps"]
    _assert_bit_identical(full, resumed)
    assert resumed["meta"]["flops"] == full["meta"]["flops"]


def test_each_step_reseeds_from_seed_rank_and_step():
    from inpaintlib.training.engine import step_seed

    seeds = {step_seed(s, r, k) for s in range(3) for r in range(2) for k in range(100)}
    assert len(seeds) == 600 and all(0 <= v < 2**63 for v in seeds)


def test_shipped_checkpoints_are_float16_and_reload_to_the_rounded_weights(tmp_path):
    r = train(TinyRecipe(), profile="smoke", out=tmp_path / "t.pt", progress=False, steps=3)
    shipped = read_checkpoint(ship_checkpoint(r.checkpoint, tmp_path / "ship.pt"))
    weights = shipped["state_dicts"]["generator"]
    assert all(t.dtype == torch.float16 for t in weights.values() if t.is_floating_point())
    net = build_generator(shipped, cls=TinyGenerator).eval()
    assert all(p.dtype == torch.float32 for p in net.parameters())
    rounded = TinyGenerator().eval()
    rounded.load_state_dict({k: v.half().float() for k, v in r.generator.state_dict().items()})
    x, m = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    assert torch.equal(net(x, m), rounded(x, m))
    assert shipped["meta"]["stored_as"] == "float16" and shipped["optimizers"] == {}


def test_gradient_penalty_critics_must_have_no_batchnorm():
    from inpaintlib.nn.discriminators import GlobalLocalDiscriminator, check_no_batchnorm

    with pytest.raises(ValueError, match="must not use BatchNorm"):
        check_no_batchnorm(GlobalLocalDiscriminator(64, 32, width=0.125))
    critic = check_no_batchnorm(GlobalLocalDiscriminator(64, 32, width=0.125, norm=None))
    x, m = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    m[..., 20:40, 20:40] = 1
    assert critic(x, m).shape == (2, 1)


def test_fixed_size_networks_refuse_progressive_resizing():
    from inpaintlib.models.context_encoder import ContextEncoderRecipe

    with pytest.raises(ValueError, match="fixed-size"):
        train(ContextEncoderRecipe(), profile="smoke", out=False, progress=False,
              resize_schedule=((0.0, 64), (0.5, 128)))
