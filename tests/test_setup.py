"""utils.setup(): seeding, device choice, CPU settings, and the foreign-utils check."""

import random
import subprocess
import sys

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
