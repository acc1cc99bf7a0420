"""The ground every job stands on: errors, settings, images, the manifest and RUN_DIR formats, backbones, the one
forward pass, metrics and calibration, the linear probe, figures and Grad-CAM. No fastai Learner is imported here."""
