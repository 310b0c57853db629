"""One module per paper's model. Only what a paper adds is new code here; shared layers,
losses and training live elsewhere in `inpaintlib`."""
