"""Network building blocks the chapters share: layers, upsampling, attention, shift, discriminators, masks' convolutions.

* :mod:`~inpaintlib.nn.layers`: convolution blocks, dilated residual blocks, input checks (Chapters 1-6);
* :mod:`~inpaintlib.nn.upsampling`: transposed, resize-convolution and interpolated upsampling (Chapters 1, 4);
* :mod:`~inpaintlib.nn.shift`: Shift-Net's shift connection (Chapter 5);
* :mod:`~inpaintlib.nn.contextual_attention`: DeepFill's contextual attention (Chapter 6);
* :mod:`~inpaintlib.nn.discriminators`: global, local, patch and WGAN critics (Chapters 1, 3, 4, 6);
* :mod:`~inpaintlib.nn.partial_conv`: the partial convolution and its mask update (Chapter 8);
* :mod:`~inpaintlib.nn.gated_conv`: the gated convolution (Chapter 10);
* :mod:`~inpaintlib.nn.activations`: the ELU computed from ``exp``, fast on a CPU (Chapter 10).

Each module says which chapter defines (explains) each piece.
"""
