"""The architecture helper reads a network's layer list and data flow from the network itself."""
import matplotlib
import pytest
import torch
from torch import nn

from inpaintlib.evaluation.architecture import architecture_figure, describe, layer_table, trace_layers
from inpaintlib.nn.discriminators import GlobalPatchDiscriminator
from inpaintlib.nn.layers import conv_block

matplotlib.use("Agg")


class TinyUNet(nn.Module):
    """Two levels down, two up, one skip made with torch.cat in forward (no module sees it)."""

    def __init__(self):
        super().__init__()
        self.down1 = conv_block(3, 8, 4, 2, activation="relu")
        self.down2 = conv_block(8, 16, 4, 2, activation="relu")
        self.up2 = conv_block(16, 8, 4, 2, transposed=True, activation="relu")
        self.up1 = conv_block(16, 3, 4, 2, transposed=True, norm=None, activation="sigmoid")

    def forward(self, x):
        d1 = self.down1(x)
        return self.up1(torch.cat([self.up2(self.down2(d1)), d1], dim=1))


def test_units_are_conv_blocks_in_execution_order_with_their_output_shapes():
    units = trace_layers(TinyUNet(), torch.rand(2, 3, 32, 32))
    assert [u.name for u in units] == ["down1", "down2", "up2", "up1"]
    assert [u.shape for u in units] == [(8, 16, 16), (16, 8, 8), (8, 16, 16), (3, 32, 32)]
    assert units[0].kind == "conv 4x4 /2 + BN + ReLU"
    assert units[3].kind == "deconv 4x4 x2 + sigmoid"
    assert units[0].params == 3 * 8 * 16 + 2 * 8  # conv without bias, BN scale and shift


def test_a_skip_made_by_torch_cat_is_found_as_an_edge():
    units = trace_layers(TinyUNet(), torch.rand(1, 3, 32, 32))
    assert units[0].sources == [-1]
    assert units[3].sources == [0, 2]  # the decoder's last block reads up2 and, by the skip, down1


def test_two_heads_of_one_trunk_both_read_the_trunk():
    units = trace_layers(GlobalPatchDiscriminator(image_size=64), torch.rand(1, 3, 64, 64))
    first_patch = next(i for i, u in enumerate(units) if u.group == "patch_head")
    first_global = next(i for i, u in enumerate(units) if u.group == "global_head")
    last_shared = max(i for i, u in enumerate(units) if u.group == "shared")
    assert units[first_patch].sources == [last_shared] and units[first_global].sources == [last_shared]


class _Ignores(nn.Module):
    """Takes the mask and hands it on untouched, like DeepFill v2's gated layers."""

    def forward(self, x, mask):
        return 2 * x, mask


class _MaskChain(nn.Module):
    def __init__(self):
        super().__init__()
        self.first, self.second = nn.Conv2d(3, 3, 1), _Ignores()

    def forward(self, x, mask):
        return self.second(self.first(x), mask)[0]


def test_an_argument_a_unit_ignores_draws_no_edge():
    units = trace_layers(_MaskChain(), torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8))
    assert [u.sources for u in units] == [[-1], [0]]  # the mask goes in, but 2x comes from `first` only


def test_a_gated_convolution_is_one_box_with_its_real_outputs():
    from inpaintlib.nn.gated_conv import GatedConv2d, MaskedSequential, MaskedUpsample

    net = MaskedSequential(GatedConv2d(4, 8, 3, stride=2, dilation=2), MaskedUpsample(), GatedConv2d(8, 3, 3))
    units = trace_layers(net, torch.rand(1, 4, 16, 16), torch.zeros(1, 1, 16, 16))
    assert [(u.kind, u.shape) for u in units] == [("gated conv 3x3 /2 d2 + ELU", (8, 8, 8)),
                                                  ("up x2 (nearest)", (8, 16, 16)),
                                                  ("gated conv 3x3 + ELU", (3, 16, 16))]
    assert [u.sources for u in units] == [[-1], [0], [1]]  # the hole travels along, unused


def test_describe_names_stride_and_dilation():
    assert describe(nn.Conv2d(4, 4, 3, stride=1, padding=4, dilation=4)) == "conv 3x3 d4"
    assert describe(conv_block(4, 4, 3, 2, norm=None, activation="lrelu")) == "conv 3x3 /2 + LReLU"


def test_table_and_figure_cover_every_unit():
    units = trace_layers(TinyUNet(), torch.rand(1, 3, 32, 32))
    table = layer_table(units)
    assert table.count("\n") == len(units) + 2  # header, rule, one row per unit, total
    assert f"**{sum(p.numel() for p in TinyUNet().parameters()):,}**" in table
    fig = architecture_figure({"u-net": units, "again": units})
    assert len(fig.axes) == 2
    matplotlib.pyplot.close(fig)


def test_trace_without_inputs_is_a_clear_error():
    with pytest.raises(ValueError, match="inputs of one forward pass"):
        trace_layers(TinyUNet())
