"""``setup()``: the one call at the top of every notebook.

It makes a run reproducible and fast on a laptop CPU:

- seeds Python's ``random``, NumPy and PyTorch (seed 0, or the environment
  variable ``COURSE_SEED``, so anyone can re-run the course with another seed);
- picks the device: CUDA, then Apple's MPS, then the CPU (``COURSE_DEVICE``
  overrides, e.g. ``COURSE_DEVICE=cpu``);
- uses one thread in every thread pool (torch's intra-op pool, and NumPy's
  BLAS and OpenMP pools through ``threadpoolctl``) and flushes denormal floats
  to zero. Both were measured on a 2-core machine: with two threads small
  models stalled for seconds at random, a NumPy-heavy cell under CPU load took
  120 s with BLAS's default threads and 4.6 s with one, and vanishing
  gradients are full of denormal numbers, which the CPU handles many times
  slower;
- sets the course's plot style;
- prints one line with the device, the seed and the versions.
"""

import os
import platform
import random

import numpy as np
import torch

DEFAULT_SEED = 0
_state = {"seed": None, "device": None}


def _seed_from_environment(seed):
    """The seed to use: the argument, else ``COURSE_SEED``, else 0."""
    if seed is None:
        text = os.environ.get("COURSE_SEED", "").strip()
        if not text:
            return DEFAULT_SEED
        try:
            seed = int(text)
        except ValueError:
            raise ValueError(
                f"COURSE_SEED must be a whole number such as 0 or 42, got {text!r}."
            ) from None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a whole number, got {seed!r} ({type(seed).__name__}).")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be between 0 and 2**32 - 1, got {seed}.")
    return int(seed)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and GPU)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(requested: str | torch.device | None = None) -> torch.device:
    """Pick the device: ``requested`` or ``COURSE_DEVICE``, else CUDA, MPS, CPU.

    A requested device that this machine does not have raises ``ValueError``
    that names the devices it does have.
    """
    if requested is None:
        requested = os.environ.get("COURSE_DEVICE", "").strip() or None
    available = ["cpu"]
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    if _mps_available():
        available.insert(0, "mps")
    if requested is None:
        for name in ("cuda", "mps", "cpu"):
            if name in available:
                return torch.device(name)
    try:
        device = torch.device(str(requested))
    except (RuntimeError, ValueError):
        raise ValueError(
            f"Unknown device {requested!r}; available on this machine: {available} "
            "(e.g. COURSE_DEVICE=cpu)."
        ) from None
    if device.type not in available:
        raise ValueError(
            f"Device {requested!r} is not available on this machine; available: {available}."
        )
    return device


def _tune_cpu() -> None:
    """One thread in every pool and denormals flushed to zero (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    # NumPy's BLAS (OpenBLAS, MKL) and any OpenMP runtime loaded so far: torch's
    # setting does not reach them. The limit stays in force for the whole process.
    threadpool_limits(limits=1)
    torch.set_flush_denormal(True)


def thread_pools() -> list:
    """The thread pools loaded in this process and their thread counts (``threadpoolctl``)."""
    from threadpoolctl import threadpool_info

    return [{"library": pool.get("internal_api"), "threads": pool.get("num_threads")}
            for pool in threadpool_info()]


def setup(seed: int | None = None, device: str | torch.device | None = None,
          quiet: bool = False) -> torch.device:
    """Seed everything, pick the device, set the plot style; return the device.

    Parameters
    ----------
    seed : int, optional
        The seed; default ``COURSE_SEED`` from the environment, else 0.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"mps"``...; default ``COURSE_DEVICE``, else the
        fastest one available.
    quiet : bool
        Do not print the one-line summary.
    """
    from utils.plots import use_course_style

    seed = _seed_from_environment(seed)
    chosen = choose_device(device)
    # The CPU settings also matter on a GPU machine: data preparation and
    # small computations still run on the CPU.
    _tune_cpu()
    seed_everything(seed)
    use_course_style()
    _state["seed"] = seed
    _state["device"] = chosen
    if not quiet:
        print(summary_line())
    return chosen


def current_seed() -> int:
    """The seed set by the last ``setup()`` (0 if ``setup()`` was not called)."""
    return DEFAULT_SEED if _state["seed"] is None else _state["seed"]


def current_device() -> torch.device:
    """The device chosen by the last ``setup()`` (chosen now if it was not called)."""
    if _state["device"] is None:
        return choose_device()
    return _state["device"]


def summary_line() -> str:
    """One line: device, seed, threads and the versions that matter."""
    import matplotlib

    return (
        f"device={current_device()} seed={current_seed()} threads={torch.get_num_threads()} "
        f"torch={torch.__version__} numpy={np.__version__} "
        f"matplotlib={matplotlib.__version__} python={platform.python_version()}"
    )
