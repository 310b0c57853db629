"""Chapter 10 tests that need the shipped checkpoints: they go into tests/test_deepfill_v2.py when
the checkpoints ship (see drafts/README.md). Imports as in that file, plus ``canny_edges``,
``checkpoint_path``, ``missing_checkpoint_message``, ``shipped_generator``, ``TEST_MASK_KINDS``,
``LEARNED_MODELS``, ``ABLATIONS`` and
``assert_fills_every_bucket_keeping_known_pixels`` (from ``training_helpers``)."""

# ---- Chapter 10: tests/test_deepfill_v2.py ----

def test_deepfill_v2_registered_and_shipped():
    assert "deepfill_v2" in LEARNED_MODELS
    assert {"deepfill_v2_partial", "deepfill_v2_residual_gate"} <= set(ABLATIONS)
    for name, kind in (("deepfill_v2", "gated"), ("deepfill_v2_partial", "partial"),
                       ("deepfill_v2_residual_gate", "residual_gate")):
        g = shipped_generator(name)  # fails (never skips) until shipped; under 4 MB, equal budget
        assert g.conv_kind == kind and g.use_sketch and g.use_attention


def test_shipped_deepfill_v2_fills_every_bucket_with_known_pixels_unchanged():
    # no sketch, and the true edges in the hole
    assert_fills_every_bucket_keeping_known_pixels(
        "deepfill_v2", lambda x, m: ({}, {"sketch": canny_edges(x) * m}))
    model, x = inpaintlib.load_pretrained("deepfill_v2"), load_test_set(n=2)
    for kind in TEST_MASK_KINDS:  # the sketch reaches the fill
        m = load_test_masks(kind, n=2)
        assert not torch.equal(inpaintlib.inpaint(x, m, model),
                               inpaintlib.inpaint(x, m, model, sketch=canny_edges(x) * m)), kind
