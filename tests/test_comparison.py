"""The comparison chapter's measurements (Chapter 11): every crop's metrics agree with the table's
means and are cached, intervals behave, budgets are read right, and the computed sentences and
tables say what the numbers say.

Every measurement goes into a temporary folder (``$INPAINT_CACHE_DIR``), which also turns the
shipped ``data/test_results.json`` off: nothing here is answered by the book's stored numbers.
Measurements use Telea's classical fill on a few crops, so the module runs in seconds.
"""
import itertools
import json
import math

import matplotlib.legend
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import inpaintlib.evaluation.fixed_test_set as evaluation
from inpaintlib.evaluation import comparison, result_store
from inpaintlib.evaluation.baselines import TeleaInpainter
from inpaintlib.evaluation.comparison import (
    component_effect, sentence_component,
    ComparisonTable,
    ablation_deltas,
    budget_frame,
    comparison_frame,
    comparison_html,
    equal_budget,
    kid_of_fills,
    per_crop_metrics,
    perception_distortion_plot,
    seed_spread,
    sentence_paired_difference,
    sentence_winner,
    summary_with_intervals,
    training_budget_columns,
    winners_by_bucket,
)
from inpaintlib.evaluation.fixed_test_set import _cache_file, evaluate_model
from inpaintlib.evaluation.kid import KID, kernel_inception_distance
from inpaintlib.evaluation.model_cost import ModelCost
from inpaintlib.data.photos import TEST_MASK_KINDS
from inpaintlib.models.base import InpaintingModel
from inpaintlib.registry import checkpoint_path
from inpaintlib.training.checkpoint import read_checkpoint

N = 4


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "eval-cache"
    monkeypatch.setenv(evaluation.CACHE_ENV, str(folder))
    monkeypatch.delenv(result_store.SHIPPED_ENV, raising=False)
    monkeypatch.delenv(result_store.RECORD_ENV, raising=False)
    return folder


def _refuse_to_compute(*args, **kwargs):
    raise AssertionError("measured: the cache was expected to answer")


class CentreOnlyProbe(InpaintingModel):
    """Refuses every hole as the Context Encoder refuses a free-form one."""

    name = "centre_only_probe"

    def forward(self, masked_image, mask):
        raise ValueError("CentreOnlyProbe only fills holes inside the central 64x64 square")


class BrokenProbe(InpaintingModel):
    name = "broken_probe"

    def forward(self, masked_image, mask):
        raise ValueError("a bug, not a hole the model cannot fill")


def _meta(name):
    return read_checkpoint(checkpoint_path(name))["meta"]


# ------------------------------------------------------------------ per-crop metrics
def test_per_crop_means_equal_the_tables_means_and_the_second_call_is_cached(cache_dir, monkeypatch, tmp_path):
    monkeypatch.setenv(result_store.RECORD_ENV, str(tmp_path / "record"))
    model = TeleaInpainter()
    crops = per_crop_metrics(model, "center", n=N)
    means = evaluate_model(model, kinds=["center"], n=N, progress=False)["center"]
    assert set(crops) == set(means) == {"l1_%", "l2_%", "psnr_db", "ssim"}
    for metric, values in crops.items():
        assert len(values) == N
        assert all(v == float(f"{v:.5g}") for v in values)  # 5 significant digits, as shipped
        assert np.mean(values) == pytest.approx(means[metric], rel=1e-4), metric
    entry = _cache_file(model, "center", N).stem + "-per-crop"
    assert json.loads((cache_dir / f"{entry}.json").read_text()) == crops
    assert json.loads((tmp_path / "record" / f"{entry}.json").read_text()) == crops  # what `make eval` ships
    monkeypatch.setattr(evaluation, "_per_image_metrics", _refuse_to_compute)
    assert per_crop_metrics(model, "center", n=N) == crops


def test_a_shipped_per_crop_entry_is_served_without_measuring(tmp_path, monkeypatch):
    model = TeleaInpainter()
    entry = _cache_file(model, "ff10-20", 2).stem + "-per-crop"
    planted = {"l1_%": [1.0, 2.0], "l2_%": [0.1, 0.2], "psnr_db": [30.0, 31.0], "ssim": [0.9, 0.8]}
    shipped = tmp_path / "results.json"
    shipped.write_text(json.dumps({"entries": {entry: planted}}))
    monkeypatch.setenv(result_store.SHIPPED_ENV, str(shipped))
    monkeypatch.setattr(evaluation, "_per_image_metrics", _refuse_to_compute)
    assert per_crop_metrics(model, "ff10-20", n=2) == planted


