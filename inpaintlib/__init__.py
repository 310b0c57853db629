"""inpaintlib: the small shared library of the book *Deep Image Inpainting, Rebuilt*.

Every chapter of the book imports from here; each public function says in its docstring which
chapter defines (explains) it, d2l.ai style.

Conventions used everywhere (Chapter 0, "Foundations"):

* An image batch is a float32 tensor of shape (B, 3, H, W) with values in [0, 1], RGB.
* A mask batch is a float32 tensor of shape (B, 1, H, W) with values in {0, 1}, and
  **1 marks a hole** (a missing pixel), 0 a known (valid) pixel. Papers that use the other
  polarity (Partial Convolutions: valid = 1) go through `masks.hole_to_valid` /
  `masks.valid_to_hole`.
* A model never has to copy known pixels itself: `compositing.composite` does
  ``mask * prediction + (1 - mask) * image`` before anything is shown or measured.

Public API used by every chapter, the demo and the command line:
`available_models()`, `load_pretrained(name)` and `inpaint(image, mask, model)`.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "available_models": ("inpaintlib.registry", "available_models"),
    "load_pretrained": ("inpaintlib.registry", "load_pretrained"),
    "available_variants": ("inpaintlib.registry", "available_variants"),
    "inpaint": ("inpaintlib.api", "inpaint"),
}


def __getattr__(name):  # lazy so that `import inpaintlib` stays fast and light
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'inpaintlib' has no attribute {name!r}")


__all__ = ["available_models", "available_variants", "load_pretrained", "inpaint", "__version__"]
