"""The project's own promises: pins in step, CI calls make test, README names every notebook."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pins = dict(r.split("==") for r in reqs)
    assert len(pins) == len(reqs), "every requirement in pyproject.toml is pinned with =="
    return pins


def test_environment_yml_pins_match_pyproject():
    env_pins = dict(re.findall(r"^\s*-\s+([A-Za-z0-9_.\-]+)==(\S+)\s*$", (ROOT / "environment.yml").read_text(), re.M))
    assert env_pins == _pyproject_pins()
    assert re.search(r"^\s*-\s+python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_makefile_installs_the_pinned_torch():
    pins = _pyproject_pins()
    makefile = (ROOT / "Makefile").read_text()
    assert f"torch=={pins['torch']}" in makefile and f"torchvision=={pins['torchvision']}" in makefile


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "the course has notebooks"
    for name in notebooks:
        assert name in readme, f"README.md does not mention {name}"
