"""Tests of inpaintlib.data.masks: shapes, the 1 = hole convention, determinism, buckets, checks."""
import pytest
import torch

from inpaintlib.data import masks as M

RANDOM_GENERATORS = {
    "rectangles": lambda b, h, w, g: M.random_rectangles_mask(b, h, w, num=(1, 3), generator=g),
    "free_form": lambda b, h, w, g: M.free_form_mask(b, h, w, generator=g),
    "free_form_no_box": lambda b, h, w, g: M.free_form_mask(b, h, w, with_box=False, generator=g),
    "irregular": lambda b, h, w, g: M.irregular_mask(b, h, w, generator=g),
    "bucket": lambda b, h, w, g: M.free_form_mask_in_bucket(h, w, 0.2, 0.3, generator=g, batch=b),
}


def _assert_binary_mask(m, b, h, w):
    assert m.shape == (b, 1, h, w)
    assert m.dtype == torch.float32
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    M.check_mask(m)


@pytest.mark.parametrize("name", sorted(RANDOM_GENERATORS))
@pytest.mark.parametrize("size", [(128, 128), (96, 160)])
def test_random_generators_shape_dtype_binary(name, size):
    h, w = size
    m = RANDOM_GENERATORS[name](4, h, w, 0)
    _assert_binary_mask(m, 4, h, w)
    r = M.hole_ratio(m)
    # 1 = hole: every generator cuts a hole, but never the whole image.
    assert (r > 0).all() and (r < 0.9).all()


@pytest.mark.parametrize("name", sorted(RANDOM_GENERATORS))
def test_determinism(name):
    make = RANDOM_GENERATORS[name]
    a, b, c = make(3, 64, 64, 7), make(3, 64, 64, 7), make(3, 64, 64, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first, again = make(2, 64, 64, g1), make(2, 64, 64, g2)
    assert torch.equal(first, again)
    assert not torch.equal(make(2, 64, 64, g1), first)  # the generator advances


def test_global_seed_controls_none_generator():
    torch.manual_seed(3)
    a = M.free_form_mask(2, 64, 64)
    torch.manual_seed(3)
    assert torch.equal(a, M.free_form_mask(2, 64, 64))


def test_center_square_exact_placement():
    m = M.center_square_mask(2, 128, 128)
    _assert_binary_mask(m, 2, 128, 128)
    expected = torch.zeros(128, 128)
    expected[32:96, 32:96] = 1
    assert torch.equal(m[0, 0], expected) and torch.equal(m[1, 0], expected)
    assert M.hole_ratio(m).tolist() == [0.25, 0.25]
    m2 = M.center_square_mask(1, 100, 60, hole_size=(10, 20))
    assert m2.sum() == 200 and m2[0, 0, 45:55, 20:40].all()
    assert M.mask_bbox(m).tolist() == [[32, 32, 96, 96]] * 2


def test_rectangles_respect_sizes_and_margin():
    m = M.random_rectangles_mask(20, 64, 64, num=1, min_size=8, max_size=16, margin=4, generator=1)
    boxes = M.mask_bbox(m)
    hs, ws = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert ((hs >= 8) & (hs <= 16) & (ws >= 8) & (ws <= 16)).all()
    assert (boxes[:, :2] >= 4).all() and (boxes[:, 2:] <= 60).all()
    with pytest.raises(ValueError):
        M.random_rectangles_mask(1, 32, 32, min_size=40, max_size=50)


@pytest.mark.parametrize("low,high", [(0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5)])
def test_bucket_masks_lie_in_bucket(low, high):
    m = M.free_form_mask_in_bucket(128, 128, low, high, generator=0, batch=8)
    _assert_binary_mask(m, 8, 128, 128)
    r = M.hole_ratio(m)
    assert ((r >= low) & (r < high)).all()


def test_polarity_adapters_round_trip():
    m = M.free_form_mask(2, 32, 32, generator=0)
    v = M.hole_to_valid(m)
    assert torch.equal(v, 1 - m) and torch.equal(M.valid_to_hole(v), m)
    assert M.hole_ratio(v).add(M.hole_ratio(m)).allclose(torch.ones(2))


def test_check_mask_errors():
    good = M.center_square_mask(1, 16, 16)
    assert M.check_mask(good) is good
    with pytest.raises(ValueError, match="binary"):
        M.check_mask(good * 255)  # 0..255 mask
    with pytest.raises(ValueError, match="255"):
        M.check_mask(good * 255)
    with pytest.raises(ValueError, match=r"binary \{0,1\} with 1 = hole"):
        M.check_mask(good * 0.5)  # soft values
    with pytest.raises(ValueError, match="shape"):
        M.check_mask(good[0])  # (1,H,W)
    with pytest.raises(ValueError, match="shape"):
        M.check_mask(good.repeat(1, 3, 1, 1))  # 3 channels
    with pytest.raises(ValueError, match="dtype"):
        M.check_mask(good.to(torch.uint8))
    with pytest.raises(ValueError, match="dtype"):
        M.check_mask(good.bool())
    with pytest.raises(ValueError, match="torch.Tensor"):
        M.check_mask(good.numpy())
    with pytest.raises(ValueError, match="size"):
        M.check_mask(good, image=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="no hole"):
        M.check_mask(torch.zeros(1, 1, 8, 8), allow_empty=False)
    with pytest.raises(ValueError, match="all hole"):
        M.check_mask(torch.ones(1, 1, 8, 8), allow_full=False)
    M.check_mask(torch.zeros(1, 1, 8, 8))  # allowed by default


def test_mask_bbox_empty_and_irregular():
    m = torch.zeros(2, 1, 10, 10)
    m[1, 0, 2, 3] = 1
    m[1, 0, 5, 7] = 1
    assert M.mask_bbox(m).tolist() == [[0, 0, 0, 0], [2, 3, 6, 8]]
