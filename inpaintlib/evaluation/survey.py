r"""The survey's comparison table and family tree, generated from declarations checked against the code.

Defined in Chapter 11 (the comparison).

The survey the book follows ends with one table: for each of its ten models, the insight, the
mask shape it trains with, how it reaches information far from a hole pixel, and what keeps the
fill consistent with the whole image (global consistency) and sharp and plausible in its
neighbourhood (local consistency). It also sketches who builds on whom. This module rebuilds both
from data:

* :class:`SurveyRow`: one model's entry, declared as data (tuples from fixed vocabularies where
  the code can be checked, short English phrases elsewhere), with the registry name of the model
  it describes and the registry names of the models it builds on (``ancestors``);
* :data:`SURVEY_ROWS`: every learned model of the book in chapter order: Chapter 0's fill refiner,
  the book's own model (``survey_row=False``), then the ten survey models in the survey's order;
* :func:`book_training_mask` and :func:`distant_mechanisms_found`: facts read from the code itself,
  the masks a recipe really draws and the long-range layers its generator really holds;
* :func:`survey_table` (Markdown or HTML) and :func:`family_tree` (a matplotlib figure).

**Why the declarations live here and not on the model classes.** Every cached test-set number is
keyed by the source of the modules that computed it (:mod:`inpaintlib.evaluation.fixed_test_set`
hashes the file of every class in a model), so a table attribute added to a model module would
throw away every shipped result of that model. Keeping the declarations in one module also puts
the whole table in one place, where the rows can be read and compared side by side.

**Why the table cannot drift from the code.** The declarations are data, and the tests
(``tests/test_survey.py``) check each one the code can answer against the code: the mask
introspection must give the declared ``book_mask``, and every long-range mechanism the generator
is found to hold must be declared in ``distant`` (and every declared one that can be detected must
be found). Editing a model to add or drop attention, dilation or a fully connected bottleneck, or a
recipe to train on other holes, fails those tests until the row is updated.
"""
from __future__ import annotations

import functools
import html as html_lib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: how a model reaches pixels far from a hole pixel: the vocabulary of :attr:`SurveyRow.distant`
#: (the survey's column, plus what the survey's table leaves out: MSNPS, the fill refiner and PConv)
DISTANT_MECHANISMS: dict[str, str] = {
    "channel-wise fully connected": "each channel of the bottleneck goes through its own dense matrix, "
                                    "so every position reads every other",
    "fully connected": "one dense layer over the whole bottleneck map",
    "dilated convolution": "kernels with gaps: a wide receptive field without losing resolution",
    "multi-column dilated branches": "parallel dilated columns with different kernel sizes, "
                                     "hence different receptive fields",
    "contextual attention": "hole feature patches rebuilt from known patches anywhere in the image, "
                            "weighted by learned similarity",
    "shift connection": "each hole position copies the encoder feature of its most similar known position",
    "nearest-neighbour feature patches": "an optimisation pulls each hole patch of VGG features towards "
                                         "its nearest known patch",
    "deep downsampling": "stride-2 layers down to a bottleneck a few pixels wide, whose units see the whole crop",
    "classical diffusion fill": "a PDE fill carries the border colours across the hole before the network runs",
}


@dataclass(frozen=True)
class SurveyRow:
    """One model's entry in the survey's table and family tree. Defined in Chapter 11.

    ``name``: the registry name (:data:`inpaintlib.registry.LEARNED_MODELS`); ``paper``: a short
    citation; ``paper_mask``: the holes the paper trains with; ``book_mask``: the holes the book's
    recipe draws, as :func:`book_training_mask` phrases them (the tests compare the two);
    ``distant``: mechanisms from :data:`DISTANT_MECHANISMS`; ``global_consistency`` and
    ``local_consistency``: the losses, discriminators and layers the survey credits with each;
    ``ancestors``: registry names of the rows this model builds on; ``survey_row``: ``False``
    for the book's own model, which the survey does not list.
    """

    name: str
    title: str
    paper: str
    year: int
    chapter: int
    insight: str
    paper_mask: str
    book_mask: str
    distant: tuple[str, ...]
    global_consistency: tuple[str, ...]
    local_consistency: tuple[str, ...]
    ancestors: tuple[str, ...] = ()
    survey_row: bool = True

    def __post_init__(self):
        for field_name in ("distant", "global_consistency", "local_consistency", "ancestors"):
            if not isinstance(getattr(self, field_name), tuple):
                raise TypeError(f"{self.name}: {field_name} must be a tuple, got {getattr(self, field_name)!r}")
        unknown = [m for m in self.distant if m not in DISTANT_MECHANISMS]
        if unknown:
            raise ValueError(f"{self.name}: unknown mechanisms {unknown} in distant; "
                             f"the vocabulary is {list(DISTANT_MECHANISMS)}")
        if self.name in self.ancestors:
            raise ValueError(f"{self.name} cannot be its own ancestor")


