"""The shared training loop, profiles and checkpoints (Chapter 0)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from inpaintlib.training.checkpoint import (
    build_generator, choose_shipped_weights, read_checkpoint, ship_checkpoint,
)
from inpaintlib.registry import recipe_for
from inpaintlib.models.base import InpaintingModel
from inpaintlib.training.profiles import current_profile
from inpaintlib.training.engine import Phase, Recipe, TrainSettings, train


class TinyGenerator(InpaintingModel):
    name = display_name = "tiny"

    def __init__(self, width: int = 4):
        super().__init__()
        self.width = width
        self.net = nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))

    def config(self):
        return {"width": self.width}

    def forward(self, masked, mask):
        return torch.sigmoid(self.net(torch.cat([masked, mask], 1)))


class TinyRecipe(Recipe):
    model_name = "tiny"
    settings = TrainSettings(steps=4, batch_size=2, image_size=32, log_every=1, eval_images=0, lr_g=1e-2)
    phase_plan = None

    def build_networks(self, settings):
        torch.manual_seed(1)
        return {"generator": TinyGenerator(), "discriminator": nn.Sequential(nn.Conv2d(3, 1, 4, 4), nn.Flatten())}

    def phases(self, settings, nets):
        return self.phase_plan or super().phases(settings, nets)

    def sample_masks(self, batch, height, width, generator):
        m = torch.zeros(batch, 1, height, width)
        y = int(torch.randint(0, height // 2, (1,), generator=generator))
        m[..., y:y + height // 2, 8:24] = 1
        return m

    def discriminator_loss(self, nets, images, masks):
        fake = nets["generator"](images * (1 - masks), masks).detach()
        loss = nets["discriminator"](fake).mean() - nets["discriminator"](images).mean()
        return loss, {"wgan": loss.item()}

    def generator_loss(self, nets, images, masks):
        fake = nets["generator"](images * (1 - masks), masks)
        loss = ((fake - images).abs() * masks).mean()
        return loss, {"l1": loss.item()}


def test_profiles(monkeypatch):
    monkeypatch.setenv("INPAINT_PROFILE", "smoke")
    assert current_profile() == "smoke"
    assert current_profile("equal") == "equal" and current_profile("gpu") == "gpu"
    with pytest.raises(ValueError, match="unknown profile"):
        current_profile("cpu")  # the minutes budget is an option (minutes=), not a profile
    monkeypatch.setenv("INPAINT_PROFILE", "huge")
    with pytest.raises(ValueError, match="unknown profile"):
        current_profile()
    monkeypatch.delenv("INPAINT_PROFILE")
    assert current_profile() == ("gpu" if torch.cuda.is_available() else "book")


def test_training_records_history_and_checkpoint_reloads_to_same_outputs(tmp_path):
    result = train(TinyRecipe(), profile="smoke", out=tmp_path / "tiny.pt", progress=False, steps=6)
    assert result.history["step"] == [1, 2, 3, 4, 5, 6]
    assert {"G/l1", "D/wgan"} <= set(result.history)
    ckpt = read_checkpoint(result.checkpoint)
    assert ckpt["meta"]["profile"] == "smoke" and ckpt["meta"]["device"] == "cpu" and ckpt["step"] == 6
    assert ckpt["meta"]["image_size"] == 32 and ckpt["meta"]["wall_time_s"] >= 0
    with pytest.raises(ValueError, match="only inpaintlib classes"):
        build_generator(ckpt)  # never import arbitrary classes named in a file
    reloaded = build_generator(ckpt, cls=TinyGenerator).eval()
    x, m = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    m[..., 4:12, 4:12] = 1
    assert torch.equal(reloaded(x, m), result.generator.eval()(x, m))
    shipped = read_checkpoint(ship_checkpoint(result.checkpoint, tmp_path / "ship.pt"))
    assert set(shipped["state_dicts"]) == {"generator"} and shipped["optimizers"] == {}


def test_same_seed_same_run_and_resume_equals_uninterrupted(tmp_path):
    a = train(TinyRecipe(), profile="smoke", out=tmp_path / "a.pt", progress=False, steps=6)
    b = train(TinyRecipe(), profile="smoke", out=tmp_path / "b.pt", progress=False, steps=6)
    for p, q in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(p, q)
    half = train(TinyRecipe(), profile="smoke", out=tmp_path / "half.pt", progress=False, steps=3)
    assert half.history["step"] == [1, 2, 3]
    resumed = train(TinyRecipe(), profile="smoke", out=tmp_path / "c.pt", progress=False, steps=6,
                    resume=half.checkpoint)
    assert resumed.history["step"] == [1, 2, 3, 4, 5, 6]
    for p, q in zip(a.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(p, q)


class FixedHoleSGD(TinyRecipe):
    """The generator alone, plain SGD, the same hole in every crop: a batch's loss is the mean of its
    halves' losses, so data parallel over two processes must equal one process on both halves."""

    lr = 0.5

    def phases(self, settings, nets):
        return [Phase("reconstruction", fraction=1.0, train=("generator",))]

    def build_optimizers(self, nets, settings):
        return {"generator": torch.optim.SGD(nets["generator"].parameters(), lr=self.lr)}

    def sample_masks(self, batch, height, width, generator):
        m = torch.zeros(batch, 1, height, width)
        m[..., 8:24, 8:24] = 1
        return m


