"""Everything a notebook needs in one import: `from jewelhelpers.all import *` (notebooks only; a face, like cli.py).

Taught in: every notebook's setup cell.
"""
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

warnings.filterwarnings("ignore", message=".*torch.jit.script.*")

from .core.backbones import ARCHS, body_head_split, build_model, linear_head, norm_stats, resolve_arch  # noqa: E402
from .core.composite import composite, composite_items  # noqa: E402
from .core.drawing import SCENES, draw_item, make_synth, scene  # noqa: E402
from .core.errors import JewelError  # noqa: E402
from .core.figures import (  # noqa: E402
    new_figure, plot_class_balance, plot_confusion, plot_coverage, plot_f1, plot_history, plot_reliability, plot_similar,
    plot_robustness, plot_unknown_scores, show_montage,
)
from .core.findings import FINDINGS, audit  # noqa: E402
from .core.forward import batch_logits, pooled, preprocess, probabilities, run_logits  # noqa: E402
from .core.images import list_images, open_rgb, read_items  # noqa: E402
from .core.interpret import (  # noqa: E402
    grad_cam, model_view, pick_right_wrong, plot_gallery, plot_grad_cam, plot_suspects, top_losses,
)
from .core.manifest import make_split, manifest_split, read_manifest, write_manifest  # noqa: E402
from .core.metrics import (  # noqa: E402
    classification_metrics, coverage_curve, ece, match_classes, most_confused, nll, pick_threshold, prediction_table,
)
from .core.index import PhotoIndex, build_index, embed, similar_table  # noqa: E402
from .core.onnx import export_onnx  # noqa: E402
from .core.predictor import Predictor  # noqa: E402
from .core.review import label_issues, out_of_fold  # noqa: E402
from .core.robustness import CORRUPTIONS, corrupt, robustness_report, swap_background  # noqa: E402
from .core.runs import load_model, model_meta, read_meta  # noqa: E402
from .core.unknown import knn_distances, normalise, run_unknown, separation, unknown_scores  # noqa: E402
from .core.scoring import calibration, score_items, valid_temperature  # noqa: E402
from .core.settings import UNKNOWN_METHODS, Profile, data_dir, external_dirs, get_profile  # noqa: E402
from .course.setup import course_data, other_shops, project_root, run_to_evaluate, setup_notebook  # noqa: E402
from .course.widget import UploadApp  # noqa: E402
from .jobs.evaluate import evaluate, evaluation_line  # noqa: E402
from .jobs.predict import predict_files  # noqa: E402
from .jobs.review import review  # noqa: E402
from .jobs.train import summary_line, train  # noqa: E402
from .recipes.baseline import frozen_features, probe_beside  # noqa: E402
from .recipes.classic import fit_recipe  # noqa: E402
from .recipes.dls import jewel_augs, make_dls, profile_dls  # noqa: E402
from .recipes.fitting import (  # noqa: E402
    KeepBest, discriminative_lrs, find_lr, fit_phase, make_learner, param_group_table, seed_everything,
)
from .recipes.lpft import cut_last_stage, fit_lpft, fit_lpft_recipe, tune_last_stage  # noqa: E402