def validate_rows(rows: Iterable[SurveyRow]) -> tuple[SurveyRow, ...]:
    """``rows`` as a tuple, after checking that names are unique and that every ancestor is one of
    the rows and strictly earlier in (year, chapter): the family tree is then acyclic. Chapter 11."""
    rows = tuple(rows)
    by_name: dict[str, SurveyRow] = {}
    for row in rows:
        if row.name in by_name:
            raise ValueError(f"model {row.name!r} is declared twice")
        by_name[row.name] = row
    for row in rows:
        for ancestor in row.ancestors:
            if ancestor not in by_name:
                raise ValueError(f"{row.name}: ancestor {ancestor!r} is not a declared row; "
                                 f"declared: {list(by_name)}")
            earlier = by_name[ancestor]
            if (earlier.year, earlier.chapter) >= (row.year, row.chapter):
                raise ValueError(f"{row.name}: ancestor {ancestor!r} ({earlier.year}, chapter {earlier.chapter}) "
                                 f"is not earlier than it ({row.year}, chapter {row.chapter})")
    return rows


# The ancestors, kept to the links each paper states itself (its method or related-work section):
# * msnps <- context_encoder: its content network is a Context Encoder with two changes;
# * glcic <- context_encoder: replaces the fully connected bottleneck by dilated convolutions;
# * pggan <- glcic: GLCIC's global + local discriminators become a global + PatchGAN pair;
# * shift_net <- context_encoder, msnps: a learned encoder-decoder (CE) that does MSNPS's nearest
#   known-patch matching inside the network, in one pass instead of an optimisation;
# * deepfill_v1 <- glcic: its baseline is GLCIC reproduced and improved (Yu et al., Sec. 3.1);
# * gmcnn <- msnps, deepfill_v1: DeepFill v1's WGAN-GP global and local critics and weighted L1;
#   the ID-MRF loss turns MSNPS's nearest-patch texture term into a training loss;
# * pconv <- glcic: written against the mean-value placeholder in the hole and GLCIC's post-processing;
# * edgeconnect <- pconv: trains on PConv's irregular holes with its perceptual + style losses;
# * deepfill_v2 <- deepfill_v1, pconv: DeepFill v1's network with every convolution gated, the gate
#   a learned replacement for partial convolution's rule-based mask update;
# * fill_refiner <- glcic, deepfill_v1: the classical fill plays DeepFill v1's coarse stage, and the
#   refiner's dilated stack is GLCIC's.
_ROWS = (
    SurveyRow(  # year: the book's (its repository's first commit), which places it after the ten
        name="fill_refiner", title="Fill refiner", paper="the book's own, not in the survey", year=2026, chapter=0,
        insight="A classical diffusion fill first; a small network learns only the correction and starts "
                "exactly at the classical result.",
        paper_mask="(no paper: the book's own model)", book_mask="random rectangles or free-form strokes",
        distant=("classical diffusion fill", "dilated convolution"),
        global_consistency=("L1 over the hole",),
        local_consistency=("the classical fill's smooth continuation of the border",),
        ancestors=("glcic", "deepfill_v1"),
        survey_row=False,
    ),
    SurveyRow(
        name="context_encoder", title="Context Encoder", paper="Pathak et al., CVPR 2016", year=2016, chapter=1,
        insight="An encoder-decoder trained to paint a missing centre; an adversarial term sharpens what L2 "
                "alone leaves blurry; a channel-wise dense bottleneck lets every output see the whole image.",
        paper_mask="centre square (64 px of a 128 px image)", book_mask="centre square",
        distant=("channel-wise fully connected",),
        global_consistency=("L2 reconstruction in the hole",),
        local_consistency=("adversarial loss on the hole alone",),
    ),
    SurveyRow(
        name="msnps", title="MSNPS", paper="Yang et al., CVPR 2017", year=2017, chapter=2,
        insight="A content network (a Context Encoder) fills first; the image is then optimised, coarse to "
                "fine, so that every deep-feature patch in the hole resembles its nearest known patch.",
        paper_mask="centre square (256 px of a 512 px image)", book_mask="centre square",
        distant=("fully connected", "nearest-neighbour feature patches"),
        global_consistency=("L2 reconstruction (content network)", "content term: stay near the network's fill"),
        local_consistency=("adversarial loss (content network)", "texture term: nearest known VGG patch",
                           "total variation"),
        ancestors=("context_encoder",),
    ),
    SurveyRow(
        name="glcic", title="GLCIC", paper="Iizuka et al., SIGGRAPH 2017", year=2017, chapter=3,
        insight="Fully convolutional, any image size: dilated convolutions replace the dense bottleneck; one "
                "discriminator judges the whole image, another the window around the hole.",
        paper_mask="one random rectangle (sides 96-128 px of 256)", book_mask="one random rectangle",
        distant=("dilated convolution",),
        global_consistency=("L2 reconstruction in the hole", "global discriminator"),
        local_consistency=("local discriminator",),
        ancestors=("context_encoder",),
    ),
    SurveyRow(
        name="pggan", title="PGGAN", paper="Demir & Unal, arXiv 2018", year=2018, chapter=4,
        insight="GLCIC's local discriminator becomes a PatchGAN head that shares its layers with a global "
                "head; the generator is a ResNet with dilated residual blocks.",
        paper_mask="free-form (as the survey lists it)", book_mask="one random rectangle",
        distant=("dilated convolution",),
        global_consistency=("L1 reconstruction", "global discriminator head"),
        local_consistency=("PatchGAN head",),
        ancestors=("glcic",),
    ),
    SurveyRow(
        name="shift_net", title="Shift-Net", paper="Yan et al., ECCV 2018", year=2018, chapter=5,
        insight="A U-Net layer copies, to each hole position, the encoder feature of the most similar known "
                "position; a guidance loss pulls the decoder's hole features towards the true ones.",
        paper_mask="centre square (the survey lists free-form)", book_mask="centre square",
        distant=("shift connection",),
        global_consistency=("L1 reconstruction", "guidance loss"),
        local_consistency=("PatchGAN discriminator", "shift connection"),
        ancestors=("context_encoder", "msnps"),
    ),
    SurveyRow(
        name="deepfill_v1", title="DeepFill v1", paper="Yu et al., CVPR 2018", year=2018, chapter=6,
        insight="Coarse to fine: a dilated network fills roughly, a refinement network borrows known feature "
                "patches through contextual attention; spatially discounted L1 and WGAN-GP critics.",
        paper_mask="one random rectangle", book_mask="one random rectangle",
        distant=("contextual attention", "dilated convolution"),
        global_consistency=("spatially discounted L1", "global WGAN-GP critic"),
        local_consistency=("local WGAN-GP critic", "contextual attention"),
        ancestors=("glcic",),
    ),
    SurveyRow(
        name="gmcnn", title="GMCNN", paper="Wang et al., NeurIPS 2018", year=2018, chapter=7,
        insight="Three parallel columns with 7x7, 5x5 and 3x3 kernels see the image at different scales; "
                "the ID-MRF loss pulls hole feature patches towards real ones, in training only.",
        paper_mask="one random rectangle (the reference's default)", book_mask="one random rectangle",
        distant=("multi-column dilated branches", "dilated convolution"),
        global_consistency=("confidence-driven L1", "global WGAN-GP critic"),
        local_consistency=("local WGAN-GP critic", "ID-MRF loss"),
        ancestors=("msnps", "deepfill_v1"),
    ),
    SurveyRow(
        name="pconv", title="Partial Convolutions", paper="Liu et al., ECCV 2018", year=2018, chapter=8,
        insight="A convolution that reads only known pixels, rescales by the known share of its window and "
                "hands an updated mask on: no placeholder value ever enters; no discriminator.",
        paper_mask="irregular holes (occlusion masks from videos)", book_mask="free-form strokes",
        # the survey's table has nothing here; the book's U-Net takes a 128 px crop down to 2x2
        distant=("deep downsampling",),
        global_consistency=("L1 on hole and known pixels", "perceptual loss", "total variation"),
        local_consistency=("perceptual loss", "style loss"),
        ancestors=("glcic",),
    ),
    SurveyRow(
        name="edgeconnect", title="EdgeConnect", paper="Nazeri et al., ICCV Workshops 2019", year=2019, chapter=9,
        insight="Lines first, colour next: one network completes the edge map, a second paints the image "
                "along the completed edges.",
        paper_mask="irregular holes (PConv's set) or a random square", book_mask="free-form strokes",
        distant=("dilated convolution",),
        global_consistency=("L1 reconstruction", "perceptual loss", "completed edge map"),
        local_consistency=("perceptual loss", "style loss", "adversarial loss (image discriminator)"),
        ancestors=("pconv",),
    ),
    SurveyRow(
        name="deepfill_v2", title="DeepFill v2", paper="Yu et al., ICCV 2019", year=2019, chapter=10,
        insight="Gated convolution: a learned soft mask for every layer and channel replaces partial "
                "convolution's fixed rule; an SN-PatchGAN judges every patch; an optional user sketch.",
        paper_mask="free-form strokes (OR a box)", book_mask="free-form strokes",
        distant=("contextual attention", "dilated convolution"),
        global_consistency=("L1 on both stages",),
        local_consistency=("SN-PatchGAN (hinge loss)", "contextual attention"),
        ancestors=("deepfill_v1", "pconv"),
    ),
)