class WholeImageL1(TinyRecipe):
    """The generator alone (the engine's default Adam), L1 over the whole image: learnable by a tiny net."""

    def phases(self, settings, nets):
        return [Phase("reconstruction", fraction=1.0, train=("generator",))]

    def generator_loss(self, nets, images, masks):
        loss = (nets["generator"](images * (1 - masks), masks) - images).abs().mean()
        return loss, {"l1": loss.detach()}


def test_the_engine_learns_a_fixed_batch(monkeypatch):
    """train() itself (its zero_grad, backward, optimiser step, schedule, logging) lowers the loss:
    on one batch drawn again at every step, the logged L1 falls below half its first value in 60
    steps (measured: 0.186 -> 0.079)."""
    import inpaintlib.training.engine as T

    draw = T.BatchStream.draw
    fixed = {}

    def same_batch(self, size):
        if size not in fixed:
            fixed[size] = draw(self, size)
        return fixed[size]

    monkeypatch.setattr(T.BatchStream, "draw", same_batch)
    r = train(WholeImageL1(), profile="smoke", out=False, progress=False, steps=60, batch_size=4, lr_g=1e-2)
    l1 = r.history["G/l1"]
    assert len(l1) == 60 and l1[-1] < l1[0] / 2, f"L1 {l1[0]:.4f} -> {l1[-1]:.4f}"


