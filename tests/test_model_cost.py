"""The comparison's cost columns: parameters, counted FLOPs of one fill, CPU time per image."""
import pytest
import torch
from torch import nn

from inpaintlib.evaluation.baselines import TeleaInpainter
from inpaintlib.evaluation.model_cost import centre_hole, cpu_ms_per_image, inference_flops, model_cost
from inpaintlib.models.base import InpaintingModel


class _OneConv(InpaintingModel):
    """A 3x3 convolution, 3 -> 3 channels: 2 * 3 * 3 * 9 FLOPs per output pixel."""

    name = display_name = "one conv"

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, masked_image, mask):
        return torch.sigmoid(self.conv(masked_image))


def test_the_flops_of_one_fill_are_the_convolution_by_hand():
    assert inference_flops(_OneConv(), 128) == 2 * 3 * 3 * 9 * 128 * 128
    assert inference_flops(TeleaInpainter(), 128) is None  # classical code: nothing counted


def test_a_cost_row_holds_parameters_flops_and_times_at_each_size():
    cost = model_cost(_OneConv(), sizes=(96, 128), repeats=2)
    assert cost.parameters == 3 * 3 * 9 + 3 and cost.name == "one conv"
    assert cost.gflop_128 == pytest.approx(2 * 3 * 3 * 9 * 128 * 128 / 1e9)
    assert set(cost.cpu_ms) == {96, 128} and all(ms > 0 for ms in cost.cpu_ms.values())
    assert cost.threads == torch.get_num_threads()
    telea = model_cost(TeleaInpainter(), sizes=(96,), repeats=1)
    assert telea.parameters == 0 and telea.gflop_128 is None and telea.cpu_ms[96] > 0
    with pytest.raises(ValueError, match="repeats"):
        cpu_ms_per_image(_OneConv(), 96, repeats=0)


def test_the_probe_is_a_test_crop_with_a_centred_64_px_square_at_every_size():
    image, mask = centre_hole(128)
    assert image.shape == (1, 3, 128, 128) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert float(mask.sum()) == 64 * 64 and mask[0, 0, 32:96, 32:96].all()
    assert float(centre_hole(256)[1].sum()) == 64 * 64 and centre_hole(256)[1][0, 0, 96:160, 96:160].all()
    with pytest.raises(ValueError, match="at least 96 px"):
        centre_hole(64)
