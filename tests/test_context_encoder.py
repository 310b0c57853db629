"""Chapter 1: the channel-wise fully connected layer and the Context Encoder."""
import pytest
import torch

from inpaintlib.models.context_encoder import (
    CenterDiscriminator,
    ChannelWiseFC,
    ContextEncoder,
    FullyConnectedBottleneck,
)


def test_channel_wise_fc_parameter_count_matches_the_paper():
    # The survey's numbers for a 512x4x4 bottleneck: (CHW)^2 = 67.1M vs C(HW)^2.
    cw = ChannelWiseFC(512, 4, 4, bias=False)
    fc = FullyConnectedBottleneck(512, 4, 4)
    assert sum(p.numel() for p in cw.parameters()) == 512 * 16 * 16 == 131_072
    assert fc.fc.weight.numel() == (512 * 4 * 4) ** 2 == 67_108_864


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
    m = torch.zeros(2, 1, 128, 128)
    m[..., 32:96, 32:96] = 1
    out = model(x * (1 - m), m)
    assert out.shape == (2, 3, 128, 128)
    outside = torch.ones_like(m, dtype=torch.bool)
    outside[..., 32:96, 32:96] = False
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
    m = torch.zeros(4, 1, 128, 128)
    m[..., 32:96, 32:96] = 1
    losses = []
    for _ in range(12):
        loss = (model(x * (1 - m), m, center_only=True) - x[..., 32:96, 32:96]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