#: every row by registry name, in chapter order: the book's own fill refiner (Chapter 0), then the ten
#: survey models in the survey's order, which is the book's chapter order
SURVEY_ROWS: dict[str, SurveyRow] = {row.name: row for row in validate_rows(_ROWS)}


def row_for(name: str) -> SurveyRow:
    """The declared row of the model ``name``; a ValueError naming the known models otherwise."""
    if name not in SURVEY_ROWS:
        raise ValueError(f"unknown model {name!r}; the survey table knows: {', '.join(SURVEY_ROWS)}")
    return SURVEY_ROWS[name]


def _resolve_rows(rows, default: Callable[[SurveyRow], bool]) -> tuple[SurveyRow, ...]:
    """``rows`` (names or :class:`SurveyRow` s; None: the declared rows that ``default`` keeps), checked."""
    if rows is None:
        rows = [row for row in SURVEY_ROWS.values() if default(row)]
    return validate_rows(row if isinstance(row, SurveyRow) else row_for(row) for row in rows)


# --------------------------------------------------------------------------------------------
# Introspection: what the code really does
# --------------------------------------------------------------------------------------------
def _recipe_name(name: str) -> str:
    """The training recipe behind a model name (MSNPS's is its content network's)."""
    from inpaintlib.registry import RECIPES, WRAPPED

    if name in WRAPPED:
        return WRAPPED[name][0]
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}; models with a training recipe: {', '.join(RECIPES)}")
    return name


