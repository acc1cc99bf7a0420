"""The `jewel` command's data verbs: exit codes, one-line errors, and DATA left untouched."""
from __future__ import annotations

import hashlib
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
