"""Bias, variance and regularization measured (11): the classic U-curve, small MLPs trained
side by side on a few digits (capacity, training time, early stopping, weight decay,
dropout), inverted dropout from scratch, the probabilistic view of activations and
Monte Carlo dropout.

- ``polynomial_bias_variance``: bias², variance and expected test error of polynomial fits
  over many resampled training sets (Geman, Bienenstock & Doursat 1992), in NumPy.
- ``digits_subsets``: a small stratified training set, a validation set and the test set.
- ``EnsembleMLP`` and ``train_ensemble``: many independent MLPs (one per seed and setting)
  trained at once with batched matrix products; each member has its own dropout
  probability and weight decay. Every loss and error is measured in evaluation mode.
- ``dropout_mask``, ``inverted_dropout``: dropout from scratch (Srivastava et al. 2014),
  the "inverted" form that PyTorch's ``nn.Dropout`` uses (survivors scaled by 1/(1 − p)
  in training, identity in evaluation).
- ``mc_dropout_predict``, ``predictive_entropy``: Monte Carlo dropout (Gal & Ghahramani
  2016), the mean of T stochastic passes and the entropy of that mean.
- ``logistic_ecdf``, ``gelu_monte_carlo``: the sigmoid as the logistic distribution's CDF
  and GELU = x·Φ(x) as the expectation of x times a Bernoulli(Φ(x)) gate.
- ``shifted_digits``, ``noise_images``: inputs unlike the training digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils import checks
from utils.data import STD_FLOOR, digits_split, stratified_split_indices

# --- 1. The classic bias–variance U-curve ----------------------------------------------


def polynomial_bias_variance(degrees: list[int], n_train: int = 20, n_sets: int = 500,
                             noise: float = 0.3, seed: int = 0,
                             grid: int = 200) -> dict[str, np.ndarray]:
    """Bias², variance and expected test MSE of least-squares polynomial fits.

    Each of ``n_sets`` training sets has ``n_train`` points x ~ U(0, 1), y = sin(2πx) +
    N(0, noise²). For each degree the fit is evaluated on an interior grid (0.05 to 0.95,
    where high degrees do not blow up at the edges): bias² is the squared error of the
    average fit, variance the spread of the fits around their average, and the expected
    test MSE adds the noise variance (bias² + variance + noise²). Returns arrays indexed
    like ``degrees``: ``bias2``, ``variance``, ``mse`` and ``degrees``.
    """
    degrees = [checks.whole_number("degree", d, minimum=0, maximum=12) for d in degrees]
    n_train = checks.whole_number("n_train", n_train, minimum=2)
    n_sets = checks.whole_number("n_sets", n_sets, minimum=2, maximum=100_000)
    noise = checks.finite_number("noise", noise, minimum=0.0)
    rng = np.random.default_rng(checks.seed("seed", seed))
    x = rng.uniform(0.0, 1.0, size=(n_sets, n_train))
    y = np.sin(2 * np.pi * x) + noise * rng.normal(size=x.shape)
    x_grid = np.linspace(0.05, 0.95, checks.whole_number("grid", grid, minimum=2))
    truth = np.sin(2 * np.pi * x_grid)
    bias2, variance = [], []
    for degree in degrees:
        design = np.stack([(2 * x - 1) ** k for k in range(degree + 1)], axis=-1)
        coefficients = np.stack([np.linalg.lstsq(a, b, rcond=None)[0]
                                 for a, b in zip(design, y)])
        grid_design = np.stack([(2 * x_grid - 1) ** k for k in range(degree + 1)], axis=-1)
        fits = coefficients @ grid_design.T  # (n_sets, grid)
        mean_fit = fits.mean(axis=0)
        bias2.append(float(((mean_fit - truth) ** 2).mean()))
        variance.append(float(fits.var(axis=0).mean()))
    bias2_array, variance_array = np.array(bias2), np.array(variance)
    return {"degrees": np.array(degrees), "bias2": bias2_array, "variance": variance_array,
            "mse": bias2_array + variance_array + noise ** 2}


# --- 2. A few digits: train, validation and test -----------------------------------------


@dataclass
class Subsets:
    """Standardized digits as float32 tensors: a small training set, a validation set
    (other training images) and the fixed test set."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self) -> str:
        return (f"Subsets(train {len(self.y_train)}, validation {len(self.y_val)}, "
                f"test {len(self.y_test)})")