#: masks drawn per model to read its training holes, at the recipe's crop size, from this seed
MASK_SAMPLES, MASK_SEED = 32, 0
#: at most this many rows (and columns) where a mask changes: then it is a union of a few rectangles
_MAX_RECTANGLE_EDGES = 8


def _edge_count(mask: np.ndarray, axis: int) -> int:
    """How many rows (axis 0) or columns (axis 1) differ from the one before, the border counting as empty."""
    padded = np.pad(mask, [(1, 1) if a == axis else (0, 0) for a in range(2)])
    return int(np.any(np.diff(padded, axis=axis) != 0, axis=1 - axis).sum())


def mask_shape(mask: np.ndarray) -> str:
    """What one (H, W) 0/1 hole mask is: ``"centre square"``, ``"rectangle"``, ``"rectangles"`` or
    ``"free-form"``. A union of k axis-aligned boxes changes along at most 2k rows and 2k columns;
    a brush stroke changes almost everywhere. Chapter 11."""
    from inpaintlib.data.masks import center_square_mask

    mask = np.asarray(mask, dtype=np.uint8)
    if not mask.any():
        raise ValueError("an empty mask has no shape")
    if np.array_equal(mask, center_square_mask(1, *mask.shape)[0, 0].numpy().astype(np.uint8)):
        return "centre square"
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all():
        return "rectangle"
    if max(_edge_count(mask, 0), _edge_count(mask, 1)) <= _MAX_RECTANGLE_EDGES:
        return "rectangles"
    return "free-form"


