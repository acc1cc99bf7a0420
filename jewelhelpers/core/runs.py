"""The RUN_DIR format: one folder per trained model, read by every later step.

Files: `split.csv` (manifest), `meta.json` (what is needed to rebuild and preprocess), `model.pth`
(a state_dict, loadable with `weights_only=True`), `export.pkl` (fastai's pickle, trusted use only),
`history.csv` and curve plots, `metrics.json` (test split).

Taught in: 02_transfer_learning_resnet50.ipynb.
"""
from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import torch

from .errors import JewelError

META, WEIGHTS, EXPORT, MANIFEST, METRICS, HISTORY = (
    "meta.json", "model.pth", "export.pkl", "split.csv", "metrics.json", "history.csv")


def prepare_run_dir(out: str | Path, force: bool = False) -> Path:
    """Create RUN_DIR; refuse a non-empty one unless `force` and it holds an earlier run (then it is emptied)."""
    out = Path(out).expanduser()
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
    return json.loads(Path(path).read_text(encoding="utf-8"))


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


def load_model(run_dir: str | Path, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the run's model from `meta.json` + `model.pth` without executing any pickle; eval mode."""
    from .backbones import build_model
    meta = read_meta(run_dir)
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise JewelError(f"{run_dir} has no {WEIGHTS}: the run did not finish; train it again")
    model = build_model(meta["arch"], len(meta["classes"]), pretrained=False, head=meta.get("head", "fastai")).model
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device).eval(), meta


def versions() -> dict:
    """Versions of what shaped a run, for `meta.json`."""
    import fastai
    import torchvision
    from . import __version__
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "fastai": fastai.__version__, "jewelhelpers": __version__}
