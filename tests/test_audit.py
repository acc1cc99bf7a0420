"""The data audit: every kind of bad file is reported, nothing crashes, and DATA is left byte-identical."""
from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFile

from jewelhelpers.core.findings import FINDINGS, audit, dhash, hamming
from jewelhelpers.core.errors import JewelError


def pattern(seed: int, size: int = 96) -> Image.Image:
    """A smooth random RGB picture: distinct seeds give pictures far apart in dhash."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size),
                                                                                    Image.Resampling.BICUBIC)


def png_header(width: int, height: int, idat: bytes = zlib.compress(b"")) -> bytes:
    """A PNG whose header claims `width` x `height` and whose pixel data is `idat` (not a real image)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(im: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def make_bad_folder(root: Path) -> Path:
    """An ImageFolder holding one of every kind of problem the audit looks for."""
    ring, earring = root / "ring", root / "earring"
    ring.mkdir(parents=True)
    earring.mkdir()
    for i in range(3):
        pattern(100 + i).save(ring / f"ok_{i}.jpg", quality=90)
        pattern(200 + i).save(earring / f"ok_{i}.jpg", quality=90)
    (ring / "empty.jpg").write_bytes(b"")
    whole = jpeg_bytes(pattern(1), quality=90)
    (ring / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    buf = io.BytesIO()
    pattern(16).save(buf, "PNG")
    (ring / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (ring / "notes.jpg").write_text("<html>404 not found</html>")
    pattern(2).save(ring / "png_named.jpg", format="PNG")
    pattern(3).convert("CMYK").save(ring / "cmyk.jpg", quality=90)
    Image.fromarray(np.asarray(pattern(4).convert("L"), dtype=np.uint16) * 257).save(ring / "gray16.png")
    pattern(5).convert("P", palette=Image.Palette.ADAPTIVE).save(ring / "palette.png")
    rgba = pattern(6).convert("RGBA")
    rgba.putalpha(pattern(7).convert("L"))
    rgba.save(ring / "rgba.png")
    pattern(8).convert("L").save(ring / "gray.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    pattern(9).save(ring / "rotated.jpg", quality=90, exif=exif)
    pattern(10, size=20).save(ring / "tiny.jpg", quality=90)
    pattern(11).resize((400, 300)).save(ring / "big.jpg", quality=90)
    (ring / "bomb_header.png").write_bytes(png_header(10_000, 10_000))  # over MAX_PIXELS: PIL warns
    (ring / "bomb_header_2.png").write_bytes(png_header(30_000, 30_000))  # over 2x MAX_PIXELS: PIL raises
    copy = jpeg_bytes(pattern(12), quality=90)
    (ring / "copy_a.jpg").write_bytes(copy)
    (ring / "copy_b.jpg").write_bytes(copy)
    pattern(13).save(ring / "near_a.jpg", quality=95)
    ImageEnhance.Brightness(pattern(13)).enhance(1.06).save(ring / "near_b.jpg", quality=75)
    shared = jpeg_bytes(pattern(14), quality=90)
    (ring / "shared.jpg").write_bytes(shared)
    (earring / "shared.jpg").write_bytes(shared)
    (ring / "readme.txt").write_text("notes about rings")
    (ring / "photo.jfif").write_bytes(jpeg_bytes(pattern(15)))
    return root


EXPECTED = {
    "zero-byte": {"ring/empty.jpg"},
    "not an image": {"ring/notes.jpg"},
    "truncated": {"ring/truncated.jpg", "ring/truncated.png"},
    "too large": {"ring/bomb_header.png", "ring/bomb_header_2.png"},
    "wrong extension": {"ring/png_named.jpg"},
    "huge": {"ring/big.jpg", "ring/bomb_header.png", "ring/bomb_header_2.png"},
    "tiny": {"ring/tiny.jpg"},
    "unusual mode": {"ring/cmyk.jpg", "ring/gray16.png", "ring/palette.png", "ring/rgba.png", "ring/gray.jpg"},
    "exif rotation": {"ring/rotated.jpg"},
    "exact duplicate": {"ring/copy_a.jpg", "ring/copy_b.jpg", "ring/shared.jpg", "earring/shared.jpg"},
    "near duplicate": {"ring/near_a.jpg", "ring/near_b.jpg"},
    "conflicting labels": {"ring/shared.jpg", "earring/shared.jpg"},
}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under root: kind, size, md5 and mtime (folders: mtime, which changes on any add)."""
    state = {".": ("dir", os.stat(root).st_mtime_ns)}
    for path in sorted(root.rglob("*")):
        st = path.stat()
        rel = path.relative_to(root).as_posix()
        state[rel] = (("dir", st.st_mtime_ns) if path.is_dir() else
                      ("file", st.st_size, hashlib.md5(path.read_bytes()).hexdigest(), st.st_mtime_ns))
    return state


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory) -> Path:
    return make_bad_folder(tmp_path_factory.mktemp("audit") / "data")


@pytest.fixture(scope="module")
def result(bad_folder):
    return audit(bad_folder, progress=False, huge_pixels=100_000)


def rel_name(path: str, root: Path) -> str:
    return Path(path).relative_to(root.resolve()).as_posix()


def rel_names(rows, root: Path) -> set[str]:
    return {rel_name(p, root) for p in rows["path"]}


@pytest.mark.parametrize("finding", sorted(EXPECTED))
def test_each_kind_of_bad_file_is_reported_and_nothing_else(result, bad_folder, finding):
    assert rel_names(result.flagged(finding), bad_folder) == EXPECTED[finding]


def test_every_finding_kind_is_covered_by_the_fixture():
    assert set(FINDINGS) - set(EXPECTED) == {"cannot open", "corrupt"}  # see test_corrupt_pixels_and_missing_csv_rows


def test_rows_record_what_the_file_is(result, bad_folder):
    rows = result.rows.set_index(result.rows["path"].map(lambda p: rel_name(p, bad_folder)))
    assert len(rows) == 27 and rows.index.is_unique
    unreadable = set(rows.index[~rows["readable"]])
    assert unreadable == {"ring/empty.jpg", "ring/truncated.jpg", "ring/truncated.png", "ring/notes.jpg",
                          "ring/bomb_header.png", "ring/bomb_header_2.png"}
    assert rows.loc["ring/cmyk.jpg", "mode"] == "CMYK"
    assert rows.loc["ring/gray16.png", "mode"] == "I;16"
    assert rows.loc["ring/palette.png", "mode"] == "P"
    assert rows.loc["ring/png_named.jpg", "format"] == "PNG"
    assert rows.loc["ring/rotated.jpg", "exif_orientation"] == 6
    assert rows["exif_orientation"].notna().sum() == 1
    assert (rows.loc["ring/bomb_header.png", "width"], rows.loc["ring/bomb_header.png", "height"]) == (10_000, 10_000)
    assert rows.loc["ring/empty.jpg", "bytes"] == 0
    assert rows.loc["ring/copy_a.jpg", "md5"] == rows.loc["ring/copy_b.jpg", "md5"]
    assert "truncated" in rows.loc["ring/truncated.jpg", "error"]
    assert result.counts.to_dict() == {"earring": 4, "ring": 23}
    assert result.usable_counts.to_dict() == {"earring": 4, "ring": 17}
    assert result.imbalance == pytest.approx(17 / 4)


def test_duplicate_groups_and_conflicts(result, bad_folder):
    rows = result.rows
    groups = result.duplicate_groups
    assert rel_names(groups, bad_folder) == {"ring/copy_a.jpg", "ring/copy_b.jpg", "ring/near_a.jpg",
                                             "ring/near_b.jpg", "ring/shared.jpg", "earring/shared.jpg"}
    assert groups.groupby("group").size().tolist() == [2, 2, 2]
    assert groups["exact_group"].notna().sum() == 4  # the copies and the shared pair, not the near pair
    assert rel_names(result.conflicts, bad_folder) == {"ring/shared.jpg", "earring/shared.jpg"}
    assert rows["group"].nunique() == len(rows) - 3  # every other file is its own group


def test_ignored_files_in_class_folders_are_listed_with_their_real_format(result, bad_folder):
    names = [rel_name(p, bad_folder) for p in result.ignored["path"]]
    assert dict(zip(names, result.ignored["format"])) == {"ring/photo.jfif": "JPEG", "ring/readme.txt": ""}
    assert result.ignored["label"].tolist() == ["ring", "ring"]


def test_summary_names_counts_each_finding_and_what_to_do(result):
    text = result.summary()
    assert "27 image files in 2 classes, 21 usable" in text
    assert "ring" in text and "(17 usable)" in text and "4.2x" in text
    for finding in EXPECTED:
        assert f"  {finding}" in text and FINDINGS[finding] in text
    assert "truncated: 2 file(s), e.g. ring/truncated.jpg [OSError: image file is truncated" in text
    assert "conflicting labels: 2 file(s) in 1 group(s)" in text
    assert "ignored: 2 file(s)" in text and "photo.jfif [JPEG]" in text


def test_summary_of_balanced_classes_says_so_not_an_imbalance(tmp_path):
    for label, seed in (("ring", 1), ("watch", 2)):
        (tmp_path / label).mkdir()
        for i in range(3):
            (tmp_path / label / f"{i}.jpg").write_bytes(jpeg_bytes(pattern(seed * 10 + i)))
    text = audit(tmp_path, progress=False).summary()
    assert "Balanced: every class has 3 usable images." in text and "Imbalance" not in text


def test_audit_never_writes_under_data_nor_changes_pil_globals(tmp_path):
    data = make_bad_folder(tmp_path / "data")
    before = snapshot(data)
    result = audit(data, progress=True, huge_pixels=100_000)
    result.summary()
    result.to_csv(tmp_path / "reports" / "audit.csv")
    with pytest.raises(JewelError, match="inside the data"):
        result.to_csv(data / "ring" / "audit.csv")
    assert snapshot(data) == before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert len((tmp_path / "reports" / "audit.csv").read_text().splitlines()) == 28


def test_corrupt_pixels_and_missing_csv_rows(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "good.jpg").write_bytes(jpeg_bytes(pattern(1)))
    (tmp_path / "imgs" / "broken.png").write_bytes(png_header(64, 64, idat=b"not zlib data " * 8))
    (tmp_path / "labels.csv").write_text("file,label\nimgs/good.jpg,ring\nimgs/broken.png,ring\n"
                                         "imgs/gone.jpg,watch\n")
    result = audit(tmp_path / "labels.csv", progress=False)
    findings = {Path(p).name: f for p, f in zip(result.rows["path"], result.rows["findings"])}
    assert findings == {"good.jpg": "", "broken.png": "corrupt", "gone.jpg": "cannot open"}
    assert result.usable_counts.to_dict() == {"ring": 1, "watch": 0}
    assert "No usable images in: watch" in result.summary()
    with pytest.raises(JewelError, match="inside the data"):
        result.to_csv(tmp_path / "labels.csv")
    with pytest.raises(JewelError, match="inside the data"):
        result.to_csv(tmp_path / "imgs" / "audit.csv")
    assert result.to_csv(tmp_path / "out" / "audit.csv").is_file()


def test_missing_or_empty_data_is_a_jewel_error(tmp_path):
    with pytest.raises(JewelError, match="not found"):
        audit(tmp_path / "nope", progress=False)
    (tmp_path / "empty" / "ring").mkdir(parents=True)
    with pytest.raises(JewelError, match="no images"):
        audit(tmp_path / "empty", progress=False)
    with pytest.raises(JewelError, match="near_dup_distance"):
        audit(tmp_path / "empty", near_dup_distance=-1, progress=False)


def test_dhash_is_close_for_retouched_copies_and_far_for_other_pictures():
    base = pattern(1)
    assert 0 <= dhash(base) < 2 ** 64 and dhash(base, 16) >= 0 and dhash(base, 16) < 2 ** 256
    brighter = Image.open(io.BytesIO(jpeg_bytes(ImageEnhance.Brightness(base).enhance(1.06), quality=70)))
    assert hamming(dhash(base), dhash(brighter)) <= 4
    assert hamming(dhash(base), dhash(base.resize((48, 48)))) <= 4
    assert min(hamming(dhash(base), dhash(pattern(seed))) for seed in range(2, 12)) > 10
    assert hamming(0b1011, 0b0001) == 2 and hamming(5, 5) == 0
