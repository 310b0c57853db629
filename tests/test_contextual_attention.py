"""Chapter 6 (DeepFill v1): contextual attention, its propagation, and what it attends to."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from inpaintlib.nn.contextual_attention import (ContextualAttention, attention_offsets, attention_propagation,
                                             contextual_attention)


def test_propagation_worked_example():
    # one row of similarities along the diagonal: 1,1,1,1,0,0,0,0,1,1,1,1; with k = 1 every
    # value becomes the sum of itself and its two diagonal neighbours
    row = torch.tensor([1.0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
    n = len(row)
    s = torch.zeros(1, 1, n, 1, n)
    s[0, 0, torch.arange(n), 0, torch.arange(n)] = row  # s(y, x=y) on the diagonal
    out = attention_propagation(s, k=1)[0, 0, torch.arange(n), 0, torch.arange(n)]
    assert out[1:-1].tolist() == [3, 3, 2, 1, 0, 0, 1, 2, 3, 3]  # the ten inner positions
    assert out[[0, -1]].tolist() == [2, 2]  # the ends have one neighbour only
    # along the height too, and k = 0 changes nothing
    t = s.permute(0, 2, 1, 4, 3)
    out_h = attention_propagation(t, k=1)[0, torch.arange(n), 0, torch.arange(n), 0]
    assert torch.equal(out_h, out)
    assert torch.equal(attention_propagation(s, k=0), s)


def test_propagation_matches_its_definition_and_stays_in_the_row():
    # the definition, with loops: along the width, then along the height; positions outside
    # the map count 0 (the reference's flattened version would wrap from one row to the next)
    torch.manual_seed(0)
    s = torch.randn(1, 3, 4, 3, 4)
    _, hf, wf, hb, wb = s.shape
    width = torch.zeros_like(s)
    for i, j, p, q in itertools.product(range(hf), range(wf), range(hb), range(wb)):
        for d in (-1, 0, 1):
            if 0 <= j + d < wf and 0 <= q + d < wb:
                width[0, i, j, p, q] += s[0, i, j + d, p, q + d]
    both = torch.zeros_like(s)
    for i, j, p, q in itertools.product(range(hf), range(wf), range(hb), range(wb)):
        for d in (-1, 0, 1):
            if 0 <= i + d < hf and 0 <= p + d < hb:
                both[0, i, j, p, q] += width[0, i + d, j, p + d, q]
    assert torch.allclose(attention_propagation(s, k=1), both, atol=1e-6)


def _repeated_background(c=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    tile = torch.randn(c, 1, 1, generator=g)
    x = tile.expand(1, c, size, size).clone()  # one feature vector everywhere: one patch repeated
    mask = torch.zeros(1, 1, size, size)
    mask[..., 12:20, 12:20] = 1
    x = x * (1 - mask) + torch.randn(1, c, size, size, generator=g) * mask  # noise in the hole
    return x, mask, tile


def test_repeated_patch_is_reconstructed_in_the_hole():
    x, mask, tile = _repeated_background()
    out, attention = contextual_attention(x, x, mask)
    inner = out[..., 2:-2, 2:-2]  # away from the border, 4 pasted blocks cover every pixel
    assert torch.allclose(inner, tile.expand_as(inner), atol=1e-5)
    sums = attention.flatten(3).sum(3)
    assert torch.allclose(sums, torch.ones_like(sums))  # a softmax over the usable patches


def test_masked_patches_get_zero_attention():
    x, mask, _ = _repeated_background()
    _, attention = contextual_attention(x, x, mask)  # (1, 16, 16, 16, 16) at rate 2
    ms = F.max_pool2d(mask, 2)  # (1, 1, 16, 16): cells with a hole pixel
    touched = F.max_pool2d(F.pad(ms, (1, 1, 1, 1), value=1.0), 3, 1)[0, 0] > 0  # or the border
    assert touched.any() and (~touched).any()
    assert float(attention[0][..., touched].abs().max()) == 0.0
    assert float(attention[0][..., ~touched].sum()) > 0


def test_attends_to_the_matching_patch_and_offsets_point_there():
    torch.manual_seed(0)
    x = torch.randn(1, 8, 16, 16) * 0.1
    key = torch.randn(8, 1, 1)
    x[..., 0:6, 10:16] = key  # a distinctive 6x6 block in the known region
    x[..., 6:10, 6:10] = key  # the hole's own (unknown) content looks the same
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 6:10, 6:10] = 1
    _, attention = contextual_attention(x, x, mask)
    centre = attention[0, 4, 4].flatten()  # the hole position (8, 8) at half resolution
    best = int(centre.argmax())
    assert (best // 8, best % 8) in {(r, c) for r in range(0, 3) for c in range(5, 8)}
    off = attention_offsets(attention)
    assert off.shape == (1, 2, 8, 8)
    assert int(off[0, 0, 4, 4]) == best // 8 - 4 and int(off[0, 1, 4, 4]) == best % 8 - 4


def test_layer_shapes_gradients_and_errors():
    layer = ContextualAttention()
    x = torch.randn(2, 6, 16, 16, requires_grad=True)
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 16:48, 16:48] = 1
    mask[1, :, 0:20, :] = 1
    out = layer(x, mask)
    assert out.shape == x.shape and layer.last.shape == (2, 8, 8, 8, 8)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="divisible by rate"):
        contextual_attention(torch.randn(1, 2, 15, 15), torch.randn(1, 2, 15, 15), torch.zeros(1, 1, 15, 15))
    with pytest.raises(ValueError, match="mask must have shape"):
        contextual_attention(torch.randn(1, 2, 16, 16), torch.randn(1, 2, 16, 16), torch.zeros(1, 16, 16))


def test_an_image_with_no_usable_patch_attends_to_nothing():
    x = torch.randn(1, 3, 8, 8)
    out, attention = contextual_attention(x, x, torch.ones(1, 1, 8, 8))
    assert float(attention.abs().sum()) == 0.0 and float(out.abs().sum()) == 0.0