def test_a_kind_the_model_cannot_fill_is_none_and_cached_while_other_errors_propagate(monkeypatch):
    assert per_crop_metrics(CentreOnlyProbe(), "ff40-50", n=2) is None
    with monkeypatch.context() as m:
        m.setattr(evaluation, "_per_image_metrics", _refuse_to_compute)
        assert per_crop_metrics(CentreOnlyProbe(), "ff40-50", n=2) is None
    with pytest.raises(ValueError, match="a bug"):
        per_crop_metrics(BrokenProbe(), "center", n=2)


def test_bad_kinds_and_crop_counts_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown mask kind.*'square'.*center, ff10-20"):
        per_crop_metrics(TeleaInpainter(), "square", n=2)
    with pytest.raises(ValueError, match="positive number of test crops"):
        per_crop_metrics(TeleaInpainter(), "center", n=0)
    with pytest.raises(ValueError, match="at least 3 crops"):
        kid_of_fills(TeleaInpainter(), "center", n=2)


# ------------------------------------------------------------------ intervals and tables
def test_the_bootstrap_interval_contains_the_mean_and_narrows_with_more_crops():
    real = {"center": per_crop_metrics(TeleaInpainter(), "center", n=N), "ff10-20": None}
    summary = summary_with_intervals(real, metrics=("psnr_db", "ssim"))
    assert summary["ff10-20"] is None and set(summary["center"]) == {"psnr_db", "ssim"}
    for mean, low, high in summary["center"].values():
        assert low <= mean <= high and low < high
    rng = np.random.default_rng(0)
    draws = rng.normal(25.0, 2.0, size=400)
    few = summary_with_intervals({"center": {"psnr_db": draws[:10].tolist()}}, metrics=("psnr_db",))
    many = summary_with_intervals({"center": {"psnr_db": draws.tolist()}}, metrics=("psnr_db",))
    def width(summary):
        return summary["center"]["psnr_db"][2] - summary["center"]["psnr_db"][1]

    assert width(many) < 0.4 * width(few)  # about sqrt(10/400) = 0.16 of it
    with pytest.raises(ValueError, match="no metric 'ssim'"):
        summary_with_intervals({"center": {"psnr_db": [1.0, 2.0]}}, metrics=("ssim",))
    with pytest.raises(ValueError, match="unknown mask kind"):
        summary_with_intervals({"centre": {"psnr_db": [1.0, 2.0]}})


def test_the_comparison_table_shows_mean_and_interval_per_kind_and_metric():
    methods = {"A": {"center": {"psnr_db": (25.123, 24.5, 25.75), "ssim": (0.81234, 0.8, 0.82)}, "ff10-20": None},
               "B": {"center": {"psnr_db": 24.0, "ssim": 0.79}, "ff10-20": {"psnr_db": 30.0, "ssim": 0.95}}}
    table = comparison_frame(methods, kinds=["center", "ff10-20"], metrics=["psnr_db", "ssim"])
    assert table.index == ("A", "B")
    assert table.columns == (("center", "PSNR (dB)"), ("center", "SSIM"), ("ff10-20", "PSNR (dB)"), ("ff10-20", "SSIM"))
    assert table.cell("A", ("center", "PSNR (dB)")) == "25.12 [24.50, 25.75]"
    assert table.cell("A", ("center", "SSIM")) == "0.812 [0.800, 0.820]"
    assert table.cell("A", ("ff10-20", "SSIM")) is None and table.cell("B", ("center", "PSNR (dB)")) == "24.00"
    page = comparison_html(table, classes=["comparison", "wide"])
    assert page.startswith('<table class="comparison wide">')
    assert '<th colspan="2">center</th>' in page and "<td>25.12 [24.50, 25.75]</td>" in page and "<td>–</td>" in page
    assert "| A | 25.12 [24.50, 25.75] |" in table.to_markdown()
    with pytest.raises(ValueError, match="no metric 'l1_%'"):
        comparison_frame(methods, kinds=["center"], metrics=["l1_%"])
    with pytest.raises(ValueError, match="no entry for mask kind 'ff20-30'"):
        comparison_frame(methods, kinds=["ff20-30"])
    with pytest.raises(ValueError, match="non-empty"):
        comparison_frame({}, kinds=["center"])


