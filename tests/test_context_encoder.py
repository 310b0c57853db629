"""Chapter 1: the channel-wise fully connected layer and the Context Encoder."""
import math

import pytest
import torch

from inpaintlib.data.masks import center_square_mask
from inpaintlib.models.context_encoder import (
    CenterDiscriminator,
    ChannelWiseFC,
    ContextEncoder,
    ContextEncoderRecipe,
    FullyConnectedBottleneck,
)

from training_helpers import assert_shipped_budget


def test_channel_wise_fc_parameter_count_matches_the_paper():
    # The survey's numbers for a 512x4x4 bottleneck: (CHW)^2 = 67.1M vs C(HW)^2.
    cw = ChannelWiseFC(512, 4, 4, bias=False)
    fc = FullyConnectedBottleneck(512, 4, 4)
    assert sum(p.numel() for p in cw.parameters()) == 512 * 16 * 16 == 131_072
    assert fc.fc.weight.numel() == (512 * 4 * 4) ** 2 == 67_108_864


def test_the_shipped_width_halves_every_channel_count():
    # The book ships width 0.5: a 256-channel 4x4 bottleneck instead of the paper's 512.
    model = ContextEncoder(width=ContextEncoderRecipe.width)
    assert ContextEncoderRecipe.width == 0.5
    assert model.bottleneck[0].channels == 256
    assert [b[0].out_channels for b in model.encoder] == [32, 32, 64, 128, 256]
    assert [b[0].out_channels for b in model.decoder] == [128, 64, 32, 3]
    n_params = sum(p.numel() for p in model.parameters())
    n_paper = sum(p.numel() for p in ContextEncoder().parameters())
    assert 1.4e6 < n_params < 1.6e6 and 5.9e6 < n_paper < 6.1e6  # the docstring's 1.5 M, 6.0 M


def test_the_shipped_checkpoint_has_the_recipe_width_and_the_cpu_budget():
    from inpaintlib.training.checkpoint import read_checkpoint
    from inpaintlib.registry import checkpoint_path

    path = checkpoint_path("context_encoder")
    assert path.is_file(), f"no shipped checkpoint at {path}: the registry lists context_encoder"
    ckpt = read_checkpoint(path)
    assert ckpt["config"]["width"] == ContextEncoderRecipe.width
    assert_shipped_budget(ckpt["meta"])  # 1 PFLOP, or the 90 core-minutes shipped before it
    assert path.stat().st_size < 4 * 2**20


def test_channel_wise_fc_is_one_linear_map_per_channel():
    torch.manual_seed(0)
    layer = ChannelWiseFC(3, 2, 2)
    x = torch.randn(5, 3, 2, 2)
    y = layer(x)
    for c in range(3):
        expected = torch.nn.functional.linear(x[:, c].reshape(5, 4), layer.weight[c], layer.bias[c])
        assert torch.allclose(y[:, c].reshape(5, 4), expected, atol=1e-6)
    # channels do not mix: changing channel 0 leaves channels 1 and 2 alone
    x2 = x.clone()
    x2[:, 0] += 1
    y2 = layer(x2)
    assert torch.equal(y2[:, 1:], y[:, 1:]) and not torch.allclose(y2[:, 0], y[:, 0])
    # but every output position of a channel sees every input position (global context)
    x3 = x.clone()
    x3[:, 1, 0, 0] += 1
    assert (layer(x3)[:, 1] != y[:, 1]).all()


def test_channel_wise_fc_rejects_wrong_shape():
    with pytest.raises(ValueError, match="expects features of shape"):
        ChannelWiseFC(8, 4, 4)(torch.zeros(1, 8, 2, 2))


def test_context_encoder_paints_only_the_centre():
    torch.manual_seed(0)
    model = ContextEncoder().eval()
    x = torch.rand(2, 3, 128, 128)
    m = center_square_mask(2, 128, 128)
    out = model(x * (1 - m), m)
    assert out.shape == (2, 3, 128, 128)
    outside = m == 0
    assert torch.equal(out.masked_select(outside.expand_as(out)), (x * (1 - m)).masked_select(outside.expand_as(out)))
    assert model(x * (1 - m), m, center_only=True).shape == (2, 3, 64, 64)
    assert 0 <= out.min() and out.max() <= 1


def test_context_encoder_refuses_holes_outside_the_centre():
    model = ContextEncoder().eval()
    m = torch.zeros(1, 1, 128, 128)
    m[..., 0:10, 0:10] = 1
    with pytest.raises(ValueError, match="central 64x64"):
        model(torch.rand(1, 3, 128, 128), m)


def test_discriminator_sees_the_centre_region_only():
    d = CenterDiscriminator(64)
    assert d(torch.rand(3, 3, 64, 64)).shape == (3, 1)


