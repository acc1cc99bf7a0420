"""Everything a notebook needs in one import: `from jewelhelpers.all import *` (notebooks only).

Taught in: every notebook's setup cell.
"""
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

warnings.filterwarnings("ignore", message=".*torch.jit.script.*")

from .audit import FINDINGS, audit
from .backbones import ARCHS, body_head_split, build_model, linear_head, norm_stats, resolve_arch
from .course import course_data, other_shops, project_root, setup_notebook
from .data import jewel_augs, list_images, make_dls, open_rgb, read_items, read_manifest
from .errors import JewelError
from .plots import plot_class_balance, show_montage
from .profiles import Profile, data_dir, external_dirs, get_profile
from .runs import load_model, read_meta
from .split import make_split, write_manifest
from .synth import draw_item, make_synth
from .train import *  # noqa: F401,F403  (the recipe: make_learner, fit_recipe, compare_strategies, train, ...)
from .evaluate import *  # noqa: F401,F403
from .inference import *  # noqa: F401,F403
from .interpret import *  # noqa: F401,F403
from .export import export_onnx
from .predict import Predictor, coverage_curve, pick_threshold, plot_coverage, predict_files
from .widget import UploadApp
from .baseline import probe_beside
from .lpft import *  # noqa: F401,F403  (LP-FT: cut_last_stage, fit_lpft, tune_last_stage, ...)
