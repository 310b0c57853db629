"""The training engine (Chapter 0): budgets, phases of updates, resizing, precision, EMA, resume, shipping."""
import math
import time

import pytest
import torch
from torch import nn

from inpaintlib.checkpoint import build_generator, read_checkpoint, ship_checkpoint
from inpaintlib.ema import ExponentialMovingAverage
from inpaintlib.precision import autocast_networks, resolve_precision
from inpaintlib.schedules import Budget, lr_factor, phase_boundaries, value_at
from inpaintlib.train import Phase, Update, set_learning_rate, train
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
    assert minutes[first_b - 1] < 0.01 + 1e-9 <= minutes[first_b] + 0.01  # the switch happens near half-time


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
    import inpaintlib.precision as P

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

    import inpaintlib.train as T

    kw = dict(profile="smoke", progress=False, ema_decay=0.9, resize_schedule=((0.0, 16), (0.5, 32)),
              lr_schedule="cosine")
    full = train(TinyRecipe(), out=tmp_path / "full.pt", steps=6, **kw)

    class Interrupt(TinyRecipe):
        updates = 0

        def generator_loss(self, nets, images, masks):
            Interrupt.updates += 1
            return super().generator_loss(nets, images, masks)

    # a clock that jumps past the deadline once 3 generator updates are done
    clock = types.SimpleNamespace(perf_counter=time.perf_counter,
                                  time=lambda: 2e9 if Interrupt.updates >= 3 else 1e9)
    monkeypatch.setattr(T, "time", clock)
    cut = train(Interrupt(), out=tmp_path / "cut.pt", steps=6, deadline=1.5e9, **kw)
    monkeypatch.undo()
    assert not cut.meta["finished"] and cut.meta["steps"] == 3 and cut.meta["metrics"] == {}
    resumed = train(TinyRecipe(), out=tmp_path / "cut.pt", steps=6, resume=tmp_path / "cut.pt", **kw)
    assert resumed.meta["finished"] and resumed.history["step"] == full.history["step"]
    assert resumed.history["size"] == full.history["size"] == [16] * 3 + [32] * 3
    for k in ("generator", "generator_last"):
        for p, q in zip(full.nets[k].parameters(), resumed.nets[k].parameters()):
            assert torch.equal(p, q)


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
    from inpaintlib.discriminators import GlobalLocalDiscriminator, check_no_batchnorm

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