def test_training_lowers_the_reconstruction_loss():
    torch.manual_seed(0)
    model = ContextEncoder()
    opt = torch.optim.Adam(model.parameters(), 2e-3, betas=(0.5, 0.999))
    x = torch.rand(4, 3, 128, 128)
    m = center_square_mask(4, 128, 128)
    c = model.center
    losses = []
    for _ in range(12):
        loss = (model(x * (1 - m), m, center_only=True) - x[..., c, c]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


# ---------------------------------------------------------------- Chapter 1's metric and
# transposed-convolution facts (inpaintlib.evaluation.metrics.hole_psnr, inpaintlib.nn.upsampling)


def test_hole_psnr_is_the_psnr_of_the_hole_mse():
    from inpaintlib.evaluation.metrics import hole_l2, hole_psnr

    target = torch.zeros(1, 3, 4, 4)
    output = target.clone()
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1  # a 2x2 hole, a quarter of the image
    output[..., :2, :2] = 0.1  # error 0.1 on every hole pixel: hole MSE 0.01 -> 20 dB
    assert torch.allclose(hole_l2(output, target, mask), torch.tensor([0.01]))
    assert torch.allclose(hole_psnr(output, target, mask), torch.tensor([20.0]))


def test_whole_image_psnr_is_hole_psnr_plus_ten_log10_of_the_inverse_hole_fraction():
    from inpaintlib.evaluation.compositing import composite
    from inpaintlib.data.masks import center_square_mask
    from inpaintlib.evaluation.metrics import hole_psnr, psnr

    torch.manual_seed(0)
    target = torch.rand(3, 3, 16, 16, dtype=torch.float64)
    mask = center_square_mask(3, 16, 16).double()  # 8x8 of 16x16: a quarter
    output = composite(torch.rand_like(target), target, mask)
    gap = psnr(output, target) - hole_psnr(output, target, mask)
    assert torch.allclose(gap, torch.full((3,), 10 * math.log10(4), dtype=torch.float64),
                          atol=1e-9)


def test_hole_psnr_rejects_an_empty_mask():
    from inpaintlib.evaluation.metrics import hole_psnr

    with pytest.raises(ValueError, match="needs a hole"):
        hole_psnr(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), torch.zeros(1, 1, 4, 4))


def test_4x4_stride_2_transposed_conv_gives_every_interior_pixel_four_contributions():
    from inpaintlib.nn.upsampling import contribution_counts

    counts = contribution_counts(kernel_size=4, stride=2, padding=1, input_size=6)
    assert counts.shape == (12, 12)
    assert (counts[1:-1, 1:-1] == 4).all()  # even overlap: no count pattern at all
    assert counts[0, 0] == 1 and counts[0, 5] == 2  # only the border receives fewer
    # a 3x3 kernel with stride 2 does overlap unevenly: 1, 2 and 4 contributions alternate
    uneven = contribution_counts(kernel_size=3, stride=2, padding=1, input_size=6)
    assert set(uneven[1:-1, 1:-1].unique().tolist()) == {1.0, 2.0, 4.0}


def test_phase_taps_of_the_dcgan_block():
    from inpaintlib.nn.upsampling import phase_taps

    assert phase_taps(4, 2, 1, 0) == [1, 3]
    assert phase_taps(4, 2, 1, 1) == [0, 2]
    assert phase_taps(4, 2, 0, 0) == [0, 2]
    with pytest.raises(ValueError, match="phase must lie"):
        phase_taps(4, 2, 1, 2)


def test_phase_subkernels_of_an_exact_small_kernel():
    from inpaintlib.nn.upsampling import phase_subkernels

    weight = torch.arange(16.0).view(1, 1, 4, 4)  # w[k_row, k_col] = 4 k_row + k_col
    subs = phase_subkernels(weight, stride=2, padding=1)
    assert torch.equal(subs[(0, 0)][0, 0], torch.tensor([[5.0, 7.0], [13.0, 15.0]]))
    assert torch.equal(subs[(0, 1)][0, 0], torch.tensor([[4.0, 6.0], [12.0, 14.0]]))
    assert torch.equal(subs[(1, 0)][0, 0], torch.tensor([[1.0, 3.0], [9.0, 11.0]]))
    assert torch.equal(subs[(1, 1)][0, 0], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))
    # the four sub-kernels partition the taps
    assert sum(float(s.sum()) for s in subs.values()) == float(weight.sum())


@pytest.mark.parametrize("kernel,stride,padding", [(4, 2, 1), (4, 2, 0), (6, 3, 1)])
def test_constant_input_response_predicts_the_interior_output(kernel, stride, padding):
    from inpaintlib.nn.upsampling import constant_input_response

    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(5, 3, kernel, stride, padding)
    value = torch.randn(5)
    with torch.no_grad():
        out = layer(value.view(1, 5, 1, 1).expand(1, 5, 8, 8))[0]
    predicted = constant_input_response(layer, value)
    for r in range(stride):
        for c in range(stride):
            rows = [o for o in range(kernel, out.shape[-2] - kernel) if o % stride == r]
            cols = [o for o in range(kernel, out.shape[-1] - kernel) if o % stride == c]
            block = out[:, rows][:, :, cols]
            assert torch.allclose(block, predicted[:, r, c, None, None].expand_as(block),
                                  atol=1e-5)


def test_phase_means_and_checkerboard_amplitude_of_a_pure_checkerboard():
    from inpaintlib.nn.upsampling import checkerboard_amplitude, phase_means

    board = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(4, 4).expand(2, 3, 8, 8)
    assert torch.equal(phase_means(board)[0, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert torch.equal(checkerboard_amplitude(board), torch.ones(2, 3))
    assert torch.equal(checkerboard_amplitude(torch.full((1, 3, 8, 8), 0.3)), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="multiples of 2"):
        phase_means(torch.zeros(1, 3, 7, 8))
