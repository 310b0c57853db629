"""Names of every method in the book and how to load them.

Defined in Chapter 0 (Foundations).

``load_pretrained(name)`` builds a classical baseline, or a trained network from
``data/checkpoints/<name>.pt`` (trained by the book itself: no pretrained inpainting weights can
be downloaded in our setting).
"""
from __future__ import annotations

from pathlib import Path

import torch

from inpaintlib.evaluation.baselines import BASELINES
from inpaintlib.training.checkpoint import build_generator, read_checkpoint

#: learned models in chapter order; each has a shipped checkpoint ``data/checkpoints/<name>.pt``
LEARNED_MODELS: dict[str, str] = {
    "fill_refiner": "Chapter 0 (Foundations): a learned correction of a classical fill",
    "context_encoder": "Chapter 1 (Context Encoder)",
    "msnps": "Chapter 2 (Multi-Scale Neural Patch Synthesis)",
    "glcic": "Chapter 3 (GLCIC)",
    "pggan": "Chapter 4 (PGGAN)",
    "shift_net": "Chapter 5 (Shift-Net)",
    "deepfill_v1": "Chapter 6 (DeepFill v1)",
    "gmcnn": "Chapter 7 (GMCNN)",
    "pconv": "Chapter 8 (Partial Convolutions)",
    "edgeconnect": "Chapter 9 (EdgeConnect)",
    "deepfill_v2": "Chapter 10 (DeepFill v2)",
}

#: ablation checkpoints shipped beside the models (loadable, but not listed as models)
ABLATIONS: dict[str, str] = {
    "fill_refiner_guided": "Chapter 0 (Foundations): the fill refiner that also sees the Navier-Stokes fill",
    "context_encoder_l2": "Chapter 1 (Context Encoder), L2 loss only",
    "msnps_content": "Chapter 2 (MSNPS), the content network alone (no texture optimisation)",
    "pggan_global_only": "Chapter 4 (PGGAN), the global discriminator head alone (no patch head)",
    "shift_net_no_shift": "Chapter 5 (Shift-Net), the same U-Net without the shift connection",
    "deepfill_v1_no_attention": "Chapter 6 (DeepFill v1), the refinement network's dilated branch alone (no contextual attention)",
    "gmcnn_no_mrf": "Chapter 7 (GMCNN), trained without the ID-MRF loss",
    "pconv_plain_conv": "Chapter 8 (Partial Convolutions), the same U-Net with ordinary convolutions and the mask as an input channel",
    "pconv_soft_update": "Chapter 8 (Partial Convolutions), a real-valued mask update (the window sum, normalised) instead of 0/1",
    "edgeconnect_no_edges": "Chapter 9 (EdgeConnect), the inpainting generator with an empty edge channel",
    "deepfill_v2_partial": "Chapter 10 (DeepFill v2), partial convolutions (a rule-based 0/1 mask) instead of gated ones",
    "deepfill_v2_residual_gate": "Chapter 10 (DeepFill v2), gates that learn a residual over partial convolution's mask update",
}

#: what each ablation changes in which model, for the comparison's ablation table (Chapter 11):
#: ablation -> (the model it is compared with, the change in a few words)
ABLATION_OF: dict[str, tuple[str, str]] = {
    "fill_refiner_guided": ("fill_refiner", "adds the Navier-Stokes fill as an input"),
    "context_encoder_l2": ("context_encoder", "removes the adversarial loss"),
    "msnps_content": ("msnps", "removes the texture optimisation"),
    "pggan_global_only": ("pggan", "removes the patch head of the discriminator"),
    "shift_net_no_shift": ("shift_net", "removes the shift connection"),
    "deepfill_v1_no_attention": ("deepfill_v1", "removes contextual attention"),
    "gmcnn_no_mrf": ("gmcnn", "removes the ID-MRF loss"),
    "pconv_plain_conv": ("pconv", "replaces partial convolutions by plain ones with a mask channel"),
    "pconv_soft_update": ("pconv", "replaces the 0/1 mask update by a real-valued one"),
    "edgeconnect_no_edges": ("edgeconnect", "removes the edge stage (an empty edge channel)"),
    "deepfill_v2_partial": ("deepfill_v2", "replaces gated convolutions by partial ones"),
    "deepfill_v2_residual_gate": ("deepfill_v2", "makes the gates a residual over the partial mask update"),
}

#: named variants of a model, trained at the same budget, between which the validation crops choose
#: (the model's chapter shows the choice): variant -> (the model it competes with, the change)
CANDIDATES: dict[str, tuple[str, str]] = {
    "glcic_balanced_alpha": ("glcic", "the paper's balance of the adversarial weight, kept with a mean loss"),
}

