"""The cache of ``evaluate_model`` (Chapter 0) never serves a number its inputs would not give now.

Every test measures into a temporary folder (``$INPAINT_CACHE_DIR``): the book's own cache in
``.cache/eval`` is neither read nor written.
"""
import copy
import importlib
import inspect
import sys

import pytest
import torch

import inpaintlib.evaluation.baselines
import inpaintlib.evaluation.fixed_test_set as evaluation
import inpaintlib.evaluation.metrics
from inpaintlib.api import inpaint
from inpaintlib.evaluation.baselines import BiharmonicInpainter, TeleaInpainter
from inpaintlib.evaluation.compositing import composite
from inpaintlib.evaluation.fixed_test_set import _cache_file, _code_modules, evaluate_model
from inpaintlib.registry import checkpoint_path, load_pretrained

KINDS = ("center",)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "eval-cache"
    monkeypatch.setenv(evaluation.CACHE_ENV, str(folder))
    return folder


def _shipped(name):
    assert checkpoint_path(name).is_file(), f"{name} is registered but its checkpoint is missing"
    return load_pretrained(name)


def _refuse_to_compute(*args, **kwargs):
    raise AssertionError("recomputed: the cache was expected to answer")


def test_the_cache_folder_follows_the_environment_variable(cache_dir):
    assert evaluation.cache_dir() == cache_dir
    assert _cache_file(BiharmonicInpainter(), "center", 4).parent == cache_dir


@pytest.mark.parametrize("name", ["telea", "context_encoder"])
def test_a_cached_result_equals_a_fresh_computation(name, cache_dir, monkeypatch):
    model = TeleaInpainter() if name == "telea" else _shipped(name)
    first = evaluate_model(model, kinds=KINDS, n=4, progress=False)
    assert len(list(cache_dir.glob(f"{name}-center-*.json"))) == 1
    fresh = evaluate_model(model, kinds=KINDS, n=4, progress=False, cache=False)
    with monkeypatch.context() as m:
        m.setattr(evaluation, "_per_image_metrics", _refuse_to_compute)
        cached = evaluate_model(model, kinds=KINDS, n=4, progress=False)
    # a JSON round trip of Python floats is exact, and the computation is deterministic on CPU
    assert cached == first == fresh


def test_a_code_change_forces_recomputation(cache_dir, monkeypatch):
    model = TeleaInpainter()
    before = evaluate_model(model, kinds=KINDS, n=4, progress=False)["center"]
    # "edit" the metrics: every hole L1 one unit (100 %) higher
    real_l1 = inpaintlib.evaluation.metrics.hole_l1
    monkeypatch.setattr(inpaintlib.evaluation.metrics, "hole_l1", lambda *a: real_l1(*a) + 1.0)
    # what the code hash guards against: with the key blind to the edit, the old number comes back
    assert evaluate_model(model, kinds=KINDS, n=4, progress=False)["center"] == before
    # the edit as the key sees it: the source file of the metrics hashes differently
    real_digest = evaluation._module_digest
    monkeypatch.setattr(evaluation, "_module_digest",
                        lambda module: "edited" if module is inpaintlib.evaluation.metrics else real_digest(module))
    after = evaluate_model(model, kinds=KINDS, n=4, progress=False)["center"]
    assert after["l1_%"] == pytest.approx(before["l1_%"] + 100.0)
    assert after["psnr_db"] == before["psnr_db"]
    assert len(list(cache_dir.glob("telea-center-*.json"))) == 2


_PROBE = '''
import torch

from inpaintlib.models.base import InpaintingModel


class ConstantFill(InpaintingModel):
    name = "constant_fill_probe"

    def forward(self, masked_image, mask):
        return torch.full_like(masked_image, {value})
'''


def test_an_edited_model_source_file_gets_its_own_entry(tmp_path, cache_dir, monkeypatch):
    # a real file edit, seen through the real hashing of source files (no monkeypatched hash)
    source = tmp_path / "cache_probe_model.py"
    source.write_text(_PROBE.format(value="0.25"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    module = importlib.import_module("cache_probe_model")
    monkeypatch.setitem(sys.modules, "cache_probe_model", module)  # removed again at teardown
    first = evaluate_model(module.ConstantFill(), kinds=KINDS, n=2, progress=False)["center"]
    source.write_text(_PROBE.format(value="0.75"))  # another length: a new size, whatever the clock
    module = importlib.reload(module)
    second = evaluate_model(module.ConstantFill(), kinds=KINDS, n=2, progress=False)["center"]
    assert second != first
    assert second == evaluate_model(module.ConstantFill(), kinds=KINDS, n=2, progress=False,
                                    cache=False)["center"]
    assert len(list(cache_dir.glob("constant_fill_probe-center-*.json"))) == 2


def test_the_key_covers_the_protocol_and_every_network_of_the_model():
    protocol = {inspect.getmodule(f) for f in (inpaint, composite, inpaintlib.evaluation.metrics.inpainting_metrics)}
    baseline = _code_modules(BiharmonicInpainter())
    assert protocol <= set(baseline) and inpaintlib.evaluation.baselines in baseline
    msnps = _shipped("msnps")
    modules = _code_modules(msnps)
    assert inspect.getmodule(type(msnps)) in modules
    assert inspect.getmodule(type(msnps.content)) in modules  # the wrapped content network's code


def test_two_weights_give_two_cache_files(cache_dir):
    a = _shipped("context_encoder")
    b = copy.deepcopy(a)  # same name, config, checkpoint metadata and save time
    with torch.no_grad():
        next(b.parameters()).add_(0.05)
    assert _cache_file(a, "center", 4) != _cache_file(b, "center", 4)
    ra = evaluate_model(a, kinds=KINDS, n=2, progress=False)
    rb = evaluate_model(b, kinds=KINDS, n=2, progress=False)
    assert ra != rb
    assert len(list(cache_dir.glob("context_encoder-center-*.json"))) == 2


def test_baselines_are_cached_under_their_config():
    assert _cache_file(TeleaInpainter(radius=3), "center", 4) is not None
    assert _cache_file(TeleaInpainter(radius=3), "center", 4) == _cache_file(TeleaInpainter(), "center", 4)
    assert _cache_file(TeleaInpainter(radius=5), "center", 4) != _cache_file(TeleaInpainter(), "center", 4)


def test_a_changed_test_set_changes_the_key(monkeypatch):
    import inpaintlib.data.photos

    before = _cache_file(BiharmonicInpainter(), "center", 4)
    manifest = inpaintlib.data.photos.load_test_manifest()
    manifest["images"][0] = {**manifest["images"][0], "sha256": "0" * 64}
    monkeypatch.setattr(inpaintlib.data.photos, "load_test_manifest", lambda: manifest)
    assert _cache_file(BiharmonicInpainter(), "center", 4) != before
