"""Course helpers: the notebooks' setup cell (`setup`) and the upload widget (`widget`, also served by `jewel app`)."""
