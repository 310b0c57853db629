"""The test-set numbers shipped in ``data/test_results.json`` are current and true.

Current: every registered method has an entry under the key its weights and code give now (so a
first build of the book reads them instead of measuring). True: a sample recomputed here equals
the shipped number. And the mechanism: a shipped entry is served without measuring, ``make eval``'s
recording and collecting write exactly what was asked for.
"""
import json

import pytest

import inpaintlib.evaluation.fixed_test_set as evaluation
from inpaintlib.data.photos import TEST_MASK_KINDS, load_test_set
from inpaintlib.cli import main
from inpaintlib.evaluation import result_store
from inpaintlib.evaluation.fixed_test_set import _cache_file, evaluate_model
from inpaintlib.registry import load_pretrained

N_ALL = len(load_test_set())


@pytest.fixture
def shipped(monkeypatch):
    """The shipped entries as the book reads them (no moved cache, no other file named)."""
    monkeypatch.delenv(evaluation.CACHE_ENV, raising=False)
    monkeypatch.delenv(result_store.SHIPPED_ENV, raising=False)
    path = result_store.shipped_results_path()
    assert path is not None and path.is_file(), "data/test_results.json is missing: run `make eval`"
    return result_store.shipped_entries()


def test_every_registered_method_has_current_numbers_on_every_bucket(shipped):
    stale = []
    for name in result_store.registered_methods():
        model = load_pretrained(name)
        for kind in TEST_MASK_KINDS:
            entry = _cache_file(model, kind, N_ALL).stem
            if entry not in shipped:
                stale.append(f"{name} {kind}")
    assert not stale, ("no shipped test-set number matches the current weights and code of "
                       f"{', '.join(stale)}: run `make eval` and commit data/test_results.json")


@pytest.mark.parametrize("name", ["telea", "context_encoder"])
def test_a_shipped_number_equals_a_fresh_measurement(name, shipped):
    model = load_pretrained(name)
    entry = _cache_file(model, "center", N_ALL).stem
    fresh = evaluate_model(model, kinds=["center"], cache=False, progress=False)["center"]
    assert set(fresh) == set(shipped[entry])
    for metric, value in fresh.items():
        assert value == pytest.approx(shipped[entry][metric], rel=1e-4, abs=1e-4), metric


def test_a_shipped_entry_is_served_without_measuring(tmp_path, monkeypatch):
    model = load_pretrained("telea")
    entry = _cache_file(model, "center", 3).stem
    planted = {"l1_%": 1.0, "l2_%": 2.0, "psnr_db": 3.0, "ssim": 0.5}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"entries": {entry: planted}}))
    monkeypatch.setenv(evaluation.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(result_store.SHIPPED_ENV, str(results))

    def refuse(*args, **kwargs):
        raise AssertionError("measured: the shipped entry was expected to answer")

    monkeypatch.setattr(evaluation, "_per_image_metrics", refuse)
    assert evaluate_model(model, kinds=["center"], n=3, progress=False) == {"center": planted}
    monkeypatch.setenv(result_store.SHIPPED_ENV, "off")  # and without it, the model is measured
    with pytest.raises(AssertionError, match="measured"):
        evaluate_model(model, kinds=["center"], n=3, progress=False)


def test_recording_then_collecting_ships_exactly_what_was_returned(tmp_path, monkeypatch):
    monkeypatch.setenv(evaluation.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(result_store.RECORD_ENV, str(tmp_path / "record"))
    model = load_pretrained("telea")
    measured = evaluate_model(model, kinds=["center", "ff10-20"], n=2, progress=False)
    again = evaluate_model(model, kinds=["center"], n=2, progress=False)  # served by the cache
    assert again["center"] == measured["center"]
    dest = tmp_path / "test_results.json"
    assert result_store.collect_recorded(tmp_path / "record", dest) == 2
    entries = json.loads(dest.read_text())["entries"]
    assert entries == {_cache_file(model, k, 2).stem: measured[k] for k in ("center", "ff10-20")}


def test_a_kind_the_model_cannot_fill_is_stored_as_none(tmp_path, monkeypatch):
    monkeypatch.setenv(evaluation.CACHE_ENV, str(tmp_path / "cache"))
    model = load_pretrained("context_encoder")  # fills the centre square only
    assert evaluate_model(model, kinds=["ff40-50"], n=2, progress=False) == {"ff40-50": None}
    assert json.loads(_cache_file(model, "ff40-50", 2).read_text()) is None
    monkeypatch.setattr(evaluation, "_per_image_metrics", lambda *a, **k: 1 / 0)
    assert evaluate_model(model, kinds=["ff40-50"], n=2, progress=False) == {"ff40-50": None}


def test_collecting_nothing_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="nothing was recorded"):
        main(["collect-results", str(tmp_path), "--to", str(tmp_path / "out.json")])
    assert not (tmp_path / "out.json").exists()


def test_make_eval_measures_every_baseline_model_and_ablation_but_not_msnps():
    names = result_store.registered_methods()
    assert {"telea", "biharmonic", "context_encoder", "gmcnn", "gmcnn_no_mrf"} <= set(names)
    assert "msnps" not in names and "msnps_content" in names


def test_a_damaged_results_file_is_refused_by_name(tmp_path, monkeypatch):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps([1, 2]))
    monkeypatch.setenv(result_store.SHIPPED_ENV, str(bad))
    with pytest.raises(ValueError, match="results.json.*'entries'"):
        result_store.shipped_entries()


def test_collecting_only_some_methods_replaces_theirs_and_keeps_the_rest(tmp_path):
    dest = tmp_path / "test_results.json"
    old = {"pggan-center-aaa": {"psnr_db": 1.0}, "pggan-ff10-20-bbb": {"psnr_db": 2.0},
           "pggan_global_only-center-ccc": {"psnr_db": 3.0}, "glcic-center-ddd": {"psnr_db": 4.0}}
    dest.write_text(json.dumps({"about": "x", "entries": old}))
    record = tmp_path / "record"
    record.mkdir()
    for entry, value in {"pggan-center-eee": {"psnr_db": 5.0}, "glcic-center-fff": {"psnr_db": 6.0}}.items():
        (record / f"{entry}.json").write_text(json.dumps(value))
    assert main(["collect-results", str(record), "--to", str(dest), "--only", "pggan"]) == 0
    entries = json.loads(dest.read_text())["entries"]
    # pggan's two old entries are gone and its new one is in; the other methods' entries are kept as they were
    assert entries == {"pggan-center-eee": {"psnr_db": 5.0}, "pggan_global_only-center-ccc": {"psnr_db": 3.0},
                       "glcic-center-ddd": {"psnr_db": 4.0}}
    with pytest.raises(SystemExit, match="nothing recorded .* belongs to"):
        main(["collect-results", str(record), "--to", str(dest), "--only", "gmcnn"])
    # --merge: every recorded entry joins, of any method, and the file keeps the rest
    (record / "glcic-center-ddd-per-crop.json").write_text(json.dumps({"psnr_db": [4.0]}))
    assert main(["collect-results", str(record), "--to", str(dest), "--merge"]) == 0
    assert json.loads(dest.read_text())["entries"] == entries | {
        "glcic-center-fff": {"psnr_db": 6.0}, "glcic-center-ddd-per-crop": {"psnr_db": [4.0]}}
