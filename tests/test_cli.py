"""The `jewel` command's data verbs: exit codes, one-line errors, and DATA left untouched."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from jewelhelpers.cli import main


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_synth_audit_split_through_the_cli(tmp_path, capsys):
    data = tmp_path / "synth"
    assert main(["synth", str(data), "--per-class", "6", "--size", "48", "--seed", "1"]) == 0
    before = _snapshot(data)
    assert main(["audit", str(data), "--out", str(tmp_path / "report.csv")]) == 0
    assert "30 image files in 5 classes" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "report.csv")) == 30
    assert main(["split", str(data), "--out", str(tmp_path / "split.csv"), "--seed", "3"]) == 0
    manifest = pd.read_csv(tmp_path / "split.csv")
    assert set(manifest["split"]) == {"train", "valid", "test"} and len(manifest) == 30
    assert _snapshot(data) == before


@pytest.mark.parametrize("verb", ["audit", "split", "train"])
def test_missing_data_is_one_line_and_exit_2(tmp_path, capsys, verb):
    args = [verb, str(tmp_path / "nope")] + ([] if verb == "audit" else ["--out", str(tmp_path / "out")])
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"jewel {verb}: error:") and "nope" in err and len(err.splitlines()) == 1


def test_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty" / "ring").mkdir(parents=True)
    assert main(["audit", str(tmp_path / "empty")]) == 2
    assert "no images" in capsys.readouterr().err


def test_split_refuses_to_write_inside_data(tmp_path, capsys):
    data = tmp_path / "synth"
    main(["synth", str(data), "--per-class", "4", "--size", "32"])
    before = _snapshot(data)
    assert main(["split", str(data), "--out", str(data / "split.csv")]) == 2
    assert "jewel split: error:" in capsys.readouterr().err
    assert _snapshot(data) == before


JEWEL = Path(sys.executable).with_name("jewel")  # the console script installed beside this Python


def test_console_script_reports_usage_errors():
    """The installed `jewel` entry point runs; argparse's own usage errors exit 2 and name what is missing."""
    assert JEWEL.is_file(), f"the jewel console script is not installed beside {sys.executable}"
    assert subprocess.run([str(JEWEL), "--help"], capture_output=True, text=True).returncode == 0
    done = subprocess.run([str(JEWEL), "split"], capture_output=True, text=True)
    assert done.returncode == 2 and "--out" in done.stderr and done.stderr.startswith("usage: jewel split")


def test_the_console_script_logs_lines_when_piped(tmp_path):
    """Piped (not a terminal), `jewel synth` and `jewel audit` print one line per step: no bar redraws."""
    data = tmp_path / "synth"
    synth = subprocess.run([str(JEWEL), "synth", str(data), "--per-class", "3", "--size", "32"], capture_output=True,
                           text=True)
    audit = subprocess.run([str(JEWEL), "audit", str(data)], capture_output=True, text=True)
    assert synth.returncode == audit.returncode == 0
    for done in (synth, audit):
        assert "\r" not in done.stdout + done.stderr and "%|" not in done.stderr
    assert synth.stderr.strip().startswith("drawing: 15 images in") and audit.stderr.startswith("audit: 15 files in")


def test_every_option_says_what_it_does_and_offers_the_library_choices():
    """Each verb and option has help text, and choices come from the library's own constants."""
    import argparse
    from jewelhelpers.cli import _parser
    from jewelhelpers.core.settings import ARCH_CHOICES, ENGINES, TEST, VALID
    verbs = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert all(choice.help for choice in verbs._choices_actions)
    options = {}
    for verb, sub in verbs.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"jewel {verb} {'/'.join(action.option_strings) or action.dest} has no help"
                options[verb, action.dest] = action
    assert tuple(options["train", "arch"].choices) == ARCH_CHOICES
    assert tuple(options["predict", "engine"].choices) == ENGINES
    assert (options["split", "valid"].default, options["split", "test"].default) == (VALID, TEST)


# ---- bad paths and values: one line, exit 2, nothing written where it must not be ------------------------

def _one_line_error(capsys, verb: str, *words: str) -> None:
    """stderr ends with one error line holding `words` (progress lines may come before it), and no traceback."""
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]
    assert last.startswith(f"jewel {verb}: error:") and "Traceback" not in err, err
    assert all(w in last for w in words), err


