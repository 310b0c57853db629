"""KID: the unbiased estimate and its jackknife standard error against loops written from the
definitions, its behaviour on equal and different distributions, and the feature network's input checks."""
import itertools
import math

import pytest
import torch

from inpaintlib.data.photos import load_test_set
from inpaintlib.evaluation.kid import kernel_inception_distance, lite0_features, polynomial_kernel


def _kid_by_loops(a, b):
    """The definition, one kernel evaluation at a time."""
    k = lambda x, y: (float(x @ y) / len(x) + 1.0) ** 3  # noqa: E731
    m, n = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    bb = sum(k(b[i], b[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return aa + bb - 2 * ab


def test_kid_of_a_small_example_matches_the_definition_and_its_leave_one_out_error():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    b = torch.tensor([[0.5, 0.5], [3.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    assert float(polynomial_kernel(a[:1], b[:1])) == pytest.approx((0.5 / 2 + 1) ** 3)
    kid = kernel_inception_distance(a, b)
    assert kid.value == pytest.approx(_kid_by_loops(a, b), rel=1e-12)
    drop_a = [_kid_by_loops(torch.cat([a[:k], a[k + 1:]]), b) for k in range(4)]
    drop_b = [_kid_by_loops(a, torch.cat([b[:k], b[k + 1:]])) for k in range(3)]
    var = sum(3 / 4 * (t - sum(drop_a) / 4) ** 2 for t in drop_a)
    var += sum(2 / 3 * (t - sum(drop_b) / 3) ** 2 for t in drop_b)
    assert kid.standard_error == pytest.approx(math.sqrt(var), rel=1e-10)
    assert (kid.m, kid.n) == (4, 3) and "x 1e-3" in str(kid)


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    g = torch.Generator().manual_seed(0)
    same = kernel_inception_distance(torch.randn(200, 16, generator=g), torch.randn(200, 16, generator=g))
    shifted = kernel_inception_distance(torch.randn(200, 16, generator=g), 0.5 + torch.randn(200, 16, generator=g))
    assert abs(same.value) < 3 * same.standard_error
    assert shifted.value > 5 * shifted.standard_error and shifted.value > 20 * abs(same.value)


def test_the_jackknife_error_matches_the_spread_over_repeated_draws():
    g = torch.Generator().manual_seed(1)
    draws = [kernel_inception_distance(torch.randn(40, 8, generator=g), 0.3 + torch.randn(40, 8, generator=g))
             for _ in range(60)]
    values = torch.tensor([d.value for d in draws])
    mean_se = sum(d.standard_error for d in draws) / len(draws)
    assert 0.7 < mean_se / float(values.std()) < 1.5  # the error bar says how far a repeat would move


def test_kid_refuses_what_it_cannot_estimate():
    with pytest.raises(ValueError, match="at least 3 samples"):
        kernel_inception_distance(torch.zeros(2, 4), torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"\(m, d\) and \(n, d\)"):
        kernel_inception_distance(torch.zeros(5, 4), torch.zeros(5, 3))


def test_lite0_features_of_photos_are_deterministic_and_closer_for_a_slight_change():
    photos = load_test_set(n=3)  # (3, 3, 128, 128) in [0, 1]
    f = lite0_features(photos)
    assert f.shape == (3, 1280) and f.dtype == torch.float64
    assert torch.equal(f, lite0_features(photos))
    nudged = lite0_features((photos + 0.01).clamp(0, 1))
    # a 1 % brightness change moves a photo's features far less than swapping the photo
    assert (nudged - f).norm(dim=1).max() < 0.2 * (f[0] - f[1]).norm()
    with pytest.raises(ValueError, match=r"RGB images \(N, 3, H, W\)"):
        lite0_features(photos[:, :1])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        lite0_features(photos * 255)
