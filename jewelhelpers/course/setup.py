"""The notebooks' one setup cell: seeds, profile, and where the data comes from.

Taught in: 01_data_preparation.ipynb (and the setup cell of every notebook).
"""
from __future__ import annotations

import warnings
from pathlib import Path

from .errors import JewelError
from .profiles import Profile, data_dir, get_profile


def project_root() -> Path:
    """The jewel-vision checkout (the folder holding pyproject.toml), found from the working directory."""
    for folder in [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]]:
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
    from .synth import make_synth
    return make_synth(project_root() / "data" / f"synth-{profile.name}", per_class=profile.synth_per_class,
                      size=profile.synth_size, seed=0, progress=False)


def setup_notebook(seed: int = 0) -> tuple[Profile, Path]:
    """Seed everything, pick the profile (`$JEWEL_PROFILE`, default quick) and the data; say what was chosen."""
    from fastai.vision.all import set_seed
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    set_seed(seed, reproducible=True)
    profile = get_profile()
    data = course_data(profile)
    source = "real photos from JEWEL_DATA" if data_dir() else "the synthetic set (set JEWEL_DATA for real photos)"
    print(f"profile: {profile.name} ({profile.size} px, recipe {profile.recipe}, {profile.epochs} fine-tuning epochs); "
          f"data: {data} — {source}")
    return profile, data


def other_shops(profile: Profile) -> list[Path]:
    """Other shops' folders from `$JEWEL_EXTERNAL_DATA`; without them, a drawn stand-in "shop" (another seed)."""
    from .profiles import external_dirs
    from .synth import make_synth
    return external_dirs() or [make_synth(project_root() / "data" / f"synth-othershop-{profile.name}", per_class=6,
                                          size=profile.synth_size, seed=1, progress=False)]
