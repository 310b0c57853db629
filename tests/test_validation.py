"""Choices made on the validation crops (inpaintlib.evaluation.validation)."""
import pytest

from inpaintlib.evaluation.baselines import BASELINES
from inpaintlib.evaluation.fixed_test_set import evaluate_on_validation
from inpaintlib.evaluation.validation import validation_preference


def test_validation_preference_picks_the_better_variant_on_validation_crops():
    models = {"telea": BASELINES["telea"](), "navier_stokes": BASELINES["navier_stokes"]()}
    best, rows = validation_preference(models, n=4)
    assert set(rows) == set(models) and rows["telea"] == evaluate_on_validation(models["telea"], n=4)
    mean = {k: sum(r[b]["psnr_db"] for b in r) / len(r) for k, r in rows.items()}
    assert best == max(mean, key=mean.get)
    best_l1 = validation_preference(models, n=4, metric="l1_%")[0]
    l1 = {k: sum(r[b]["l1_%"] for b in r) / len(r) for k, r in rows.items()}
    assert best_l1 == min(l1, key=l1.get)  # lower is better for L1
    with pytest.raises(ValueError, match="at least two"):
        validation_preference({"telea": models["telea"]})
