"""How every model in the book is trained: one engine, its budget, and what a run records.

* :mod:`~inpaintlib.training.engine`: :class:`Recipe`, :class:`Phase`, :class:`Update` and
  :func:`train`, the one training loop (Chapter 0);
* :mod:`~inpaintlib.training.profiles`: ``smoke``, ``book``, ``equal`` (1 PFLOP, the budget of every
  shipped model) and ``gpu``;
* :mod:`~inpaintlib.training.flops`: the training FLOPs of a step, counted;
* :mod:`~inpaintlib.training.schedules`: budgets, step plans, phases, resizing, learning rates;
* :mod:`~inpaintlib.training.batches`: batch ``k`` as a pure function of the seed, made ahead in
  worker processes;
* :mod:`~inpaintlib.training.precision`, :mod:`~inpaintlib.training.ema`,
  :mod:`~inpaintlib.training.progress`: bfloat16 and channels-last, the moving average, progress bars;
* :mod:`~inpaintlib.training.checkpoint`: checkpoints, shipping in float16, output fingerprints;
* :mod:`~inpaintlib.training.train_all`: a GPU session's one command; :mod:`~inpaintlib.training.speed`:
  how fast a recipe trains here.
"""
