"""The notebooks' one setup cell: seeds, profile, where the data comes from, and which run to evaluate.

Taught in: 01_data_preparation.ipynb (and the setup cell of every notebook).
"""
from __future__ import annotations

import warnings
from pathlib import Path

from ..core.drawing import make_synth
from ..core.errors import JewelError
from ..core.runs import WEIGHTS, read_meta
from ..core.settings import Profile, data_dir, external_dirs, get_profile, run_dir_var
from ..recipes.fitting import seed_everything


def project_root() -> Path:
    """The jewel-vision checkout (the folder holding pyproject.toml), found from the working directory."""
    for folder in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2]]:
        if (folder / "pyproject.toml").is_file() and (folder / "jewelhelpers").is_dir():
            return folder
    raise JewelError("cannot find the jewel-vision project folder: start Jupyter inside the checkout")


def course_data(profile: Profile) -> Path:
    """Real photos from `$JEWEL_DATA` when set (they must exist), else the synthetic set for the profile."""
    real = data_dir()
    if real is not None:
        if not real.exists():
            raise JewelError(f"STOP: JEWEL_DATA={real} does not exist. Fix the path or unset it to use the synthetic set.")
        return real
    return make_synth(project_root() / "data" / f"synth-{profile.name}", per_class=profile.synth_per_class,
                      size=profile.synth_size, seed=0, progress=False)


def setup_notebook(seed: int = 0) -> tuple[Profile, Path]:
    """Seed everything, pick the profile (`$JEWEL_PROFILE`, default quick) and the data; say what was chosen."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    seed_everything(seed)
    profile = get_profile()
    data = course_data(profile)
    source = "real photos from JEWEL_DATA" if data_dir() else "the synthetic set (set JEWEL_DATA for real photos)"
    print(f"profile: {profile.name} ({profile.size} px, recipe {profile.recipe}, {profile.epochs} fine-tuning epochs); "
          f"data: {data} — {source}")
    return profile, data


def other_shops(profile: Profile) -> list[Path]:
    """Other shops' folders from `$JEWEL_EXTERNAL_DATA`; without them, a drawn stand-in "shop" (another seed)."""
    return external_dirs() or [make_synth(project_root() / "data" / f"synth-othershop-{profile.name}", per_class=6,
                                          size=profile.synth_size, seed=1, progress=False)]


def run_to_evaluate(data: str | Path, profile: str) -> Path:
    """The run a notebook evaluates: `$JEWEL_RUN` if set, else notebook 02's run (runs/02-<profile>) on DATA.

    Nothing is trained here: without that run, a STOP message says to run notebook 02 first (or to set JEWEL_RUN).
    """
    run_dir = run_dir_var()
    if run_dir is not None:
        read_meta(run_dir)
        return run_dir
    run_dir = project_root() / "runs" / f"02-{profile}"
    data = Path(data).expanduser().resolve()
    if not (run_dir / WEIGHTS).is_file():
        raise JewelError(f"STOP: notebook 02's run {run_dir} is missing: run notebook 02 with JEWEL_PROFILE={profile} "
                         "first (it trains once and writes it), or set JEWEL_RUN to a run folder")
    trained_on = read_meta(run_dir).get("data")
    if trained_on != str(data):
        raise JewelError(f"STOP: {run_dir} was trained on {trained_on}, not on {data}: run notebook 02 again on this "
                         "data, or set JEWEL_RUN to a run folder trained on it")
    return run_dir
