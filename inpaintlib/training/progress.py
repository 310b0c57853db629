"""Progress bars: tqdm when it is installed, a plain line every 30 s when it is not.

Defined in Chapter 0 (Foundations). A lent GPU machine has torch, numpy, OpenCV, scikit-image and
h5py but no tqdm (and no package registry to install it), and the training engine must run there
as it is.
"""
from __future__ import annotations

import sys
import time


class PlainProgress:
    """The part of tqdm's interface the book uses, printing ``desc: n/total`` every ``every`` s."""

    def __init__(self, total=None, initial: int = 0, desc: str = "", disable: bool = False, every: float = 30.0,
                 unit: str = "it", **_):
        self.total, self.n, self.desc, self.disable, self.every, self.unit = total, initial, desc, disable, every, unit
        self.postfix: dict = {}
        self._last = time.time()

    def update(self, k: int = 1) -> None:
        self.n += k
        if not self.disable and time.time() - self._last >= self.every:
            self._last = time.time()
            self._print()

    def set_postfix(self, values: dict) -> None:
        self.postfix = dict(values)

    def _print(self) -> None:
        extra = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        print(f"{self.desc}: {self.n}/{self.total} {self.unit} {extra}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.disable:
            self._print()

    def __iter__(self):  # pragma: no cover - not used with an iterable here
        raise TypeError("PlainProgress wraps counts, not iterables")


def progress_bar(**kwargs):
    """``tqdm.auto.tqdm(**kwargs)`` when tqdm is importable, else :class:`PlainProgress`."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return PlainProgress(**kwargs)
    return tqdm(**kwargs)


def progress_iter(iterable, **kwargs):
    """Iterate ``iterable`` with a progress bar (tqdm) or, without tqdm, silently."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, **kwargs)