# ------------------------------------------------------------------ budgets
def test_training_budget_columns_tell_the_equal_budget_from_the_minutes_budget():
    pconv, encoder = _meta("pconv"), _meta("context_encoder")
    columns = training_budget_columns(pconv)
    assert set(columns) == {"training PFLOP", "steps", "wall minutes", "device", "threads", "precision", "profile",
                            "shipped weights"}
    assert columns["training PFLOP"] == pytest.approx(1.0, abs=0.02) and columns["profile"] == "equal"
    assert columns["steps"] == pconv["steps"] and columns["wall minutes"] == pytest.approx(pconv["train_seconds"] / 60,
                                                                                        abs=0.05)
    assert equal_budget(pconv)
    # a checkpoint of the earlier 90-minute budget (profile "cpu") counted no FLOPs
    minutes = {"profile": "cpu", "core_minutes": 90.0, "steps": 5000, "train_seconds": 5400.0}
    assert not equal_budget(minutes) and training_budget_columns(minutes)["training PFLOP"] is None
    assert equal_budget(encoder) is (encoder.get("profile") == "equal")
    assert equal_budget({"flops": 0.99e15}) and not equal_budget({"flops": 1.03e15})
    assert equal_budget({"flops": 1.03e15}, tol=0.05) and not equal_budget({}) and not equal_budget(None)
    assert set(training_budget_columns(None).values()) == {None}  # a classical baseline: not trained
    table = budget_frame({"PConv": pconv, "Telea": None})
    assert table.cell("PConv", ("training", "equal budget")) == "yes"
    assert table.cell("Telea", ("training", "equal budget")) == "no"
    header = table.to_markdown().splitlines()[0]  # "training PFLOP" once, "training steps"
    assert "| training PFLOP |" in header and "training training" not in header
    assert "| training steps |" in header


# ------------------------------------------------------------------ ablations and seeds
def test_ablation_deltas_are_ablation_minus_model_and_compared_with_the_seed_range():
    models = {"pconv": {"center": {"psnr_db": 24.0, "l1_%": 5.0}, "ff10-20": {"psnr_db": 30.0, "l1_%": 3.0}}}
    ablations = {"pconv_plain_conv": {"center": {"psnr_db": 23.5, "l1_%": 5.4},
                                      "ff10-20": {"psnr_db": 30.1, "l1_%": 2.9}}}
    pairs = {"pconv_plain_conv": ("pconv", "partial convolutions")}
    table = ablation_deltas(models, ablations, pairs, kinds=["center", "ff10-20"], psnr_spread={"center": 0.2})
    assert table.cell("pconv_plain_conv", ("", "component removed")) == "partial convolutions"
    assert table.cell("pconv_plain_conv", ("center", "Δ PSNR (dB)")) == pytest.approx(-0.5)  # the component helped
    assert table.cell("pconv_plain_conv", ("center", "Δ hole L1 (%)")) == pytest.approx(0.4)
    assert table.cell("pconv_plain_conv", ("ff10-20", "Δ PSNR (dB)")) == pytest.approx(0.1)
    assert table.cell("pconv_plain_conv", ("center", "Δ PSNR vs seed range")).startswith("beyond the seed range")
    assert table.cell("pconv_plain_conv", ("ff10-20", "Δ PSNR vs seed range")) == "no seed reruns"
    assert "<td>-0.50</td>" in table.to_html() and "<td>+0.40</td>" in table.to_html()
    wide = ablation_deltas(models, ablations, pairs, kinds=["center"], psnr_spread={"center": 0.8})
    assert wide.cell("pconv_plain_conv", ("center", "Δ PSNR vs seed range")).startswith("within the seed range")
    unspread = ablation_deltas(models, ablations, pairs, kinds=["center"])
    assert unspread.cell("pconv_plain_conv", ("center", "Δ PSNR vs seed range")) == "no seed reruns"
    with pytest.raises(ValueError, match="no results for model 'glcic'"):
        ablation_deltas(models, ablations, {"pconv_plain_conv": ("glcic", "x")}, kinds=["center"])