def _mask_phrase(shapes: set[str]) -> str:
    """A short phrase for the shapes of a sample of masks."""
    parts = ["centre square"] if "centre square" in shapes else []
    if shapes & {"rectangle", "rectangles"}:
        # "one" only when every mask of the sample is a single box
        parts.append("one random rectangle" if shapes == {"rectangle"} else "random rectangles")
    if "free-form" in shapes:
        parts.append("free-form strokes")
    return " or ".join(parts)


def book_training_mask(name: str) -> str:
    """The holes the book's recipe for ``name`` trains with, read from the masks it draws.

    Defined in Chapter 11. Draws :data:`MASK_SAMPLES` masks with the recipe's own
    ``sample_masks`` at its crop size (seeded: the answer is reproducible) and names their shapes
    with :func:`mask_shape`: e.g. ``"centre square"``, ``"one random rectangle"``,
    ``"free-form strokes"``, or a mix joined by "or".
    """
    from inpaintlib.registry import recipe_for

    recipe = recipe_for(_recipe_name(name))
    size = recipe.fixed_size or recipe.settings.image_size
    masks = recipe.sample_masks(MASK_SAMPLES, size, size, torch.Generator().manual_seed(MASK_SEED))
    return _mask_phrase({mask_shape(m[0].numpy()) for m in masks})


def _dilated_convolutions(net: nn.Module) -> list[nn.Conv2d]:
    # partial convolutions subclass nn.Conv2d and gated ones hold one, so both are seen here
    return [m for m in net.modules() if isinstance(m, nn.Conv2d) and max(m.dilation) > 1]


def _mechanism_detectors() -> dict[str, Callable[[nn.Module], bool]]:
    """Mechanism -> test on a generator, for the mechanisms a module scan can see."""
    from inpaintlib.models.context_encoder import ChannelWiseFC
    from inpaintlib.nn.contextual_attention import ContextualAttention
    from inpaintlib.nn.shift import ShiftConnection

    def holds(kind):
        return lambda net: any(isinstance(m, kind) for m in net.modules())

    return {
        "channel-wise fully connected": holds(ChannelWiseFC),
        "fully connected": holds(nn.Linear),
        "dilated convolution": lambda net: bool(_dilated_convolutions(net)),
        # columns differ by their kernel size: dilated layers of several kernel sizes side by side
        "multi-column dilated branches": lambda net: len({m.kernel_size for m in _dilated_convolutions(net)}) > 1,
        "contextual attention": holds(ContextualAttention),
        "shift connection": holds(ShiftConnection),
    }


#: the mechanisms :func:`distant_mechanisms_found` can detect; the others are declared only
DETECTABLE_MECHANISMS = ("channel-wise fully connected", "fully connected", "dilated convolution",
                         "multi-column dilated branches", "contextual attention", "shift connection")


