"""The synthetic dataset: deterministic, laid out as an ImageFolder, safe to run twice, not separable by colour."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jewelhelpers.core.errors import JewelError
from jewelhelpers.core.drawing import CLASSES, MARKER, draw_item, make_synth

PER_CLASS, SIZE = 3, 64


def _md5s(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return make_synth(tmp_path_factory.mktemp("a") / "synth", per_class=PER_CLASS, size=SIZE, seed=1, progress=False)


def test_same_seed_gives_identical_bytes(synth, tmp_path):
    again = make_synth(tmp_path / "synth", per_class=PER_CLASS, size=SIZE, seed=1, progress=False)
    first = _md5s(synth)
    assert len(first) == len(CLASSES) * PER_CLASS + 1
    assert _md5s(again) == first


def test_different_seed_gives_different_images(synth, tmp_path):
    other = make_synth(tmp_path / "other", per_class=PER_CLASS, size=SIZE, seed=2, progress=False)
    first, second = _md5s(synth), _md5s(other)
    images = [k for k in first if k.endswith(".png")]
    assert images and all(first[k] != second[k] for k in images)


def test_image_folder_layout(synth):
    folders = sorted(p.name for p in synth.iterdir() if p.is_dir())
    assert folders == list(CLASSES)
    for label in CLASSES:
        names = sorted(p.name for p in (synth / label).iterdir())
        assert names == [f"{label}_{i:04d}.png" for i in range(PER_CLASS)]
    assert (synth / MARKER).is_file()


def test_images_are_rgb_of_requested_size(synth):
    for p in synth.rglob("*.png"):
        with Image.open(p) as im:
            assert (im.mode, im.size) == ("RGB", (SIZE, SIZE))
    im = draw_item("watch", np.random.default_rng(0), size=48)
    assert (im.mode, im.size) == ("RGB", (48, 48))


def test_refuses_a_foreign_folder_and_leaves_it_untouched(tmp_path):
    mine = tmp_path / "photos"
    (mine / "ring").mkdir(parents=True)
    (mine / "ring" / "ring_0000.png").write_bytes(b"my own photo")
    before = _md5s(mine)
    with pytest.raises(JewelError, match="were not drawn here"):
        make_synth(mine, per_class=PER_CLASS, size=SIZE, progress=False)
    assert _md5s(mine) == before


def test_rerun_with_other_settings_is_refused(synth):
    before = _md5s(synth)
    with pytest.raises(JewelError, match="seed=1"):
        make_synth(synth, per_class=PER_CLASS, size=SIZE, seed=3, progress=False)
    assert _md5s(synth) == before


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(JewelError, match="unknown jewelry class"):
        draw_item("tiara", np.random.default_rng(0))
    with pytest.raises(JewelError, match="per_class"):
        make_synth(tmp_path / "x", per_class=0, progress=False)
    assert not (tmp_path / "x").exists()


def test_classes_are_not_separable_by_mean_colour():
    """Each image's mean RGB must not give its class away: accuracy stays near chance (0.2), under 0.4.

    Two probes on 40 images per class: nearest class centroid, and 7 nearest neighbours (leave one out).
    The bound is tight on purpose: with 0.6, even drawing each class on its own background type slips through.
    """
    n = 40
    x = np.array([np.asarray(draw_item(label, np.random.default_rng([5, ci, i]), SIZE), float).mean((0, 1))
                  for ci, label in enumerate(CLASSES) for i in range(n)])
    y = np.repeat(np.arange(len(CLASSES)), n)
    centroids = np.stack([x[y == k].mean(0) for k in range(len(CLASSES))])
    by_centroid = np.argmin(((x[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    dist = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    neighbours = y[np.argsort(dist, axis=1)[:, :7]]
    by_neighbours = np.array([np.bincount(row, minlength=len(CLASSES)).argmax() for row in neighbours])
    assert (by_centroid == y).mean() < 0.4
    assert (by_neighbours == y).mean() < 0.4


def _skin_share(images: list[Image.Image]) -> float:
    """Share of pixels near a skin tone, with a hue between red and yellow."""
    x = np.stack([np.asarray(im, float) for im in images])
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return float(((r > g + 12) & (g > b + 8) & (r - b > 40) & (r > 60)).mean())


def test_worn_scenes_put_skin_under_every_class(monkeypatch):
    """With every photo worn, each class shows far more skin than when none is (fingers, wrist, neck, face)."""
    from jewelhelpers.core import drawing as synth_module
    for label in CLASSES:
        shares = {}
        for p_worn in (0.0, 1.0):
            monkeypatch.setattr(synth_module, "P_WORN", p_worn)
            shares[p_worn] = _skin_share([draw_item(label, np.random.default_rng([3, i]), SIZE) for i in range(12)])
        assert shares[1.0] > shares[0.0] + 0.1, (label, shares)


def test_rings_and_bracelets_share_no_false_cue(monkeypatch):
    """Issue 16: real catalogues show plain-band rings as large in the frame as bracelets, so in the drawn set a
    plain band must not mean bracelet, a stone must not mean ring, and size in the frame must not tell them apart."""
    from jewelhelpers.core import drawing as synth_module
    calls: list[tuple[str, float]] = []
    for name in ("_gem", "_bead", "_band"):
        real = getattr(synth_module, name)

        def spy(d, x, y, r, *args, _name=name, _real=real, **kw):
            calls.append((_name, r))
            return _real(d, x, y, r, *args, **kw)
        monkeypatch.setattr(synth_module, name, spy)
    drawn: dict[str, list[list[tuple[str, float]]]] = {"ring": [], "bracelet": []}
    for label in drawn:
        for i in range(60):
            calls.clear()
            synth_module.DRAWERS[label](ImageDraw.Draw(Image.new("RGBA", (200, 200))), np.random.default_rng([9, i]),
                                        100, 100, 100.0, (214, 172, 72))
            drawn[label].append(list(calls))
    stones = {label: np.mean([any(n != "_band" for n, _ in c) for c in cs]) for label, cs in drawn.items()}
    plain_bangles = np.mean([[n for n, _ in c] == ["_band"] for c in drawn["bracelet"]])
    assert 1 - stones["ring"] >= 0.3, stones  # plain rings (wedding bands) are common
    assert plain_bangles <= 0.2, plain_bangles
    ring_rx = np.median([c[0][1] for c in drawn["ring"]])
    bangle_rx = np.median([c[0][1] for c in drawn["bracelet"] if c and c[0][0] == "_band"])
    assert abs(ring_rx / bangle_rx - 1) < 0.1, (ring_rx, bangle_rx)


def test_drawing_in_threads_gives_the_bytes_of_drawing_alone(synth, tmp_path):
    """LP-FT draws in a thread while photos go through the frozen layers: two drawings at once (threads) must give
    the same bytes as one alone (each image's choices come from its own generator, no shared state)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=2) as pool:
        outs = list(pool.map(lambda name: make_synth(tmp_path / name, per_class=PER_CLASS, size=SIZE, seed=1,
                                                     progress=False), ["x", "y"]))
    assert _md5s(outs[0]) == _md5s(outs[1]) == _md5s(synth)
