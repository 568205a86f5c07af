"""utils.setup(): seeding, device choice, CPU settings, the foreign-utils check; the Colab
setup cell's clone-and-install path; Binder's package set."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import utils
from utils import course
from utils.setup import choose_device, setup


def draw_numbers():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_same_seed_gives_same_numbers():
    setup(seed=3, quiet=True)
    first = draw_numbers()
    setup(seed=3, quiet=True)
    assert draw_numbers() == first
    setup(seed=4, quiet=True)
    assert draw_numbers() != first


def test_default_seed_is_zero_and_environment_overrides(monkeypatch):
    setup(quiet=True)
    assert utils.current_seed() == 0
    monkeypatch.setenv("COURSE_SEED", "7")
    setup(quiet=True)
    assert utils.current_seed() == 7


@pytest.mark.parametrize("bad", ["seven", "1.5"])
def test_bad_seed_in_environment_is_explained(monkeypatch, bad):
    monkeypatch.setenv("COURSE_SEED", bad)
    with pytest.raises(ValueError, match="COURSE_SEED must be a whole number"):
        setup(quiet=True)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_bad_seed_argument_is_explained(bad):
    with pytest.raises(ValueError, match="seed must be"):
        setup(seed=bad, quiet=True)


def test_cpu_settings_and_summary_line(capsys):
    device = setup(seed=0, device="cpu")
    assert device == torch.device("cpu")
    assert torch.get_num_threads() == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("device=cpu seed=0 ") and f"torch={torch.__version__}" in line


def test_denormals_are_flushed():
    setup(seed=0, device="cpu", quiet=True)
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # a denormal float32
    assert tiny.item() == 0.0


def test_device_environment_variable(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert choose_device() == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "tpu:0"])
def test_unknown_device_is_explained(bad):
    with pytest.raises(ValueError, match="available"):
        choose_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_device_is_explained():
    with pytest.raises(ValueError, match="not available on this machine"):
        choose_device("cuda")


def test_setup_cell_reports_a_foreign_utils(tmp_path):
    """A different package called utils earlier on the path is named clearly."""
    foreign = tmp_path / "utils"
    foreign.mkdir()
    (foreign / "__init__.py").write_text("helper = 1\n")
    result = subprocess.run([sys.executable, "-c", course.setup_cell_source()], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "not this course's package" in result.stderr
    assert str(foreign) in result.stderr


def test_setup_cell_runs_with_the_course_package(tmp_path):
    result = subprocess.run([sys.executable, "-c", course.setup_cell_source()], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("device=")


def test_setup_limits_numpy_blas_threads_too():
    """Under CPU load NumPy's BLAS with its default threads made a cell 25x slower: one thread."""
    code = ("import numpy as np\n"
            "np.ones((64, 64)) @ np.ones((64, 64))\n"
            "from threadpoolctl import threadpool_info\n"
            "import utils\n"
            "utils.setup(quiet=True)\n"
            "from utils.setup import thread_pools\n"
            "pools = thread_pools()\n"
            "assert any(p['library'] in ('openblas', 'mkl', 'blis') for p in pools), pools\n"
            "assert all(p['threads'] == 1 for p in pools), pools\n"
            "print('ok')\n")
    environment = {name: value for name, value in __import__("os").environ.items()
                   if not name.endswith("_NUM_THREADS")}
    environment["OPENBLAS_NUM_THREADS"] = "4"  # a pool bigger than one thread to begin with
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=environment, timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]


# --- Colab: the setup cell's clone-and-install path, against a local clone ----------------

#: Run before the setup cell: pretend to be Colab, and hide this checkout's own (editable)
#: install of the course, as on a fresh Colab runtime where `utils` is not installed.
FAKE_COLAB = '''\
import json, os, sys, types
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
sys.meta_path = [finder for finder in sys.meta_path
                 if "__editable__" not in getattr(finder, "__module__", "")]
sys.path.insert(0, os.environ["PIP_TARGET"])  # where the cell's pip install puts the course
'''
REPORT = '''
print(json.dumps({"utils": utils.__file__, "cwd": os.getcwd(), "device": str(device)}))
'''


def test_colab_setup_cell_clones_and_installs_the_course(tmp_path):
    """The setup cell on a fake Colab: it clones the repository (a local clone of this one
    stands in for GitHub), installs the course from the clone (non-editable, --no-deps) and
    imports it from there, in the clone's notebooks/ folder."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(course.REPO_ROOT), str(origin)],
                   check=True, timeout=120)
    clone_dir = tmp_path / "content" / "vanishing-gradients"
    cell = course.setup_cell_source()
    assert course.REPOSITORY in cell and course.COLAB_CLONE_DIR in cell
    cell = (cell.replace(course.REPOSITORY, origin.as_uri())
            .replace(course.COLAB_CLONE_DIR, str(clone_dir)))
    target = tmp_path / "site-packages"
    target.mkdir()
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("PIP_", "PYTHONPATH"))}
    # pip install --target: the course goes into a folder of its own, not into this venv;
    # no build isolation: the venv's setuptools builds it, nothing is downloaded.
    environment.update(PIP_TARGET=str(target), PIP_NO_BUILD_ISOLATION="0",
                       PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    result = subprocess.run([sys.executable, "-c", FAKE_COLAB + cell + REPORT],
                            cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (clone_dir / "notebooks" / "00_welcome.ipynb").is_file(), "the clone is missing"
    assert Path(report["utils"]).is_relative_to(target), report  # installed, not this checkout
    assert report["cwd"] == str(clone_dir / "notebooks")
    assert report["device"] == "cpu"
    assert not (target / "utils" / "__editable__").exists()


# --- Binder: environment.yml + postBuild give the package set that make installs ----------


def test_binder_installs_what_make_installs():
    """`make` installs the course with the extras its install line names; Binder installs
    environment.yml's packages, then postBuild installs the course itself: the same set."""
    import re

    import yaml

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    def name(requirement):
        return re.split(r"[<>=!~; \[]", requirement.strip(), maxsplit=1)[0].lower().replace(
            "_", "-")

    makefile = (course.REPO_ROOT / "Makefile").read_text()
    extras = re.search(r'pip install .*-e "\.\[([\w,]+)\]"', makefile).group(1).split(",")
    project = tomllib.loads((course.REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert set(extras) == set(project["optional-dependencies"]), (
        "make must install every extra (a new extra would be missing from the set-up)")
    by_make = {name(text) for text in project["dependencies"]}
    for extra in extras:
        by_make |= {name(text) for text in project["optional-dependencies"][extra]
                    if "python_version" not in text}
    environment = yaml.safe_load((course.REPO_ROOT / "environment.yml").read_text())
    conda_to_pip = {"pytorch-cpu": "torch", "pytorch": "torch"}
    by_binder = {conda_to_pip.get(name(entry), name(entry))
                 for entry in environment["dependencies"]} - {"python", "pip"}
    assert by_binder == by_make
    post_build = (course.REPO_ROOT / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post_build  # the course package itself
