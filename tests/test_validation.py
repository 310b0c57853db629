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


def test_a_centre_only_model_is_chosen_on_the_centre_square_it_can_fill():
    import copy

    import torch

    from inpaintlib.registry import load_pretrained

    shipped = load_pretrained("context_encoder")  # fills only its 64x64 centre square
    noisy = copy.deepcopy(shipped)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    best, rows = validation_preference({"noisy": noisy, "shipped": shipped}, n=4)
    assert all(rows[k]["ff10-20"] is None and rows[k]["center"] is not None for k in rows)
    centre = {k: r["center"]["psnr_db"] for k, r in rows.items()}
    assert best == max(centre, key=centre.get) and centre["noisy"] != centre["shipped"]
    with pytest.raises(ValueError, match="fills holes up to"):
        evaluate_on_validation(shipped, n=4)  # the all-kinds function still refuses