def test_outputs_are_refused_inside_the_photos_given(tiny_run, image_folder, tmp_path, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(image_folder / "ring", photos)
    before = _snapshot(photos)
    one = sorted(photos.glob("*.jpg"))[0]
    assert main(["predict", str(tiny_run), str(photos), "--out", str(photos / "pred.csv")]) == 2
    _one_line_error(capsys, "predict", "inside the data")
    assert main(["predict", str(tiny_run), str(one), "--out", str(one)]) == 2
    _one_line_error(capsys, "predict", "one of the photos given")
    for option in ("--out", "--gallery"):  # refused before the index is even read
        assert main(["similar", str(tmp_path / "index"), str(photos), option, str(photos / "x.png")]) == 2
        _one_line_error(capsys, "similar", "inside the data")
    assert _snapshot(photos) == before


def test_export_is_refused_inside_the_runs_data(tiny_run, image_folder, tmp_path, capsys):
    before = _snapshot(image_folder)
    assert main(["export", str(tiny_run), "--out", str(image_folder / "model.onnx")]) == 2
    _one_line_error(capsys, "export", "inside the data")
    out = tmp_path / "m8.onnx"
    assert main(["export", str(tiny_run), "--format", "onnx-int8", "--out", str(out),
                 "--external", str(tmp_path / "nope")]) == 2
    _one_line_error(capsys, "export", "nope")
    assert not out.exists() and _snapshot(image_folder) == before


def test_paths_the_system_refuses_are_one_line(tiny_run, image_folder, tmp_path, capsys):
    (tmp_path / "a_folder").mkdir()
    assert main(["audit", str(image_folder), "--out", str(tmp_path / "a_folder")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [  # refused before the audit's work, not after it
        f"jewel audit: error: {tmp_path / 'a_folder'} is a folder: give a file name for the table, e.g. "
        f"{tmp_path / 'a_folder' / 'results.csv'}"]
    folder_out = ["--out", str(tmp_path / "a_folder")]
    assert main(["predict", str(tmp_path / "no_run_needed"), str(image_folder), *folder_out]) == 2
    _one_line_error(capsys, "predict", "a_folder is a folder")
    (tmp_path / "a_folder" / "notes.txt").write_text("mine")
    assert main(["index", str(tiny_run), str(image_folder), "--out", str(tmp_path / "a_folder")]) == 2
    _one_line_error(capsys, "index", "no photo index")
    assert sorted(p.name for p in (tmp_path / "a_folder").iterdir()) == ["notes.txt"]
    (tmp_path / "a_file").write_text("x")
    assert main(["synth", str(tmp_path / "a_file" / "sub"), "--per-class", "1", "--size", "32"]) == 2
    _one_line_error(capsys, "synth", "a_file")


@pytest.mark.parametrize("option, words", [(["--size", "0"], ["--size", "32"]), (["--lr", "-1"], ["--lr"]),
                                           (["--composites", "-2"], ["--composites must be 0 or more"]),
                                           (["--weights", "w.pth"], ["--weights", "smoke"])])
def test_train_refuses_bad_values_before_making_the_run(image_folder, tmp_path, capsys, option, words):
    out = tmp_path / "run"
    assert main(["train", str(image_folder), "--out", str(out), "--profile", "smoke", *option]) == 2
    _one_line_error(capsys, "train", *words)
    assert not out.exists()


def test_a_damaged_run_is_one_line(tiny_run, image_folder, tmp_path, capsys):
    meta_broken, weights_broken = tmp_path / "meta", tmp_path / "weights"
    shutil.copytree(tiny_run, meta_broken)
    (meta_broken / "meta.json").write_text('{"classes": [', encoding="utf-8")
    shutil.copytree(tiny_run, weights_broken)
    (weights_broken / "model.pth").write_bytes(b"\x00not a model")
    assert main(["export", str(meta_broken), "--out", str(tmp_path / "a.onnx")]) == 2
    _one_line_error(capsys, "export", "meta.json is damaged")
    assert main(["predict", str(weights_broken), str(image_folder / "ring")]) == 2
    err = capsys.readouterr().err
    assert "model.pth is damaged" in err and "weights_only" not in err and len(err.strip().splitlines()) == 1


def test_bad_data_inputs_are_one_line(image_folder, tmp_path, capsys):
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(128, 256)))
    assert main(["audit", str(binary)]) == 2
    _one_line_error(capsys, "audit", "not a text CSV")
    one = sorted((image_folder / "ring").glob("*.jpg"))[0]
    assert main(["audit", str(one)]) == 2
    _one_line_error(capsys, "audit", "is an image")
    unlabelled = tmp_path / "labels.csv"
    unlabelled.write_text(f"file,label\n{one},ring\n{one},\n", encoding="utf-8")
    assert main(["audit", str(unlabelled)]) == 2
    _one_line_error(capsys, "audit", "line 3 has no label")
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(tmp_path / "no_run_needed"), str(tmp_path / "empty")]) == 2
    _one_line_error(capsys, "predict")
