"""How results are measured and shown: metrics, the classical baselines, the fixed test set, figures.

* :mod:`~inpaintlib.evaluation.compositing`: known pixels copied through before anything is measured;
* :mod:`~inpaintlib.evaluation.metrics`: hole L1/L2, PSNR and SSIM (Chapter 0);
* :mod:`~inpaintlib.evaluation.baselines`: Telea, Navier-Stokes and biharmonic fills, the bar every
  learned model must clear (Chapter 0);
* :mod:`~inpaintlib.evaluation.fixed_test_set`: any method on every bucket of the fixed test set,
  cached, and the book's result tables (Chapter 0);
* :mod:`~inpaintlib.evaluation.postprocess`: GLCIC's fast marching + Poisson blending (Chapter 3);
* :mod:`~inpaintlib.evaluation.receptive_field`: receptive fields by formula and by measurement
  (Chapter 3);
* :mod:`~inpaintlib.evaluation.architecture`: a network's layer table and its boxes-and-arrows
  figure, traced from one forward pass (Chapter 1);
* :mod:`~inpaintlib.evaluation.plotting`: the book's figures.
"""
