"""Set-up files agree: pyproject, constraints, environment.yml, postBuild, Makefile, CI."""

import re

import pytest
import yaml

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONDA_TO_PIP = {"pytorch-cpu": "torch", "pytorch": "torch"}


def requirement(text):
    """('name', 'lower bound or None') from 'name>=1.2'."""
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([\w.]+))?\s*(;.*)?", text.strip())
    assert match, f"unexpected requirement {text!r}: use 'name' or 'name>=version'"
    return match.group(1).lower(), match.group(2)


def project_requirements():
    project = PYPROJECT["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts += extra
    return dict(requirement(text) for text in texts if "python_version" not in text)


def test_distribution_and_import_names():
    assert PYPROJECT["project"]["name"] == "vanishing-gradients-course"
    assert "utils" in PYPROJECT["tool"]["setuptools"]["packages"]


def test_dependencies_are_loose_lower_bounds():
    requirements = project_requirements()
    assert requirements["torch"] == "2.2" and requirements["ipywidgets"] == "7.7"
    for text in PYPROJECT["project"]["dependencies"]:
        assert "==" not in text and "<" not in text, f"{text}: no pins or caps in pyproject"


def test_constraints_pin_every_requirement_exactly():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        requirement_text, _, marker = line.split("#")[0].partition(";")
        requirement_text = requirement_text.strip()
        if requirement_text:
            name, _, version = requirement_text.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            assert not marker or "python_version" in marker, f"unexpected marker in {line!r}"
            pins.setdefault(name.lower().replace("_", "-"), []).append((version, marker.strip()))
    assert pins["torch"] == [("2.13.0", "")], "torch must stay at the CPU build that lies on disk"
    for name, versions in pins.items():
        markers = [marker for _, marker in versions]
        assert len(versions) == 1 or sorted(markers) == sorted(
            ['python_version < "3.11"', 'python_version >= "3.11"']), (
            f"{name}: one pin, or one for Python 3.10 and one for 3.11+")
    for name in project_requirements():
        assert name.replace("_", "-") in pins, f"{name} is not pinned in constraints.txt"


def test_environment_yml_matches_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["channels"] == ["conda-forge"]
    conda = {}
    for entry in environment["dependencies"]:
        assert isinstance(entry, str), "no pip section: postBuild installs the course"
        name, bound = requirement(entry.replace("=", ">=", 1) if re.match(r"[\w-]+=\d", entry)
                                  else entry)
        if name in ("python", "pip"):
            continue
        conda[CONDA_TO_PIP.get(name, name)] = bound
    assert "pytorch-cpu>=2.2" in environment["dependencies"], "Binder needs CPU PyTorch"
    assert "python=3.11" in environment["dependencies"]
    assert conda == project_requirements()


def test_postbuild_installs_the_course_without_dependencies():
    script = (ROOT / "postBuild").read_text()
    assert script.startswith("#!/bin/bash") and "set -euo pipefail" in script
    assert "pip install --no-deps -e ." in script
    assert (ROOT / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert not (ROOT / "binder").exists(), "a binder/ folder would hide the root files"


def test_make_and_ci_use_the_readme_commands():
    makefile = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "-c constraints.txt" in makefile, "make must install through the constraints"
    assert re.search(r"^test: .*\n\t\$\(BIN\)/python -m pytest$", makefile, re.MULTILINE)
    assert "/lab/tree/notebooks/00_welcome.ipynb" in makefile
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_licences_and_data_card():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()
    card = (ROOT / "data" / "README.md").read_text()
    from utils.data import DIGITS_SHA256

    assert DIGITS_SHA256 in card and "CC BY 4.0" in card