def digits_subsets(n_train: int = 150, n_val: int = 300, seed: int = 0) -> Subsets:
    """``n_train`` training and ``n_val`` validation digits drawn (stratified, by ``seed``)
    from the course's training split, and its 450 test digits; z-scored with the small
    training set's own statistics (floored standard deviation), as a learner with only
    those images would."""
    split = digits_split(standardized=False)
    n_pool = len(split.y_train)
    n_train = checks.whole_number("n_train", n_train, minimum=10, maximum=n_pool - 10)
    n_val = checks.whole_number("n_val", n_val, minimum=10, maximum=n_pool - n_train)
    rest, train = stratified_split_indices(split.y_train, n_train / n_pool,
                                           seed=checks.seed("seed", seed))
    _, val = stratified_split_indices(split.y_train[rest], n_val / len(rest), seed=seed + 1)
    val = rest[val]
    x_train = split.x_train[train]
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std < STD_FLOOR, 1.0, std)

    def features(x):
        return torch.as_tensor((x - mean) / std, dtype=torch.float32)

    def labels(y):
        return torch.as_tensor(y, dtype=torch.int64)

    return Subsets(features(x_train), labels(split.y_train[train]),
                   features(split.x_train[val]), labels(split.y_train[val]),
                   features(split.x_test), labels(split.y_test))


# --- 3. Inverted dropout from scratch ------------------------------------------------------


def _check_p(p: Any) -> float:
    p = checks.finite_number("p", p, minimum=0.0)
    if p >= 1.0:
        raise ValueError(f"p (the drop probability) must be in [0, 1), got {p}.")
    return p