def test_two_processes_average_gradients_like_one_process_on_the_combined_batch(tmp_path):
    """torchrun, 2 CPU processes (gloo) of batch 2, SGD: each step's averaged gradient is the gradient
    of one process on the batch of 4 made of both (crops (2k..2k+1) and (2k+1..) are rank 0's and
    rank 1's), so the weights match; a sum instead of a mean would double every step."""
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_train import FixedHoleSGD
        from inpaintlib.training.engine import train
        res = train(FixedHoleSGD(), profile="smoke", out=False, progress=False, steps=3, batch_size=2,
                    precision="fp32")
        flat = torch.cat([p.detach().flatten() for p in res.generator.parameters()])
        torch.save(flat, {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_port=29517", str(script)], capture_output=True, text=True, env=env,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(w0, w1)  # rank 0's weights at the start, the same averaged gradient after
    one = train(FixedHoleSGD(), profile="smoke", out=False, progress=False, steps=3, batch_size=4,
                precision="fp32")  # bf16 would round the halves and the whole differently
    w = torch.cat([p.detach().flatten() for p in one.generator.parameters()])
    start = torch.cat([p.detach().flatten() for p in FixedHoleSGD().build_networks(None)["generator"].parameters()])
    moved = (w - start).abs().max()
    assert moved > 1e-3  # the steps did move the weights
    assert (w0 - w).abs().max() < 1e-3 * moved, f"{(w0 - w).abs().max():.2e} vs moved {moved:.2e}"


def test_each_phase_updates_only_its_networks(tmp_path):
    recipe = TinyRecipe()
    recipe.phase_plan = [Phase("completion", 2, ("generator",)), Phase("discriminator", 2, ("discriminator",))]
    nets0 = recipe.build_networks(recipe.settings)
    g0 = [p.clone() for p in nets0["generator"].parameters()]
    d0 = [p.clone() for p in nets0["discriminator"].parameters()]
    result = train(recipe, profile="smoke", out=False, progress=False)
    assert result.history["phase"] == ["completion", "completion", "discriminator", "discriminator"]
    assert "D/wgan" not in result.history or all(v != v for v in result.history["D/wgan"][:2])  # NaN in phase 1
    assert all(v != v for v in result.history["G/l1"][2:])  # generator not trained in phase 2
    # After phase 1 only the generator had moved; phase 2 moves only the discriminator.
    # Re-run phase 1 alone to check that the discriminator did not change there.
    recipe.phase_plan = [Phase("completion", 2, ("generator",))]
    only_g = train(recipe, profile="smoke", out=False, progress=False)
    assert any(not torch.equal(p, q) for p, q in zip(g0, only_g.nets["generator"].parameters()))
    assert all(torch.equal(p, q) for p, q in zip(d0, only_g.nets["discriminator"].parameters()))
    recipe.phase_plan = [Phase("discriminator", 2, ("discriminator",))]
    only_d = train(recipe, profile="smoke", out=False, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(g0, only_d.nets["generator"].parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(d0, only_d.nets["discriminator"].parameters()))


def test_a_centre_only_run_ships_chosen_on_the_centre_square(tmp_path):
    # the Context Encoder refuses free-form holes: the rule scores the kind it fills
    run = train(recipe_for("context_encoder"), profile="smoke", out=tmp_path / "ce.pt", progress=False,
                steps=2, ema_decay=0.5).checkpoint
    shipped = read_checkpoint(ship_checkpoint(run, tmp_path / "ship.pt", validation_crops=4))
    key, scores = choose_shipped_weights(read_checkpoint(run), n=4)
    assert shipped["meta"]["weights_validation_psnr"] == scores and set(scores) == {"moving average", "last weights"}
    assert shipped["meta"]["shipped_weights"] == {"generator": "moving average", "generator_last": "last weights"}[key]


def test_the_one_device_choice_prefers_cuda_and_honours_an_explicit_device(monkeypatch):
    from inpaintlib.training.profiles import default_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a fake GPU machine
    assert default_device() == torch.device("cuda") and default_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    assert default_device("cuda:1") == torch.device("cuda", 1)


def test_shipping_chooses_the_moving_average_or_the_last_weights_on_validation_crops(tmp_path):
    run = train(recipe_for("fill_refiner"), profile="smoke", out=tmp_path / "r.pt", progress=False,
                steps=3, ema_decay=0.5).checkpoint
    ckpt = read_checkpoint(run)
    assert set(ckpt["state_dicts"]) >= {"generator", "generator_last"}
    key, scores = choose_shipped_weights(ckpt, n=4)
    assert set(scores) == {"moving average", "last weights"}
    best = max(scores, key=scores.get)
    assert {"generator": "moving average", "generator_last": "last weights"}[key] == best
    shipped = read_checkpoint(ship_checkpoint(run, tmp_path / "ship.pt", validation_crops=4))
    assert shipped["meta"]["shipped_weights"] == best and shipped["meta"]["weights_validation_psnr"] == scores
    assert all(torch.equal(shipped["state_dicts"]["generator"][k], v.half() if v.is_floating_point() else v)
               for k, v in ckpt["state_dicts"][key].items())  # the chosen weights, in float16
    last = read_checkpoint(ship_checkpoint(run, tmp_path / "last.pt", weights="generator_last"))
    assert last["meta"]["shipped_weights"] == "last weights" and "weights_validation_psnr" not in last["meta"]
    with pytest.raises(ValueError, match="weights must be 'choose'"):
        ship_checkpoint(run, tmp_path / "x.pt", weights="ema")
    plain = train(recipe_for("fill_refiner"), profile="smoke", out=tmp_path / "p.pt", progress=False, steps=2)
    assert read_checkpoint(ship_checkpoint(plain.checkpoint, tmp_path / "p_ship.pt"))["meta"][
        "shipped_weights"] == "last weights (no moving average)"  # smoke keeps no average
