"""Data for the course: the shipped 8×8 digits, small synthetic sets and sequence tasks.

Nothing is downloaded. The digits live in ``data/digits.npz`` (see
``data/README.md`` for source, licence and checksum); the loader checks the
file's SHA-256 so an altered or truncated file is caught at once. The
sequence tasks with a long time lag (``make_adding_problem``,
``make_first_symbol_task``) return torch tensors ``(x, y)`` drawn from a seed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from utils import checks

DIGITS_FILE = "digits.npz"
DIGITS_SHA256 = "b2dab7b501728c22e9119ad76740b2e17c77a231e42d1e592380d90886f1a05e"
#: The fixed split is drawn with this seed, whatever the course seed is, so
#: that every run of every notebook sees the same train and test images.
SPLIT_SEED = 0
#: Pixels whose training-set standard deviation is below this are not
#: rescaled: four digit pixels are constant in the training split, and
#: dividing by ``std + 1e-8`` turns two test images into inputs of size ~1e6.
STD_FLOOR = 1e-6
#: The most examples a synthetic set may have: a slip (``n_samples=10**12``) fails at once.
MAX_SAMPLES = 1_000_000


def data_dir() -> Path:
    """The folder that holds the course's data files.

    Looked for, in order: the environment variable ``COURSE_DATA_DIR``; the
    ``data/`` folder of the checkout this package was imported from; a
    ``data/`` folder in the working directory or one of its parents (the case
    of a non-editable install, e.g. on Colab, run from ``notebooks/``).
    """
    candidates = []
    if os.environ.get("COURSE_DATA_DIR"):
        candidates.append(Path(os.environ["COURSE_DATA_DIR"]))
    candidates.append(Path(__file__).resolve().parent.parent / "data")
    here = Path.cwd().resolve()
    candidates += [folder / "data" for folder in (here, *here.parents)]
    for folder in candidates:
        if (folder / DIGITS_FILE).is_file():
            return folder
    searched = "\n  ".join(str(folder) for folder in candidates[:4])
    raise FileNotFoundError(
        f"Could not find the course's data folder (with {DIGITS_FILE}). Searched:\n  {searched}\n"
        "Run the notebooks from a checkout of the course repository, or set the "
        "environment variable COURSE_DATA_DIR to its data/ folder."
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_digits(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten digits: ``images`` (N, 8, 8) uint8 in 0..16, ``labels`` (N,).

    The file's checksum is verified; a missing or altered file raises an
    error that says what is wrong and how to restore it.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file name (str or pathlib.Path) or None (the shipped "
                         f"file), got {type(path).__name__}.")
    path = Path(path) if path is not None else data_dir() / DIGITS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"The digits file {path} is missing (path={str(path)!r}). Restore it with "
            f"`git checkout -- data/{DIGITS_FILE}`."
        )
    digest = _sha256(path)
    if digest != DIGITS_SHA256:
        raise ValueError(
            f"The digits file {path} has been altered: its SHA-256 is {digest}, "
            f"expected {DIGITS_SHA256} (see data/README.md). "
            f"Restore it with `git checkout -- data/{DIGITS_FILE}`."
        )
    with np.load(path, allow_pickle=False) as archive:
        return archive["images"], archive["labels"]


def _check_device(device):
    """``device`` as a ``torch.device``, or a ValueError naming it."""
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"device must be None, a name such as 'cpu' or 'cuda', or a "
                         f"torch.device; got {device!r}.")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be a device name such as 'cpu' or 'cuda', got "
                         f"{device!r}.") from None


@dataclass
class Split:
    """A train/test split: features ``x_*`` and integer class labels ``y_*``."""

    x_train: np.ndarray | torch.Tensor
    y_train: np.ndarray | torch.Tensor
    x_test: np.ndarray | torch.Tensor
    y_test: np.ndarray | torch.Tensor

    def tensors(self, device: str | torch.device | None = None) -> Split:
        """The same split as torch tensors (float32 features, int64 labels) on ``device``."""
        from utils.setup import current_device

        device = current_device() if device is None else _check_device(device)

        def features(a):
            return torch.as_tensor(a, dtype=torch.float32, device=device)

        def labels(a):
            return torch.as_tensor(a, dtype=torch.int64, device=device)

        return Split(features(self.x_train), labels(self.y_train),
                     features(self.x_test), labels(self.y_test))

    def __repr__(self) -> str:
        return (f"Split(train: x {tuple(self.x_train.shape)}, y {tuple(self.y_train.shape)}; "
                f"test: x {tuple(self.x_test.shape)}, y {tuple(self.y_test.shape)})")


def _check_fraction(test_fraction):
    test_fraction = checks.finite_number("test_fraction", test_fraction)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")
    return test_fraction


def stratified_split_indices(labels: np.ndarray, test_fraction: float = 0.25,
                             seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified split: each class keeps its share in train and test."""
    labels = checks.array("labels", labels, ndim=1, dtype=None)
    _check_fraction(test_fraction)
    rng = np.random.default_rng(checks.seed("seed", seed))
    train, test = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(test_fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z-score both sets with the training set's mean and (floored) standard deviation.

    ``x_train`` and ``x_test`` are arrays of shape (examples, features).
    """
    x_train = checks.array("x_train", x_train, ndim=2, dtype=None)
    x_test = checks.array("x_test", x_test, ndim=2, dtype=None)
    if x_test.shape[1] != x_train.shape[1] or len(x_train) == 0:
        raise ValueError(f"x_train and x_test need the same number of features and x_train at "
                         f"least one row, got shapes {x_train.shape} and {x_test.shape}.")
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std < STD_FLOOR, 1.0, std)
    return (x_train - mean) / std, (x_test - mean) / std


def digits_split(test_fraction: float = 0.25, standardized: bool = True,
                 flatten: bool = True) -> Split:
    """The digits in a fixed stratified train/test split (1,347 / 450 images by default).

    ``standardized`` z-scores each pixel with training-set statistics (with a
    floor on the standard deviation); otherwise pixels are scaled to [0, 1].
    ``flatten`` gives 64 features per image instead of an 8×8 array.
    """
    test_fraction = _check_fraction(test_fraction)
    standardized = checks.boolean("standardized", standardized)
    flatten = checks.boolean("flatten", flatten)
    images, labels = load_digits()
    x = images.astype(np.float32) / 16.0
    train, test = stratified_split_indices(labels, test_fraction)
    x_train, x_test = x[train], x[test]
    if standardized:
        x_train, x_test = standardize(x_train.reshape(len(train), -1),
                                      x_test.reshape(len(test), -1))
        x_train = x_train.reshape((len(train), 8, 8)).astype(np.float32)
        x_test = x_test.reshape((len(test), 8, 8)).astype(np.float32)
    if flatten:
        x_train, x_test = x_train.reshape(len(train), 64), x_test.reshape(len(test), 64)
    return Split(x_train, labels[train].astype(np.int64), x_test, labels[test].astype(np.int64))


# --- Synthetic data sets ---------------------------------------------------------


def _check_count(name, value, minimum=1):
    return checks.whole_number(name, value, minimum=minimum, maximum=MAX_SAMPLES)


def _check_noise(noise):
    return checks.finite_number("noise", noise, minimum=0)


def make_spirals(n_per_class: int = 200, n_classes: int = 2, noise: float = 0.03,
                 turns: float = 1.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spirals in 2-D: ``x`` (n_per_class·n_classes, 2) float32, ``y`` int64.

    A classic set that a linear model cannot separate. ``noise`` is the
    standard deviation of Gaussian jitter added to each point.
    """
    _check_count("n_per_class", n_per_class)
    _check_count("n_classes", n_classes, minimum=2)
    if n_per_class * n_classes > MAX_SAMPLES:
        raise ValueError(f"n_per_class × n_classes must be at most {MAX_SAMPLES:,}, got "
                         f"{n_per_class * n_classes:,}.")
    _check_noise(noise)
    checks.finite_number("turns", turns)
    rng = np.random.default_rng(checks.seed("seed", seed))
    xs, ys = [], []
    for cls in range(n_classes):
        radius = np.linspace(0.05, 1.0, n_per_class)
        angle = 2 * np.pi * (turns * radius + cls / n_classes)
        points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        xs.append(points + noise * rng.standard_normal(points.shape))
        ys.append(np.full(n_per_class, cls))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def make_moons(n_samples: int = 400, noise: float = 0.1,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles in 2-D: ``x`` (n_samples, 2) float32, ``y`` in {0, 1}."""
    _check_count("n_samples", n_samples, minimum=2)
    _check_noise(noise)
    rng = np.random.default_rng(checks.seed("seed", seed))
    n_top = n_samples // 2
    n_bottom = n_samples - n_top
    t_top = np.linspace(0, np.pi, n_top)
    t_bottom = np.linspace(0, np.pi, n_bottom)
    top = np.stack([np.cos(t_top), np.sin(t_top)], axis=1)
    bottom = np.stack([1 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)], axis=1)
    x = np.concatenate([top, bottom]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_top), np.ones(n_bottom)])
    order = rng.permutation(n_samples)
    return x[order].astype(np.float32), y[order].astype(np.int64)


def target_curve(x: np.ndarray | float) -> np.ndarray:
    """The 1-D function behind ``make_regression_curve``: a wiggle on a slope."""
    x = checks.array("x", x, finite=False)
    return np.sin(3 * x) + 0.3 * x


def make_regression_curve(n_samples: int = 200, noise: float = 0.1, low: float = -2.0,
                          high: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples of ``target_curve`` on [low, high]: ``x`` (n, 1), ``y`` (n, 1), float32."""
    _check_count("n_samples", n_samples)
    _check_noise(noise)
    low, high = checks.finite_number("low", low), checks.finite_number("high", high)
    if not low < high:
        raise ValueError(f"low must be smaller than high, got low={low}, high={high}.")
    rng = np.random.default_rng(checks.seed("seed", seed))
    x = np.sort(rng.uniform(low, high, n_samples))
    y = target_curve(x) + noise * rng.standard_normal(n_samples)
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)


# --- Sequence tasks with a long time lag ---------------------------------------------------

#: The longest sequence a task may have: a slip (``length=10**9``) fails at once.
MAX_LENGTH = 100_000


def _check_sequences(n: int, length: int, minimum_length: int = 2) -> tuple[int, int]:
    n = _check_count("n", n)
    length = checks.whole_number("length", length, minimum=minimum_length, maximum=MAX_LENGTH)
    if n * length > 50_000_000:
        raise ValueError(f"n × length must be at most 50,000,000 (memory), got {n * length:,}.")
    return n, length


def make_adding_problem(n: int = 1000, length: int = 50,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997): add two marked numbers.

    Each of the ``n`` sequences has ``length`` steps of two features: a number
    drawn from U[0, 1] and a marker that is 1 at exactly two steps (one in the
    first half, one in the second) and 0 elsewhere. The target is the sum of the
    two marked numbers. Returns ``x`` (n, length, 2) and ``y`` (n, 1), float32
    tensors on the CPU. Always predicting 1 gives a mean squared error of
    Var(u₁ + u₂) = 2/12 ≈ 0.167: a model must beat that to have learned anything.
    """
    n, length = _check_sequences(n, length)
    rng = np.random.default_rng(checks.seed("seed", seed))
    values = rng.uniform(0.0, 1.0, (n, length))
    half = length // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=2)
    y = (values[rows, first] + values[rows, second])[:, None]
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)


def make_first_symbol_task(n: int = 1000, length: int = 50, n_symbols: int = 4,
                           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Remember the first symbol: a classification task with a time lag of ``length`` − 1.

    Each sequence is ``length`` one-hot symbols drawn uniformly from
    ``n_symbols``; the label is the FIRST symbol. The later symbols are
    distractors that look exactly like it, so the answer must be carried
    through every step. Returns ``x`` (n, length, n_symbols) float32 and ``y``
    (n,) int64, tensors on the CPU. Guessing gives an accuracy of 1/n_symbols.
    """
    n, length = _check_sequences(n, length)
    n_symbols = checks.whole_number("n_symbols", n_symbols, minimum=2, maximum=1000)
    rng = np.random.default_rng(checks.seed("seed", seed))
    symbols = rng.integers(0, n_symbols, (n, length))
    x = np.eye(n_symbols, dtype=np.float32)[symbols]
    return torch.as_tensor(x), torch.as_tensor(symbols[:, 0], dtype=torch.int64)
