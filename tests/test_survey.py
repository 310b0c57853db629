"""The survey's table and family tree (Chapter 11): every declaration that the code can answer, checked against it."""
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.patches import FancyArrowPatch

from inpaintlib.data.masks import center_square_mask, free_form_mask, random_rectangles_mask
from inpaintlib.evaluation import survey
from inpaintlib.evaluation.survey import (
    DETECTABLE_MECHANISMS,
    DISTANT_MECHANISMS,
    SURVEY_ROWS,
    TABLE_COLUMNS,
    book_training_mask,
    distant_mechanisms_found,
    family_tree,
    mask_shape,
    row_for,
    survey_records,
    survey_table,
    validate_rows,
)
from inpaintlib.registry import LEARNED_MODELS

SURVEY_NAMES = [name for name, row in SURVEY_ROWS.items() if row.survey_row]


def _edges(rows):
    return {f"{ancestor}->{row.name}" for row in rows for ancestor in row.ancestors}


# ------------------------------------------------------------------ the declarations themselves
def test_every_learned_model_has_a_row_in_chapter_order():
    assert list(SURVEY_ROWS) == list(LEARNED_MODELS)
    chapters = [row.chapter for row in SURVEY_ROWS.values()]
    assert chapters == sorted(chapters) and len(set(chapters)) == len(chapters)
    assert len(SURVEY_NAMES) == 10
    assert [name for name, row in SURVEY_ROWS.items() if not row.survey_row] == ["fill_refiner"]


def test_every_ancestor_is_declared_and_earlier_so_the_tree_is_acyclic():
    for row in SURVEY_ROWS.values():
        for ancestor in row.ancestors:
            earlier = SURVEY_ROWS[ancestor]
            assert (earlier.year, earlier.chapter) < (row.year, row.chapter), (row.name, ancestor)
    # a topological order exists: repeatedly take the rows whose ancestors are all taken
    placed, left = set(), dict(SURVEY_ROWS)
    while left:
        ready = [name for name, row in left.items() if set(row.ancestors) <= placed]
        assert ready, f"a cycle among {sorted(left)}"
        placed.update(ready)
        for name in ready:
            del left[name]


def test_declared_mechanisms_come_from_the_vocabulary():
    assert set(DETECTABLE_MECHANISMS) <= set(DISTANT_MECHANISMS)
    for row in SURVEY_ROWS.values():
        assert row.distant and set(row.distant) <= set(DISTANT_MECHANISMS), row.name
        assert row.global_consistency and row.insight and row.paper_mask and row.book_mask, row.name


def test_validation_rejects_unknown_or_later_ancestors_duplicates_and_unknown_mechanisms():
    rows = list(SURVEY_ROWS.values())
    glcic = SURVEY_ROWS["glcic"]
    with pytest.raises(ValueError, match="'nowhere' is not a declared row"):
        validate_rows(rows + [dataclasses.replace(glcic, name="extra", ancestors=("nowhere",))])
    with pytest.raises(ValueError, match="not earlier"):
        validate_rows([r if r.name != "glcic" else dataclasses.replace(glcic, ancestors=("deepfill_v2",))
                       for r in rows])
    with pytest.raises(ValueError, match="declared twice"):
        validate_rows(rows + [glcic])
    with pytest.raises(ValueError, match="unknown mechanisms"):
        dataclasses.replace(glcic, distant=("telepathy",))
    with pytest.raises(TypeError, match="must be a tuple"):
        dataclasses.replace(glcic, ancestors=["context_encoder"])


def test_unknown_names_raise_with_the_known_names():
    with pytest.raises(ValueError, match="unknown model 'nowhere'") as err:
        row_for("nowhere")
    assert all(name in str(err.value) for name in SURVEY_ROWS)
    with pytest.raises(ValueError, match="context_encoder"):
        survey_table(rows=["glcic", "nowhere"])
    with pytest.raises(ValueError, match="unknown model 'nowhere'"):
        book_training_mask("nowhere")
    with pytest.raises(ValueError, match="unknown model 'nowhere'"):
        distant_mechanisms_found("nowhere")


# ------------------------------------------------------------------ declarations against the code
@pytest.mark.parametrize("name", list(SURVEY_ROWS))
def test_declared_distant_mechanisms_are_exactly_those_found_in_the_generator(name):
    found, declared = distant_mechanisms_found(name), set(row_for(name).distant)
    assert found <= set(DETECTABLE_MECHANISMS)
    assert found - declared == set(), f"{name}'s generator holds undeclared {found - declared}"
    missing = (declared & set(DETECTABLE_MECHANISMS)) - found
    assert missing == set(), f"{name} declares {missing}, not found in its generator"