@functools.cache
def _found(recipe_name: str) -> frozenset[str]:
    """The detectable mechanisms in the generator of the recipe ``recipe_name`` (cached: built once)."""
    from inpaintlib.registry import recipe_for

    recipe = recipe_for(recipe_name)
    with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
        generator = recipe.build_networks(recipe.settings_for("smoke"))["generator"]
    return frozenset(m for m, detect in _mechanism_detectors().items() if detect(generator))


def distant_mechanisms_found(name: str) -> set[str]:
    """The long-range mechanisms the generator of ``name``'s recipe holds, found by scanning its modules.

    Defined in Chapter 11. Builds the generator as training does (the recipe's ``smoke``
    settings: the architecture is the shipped one) and looks for a channel-wise or ordinary fully
    connected layer, convolutions with dilation > 1 (of several kernel sizes: multi-column), a
    contextual-attention layer and a shift connection. Mechanisms that are not modules (MSNPS's
    patch optimisation, the fill refiner's classical fill, a U-Net's depth) are not looked for:
    see :data:`DETECTABLE_MECHANISMS`.
    """
    return set(_found(_recipe_name(name)))


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
#: the table's columns, in order
TABLE_COLUMNS = ("model", "insight", "training mask (paper)", "training mask (this book)",
                 "how distant information is reached", "global consistency", "local consistency")


def _model_cell(row: SurveyRow) -> str:
    return f"{row.title} (Ch. {row.chapter}; {row.paper})"


def survey_records(rows=None) -> list[dict[str, str]]:
    """One dict per row, keyed by :data:`TABLE_COLUMNS`: the table's cells as plain text. Chapter 11.

    ``rows``: registry names or :class:`SurveyRow` s (default: every declared row). The book's
    training mask is introspected (:func:`book_training_mask`), every other cell is declared.
    """
    records = []
    for row in _resolve_rows(rows, default=lambda row: True):
        cells = (_model_cell(row), row.insight, row.paper_mask, book_training_mask(row.name),
                 "; ".join(row.distant), "; ".join(row.global_consistency), "; ".join(row.local_consistency))
        records.append(dict(zip(TABLE_COLUMNS, cells)))
    return records


def _markdown(records: list[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in TABLE_COLUMNS) + " |" for r in records]
    return "\n".join(lines)


#: the columns that list several items ("; " between them), one item per line in HTML
_LIST_COLUMNS = TABLE_COLUMNS[4:]


def _html(records: list[dict[str, str]]) -> str:
    def cell(text: str, column: str) -> str:
        parts = text.split("; ") if column in _LIST_COLUMNS else [text]
        return "<br>".join(html_lib.escape(part) for part in parts)

    head = "".join(f"<th>{html_lib.escape(c)}</th>" for c in TABLE_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{cell(r[c], c)}</td>" for c in TABLE_COLUMNS) + "</tr>" for r in records)
    return f'<table class="survey-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def survey_table(rows=None, html: bool = False) -> str:
    """The survey's table as Markdown (``html=True``: an HTML table), one row per model. Chapter 11.

    Columns: :data:`TABLE_COLUMNS`. A string rather than a DataFrame: pandas is not among the
    book's requirements. In a notebook: ``IPython.display.Markdown(survey_table())``.
    """
    records = survey_records(rows)
    return _html(records) if html else _markdown(records)


# --------------------------------------------------------------------------------------------
# The family tree
# --------------------------------------------------------------------------------------------
def _node_positions(rows: tuple[SurveyRow, ...]) -> dict[str, tuple[float, float]]:
    """(x, y) per row: one column per year (x = the year's rank), a year's models stacked in chapter
    order from the top, centred on y = 0, so no two labels share a place."""
    years = sorted({row.year for row in rows})
    positions = {}
    for x, year in enumerate(years):
        column = sorted((row for row in rows if row.year == year), key=lambda row: row.chapter)
        for i, row in enumerate(column):
            positions[row.name] = (float(x), (len(column) - 1) / 2 - i)
    return positions


#: bends tried, in order of preference, for an arrow (the control point's offset, as a fraction of the
#: arrow's length, perpendicular to it: matplotlib's ``arc3`` convention)
_BENDS = (0.0, 0.12, -0.12, 0.25, -0.25, 0.4, -0.4)


def _bezier(start: np.ndarray, end: np.ndarray, bend: float, n: int = 64) -> np.ndarray:
    """(n, 2) points of the quadratic curve from ``start`` to ``end`` bent by ``bend`` (display coordinates)."""
    (dx, dy), t = end - start, np.linspace(0.0, 1.0, n)[:, None]
    control = (start + end) / 2 + bend * np.array([dy, -dx])
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def _inside(points: np.ndarray, box) -> np.ndarray:
    """Which of the (n, 2) display points lie in the matplotlib ``Bbox`` ``box``."""
    return ((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)
            & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1))