#: which trained run ships under a model's name when the validation crops preferred a candidate
#: (the model's chapter shows the choice, and asserts that this map follows it): model -> the
#: candidate whose checkpoint ``load_pretrained(model)`` loads. A model not listed ships its own
#: recipe's run; a listed model's own run stays loadable with ``load_run(model)``.
SHIPPED_RUN: dict[str, str] = {
    # Chapter 3b, 2026-12-06: both at 1 PFLOP, the validation crops prefer alpha = 1.06e-8
    "glcic": "glcic_balanced_alpha",
}

#: models that are a trained network wrapped by a procedure: name -> (checkpoint, "module:Class");
#: the class is called with the loaded network (e.g. MSNPS = content network + texture optimisation)
WRAPPED: dict[str, tuple[str, str]] = {
    "msnps": ("msnps_content", "inpaintlib.models.msnps:NeuralPatchSynthesis"),
}


#: trainable recipes by name (``python -m inpaintlib train NAME``): "module:RecipeClass"
RECIPES: dict[str, str] = {
    "context_encoder": "inpaintlib.models.context_encoder:ContextEncoderRecipe",
    "context_encoder_l2": "inpaintlib.models.context_encoder:ContextEncoderL2Only",
    "context_encoder_fc": "inpaintlib.models.context_encoder:ContextEncoderFullyConnected",
    "msnps_content": "inpaintlib.models.msnps:MSNPSContentRecipe",
    "glcic": "inpaintlib.models.glcic:GLCICRecipe",
    "glcic_no_dilation": "inpaintlib.models.glcic:GLCICNoDilation",
    "glcic_balanced_alpha": "inpaintlib.models.glcic:GLCICBalancedAlpha",
    "pggan": "inpaintlib.models.pggan:PGGANRecipe",
    "pggan_global_only": "inpaintlib.models.pggan:PGGANGlobalOnly",
    "shift_net": "inpaintlib.models.shift_net:ShiftNetRecipe",
    "shift_net_no_shift": "inpaintlib.models.shift_net:ShiftNetNoShift",
    "deepfill_v1": "inpaintlib.models.deepfill_v1:DeepFillV1Recipe",
    "deepfill_v1_no_attention": "inpaintlib.models.deepfill_v1:DeepFillV1NoAttention",
    "gmcnn": "inpaintlib.models.gmcnn:GMCNNRecipe",
    "gmcnn_no_mrf": "inpaintlib.models.gmcnn:GMCNNNoMRF",
    "fill_refiner": "inpaintlib.models.fill_refiner:FillRefinerRecipe",
    "fill_refiner_guided": "inpaintlib.models.fill_refiner:FillRefinerGuided",
    "pconv": "inpaintlib.models.partial_conv:PConvRecipe",
    "pconv_plain_conv": "inpaintlib.models.partial_conv:PConvPlainConv",
    "pconv_soft_update": "inpaintlib.models.partial_conv:PConvSoftUpdate",
    "edgeconnect": "inpaintlib.models.edgeconnect:EdgeConnectRecipe",
    "edgeconnect_no_edges": "inpaintlib.models.edgeconnect:EdgeConnectNoEdges",
    "deepfill_v2": "inpaintlib.models.deepfill_v2:DeepFillV2Recipe",
    "deepfill_v2_partial": "inpaintlib.models.deepfill_v2:DeepFillV2Partial",
    "deepfill_v2_residual_gate": "inpaintlib.models.deepfill_v2:DeepFillV2ResidualGate",
}