@pytest.mark.parametrize("model, ablation, lost, gained", [
    ("deepfill_v1", "deepfill_v1_no_attention", "contextual attention", None),
    ("glcic", "glcic_no_dilation", "dilated convolution", None),
    ("shift_net", "shift_net_no_shift", "shift connection", None),
    ("context_encoder", "context_encoder_fc", "channel-wise fully connected", "fully connected"),
])
def test_the_introspection_sees_an_architecture_change(model, ablation, lost, gained):
    # each ablation is its model with one mechanism removed or swapped: what an edit to the model would do
    assert lost in distant_mechanisms_found(model) and lost not in distant_mechanisms_found(ablation)
    if gained:
        assert gained in distant_mechanisms_found(ablation) and gained not in distant_mechanisms_found(model)


def test_building_a_generator_leaves_the_callers_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    survey._found.__wrapped__("pggan")  # uncached: really builds the networks
    assert torch.equal(torch.rand(3), expected)


def test_mask_shapes_of_the_library_generators():
    assert mask_shape(center_square_mask(1, 64, 64)[0, 0].numpy()) == "centre square"
    assert mask_shape(random_rectangles_mask(1, 64, 64, generator=1)[0, 0].numpy()) == "rectangle"
    two = np.zeros((64, 64), np.uint8)
    two[4:20, 4:30], two[30:60, 10:25] = 1, 1
    assert mask_shape(two) == "rectangles"
    strokes = free_form_mask(4, 64, 64, with_box=False, generator=2)
    assert {mask_shape(m[0].numpy()) for m in strokes} == {"free-form"}
    with pytest.raises(ValueError, match="empty"):
        mask_shape(np.zeros((8, 8)))


@pytest.mark.parametrize("name", list(SURVEY_ROWS))
def test_declared_book_mask_is_what_the_recipe_draws(name):
    assert book_training_mask(name) == row_for(name).book_mask


# ------------------------------------------------------------------ the table and the tree
def test_the_table_has_a_row_per_model_and_the_named_columns():
    records = survey_records()
    assert len(records) == 11 and all(tuple(r) == TABLE_COLUMNS for r in records)
    assert [r["training mask (this book)"] for r in records] == [book_training_mask(n) for n in SURVEY_ROWS]
    assert records[0]["model"].startswith("Fill refiner (Ch. 0; the book's own")
    assert records[6]["how distant information is reached"] == "contextual attention; dilated convolution"
    markdown = survey_table().splitlines()
    assert len(markdown) == 2 + 11 and all(column in markdown[0] for column in TABLE_COLUMNS)
    assert all(line.count(" | ") == len(TABLE_COLUMNS) - 1 for line in markdown[2:])  # no stray pipes
    html = survey_table(rows=["context_encoder", "glcic"], html=True)
    assert html.count("<tr>") == 3 and html.count("<th>") == len(TABLE_COLUMNS)
    assert "<td>GLCIC (Ch. 3; Iizuka et al., SIGGRAPH 2017)</td>" in html  # a sentence's ";" stays
    assert "<td>L2 reconstruction in the hole<br>global discriminator</td>" in html  # one item per line


def _label_boxes(fig):
    fig.canvas.draw()
    return [text.get_bbox_patch().get_window_extent() for text in fig.axes[0].texts]


def test_the_family_tree_draws_one_box_per_model_and_one_arrow_per_link():
    fig = family_tree()
    try:
        ax = fig.axes[0]
        assert sorted(t.get_gid() for t in ax.texts) == sorted(SURVEY_NAMES)
        arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert {a.get_gid() for a in arrows} == _edges(SURVEY_ROWS[n] for n in SURVEY_NAMES)
        assert len(arrows) == 12 and ax.get_xlabel() == "year of publication"
        boxes = _label_boxes(fig)
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    finally:
        plt.close(fig)


def test_the_family_tree_with_the_books_own_model():
    fig = family_tree(SURVEY_ROWS)
    try:
        ax = fig.axes[0]
        assert len(ax.texts) == 11 and len(ax.patches) == len(_edges(SURVEY_ROWS.values())) == 14
        assert [t.get_text() for t in ax.get_xticklabels()][-1] == "this book"
        boxes = _label_boxes(fig)
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="'context_encoder' is not a declared row"):
        family_tree(["glcic"])
