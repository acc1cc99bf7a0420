"""The project's own promises: ranges in pyproject, the tested set in constraints.txt, CI calls make test, README names every
notebook and every verb and option of `jewel`."""
from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _direct_requirements() -> dict[str, Requirement]:
    """pyproject.toml's dependencies and every optional extra, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    by_name = {canonicalize_name(r.name): r for r in reqs}
    assert len(by_name) == len(reqs), "each package is named once in pyproject.toml"
    return by_name


def _pins(text: str, line: str) -> dict[str, str]:
    return {canonicalize_name(n): v for n, v in re.findall(line, text, re.M)}


def _constraints() -> dict[str, str]:
    text = (ROOT / "constraints.txt").read_text()
    lines = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    pins = _pins(text, r"^([A-Za-z0-9_.\-]+)==(\S+)\s*$")
    assert len(pins) == len(lines), "every line of constraints.txt is an exact name==version pin"
    assert "jewelhelpers" not in pins, "the project itself is not in its constraints"
    return pins


def test_pyproject_has_ranges_that_admit_the_tested_set():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for py in ("3.11", "3.12", "3.13"):
        assert SpecifierSet(project["requires-python"]).contains(py), f"requires-python admits {py}"
    tested = _constraints()
    for name, req in _direct_requirements().items():
        ops = {s.operator for s in req.specifier}
        assert ops and not ops & {"==", "===", "~="} and ">=" in ops and "<" in ops, \
            f"{req}: a range with a lower and an upper bound, not a pin"
        assert name in tested, f"{name} is missing from constraints.txt"
        assert req.specifier.contains(Version(tested[name])), f"constraints.txt's {name}=={tested[name]} is outside {req}"


def test_environment_yml_pins_equal_constraints():
    text = (ROOT / "environment.yml").read_text()
    env_pins = _pins(text, r"^\s*-\s+([A-Za-z0-9_.\-]+)(?:\[[a-z,]+\])?==(\S+)\s*$")  # ray[data]==... is ray
    tested = _constraints()
    assert set(env_pins) == set(_direct_requirements()), "environment.yml pins exactly the direct dependencies"
    assert env_pins == {name: tested[name] for name in env_pins}
    assert re.search(r"^\s*-\s+python=3\.11\s*$", text, re.M)
    assert re.search(r"^\s*-\s+-e\s+\.\s*$", text, re.M), "environment.yml installs the project"


def test_makefile_setup_installs_the_tested_set():
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):(.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert stamp, "the Makefile has the $(STAMP) rule that `make setup` runs"
    assert "constraints.txt" in stamp.group(1).split() and "pyproject.toml" in stamp.group(1).split()
    installs = [l for l in stamp.group(2).splitlines() if "pip install" in l and "--upgrade pip" not in l]
    assert installs and all("-c constraints.txt" in l for l in installs), installs
    assert any("-e '.[dev,scale]'" in l for l in installs), "make setup installs what the tests need"
    tested = _constraints()
    make_pins = _pins(stamp.group(2), r"\b(torch|torchvision)==(\S+)")
    assert make_pins == {"torch": tested["torch"], "torchvision": tested["torchvision"]}
    assert re.search(r"^PYTHON \?= python3\.11$", makefile, re.M)
    assert re.search(r"^lock:", makefile, re.M) and "--exclude-editable" in makefile


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "the course has notebooks"
    for name in notebooks:
        assert name in readme, f"README.md does not mention {name}"


def _readme_synopsis() -> dict[str, str]:
    """The `jewel` command block of README.md: per verb, its lines (continuation lines included)."""
    block = re.search(r"## The `jewel` command\s+```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    verbs: dict[str, str] = {}
    verb = None
    for line in block.splitlines():
        if line.startswith("jewel "):
            verb = line.split()[1]
        if verb is not None:
            verbs[verb] = verbs.get(verb, "") + line.split("  #")[0] + "\n"
    return verbs


def test_readme_synopsis_names_every_verb_and_option():
    from jewelhelpers.cli import _parser
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    synopsis = _readme_synopsis()
    for verb, parser in sub.choices.items():
        assert verb in synopsis, f"README's `jewel` block has no line for `jewel {verb}`"
        options = {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}
        missing = sorted(o for o in options if not re.search(re.escape(o) + r"\b", synopsis[verb]))
        assert not missing, f"README's `jewel {verb}` lines do not name {missing}"