def recipe_for(name: str):
    """A fresh training recipe registered under ``name``. Defined in Chapter 0 (Foundations)."""
    import importlib

    if name not in RECIPES:
        raise SystemExit(f"unknown model {name!r}; trainable models: {', '.join(RECIPES)}")
    module, cls = RECIPES[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def checkpoint_dir() -> Path:
    """Folder of the shipped checkpoints (``data/checkpoints``). Defined in Chapter 0."""
    from inpaintlib.data.photos import DATA_DIR

    return Path(DATA_DIR) / "checkpoints"


#: where each training budget's checkpoints live, under ``data/checkpoints``: the ``cpu`` budget
#: (every chapter's shipped model) at the top, GPU-trained ones (``make train-gpu``) in ``gpu/``
VARIANTS = {"cpu": ".", "gpu": "gpu", "seed1": "seed1", "seed2": "seed2"}
#: ``seed1``/``seed2``: the same recipe at the equal budget with another seed (``train-all --seed``),
#: for the run-to-run spread that the comparison (Chapter 11) sets every difference against.
#: the training profiles a shipped variant may record: the ``cpu`` variant (in ``data/checkpoints``)
#: is trained with the ``equal`` FLOP budget; checkpoints not yet retrained record the earlier
#: minutes budget, profile ``"cpu"`` (90 core-minutes)
VARIANT_PROFILES = {"cpu": ("equal", "cpu"), "gpu": ("gpu",), "seed1": ("equal",), "seed2": ("equal",)}


def run_name(name: str) -> str:
    """The trained run (a recipe's name, the stem of its checkpoint file) that ``name`` loads.

    Defined in Chapter 0; a wrapped model loads its network's run (``msnps`` -> ``msnps_content``),
    a model with a candidate preferred by the validation crops loads the candidate's run
    (:data:`SHIPPED_RUN`, Chapter 3b), every other name its own.
    """
    if name in WRAPPED:
        return WRAPPED[name][0]
    return SHIPPED_RUN.get(name, name)


def run_path(run: str, variant: str = "cpu") -> Path:
    """Where the checkpoint of the trained run ``run`` (a recipe's name) lives. Chapter 0."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown checkpoint variant {variant!r}: expected one of {tuple(VARIANTS)}")
    return (checkpoint_dir() / VARIANTS[variant]).resolve() / f"{run}.pt"


def checkpoint_path(name: str, variant: str = "cpu") -> Path:
    """Where the shipped checkpoint of ``name`` lives (``variant``: ``cpu`` or ``gpu``). Chapter 0."""
    return run_path(run_name(name), variant)


def available_variants(name: str) -> list[str]:
    """The training budgets (``cpu``, ``gpu``) for which ``name`` has a shipped checkpoint. Chapter 0."""
    return [v for v in VARIANTS if checkpoint_path(name, v).is_file()]


def available_models(include_untrained: bool = False) -> list[str]:
    """Names ``load_pretrained`` accepts: the classical baselines and every learned model whose
    checkpoint is shipped (all learned models with ``include_untrained=True``).

    Defined in Chapter 0 (Foundations).
    """
    learned = [n for n in LEARNED_MODELS if include_untrained or checkpoint_path(n).is_file()]
    return list(BASELINES) + learned


def load_pretrained(name: str, device: str | torch.device = "cpu", variant: str = "cpu"):
    """The model ``name`` ready for :func:`inpaintlib.inpaint`: eval mode, on ``device`` (CPU by default).

    ``variant="gpu"`` loads the GPU-trained checkpoint (``data/checkpoints/gpu``) where one exists.

    Defined in Chapter 0 (Foundations). The checkpoint's metadata (profile, steps, device,
    metrics ...) and loss history are attached as ``model.checkpoint_meta`` and
    ``model.checkpoint_history``.
    """
    if name in BASELINES:
        return BASELINES[name]().to(device).eval()
    if name not in LEARNED_MODELS and name not in ABLATIONS and name not in CANDIDATES:
        raise ValueError(f"unknown model {name!r}; available: {available_models(include_untrained=True)}")
    run = run_name(name)
    try:
        model = load_run(run, device, variant)
    except FileNotFoundError as missing:
        if run == name:
            raise
        raise FileNotFoundError(f"{name!r} ships the run {run!r} (registry.SHIPPED_RUN): {missing}") from None
    if name in WRAPPED:
        import importlib

        module, cls = WRAPPED[name][1].split(":")
        meta, history = model.checkpoint_meta, model.checkpoint_history
        model = getattr(importlib.import_module(module), cls)(model).to(device).eval()
        model.checkpoint_meta, model.checkpoint_history = meta, history
    return model


def load_run(run: str, device: str | torch.device = "cpu", variant: str = "cpu"):
    """The trained network of the run ``run`` (a recipe's name), whether or not it ships as a model.

    Defined in Chapter 3b, where the validation crops choose between two runs of GLCIC: both stay
    loadable by their recipes' names whichever of them :data:`SHIPPED_RUN` ships as ``glcic``.
    Eval mode, on ``device``, with ``checkpoint_meta`` and ``checkpoint_history`` attached.
    """
    if run not in RECIPES:
        raise ValueError(f"unknown run {run!r}: expected a recipe's name, one of {', '.join(RECIPES)}")
    path = run_path(run, variant)
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped checkpoint for {run!r} at {path}; train one with "
            f"`python -m inpaintlib train {run}` and copy it there"
        )
    ckpt = read_checkpoint(path)
    model = build_generator(ckpt).to(device).eval()
    model.checkpoint_meta = ckpt["meta"]
    model.checkpoint_history = ckpt["history"]
    return model
