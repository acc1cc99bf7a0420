"""Everything a notebook needs in one import: `from jewelhelpers.all import *` (notebooks only).

Taught in: every notebook's setup cell.
"""
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

warnings.filterwarnings("ignore", message=".*torch.jit.script.*")

from .audit import FINDINGS, audit
from .backbones import ARCHS, body_head_split, build_model, norm_stats, resolve_arch
from .course import course_data, project_root, setup_notebook
from .data import jewel_augs, list_images, make_dls, open_rgb, read_items, read_manifest
from .errors import JewelError
from .plots import plot_class_balance, show_montage
from .profiles import Profile, data_dir, external_dirs, get_profile
from .runs import load_model, read_meta
from .split import make_split, write_manifest
from .synth import draw_item, make_synth