def test_seed_spread_is_the_range_across_seeds_per_kind():
    seeds = [{"center": {"psnr_db": 24.0}, "ff10-20": {"psnr_db": 30.0}, "ff20-30": None},
             {"center": {"psnr_db": 24.3}, "ff10-20": {"psnr_db": 29.9}, "ff20-30": None},
             {"center": {"psnr_db": 23.9}, "ff10-20": {"psnr_db": 30.05}, "ff20-30": None}]
    spread = seed_spread(seeds, "psnr_db")
    assert set(spread) == {"center", "ff10-20"}
    assert spread["center"] == pytest.approx(0.4) and spread["ff10-20"] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="at least two seeds"):
        seed_spread(seeds[:1])
    with pytest.raises(ValueError, match="no metric 'ssim'"):
        seed_spread(seeds, "ssim")


# ------------------------------------------------------------------ winners and sentences
ROWS = {"DeepFill v2": {"center": {"psnr_db": 24.1, "l1_%": 5.0}, "ff10-20": {"psnr_db": 30.57, "l1_%": 2.1}},
        "PConv": {"center": {"psnr_db": 24.3, "l1_%": 4.9}, "ff10-20": {"psnr_db": 30.38, "l1_%": 2.3}},
        "Context Encoder": {"center": {"psnr_db": 23.0, "l1_%": 6.0}, "ff10-20": None}}


def test_winners_by_bucket_take_each_metrics_direction_and_skip_unfillable_kinds():
    best = winners_by_bucket(ROWS, kinds=["center", "ff10-20"])
    assert best["center"] == ("PConv", 24.3, "DeepFill v2", pytest.approx(0.2))
    assert best["ff10-20"] == ("DeepFill v2", 30.57, "PConv", pytest.approx(0.19))
    assert winners_by_bucket(ROWS, kinds=["ff10-20"], metric="l1_%")["ff10-20"][:3] == ("DeepFill v2", 2.1, "PConv")
    alone = winners_by_bucket({"Context Encoder": ROWS["Context Encoder"]}, kinds=["center", "ff10-20"])
    assert alone == {"center": ("Context Encoder", 23.0, None, None), "ff10-20": None}
    reordered = dict(reversed(list(ROWS.items())))
    assert winners_by_bucket(reordered, kinds=["center"]) == winners_by_bucket(ROWS, kinds=["center"])
    with pytest.raises(ValueError, match="unknown metric 'fid'"):
        winners_by_bucket(ROWS, metric="fid")
    with pytest.raises(ValueError, match="non-empty"):
        winners_by_bucket({})
    with pytest.raises(ValueError, match="valid kinds: center"):
        winners_by_bucket(ROWS, kinds=["ff50-60"])


def test_sentences_carry_the_computed_numbers_and_directions():
    best = winners_by_bucket(ROWS, kinds=["center", "ff10-20"])
    assert sentence_winner("ff10-20", best["ff10-20"]) == \
        "On ff10-20, DeepFill v2 leads on PSNR with 30.57 dB, 0.19 dB ahead of PConv."
    l1 = winners_by_bucket(ROWS, kinds=["center"], metric="l1_%")["center"]
    assert sentence_winner("center", l1, "l1_%") == \
        "On center, PConv leads on hole L1 with 4.90 %, 0.10 percentage points below DeepFill v2."
    assert "tie" in sentence_winner("center", ("A", 24.301, "B", 0.001))
    assert "only method" in sentence_winner("center", ("A", 24.3, None, None))
    same_crops = {"psnr_db": [24.0, 25.0, 26.0, 27.0, 28.0, 23.0]}
    better = {"psnr_db": [v + 0.5 + 0.02 * i for i, v in enumerate(same_crops["psnr_db"])]}
    text = sentence_paired_difference("center", "A", better, "B", same_crops)
    assert text.startswith("On center, A's PSNR is 0.55 dB higher than B's")
    assert "A fills these crops better than B" in text
    noisy = {"psnr_db": [v + (0.5 if i % 2 else -0.5) for i, v in enumerate(same_crops["psnr_db"])]}
    assert "cannot tell the two apart" in sentence_paired_difference("center", "A", noisy, "B", same_crops)
    worse_l1 = sentence_paired_difference("center", "A", {"l1_%": [3.0, 4.0, 5.0]}, "B", {"l1_%": [2.0, 3.1, 3.9]},
                                          metric="l1_%")
    assert "higher than B's" in worse_l1 and "B fills these crops better than A" in worse_l1