def _arrow_path(start_box, end_box, others) -> np.ndarray:
    """Display points of an arrow between two label boxes: among :data:`_BENDS`, the first bend whose curve
    crosses the fewest other boxes, trimmed to run from one box's outline to the other's."""
    start, end = np.array(start_box.get_points().mean(axis=0)), np.array(end_box.get_points().mean(axis=0))

    def crossings(bend):
        points = _bezier(start, end, bend)
        return sum(bool(_inside(points, box).any()) for box in others)

    points = _bezier(start, end, min(_BENDS, key=crossings))  # min keeps the first of equals
    outside = ~_inside(points, start_box) & ~_inside(points, end_box)
    first, last = np.flatnonzero(outside)[[0, -1]]
    return points[first:last + 1]


def family_tree(rows=None, ax=None):
    """The survey's family tree: who builds on whom, drawn from the declared ancestors. Chapter 11.

    ``rows``: registry names or :class:`SurveyRow` s (default: the ten survey models; pass
    ``SURVEY_ROWS`` for the book's fill refiner too, drawn dashed). One labelled box per model,
    one column per year of publication (in order, empty years left out), one arrow per
    ancestor -> descendant link, bent where a straight one would cross another box. Matplotlib
    only; returns the figure. Each box's text and each arrow carry a gid: the model's name,
    ``"ancestor->descendant"``. The arrows are laid out for the figure's size when drawn.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    rows = _resolve_rows(rows, default=lambda row: row.survey_row)
    positions = _node_positions(rows)
    years = sorted({row.year for row in rows})
    tallest = max(sum(row.year == year for row in rows) for year in years)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.4 * len(years) + 0.8, 0.8 * tallest + 1.2))
    labels = {}
    for row in rows:
        style = {"boxstyle": "round,pad=0.35", "fc": "white" if row.survey_row else "#f3f3f3",
                 "ec": "#333333", "ls": "-" if row.survey_row else "--"}
        label = f"{row.title}\nCh. {row.chapter}" + ("" if row.survey_row else ", this book")
        labels[row.name] = ax.text(*positions[row.name], label, ha="center", va="center", fontsize=9,
                                   bbox=style, zorder=3, gid=row.name)
    ax.set_xticks(range(len(years)))
    ax.set_xticklabels([str(y) if any(r.survey_row for r in rows if r.year == y) else "this book" for y in years])
    ax.set_xlim(-0.6, len(years) - 0.4)
    ax.set_ylim(-tallest / 2, tallest / 2)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("year of publication")
    ax.set_title("Who builds on whom")
    # the boxes' sizes are known once drawn; arrows are then routed between them in display
    # coordinates and stored in data coordinates (which a change of dpi leaves valid)
    ax.get_figure(root=True).draw_without_rendering()
    boxes = {name: text.get_bbox_patch().get_window_extent() for name, text in labels.items()}
    to_data = ax.transData.inverted()
    for row in rows:
        for ancestor in row.ancestors:
            others = [box for name, box in boxes.items() if name not in (ancestor, row.name)]
            points = to_data.transform(_arrow_path(boxes[ancestor], boxes[row.name], others))
            ax.add_patch(FancyArrowPatch(path=Path(points), arrowstyle="-|>", mutation_scale=11, lw=1.0,
                                         color="#555555", zorder=2, gid=f"{ancestor}->{row.name}"))
    return ax.get_figure(root=True)
