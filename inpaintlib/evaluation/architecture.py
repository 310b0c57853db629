r"""A network's architecture read from the network itself: its layer list, a table and a figure.

Defined in Chapter 1 (Context Encoder); every later chapter draws its networks with it.

:func:`trace_layers` runs one probe batch through a network and records, in the order they run,
its *units*: the modules a reader would draw as one box (a convolution with its normalisation
and activation, a residual block, an attention layer, a fully connected bottleneck). For each
unit it keeps the output shape, the parameter count and **where its input came from**. That last
part is what turns a list into a diagram: every tensor produced during the forward pass carries
the set of units it was computed from (a :class:`~torch.overrides.TorchFunctionMode` propagates
the set through every torch operation, ``torch.cat`` included), so a U-Net's skip connection, a
discriminator's two heads or GMCNN's three parallel columns appear as the edges they are, with no
hand-written wiring.

:func:`layer_table` turns the list into a markdown table, :func:`architecture_figure` into boxes
and arrows: one row of boxes per network, in execution order; box height shows the spatial size,
box width the channel count (both on log scales), colour the top-level part of the network
(``encoder``, ``blocks``, ``decoder``, ...). An arrow joins consecutive units; any other edge
(a skip, a branch, a merge) is drawn as an arc above the row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

#: modules drawn as one box even though they have children
ATOMIC_TYPES: tuple[str, ...] = (
    "ResidualBlock", "InterpolatedConv2d", "ContextualAttention", "ShiftConnection", "ChannelWiseFC",
    "FullyConnectedBottleneck", "MultiheadAttention", "GatedConv2d",
)
_CONV_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_DECORATION_TYPES = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm, nn.ReLU, nn.LeakyReLU,
                     nn.ELU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Dropout2d, nn.Identity)


@dataclass
class Unit:
    """One box of the diagram: a module call, its output shape and where its input came from."""

    name: str  # dotted module path inside the network, e.g. "encoder.1"
    kind: str  # what it computes, e.g. "conv 4x4 /2 + BN + ReLU"
    shape: tuple[int, ...]  # output shape without the batch dimension, e.g. (128, 32, 32)
    params: int
    sources: list[int] = field(default_factory=list)  # indices of the units it reads; -1 = the input
    network: str = ""

    @property
    def group(self) -> str:
        """The top-level part of the network the unit belongs to (``encoder``, ``decoder``, ...)."""
        return self.name.split(".")[0]


def _is_conv_block(module: nn.Module) -> bool:
    """A Sequential of one convolution followed only by normalisations and activations."""
    children = list(module.children())
    if not isinstance(module, nn.Sequential) or not children:
        return False
    first_is_conv = isinstance(children[0], _CONV_TYPES) or type(children[0]).__name__ in ATOMIC_TYPES
    return first_is_conv and all(isinstance(c, _DECORATION_TYPES) for c in children[1:])


def _is_unit(module: nn.Module) -> bool:
    return (not list(module.children()) or type(module).__name__ in ATOMIC_TYPES
            or _is_conv_block(module))


def _short(module: nn.Module) -> str:
    """A short description of a leaf layer, e.g. ``conv 3x3 /2 d4`` or ``BN``."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        k, s, d = module.kernel_size, module.stride, module.dilation
        text = ("deconv " if isinstance(module, nn.ConvTranspose2d) else "conv ") + f"{k[0]}x{k[1]}"
        if s[0] > 1:
            text += f" x{s[0]}" if isinstance(module, nn.ConvTranspose2d) else f" /{s[0]}"
        if d[0] > 1:
            text += f" d{d[0]}"
        return text
    names = {nn.BatchNorm2d: "BN", nn.InstanceNorm2d: "IN", nn.ReLU: "ReLU", nn.LeakyReLU: "LReLU",
             nn.ELU: "ELU", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Linear: "linear",
             nn.Dropout: "dropout", nn.Dropout2d: "dropout"}
    for cls, text in names.items():
        if isinstance(module, cls):
            return text
    name = type(module).__name__
    if name == "InterpolatedConv2d":
        conv = next(m for m in module.modules() if isinstance(m, nn.Conv2d))
        return f"up x{getattr(module, 'scale', 2)} + " + _short(conv)
    if name == "GatedConv2d":  # one box: its 2C-channel convolution is features and gates, not 2C outputs
        kind = "residual-gated " if module.residual_gate else "gated "
        act = {"elu": " + ELU", "relu": " + ReLU"}.get(module.activation, "")
        return kind + _short(module.conv) + act
    if name == "MaskedUpsample":
        return "up x2 (nearest)"
    if name == "ResidualBlock":
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        dilation = max(c.dilation[0] for c in convs) if convs else 1
        return "residual" + (f" d{dilation}" if dilation > 1 else "")
    return {"ContextualAttention": "contextual attention", "ShiftConnection": "shift",
            "ChannelWiseFC": "channel-wise FC", "FullyConnectedBottleneck": "FC bottleneck"}.get(
                name, name.replace("Pool2d", " pool").replace("2d", ""))


