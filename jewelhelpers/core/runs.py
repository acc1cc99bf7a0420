"""The RUN_DIR format: one folder per trained model, read by every later step.

Files: `split.csv` (manifest), `meta.json` (what is needed to rebuild and preprocess), `model.pth`
(a state_dict, loadable with `weights_only=True`), `export.pkl` (fastai's pickle, trusted use only),
`history.csv` and curve plots, `metrics.json` (the test split, as `jewel evaluate` writes it), `baseline.csv`.

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import json
import pickle
import platform
import shutil
from pathlib import Path

import torch

from .backbones import Backbone, build_model
from .errors import JewelError
from .images import check_outside_data
from .manifest import MANIFEST
from .settings import Profile

META, WEIGHTS, EXPORT, METRICS, HISTORY, BASELINE, WISE = (
    "meta.json", "model.pth", "export.pkl", "metrics.json", "history.csv", "baseline.csv", "wise.csv")
PLOTS = {"head": "lr_find_head.png", "body": "lr_find_unfrozen.png", "curves": "curves.png"}


def prepare_run_dir(out: str | Path, force: bool = False, data: str | Path | None = None) -> Path:
    """Create RUN_DIR; refuse a non-empty one unless `force` and it holds an earlier run (then it is emptied).

    With `data`, an `out` inside DATA is refused before anything is created.
    """
    out = Path(out).expanduser()
    if data is not None:
        check_outside_data(out, data)
    if out.exists() and not out.is_dir():
        raise JewelError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise JewelError(f"{out} is not empty: choose a new --out or pass --force to replace the earlier run")
        if not (out / META).is_file():
            raise JewelError(f"{out} is not empty and holds no {META}: refusing to empty a folder that is not a run")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path: str | Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


def read_json(path: str | Path) -> dict:
    """A JSON file the tool wrote; JewelError naming it when it is damaged (edited by hand, cut short)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise JewelError(f"{path} is damaged ({e}): make it again (jewel train or jewel index with a new --out)"
                         ) from None


def read_meta(run_dir: str | Path) -> dict:
    """`meta.json` of a run; JewelError when `run_dir` is not a run folder."""
    path = Path(run_dir) / META
    if not path.is_file():
        raise JewelError(f"{run_dir} is not a run folder (no {META}); make one with: jewel train DATA --out RUN_DIR")
    return read_json(path)


def update_meta(run_dir: str | Path, **changes) -> dict:
    """Merge `changes` into `meta.json` (e.g. the temperature once calibrated) and return the new meta."""
    meta = read_meta(run_dir) | changes
    write_json(Path(run_dir) / META, meta)
    return meta


def save_weights(run_dir: str | Path, model: torch.nn.Module) -> Path:
    """The model's state_dict as `model.pth` (plain tensors: loads with `weights_only=True`)."""
    path = Path(run_dir) / WEIGHTS
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path


def model_meta(classes: list[str], backbone: Backbone, profile: Profile) -> dict:
    """What preprocessing and scoring need to know of a model (the subset of a run's meta.json)."""
    return {"classes": classes, "size": profile.size, "presize": profile.presize, "mean": backbone.mean,
            "std": backbone.std}


def load_model(run_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the run's model from `meta.json` + `model.pth` without executing any pickle; eval mode."""
    meta = read_meta(run_dir)
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise JewelError(f"{run_dir} has no {WEIGHTS}: the run did not finish; train it again")
    model = build_model(meta["arch"], len(meta["classes"]), pretrained=False, head=meta.get("head", "fastai"),
                        features=meta.get("features", "last")).model
    try:
        model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise JewelError(f"{path} is damaged or not this run's model ({type(e).__name__}): train it again") from None
    return model.to(device).eval(), meta


def versions() -> dict:
    """Versions of what shaped a run, for `meta.json`."""
    from importlib.metadata import version
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": version("torchvision"),
            "fastai": version("fastai"), "jewelhelpers": version("jewelhelpers")}
