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


def test_console_script_reports_usage_errors():
    """argparse's own usage errors also exit 2 (through the installed entry point)."""
    done = subprocess.run([sys.executable, "-m", "jewelhelpers.cli", "split"], capture_output=True, text=True)
    assert done.returncode == 2 and "--out" in done.stderr