# ------------------------------------------------------------------ the perception-distortion figure
def test_the_perception_distortion_plot_has_one_labelled_point_per_model_and_family():
    points = {"PConv": {"center": (24.3, 0.004, 0.001), "ff10-20": (30.4, 0.001, 0.0005),
                        "ff20-30": (27.0, 0.002, 0.001)},
              "Context Encoder": {"center": (23.0, 0.009, 0.002), "ff10-20": None, "ff20-30": None}}
    fig = perception_distortion_plot(points)
    try:
        ax = fig.axes[0]
        assert "PSNR (dB)" in ax.get_xlabel() and "KID × 10³" in ax.get_ylabel() and ax.get_title()
        assert len(ax.containers) == 3  # PConv: centre and free-form; the Context Encoder: centre only
        legends = [c for c in ax.get_children() if isinstance(c, matplotlib.legend.Legend)]
        names = [t.get_text() for legend in legends for t in legend.get_texts() if t.get_text() in points]
        assert sorted(names) == ["Context Encoder", "PConv"]  # each model once, by colour
        # the free-form point averages the measured free-form kinds, KID shown x 10^3
        xs_ys = sorted((float(c.lines[0].get_xdata()[0]), float(c.lines[0].get_ydata()[0])) for c in ax.containers)
        assert xs_ys[-1] == pytest.approx((28.7, 1.5))
        assert any("lower right" in t.get_text() for t in ax.texts)
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="unknown mask kind"):
        perception_distortion_plot({"A": {"centre": (1.0, 0.0, 0.0)}})


# ------------------------------------------------------------------ KID
def _paired_kid_by_loops(a, b):
    """The paired U-statistic, one pair of crops at a time."""
    k = lambda x, y: (float(x @ y) / len(x) + 1.0) ** 3
    n = len(a)
    terms = [k(a[i], a[j]) + k(b[i], b[j]) - k(a[i], b[j]) - k(a[j], b[i])
             for i, j in itertools.permutations(range(n), 2)]
    return sum(terms) / (n * (n - 1))


def test_paired_kid_matches_its_definition_and_its_leave_one_crop_out_error():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(6, 5, generator=g, dtype=torch.float64)
    fills = real + 0.3 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    kid = comparison.paired_kid(fills, real)
    assert kid.value == pytest.approx(_paired_kid_by_loops(fills, real), rel=1e-12)
    drops = [_paired_kid_by_loops(torch.cat([fills[:k], fills[k + 1:]]), torch.cat([real[:k], real[k + 1:]]))
             for k in range(6)]
    mean = sum(drops) / 6
    assert kid.standard_error == pytest.approx(math.sqrt(5 / 6 * sum((d - mean) ** 2 for d in drops)), rel=1e-10)
    assert (kid.m, kid.n) == (6, 6)
    with pytest.raises(ValueError, match="one fill and one real feature row per crop"):
        comparison.paired_kid(fills[:5], real)


def test_a_perfect_fill_has_paired_kid_zero_where_the_two_sample_estimate_is_negative():
    """Why the comparison pairs the crops: with fills equal to the real crops, the two-sample
    estimate counts each crop's similarity to itself and comes out below zero."""
    g = torch.Generator().manual_seed(1)
    real = torch.randn(20, 8, generator=g, dtype=torch.float64)
    perfect = comparison.paired_kid(real, real)
    assert perfect.value == pytest.approx(0.0, abs=1e-12) and perfect.standard_error == pytest.approx(0.0, abs=1e-12)
    # two-sample: 2/n x (mean similarity of two different crops - mean similarity of a crop to itself) < 0
    kernel = comparison.polynomial_kernel(real, real)
    off_diagonal = (kernel.sum() - kernel.diag().sum()) / (20 * 19)
    two_sample = kernel_inception_distance(real, real)
    assert two_sample.value == pytest.approx(float(2 / 20 * (off_diagonal - kernel.diag().mean())), rel=1e-9)
    assert two_sample.value < -two_sample.standard_error