def describe(module: nn.Module) -> str:
    """What a unit computes, in a few words: ``conv 4x4 /2 + BN + ReLU``."""
    if _is_conv_block(module):
        return " + ".join(_short(c) for c in module.children() if not isinstance(c, (nn.Identity, nn.Dropout)))
    return _short(module)


def _units_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules drawn as boxes: walk down from the root, stop at the first unit on each path."""
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if _is_unit(child):
                found.append((path, child))
            else:
                walk(path, child)

    walk("", model)
    return found


def _tensors(value):
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


class _Provenance(TorchFunctionMode):
    """Tags every tensor an operation returns with the union of its inputs' tags."""

    def __init__(self, tags: dict[int, frozenset], keep: list):
        super().__init__()
        self.tags, self.keep = tags, keep

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        found = frozenset().union(*(self.tags.get(id(t), frozenset())
                                    for t in _tensors((args, kwargs or {}))))
        if found:
            for t in _tensors(out):
                if id(t) not in self.tags or not self.tags[id(t)]:
                    self.tags[id(t)] = found
                    self.keep.append(t)  # keep it alive so its id is not reused during the trace
        return out


@torch.no_grad()
def trace_layers(model: nn.Module, *inputs, network: str = "") -> list[Unit]:
    """The units of ``model`` in execution order for one forward pass on ``inputs``.

    Defined in Chapter 1 (Context Encoder). A module called twice appears twice. ``sources``
    holds, for each unit, the indices of the units whose outputs its input was computed from
    (-1: the network's input), found by tagging every tensor of the pass: the units that the
    unit's (first) output was computed from, so an argument the unit ignores draws no edge. Example::

        units = trace_layers(PGGANGenerator(), image, mask)   # image (1,3,128,128), mask (1,1,128,128)
        units[1].kind, units[1].shape                         # ('conv 4x4 /2 + BN + ReLU', (128, 64, 64))
    """
    if not inputs:
        raise ValueError("trace_layers needs the inputs of one forward pass, e.g. (image, mask)")
    tags: dict[int, frozenset] = {}
    keep: list = []
    units: list[Unit] = []
    handles = []
    for t in _tensors(inputs):
        tags[id(t)] = frozenset({-1})
        keep.append(t)

    def pre_hook(name, module):
        def hook(mod, args):
            sources = frozenset().union(*(tags.get(id(t), frozenset()) for t in _tensors(args)))
            params = sum(p.numel() for p in mod.parameters())
            units.append(Unit(name, describe(mod), (), params, sorted(sources), network))
        return hook

    def post_hook(name, module):
        def hook(mod, args, output):
            index = max(i for i, u in enumerate(units) if u.name == name and not u.shape)
            first = next(_tensors(output), None)
            units[index].shape = tuple(first.shape[1:]) if first is not None else ()
            # what the output was computed from, not every argument: a mask handed on but unused
            # (DeepFill v2's gated layers) draws no arc; the arguments when nothing was traced
            flow = tags.get(id(first), frozenset()) if first is not None else frozenset()
            if flow and index not in flow:
                units[index].sources = sorted(flow)
            for t in _tensors(output):
                tags[id(t)] = frozenset({index})
                keep.append(t)
        return hook

    for name, module in _units_of(model):
        handles.append(module.register_forward_pre_hook(pre_hook(name, module)))
        handles.append(module.register_forward_hook(post_hook(name, module)))
    was_training = model.training
    model.eval()
    try:
        with _Provenance(tags, keep):
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not units:
        raise ValueError(f"{type(model).__name__} ran no module: nothing to draw")
    return units


def _shape_text(shape) -> str:
    return "x".join(str(s) for s in shape) if shape else "-"