def dropout_mask(shape: tuple[int, ...], p: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A keep-mask of 0s and 1s: each entry is kept (1) with probability 1 − p, on its own."""
    p = _check_p(p)
    return (torch.rand(shape, generator=generator) >= p).to(torch.get_default_dtype())


def inverted_dropout(x: torch.Tensor, p: float, training: bool = True,
                     mask: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the
    survivors by 1/(1 − p), so the expectation stays ``x``; in evaluation, ``x`` itself.

    ``mask`` (0s and 1s, the shape of ``x``) replaces the random draw, e.g. to reuse the
    mask of ``nn.Dropout``.
    """
    p = _check_p(p)
    training = checks.boolean("training", training)
    if not training or p == 0.0:
        return x
    if mask is None:
        mask = dropout_mask(tuple(x.shape), p, generator).to(x.dtype)
    elif tuple(mask.shape) != tuple(x.shape):
        raise ValueError(f"mask must have the shape of x {tuple(x.shape)}, got "
                         f"{tuple(mask.shape)}.")
    return x * mask / (1.0 - p)


# --- 4. Many small MLPs at once ------------------------------------------------------------


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


class EnsembleMLP(nn.Module):
    """``members`` independent MLPs (ReLU hidden layers of one width), computed together.

    Member m has its own weights (PyTorch's default ``nn.Linear`` init, drawn from
    ``seeds[m]``) and its own dropout probability ``p[m]`` on every hidden layer (inverted
    dropout, in training mode only). ``forward(x)`` takes inputs shared by all members,
    (N, in), or one batch per member, (members, N, in), and returns (members, N, out).
    """

    def __init__(self, in_features: int, out_features: int, width: int, depth: int,
                 seeds: list[int], p: list[float] | None = None) -> None:
        super().__init__()
        width = checks.whole_number("width", width, minimum=1, maximum=8192)
        depth = checks.whole_number("depth", depth, minimum=1, maximum=16)
        seeds = [checks.seed("seed", s) for s in seeds]
        members = len(seeds)
        if members == 0:
            raise ValueError("seeds must name at least one member, got an empty list.")
        p = [0.0] * members if p is None else [_check_p(value) for value in p]
        if len(p) != members:
            raise ValueError(f"p must have one drop probability per member ({members}), got "
                             f"{len(p)}.")
        sizes = [in_features] + [width] * depth + [out_features]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            weight, bias = [], []
            for s in seeds:
                generator = torch.Generator().manual_seed(s * 1000 + len(self.weights))
                bound = 1 / math.sqrt(fan_in)
                weight.append(_uniform((fan_in, fan_out), bound, generator))
                bias.append(_uniform((1, fan_out), bound, generator))
            self.weights.append(nn.Parameter(torch.stack(weight)))
            self.biases.append(nn.Parameter(torch.stack(bias)))
        self.register_buffer("p", torch.tensor(p).view(members, 1, 1))

    @property
    def members(self) -> int:
        """How many independent networks."""
        return self.p.shape[0]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Outputs (members, N, out); dropout only in training mode."""
        h = x.expand(self.members, *x.shape) if x.dim() == 2 else x
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(bias, h, weight)
            if index < last:
                h = torch.relu(h)
                if self.training and bool((self.p > 0).any()):
                    keep = torch.rand(h.shape, generator=generator) >= self.p
                    h = h * keep / (1 - self.p)
        return h

    def weight_norm(self) -> torch.Tensor:
        """Each member's weight norm (all weight matrices, no biases): shape (members,)."""
        return torch.sqrt(sum((w.detach() ** 2).sum(dim=(1, 2)) for w in self.weights))


@dataclass
class EnsembleHistory:
    """Per evaluated epoch (rows) and member (columns), measured in evaluation mode:
    loss and error on the training, validation and test sets; ``epochs`` lists the epochs
    evaluated (0 = before training)."""

    epochs: list[int] = field(default_factory=list)
    train_loss: list[np.ndarray] = field(default_factory=list)
    val_loss: list[np.ndarray] = field(default_factory=list)
    test_loss: list[np.ndarray] = field(default_factory=list)
    train_error: list[np.ndarray] = field(default_factory=list)
    val_error: list[np.ndarray] = field(default_factory=list)
    test_error: list[np.ndarray] = field(default_factory=list)

    def array(self, name: str) -> np.ndarray:
        """One record as an array of shape (evaluations, members)."""
        name = checks.one_of("name", name, ["train_loss", "val_loss", "test_loss",
                                            "train_error", "val_error", "test_error"])
        return np.stack(getattr(self, name))


def member_losses(model: EnsembleMLP, x: torch.Tensor,
                  y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each member's mean cross-entropy and error rate on (x, y), in evaluation mode."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.transpose(1, 2), y.expand(model.members, -1),
                               reduction="none").mean(dim=1)
        error = (logits.argmax(dim=2) != y).float().mean(dim=1)
    model.train(was_training)
    return loss.numpy().astype(np.float64), error.numpy().astype(np.float64)


def train_ensemble(model: EnsembleMLP, data: Subsets, epochs: int, lr: float = 1e-3,
                   batch_size: int = 50, weight_decay: list[float] | None = None,
                   eval_every: int = 1, seed: int = 0) -> EnsembleHistory:
    """Train every member with Adam on ``data``'s training set (its own minibatch order,
    the same for all members), an L2 penalty ``weight_decay[m]``·½‖W‖² on member m's
    weights (Adam's coupled weight decay); record losses and errors every ``eval_every``
    epochs."""
    epochs = checks.whole_number("epochs", epochs, minimum=1, maximum=10_000)
    lr = checks.positive_number("lr", lr)
    batch_size = checks.whole_number("batch_size", batch_size, minimum=1)
    eval_every = checks.whole_number("eval_every", eval_every, minimum=1)
    decay = [0.0] * model.members if weight_decay is None else [
        checks.finite_number("weight_decay", w, minimum=0.0) for w in weight_decay]
    if len(decay) != model.members:
        raise ValueError(f"weight_decay must have one value per member ({model.members}), got "
                         f"{len(decay)}.")
    decay_tensor = torch.tensor(decay).view(-1, 1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(checks.seed("seed", seed))
    history = EnsembleHistory()

    def record(epoch):
        history.epochs.append(epoch)
        for part, x, y in (("train", data.x_train, data.y_train),
                           ("val", data.x_val, data.y_val),
                           ("test", data.x_test, data.y_test)):
            loss, error = member_losses(model, x, y)
            getattr(history, f"{part}_loss").append(loss)
            getattr(history, f"{part}_error").append(error)

    record(0)
    rows = len(data.y_train)
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(rows, generator=generator)
        for start in range(0, rows, batch_size):
            index = order[start:start + batch_size]
            logits = model(data.x_train[index], generator)
            target = data.y_train[index].expand(model.members, -1)
            loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            total = loss.mean(dim=1).sum()
            if any(decay):
                total = total + sum(0.5 * (decay_tensor * w ** 2).sum() for w in model.weights)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
        if epoch % eval_every == 0 or epoch == epochs:
            record(epoch)
    model.eval()
    return history


def early_stopping(history: EnsembleHistory) -> dict[str, np.ndarray]:
    """Per member: the epoch of the lowest validation loss, and the test loss and error
    there and at the last epoch."""
    best = history.array("val_loss").argmin(axis=0)
    members = np.arange(best.size)
    test_loss, test_error = history.array("test_loss"), history.array("test_error")
    return {"epoch": np.array(history.epochs)[best],
            "test_loss_stopped": test_loss[best, members], "test_loss_last": test_loss[-1],
            "test_error_stopped": test_error[best, members], "test_error_last": test_error[-1]}


# --- 5. Monte Carlo dropout ----------------------------------------------------------------


def mc_dropout_predict(model: EnsembleMLP, x: torch.Tensor, passes: int = 50,
                       seed: int = 0) -> torch.Tensor:
    """The mean of ``passes`` stochastic forward passes (dropout on) of class probabilities:
    shape (members, N, classes)."""
    passes = checks.whole_number("passes", passes, minimum=1, maximum=10_000)
    generator = torch.Generator().manual_seed(checks.seed("seed", seed))
    was_training = model.training
    model.train()
    with torch.no_grad():
        total = sum(torch.softmax(model(x, generator), dim=-1) for _ in range(passes))
    model.train(was_training)
    return total / passes


def predictive_entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """The entropy −Σ q log q (nats) of each predictive distribution (the last axis)."""
    q = probabilities.clamp_min(1e-12)
    return -(q * q.log()).sum(dim=-1)


def shifted_digits(x: torch.Tensor, pixels: int = 3) -> torch.Tensor:
    """Standardized 64-pixel digits moved ``pixels`` to the right (columns that fall off
    come back on the left): still digit strokes, but not where the training digits had
    them."""
    pixels = checks.whole_number("pixels", pixels, minimum=1, maximum=7)
    return torch.roll(x.reshape(-1, 8, 8), shifts=pixels, dims=2).reshape(-1, 64)


def noise_images(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images of standard normal noise in the standardized pixel space."""
    n = checks.whole_number("n", n, minimum=1, maximum=100_000)
    generator = torch.Generator().manual_seed(checks.seed("seed", seed))
    return torch.randn((n, 64), generator=generator)


# --- 6. The probabilistic view -------------------------------------------------------------


def logistic_ecdf(points: np.ndarray, samples: int = 200_000, seed: int = 0) -> np.ndarray:
    """The empirical CDF at ``points`` of ``samples`` draws from the standard logistic
    distribution."""
    points = checks.array("points", points, ndim=1)
    samples = checks.whole_number("samples", samples, minimum=1, maximum=10_000_000)
    draws = np.sort(np.random.default_rng(checks.seed("seed", seed)).logistic(size=samples))
    return np.searchsorted(draws, points, side="right") / samples


def standard_normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x), the standard normal CDF, in float64."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def gelu_monte_carlo(points: np.ndarray, samples: int = 100_000,
                     seed: int = 0) -> np.ndarray:
    """The mean of x·m with m ~ Bernoulli(Φ(x)), over ``samples`` gates per point: a
    Monte-Carlo estimate of GELU(x) = x·Φ(x)."""
    points = checks.array("points", points, ndim=1)
    samples = checks.whole_number("samples", samples, minimum=1, maximum=10_000_000)
    rng = np.random.default_rng(checks.seed("seed", seed))
    gates = rng.random((samples, points.size)) < standard_normal_cdf(points)
    return (points * gates).mean(axis=0)