def test_kid_of_fills_is_cached_and_none_for_an_unfillable_kind(cache_dir, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    model = TeleaInpainter()
    kid = kid_of_fills(model, "center", n=3)
    assert isinstance(kid, KID) and (kid.m, kid.n) == (3, 3)
    assert np.isfinite(kid.value) and kid.standard_error > 0
    assert len(list(cache_dir.glob("telea-center-*-lite0-*.json"))) == 1
    assert kid_of_fills(CentreOnlyProbe(), "ff10-20", n=3) is None
    monkeypatch.setattr(comparison, "lite0_features", _refuse_to_compute)
    monkeypatch.setattr(comparison, "inpaint", _refuse_to_compute)
    assert kid_of_fills(model, "center", n=3) == kid
    assert kid_of_fills(CentreOnlyProbe(), "ff10-20", n=3) is None


def test_the_real_crops_features_are_computed_once_for_every_model(monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    calls = []
    real_features = comparison.lite0_features
    monkeypatch.setattr(comparison, "lite0_features", lambda images: calls.append(len(images)) or real_features(images))
    comparison._real_features.cache_clear()
    first = kid_of_fills(TeleaInpainter(radius=3), "center", n=3)
    second = kid_of_fills(TeleaInpainter(radius=6), "center", n=3)
    assert calls == [3, 3, 3]  # the first fills, the real crops once, the second fills
    assert first != second


def test_kid_of_fills_is_zero_for_fills_equal_to_the_real_crops(monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    monkeypatch.setattr(comparison, "inpaint", lambda images, masks, model: images.clone())
    kid = kid_of_fills(TeleaInpainter(radius=4), "ff10-20", n=3)
    assert kid.value == pytest.approx(0.0, abs=1e-9) and kid.standard_error == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ components
def test_component_effect_is_signed_so_that_positive_means_the_component_helps():
    model = {"center": {"psnr_db": 25.0, "l1_%": 8.0}, "ff10-20": {"psnr_db": 30.0, "l1_%": 5.0},
             "ff20-30": {"psnr_db": 27.0, "l1_%": 6.0}}
    ablation = {"center": {"psnr_db": 26.0, "l1_%": 7.5}, "ff10-20": {"psnr_db": 29.5, "l1_%": 5.5},
                "ff20-30": None}
    effect = component_effect(model, ablation, kinds=["center", "ff10-20", "ff20-30"])
    assert effect["per_kind"] == {"center": -1.0, "ff10-20": 0.5} and effect["n"] == 2 and effect["helped"] == 1
    assert effect["mean"] == pytest.approx(-0.25)
    l1 = component_effect(model, ablation, kinds=["center", "ff10-20"], metric="l1_%")
    assert l1["per_kind"] == {"center": -0.5, "ff10-20": 0.5}  # lower L1 is better
    with pytest.raises(ValueError, match="neither row fills"):
        component_effect(model, ablation, kinds=["ff20-30"])


def test_sentence_component_follows_the_sign_the_spread_and_the_budget():
    helps = {"per_kind": {}, "mean": 0.34, "helped": 4, "n": 4}
    hurts = {"per_kind": {}, "mean": -0.2, "helped": 1, "n": 4}
    text = sentence_component("Gating", "DeepFill v2", helps, spread=0.1)
    assert text.startswith("Gating adds 0.34 dB of PSNR to DeepFill v2 on average over 4 buckets (better on 4 of 4; ")
    assert "more than the 0.10 dB range of two seeds of one recipe" in text
    assert "range of three seeds" in sentence_component("Gating", "DeepFill v2", helps, spread=0.1, n_seeds=3)
    with pytest.raises(ValueError, match="at least 2"):
        sentence_component("Gating", "DeepFill v2", helps, spread=0.1, n_seeds=1)
    text = sentence_component("Attention", "DeepFill v1", hurts, spread=0.5, equal=False)
    assert text.startswith("Attention costs DeepFill v1 0.20 dB of PSNR") and "no measured difference" in text
    assert "not yet an equal-compute result" in text
    assert "one seed each" in sentence_component("X", "Y", helps)
    one = {"per_kind": {"center": -2.26}, "mean": -2.26, "helped": 0, "n": 1}
    assert sentence_component("The adversarial loss", "Context Encoder", one).startswith(
        "The adversarial loss costs Context Encoder 2.26 dB of PSNR on center (one seed each, so no run-to-run")


# ------------------------------------------------------------------ headline, KID and cost tables
def test_headline_frame_has_every_bucket_the_free_form_mean_and_the_budget():
    rows = {"A": {k: {"psnr_db": 20.0 + i} for i, k in enumerate(TEST_MASK_KINDS)},
            "B": {k: (None if k != "center" else {"psnr_db": 25.0}) for k in TEST_MASK_KINDS}}
    minutes = {"core_minutes": 90.0, "precision": "fp32"}  # a checkpoint of the earlier budget
    table = comparison.headline_frame(rows, {"A": _meta("pconv"), "B": minutes})
    assert table.cell("A", ("PSNR (dB)", "free-form mean")) == pytest.approx(np.mean([21, 22, 23, 24]))
    assert table.cell("A", ("training", "budget")) == "1 PFLOP"
    assert table.cell("B", ("training", "budget")) == "90 core-min"
    assert table.cell("B", ("PSNR (dB)", "free-form mean")) is None and "–" in table.to_markdown()
    assert comparison.budget_label(None) == "classical"


def test_budget_note_names_the_checkpoints_with_another_budget_and_minutes_in_another_precision():
    pflop = {"flops": 1e15, "precision": "bf16"}
    bf16_min = {"core_minutes": 90.0, "precision": "bf16"}
    fp32_min = {"core_minutes": 90.0, "precision": "fp32"}
    note = comparison.budget_note({"A": pflop, "B": pflop, "Telea": None}, "A")
    assert note == "Every compared checkpoint trained with A's budget, 1 PFLOP."
    note = comparison.budget_note({"A": pflop, "B": bf16_min, "C": fp32_min, "D": pflop}, "A")
    assert note.startswith("The checkpoints of B and C trained with another budget "
                           "(90 core-min, bf16 or 90 core-min, fp32) than A's (1 PFLOP)")
    # equal minutes are equal compute only in the same arithmetic
    note = comparison.budget_note({"B": bf16_min, "C": fp32_min}, "B")
    assert note.startswith("The checkpoint of C trained") and "its rows" in note
    with pytest.raises(KeyError, match="not among the compared"):
        comparison.budget_note({"A": pflop, "Telea": None}, "Telea")


def test_only_checkpoints_that_counted_more_than_1_pflop_show_as_more_compute():
    from inpaintlib.training.profiles import EQUAL_BUDGET_FLOPS, GPU_BUDGET_FLOPS

    gpu_minute = {"core_minutes": 1.01, "train_seconds": 60.6, "device": "NVIDIA H100 80GB HBM3"}
    assert comparison.budget_label(gpu_minute) == "1 GPU-min"  # not "1 core-min"
    assert not comparison.more_compute(gpu_minute)  # counted no FLOPs
    assert not comparison.more_compute({"flops": 1.01 * EQUAL_BUDGET_FLOPS})  # the equal budget
    assert comparison.more_compute({"flops": GPU_BUDGET_FLOPS})
    assert comparison.budget_label({"flops": GPU_BUDGET_FLOPS}) == "16.00 PFLOP"


def test_kid_and_cost_frames_show_what_was_measured():
    kid = comparison.kid_frame({"A": {k: (25.0, 0.0123, 0.002) for k in TEST_MASK_KINDS} | {"ff40-50": None}})
    assert kid.cell("A", ("KID × 10³", "center")) == "12.3 ± 2.0" and kid.cell("A", ("KID × 10³", "ff40-50")) == "–"
    cost = ModelCost("a", parameters=2_500_000, gflop_128=None, cpu_ms={128: 3.0, 256: 11.0}, threads=2)
    table = comparison.cost_frame({"A": cost})
    assert table.cell("A", ("parameters", "millions")) == 2.5 and table.cell("A", ("GFLOP", "128 px")) is None
    assert table.cell("A", ("CPU ms per fill", "256 px")) == 11.0


def test_row_labels_tell_apart_checkpoints_that_share_a_display_name():
    from inpaintlib.registry import load_pretrained

    names = ["msnps_content", "context_encoder", "context_encoder_l2"]
    labels = [comparison.row_label(n, load_pretrained(n)) for n in names]
    assert labels == ["MSNPS content network", "Context Encoder", "context_encoder_l2"]