def layer_table(units: list[Unit]) -> str:
    """The layer list as a markdown table: index, module path, what it computes, output shape
    (C x H x W), parameters and inputs (``in`` = the network's input). Defined in Chapter 1."""
    lines = ["| # | module | layer | output (C x H x W) | parameters | input from |",
             "|---:|---|---|---|---:|---|"]
    for i, u in enumerate(units):
        src = ", ".join("in" if s < 0 else str(s) for s in u.sources) or "-"
        lines.append(f"| {i} | `{u.name}` | {u.kind} | {_shape_text(u.shape)} | {u.params:,} | {src} |")
    lines.append(f"| | **total** | | | **{sum(u.params for u in units):,}** | |")
    return "\n".join(lines)


def architecture_figure(networks: dict[str, list[Unit]], title: str | None = None, box_scale: float = 1.0):
    """Boxes and arrows, one row per network of ``networks`` (``{"generator": units, ...}``).

    Defined in Chapter 1 (Context Encoder). Box height grows with the output's spatial size,
    width with its channels (log scales); colour = top-level module. Each box is labelled with its
    index in :func:`layer_table` and its output shape; consecutive units are joined by an arrow,
    every other edge (skip connection, branch, merge) by an arc above the row. Returns the figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import FancyArrowPatch, Rectangle

    if not networks:
        raise ValueError("architecture_figure needs at least one traced network")
    longest = max(len(u) for u in networks.values())
    fig, axes = plt.subplots(len(networks), 1, squeeze=False,
                             figsize=(min(16, 1.2 + 0.62 * longest) * box_scale, 3.2 * len(networks)))
    cmap = plt.get_cmap("tab10")
    for ax, (label, units) in zip(axes[:, 0], networks.items()):
        groups = list(dict.fromkeys(u.group for u in units))
        colours = {g: cmap(i % 10) for i, g in enumerate(groups)}
        spatial = [max(u.shape[1:] or (1,)) if len(u.shape) >= 2 else 1 for u in units]
        channels = [u.shape[0] if u.shape else 1 for u in units]
        top, crowded, peak = max(spatial), len(units) > 20, 1.0
        for i, u in enumerate(units):
            h = 0.35 + 0.65 * (math.log2(spatial[i]) / max(1.0, math.log2(top)))
            w = min(0.8, 0.18 + 0.07 * math.log2(max(1, channels[i])))
            ax.add_patch(Rectangle((i - w / 2, -h / 2), w, h, facecolor=colours[u.group], alpha=0.8,
                                   edgecolor="black", linewidth=0.6))
            text = f"{i}  {_shape_text(u.shape)}" if crowded else f"{i}\n{_shape_text(u.shape)}"
            ax.text(i, -0.6, text, ha="center", va="top", fontsize=6.5, rotation=90 if crowded else 0)
            for s in u.sources:
                start = -1.0 if s < 0 else float(s)
                if start == i - 1:
                    ax.add_patch(FancyArrowPatch((start + 0.25, 0), (i - 0.25, 0), arrowstyle="-|>",
                                                 mutation_scale=7, linewidth=0.7))
                    continue
                # a skip, a branch or a merge: a dashed arc above the row, higher for longer jumps
                height = 0.75 + 0.3 * math.log2(i - start)
                t = np.linspace(0, 1, 40)[:, None]
                points = ((1 - t) ** 2 * np.array([start, 0.55]) + 2 * t * (1 - t) * np.array(
                    [(start + i) / 2, 0.55 + 2 * height]) + t ** 2 * np.array([i, 0.55]))
                ax.plot(points[:, 0], points[:, 1], "--", color="dimgray", linewidth=0.6)
                ax.annotate("", xy=points[-1], xytext=points[-4],
                            arrowprops={"arrowstyle": "-|>", "color": "dimgray", "linewidth": 0.6})
                peak = max(peak, 0.55 + height + 0.2)
        ax.text(-1.0, 0, "in", ha="center", va="center", fontsize=8)
        handles = [Rectangle((0, 0), 1, 1, facecolor=colours[g], alpha=0.8) for g in groups]
        ax.legend(handles, groups, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7,
                  title="module", title_fontsize=7, frameon=False)
        ax.set_xlim(-1.5, len(units) - 0.4)
        ax.set_ylim(-2.4 if crowded else -1.3, peak)
        ax.set_title(f"{label}: {len(units)} layers, {sum(u.params for u in units):,} parameters "
                     "(box height: spatial size, width: channels, log scales)", fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
