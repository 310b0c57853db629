"""What the networks are trained to minimise, and the per-pixel weights and features it needs.

* :mod:`~inpaintlib.losses.terms`: pixel (masked L1/L2), adversarial (BCE, WGAN-GP, hinge),
  perceptual, style and total-variation terms, and :class:`~inpaintlib.losses.terms.WeightedLoss`,
  the named weighted sum every recipe uses (Chapters 0-6);
* :mod:`~inpaintlib.losses.pixel_weights`: spatially discounted and confidence-driven weights
  (Chapters 6, 7);
* :mod:`~inpaintlib.losses.patches`: feature patches and nearest-neighbour matching (Chapter 2);
* :mod:`~inpaintlib.losses.id_mrf`: GMCNN's implicit-diversity MRF loss (Chapter 7);
* :mod:`~inpaintlib.losses.vgg`: the frozen VGG-16 whose features the perceptual, style and MRF
  losses compare (Chapter 2).
"""
