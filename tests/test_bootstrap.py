"""Bootstrap intervals: exact where the answer is known, calibrated where it is not."""
import numpy as np
import pytest

from inpaintlib.evaluation.bootstrap import bootstrap_interval, paired_bootstrap_interval


def test_a_constant_has_a_zero_width_interval_and_bad_input_is_refused():
    assert bootstrap_interval([3.0] * 10) == (3.0, 3.0)
    with pytest.raises(ValueError, match="at least 2 finite"):
        bootstrap_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0, 2.0], level=95)
    with pytest.raises(ValueError, match="one value per crop"):
        paired_bootstrap_interval([1.0, 2.0], [1.0])


def test_the_95_percent_interval_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        x = rng.normal(25.0, 3.0, size=100)
        low, high = bootstrap_interval(x, n_resamples=1000, seed=trial)
        covered += low <= 25.0 <= high
        assert high - low == pytest.approx(2 * 1.96 * x.std() / 10, rel=0.2)  # about +-1.96 s / sqrt(n)
    assert 0.88 <= covered / 200 <= 0.99


def test_pairing_removes_the_shared_difficulty_of_the_crops():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(25.0, 4.0, size=100)  # per crop, shared by both models
    a, b = difficulty + 0.3 + rng.normal(0, 0.2, 100), difficulty + rng.normal(0, 0.2, 100)
    low, high = paired_bootstrap_interval(a, b)
    assert 0.0 < low < 0.3 < high  # the 0.3 dB gain is resolved ...
    separate = bootstrap_interval(a)
    assert separate[0] < b.mean() < separate[1]  # ... where the two separate intervals overlap
    assert bootstrap_interval(a, seed=5) == bootstrap_interval(a, seed=5)
