"""The ELU computed from exp (inpaintlib.nn.activations): the same function and gradient as F.elu."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintlib.nn.activations import ELU, elu


def test_worked_example_matches_the_definition():
    x = torch.tensor([-4.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 4.0])
    expected = torch.tensor([torch.e ** -4 - 1, torch.e ** -1 - 1, -9.995e-4, 0.0, 1e-3, 1.0, 4.0])
    assert torch.allclose(elu(x), expected, atol=1e-6)


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-6), (torch.bfloat16, 4e-3)])
def test_forward_and_gradient_match_torch(dtype, atol):
    torch.manual_seed(0)
    x = (3 * torch.randn(4, 8, 16, 16)).to(dtype).contiguous(memory_format=torch.channels_last)
    ours, ref = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    grad = torch.randn(x.shape).to(dtype)
    elu(ours).backward(grad)
    F.elu(ref).backward(grad)
    assert elu(x).dtype == dtype
    assert torch.allclose(elu(x).float(), F.elu(x).float(), atol=atol, rtol=0)
    # the gradient is grad * (1 or e^x): one rounding of the factor in bfloat16
    assert torch.allclose(ours.grad.float(), ref.grad.float(), atol=atol * 8, rtol=0)


def test_large_outputs_keep_their_bfloat16_precision():
    x = torch.tensor([4.0, 100.0, -100.0]).bfloat16()
    assert torch.equal(elu(x), F.elu(x))  # adding 1 before subtracting it would round 4 -> 4.0156


def test_module_is_an_nn_elu():
    m = ELU()
    assert isinstance(m, nn.ELU) and m.alpha == 1.0
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(m(x), F.elu(x), atol=1e-6)


def test_every_elu_layer_of_the_book_is_this_one():
    """conv_block's "elu" (MSNPS, PGGAN, DeepFill v1, GMCNN) builds this ELU, not nn.ELU's kernel."""
    from inpaintlib.models.gmcnn import GMCNNGenerator
    from inpaintlib.nn.layers import activation_layer

    assert type(activation_layer("elu")) is ELU
    found = {type(m) for m in GMCNNGenerator().modules() if isinstance(m, nn.ELU)}
    assert found == {ELU}
