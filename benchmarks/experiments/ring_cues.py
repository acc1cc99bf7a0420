"""Why are catalogue rings called bracelets? (issue 16, RESULTS.md) A probe held out on one source, and the cues of
what it gets right and wrong; then each held-out photo on white again, its product made small (30-75% of the frame)
and placed anywhere on white: if filling the frame were what makes a ring a "bracelet", those copies would be named
rings.

The probe is the shipped one (`core.probe.fit_probe`, class-balanced, C=0.01) on the frozen Lite0 features at 288 px
of every other real source plus the 400 drawn images of `loso.py`'s v2 pool, all cached by `loso.py --extract`.

    .venv/bin/python benchmarks/loso.py --drawings v2 --sizes 288 --extract --cache /tmp/jewel-loso  # once
    .venv/bin/python benchmarks/experiments/ring_cues.py abhishek-photo
"""
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

from loso import ARCH, DATA, cues, drawn_items, features, real_items  # noqa: E402
from jewelhelpers.core.backbones import norm_stats  # noqa: E402
from jewelhelpers.core.drawing import CLASSES  # noqa: E402
from jewelhelpers.core.forward import center_square  # noqa: E402
from jewelhelpers.core.probe import extract_features, fit_probe  # noqa: E402
from jewelhelpers.core.robustness import cut_out, object_mask, on_white  # noqa: E402

CACHE, SIZE = Path("/tmp/jewel-loso"), 288


@dataclass(frozen=True)
class ZoomedOut:
    """A photo on white: its product cut out, its longer side 30-75% of the frame, anywhere on white (else as is)."""

    def __call__(self, im: Image.Image, size: int, rng: random.Random) -> Image.Image:
        if not (on_white(im) and object_mask(im).mean() > 0.01):
            return center_square(im, size)
        cut = cut_out(im)
        scale = rng.uniform(0.3, 0.75) * size / max(cut.size)
        cut = cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.LANCZOS)
        out = Image.new("RGB", (size, size), (255, 255, 255))
        out.paste(cut, (rng.randrange(size - cut.width + 1), rng.randrange(size - cut.height + 1)), cut)
        return out

    def key(self) -> str:
        return "zoomed-out-0.3-0.75"


def main() -> None:
    held = sys.argv[1] if len(sys.argv) > 1 else "abhishek-photo"
    real, pool = real_items(DATA), drawn_items(CACHE / "drawn-v2", 80)
    xr = features(real, SIZE, "crop", CACHE / "features", progress=False)
    xd = features(pool, SIZE, "crop", CACHE / "features", progress=False)
    train = real["source"].to_numpy() != held
    probe = fit_probe(np.concatenate([xr[train], xd]), [*real["label"][train], *pool["label"]], CLASSES,
                      balanced=True, C=0.01)
    items = real[~train].reset_index(drop=True)
    shot = pd.Series(probe.predict(xr[~train]), name="as shot")
    table = pd.concat([items["label"], shot, cues(items)], axis=1)
    print(f"{held}: accuracy {np.mean(shot == items['label']):.3f}; cues per (label, prediction), medians:")
    print(table.groupby(["label", "as shot"])[["box", "area", "saturation"]].median().round(2)
          .assign(n=table.groupby(["label", "as shot"]).size()).to_string())
    mean, std = norm_stats(ARCH)
    small = extract_features(ARCH, list(items["path"]), SIZE, mean, std, views=2, aug=ZoomedOut(),
                             cache_dir=CACHE / "features", progress=False)[:, 1]
    zoomed = pd.Series(probe.predict(small), name="zoomed out")
    print(f"zoomed-out copies: accuracy {np.mean(zoomed == items['label']):.3f}")
    print(pd.crosstab(shot, zoomed).to_string())


if __name__ == "__main__":
    main()
