"""What the models learn from and are tested on: photos, masks and image files.

* :mod:`~inpaintlib.data.photos`: the book's photos, their splits, training crops and the fixed
  test set (Chapter 0);
* :mod:`~inpaintlib.data.masks`: centre squares, rectangles and free-form strokes, with one
  polarity everywhere (1 = hole) (Chapters 0-10);
* :mod:`~inpaintlib.data.image_files`: a reader's own photo and mask files, read or refused with a
  clear message (Chapter 0).
"""
