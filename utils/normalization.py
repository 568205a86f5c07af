"""Batch normalization and layer normalization from scratch, in NumPy (float64), notebook 06.

Batch norm (Ioffe & Szegedy 2015, Algorithm 1) on a batch ``x`` of shape (N, D)::

    μ = mean over the batch,  σ² = biased variance over the batch (÷ N),
    x̂ = (x − μ) / √(σ² + ε),  y = γ·x̂ + β

- ``batch_norm_forward(x, gamma, beta, eps)`` → ``(y, cache)``: training mode (the batch's
  own statistics); ``cache`` is a ``BatchNormCache`` (x̂, 1/√(σ²+ε), γ, μ, σ²).
- ``batch_norm_eval(x, gamma, beta, running_mean, running_var, eps)``: evaluation mode (the
  running statistics, nothing from the batch).
- ``update_running(running_mean, running_var, mean, var, n, momentum)``: PyTorch's
  running statistics: ``momentum`` weights the NEW batch, and the variance stored is the
  unbiased one (÷ (N − 1)), although the normalization used the biased one.
- ``batch_norm_backward_terms(dout, cache)``: the gradient with respect to ``x`` as its three
  named paths, ``{"direct": …, "via_mean": …, "via_var": …}``: through x̂ directly, through
  the batch mean and through the batch variance; ``batch_norm_backward(dout, cache)`` →
  ``(dx, dgamma, dbeta)`` (dx is the sum of the three terms).
- ``BatchNorm``: the same as a small stateful layer (train/eval mode, running statistics),
  to be matched to ``nn.BatchNorm1d``.
- ``layer_norm_forward(x, gamma, beta, eps)``: layer norm (Ba et al. 2016): the same
  formula over the features of each example instead of over the batch.
- ``numerical_gradient(f, x)``: central differences, to check the backward pass.

Invalid arguments raise ``ValueError`` naming the argument (``utils.checks``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils import checks

#: PyTorch's defaults for ``nn.BatchNorm1d``.
EPS = 1e-5
MOMENTUM = 0.1


@dataclass
class BatchNormCache:
    """What the backward pass needs from the forward pass."""

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def _batch(x: Any, name: str = "x") -> np.ndarray:
    x = checks.array(name, x, ndim=2)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one example and one feature, got shape "
                         f"{x.shape}.")
    return x


def _features(value: Any, name: str, width: int) -> np.ndarray:
    value = checks.array(name, value, ndim=1)
    if value.shape != (width,):
        raise ValueError(f"{name} must have one value per feature, shape ({width},), got "
                         f"shape {value.shape}.")
    return value


def batch_norm_forward(x: Any, gamma: Any, beta: Any,
                       eps: float = EPS) -> tuple[np.ndarray, BatchNormCache]:
    """Training-mode batch norm of ``x`` (N, D) with the batch's own mean and biased variance;
    returns ``(y, cache)``."""
    x = _batch(x)
    gamma = _features(gamma, "gamma", x.shape[1])
    beta = _features(beta, "beta", x.shape[1])
    eps = checks.positive_number("eps", eps)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).mean(axis=0)  # biased: ÷ N
    inv_std = 1.0 / np.sqrt(var + eps)  # ε inside the square root
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, BatchNormCache(x_hat, inv_std, gamma, mean, var)


def batch_norm_eval(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any,
                    eps: float = EPS) -> np.ndarray:
    """Evaluation-mode batch norm: normalize with the running statistics (each example's
    output depends on that example only)."""
    x = _batch(x)
    width = x.shape[1]
    gamma, beta = _features(gamma, "gamma", width), _features(beta, "beta", width)
    running_mean = _features(running_mean, "running_mean", width)
    running_var = _features(running_var, "running_var", width)
    if (running_var < 0).any():
        raise ValueError("running_var must be ≥ 0 (it is a variance).")
    eps = checks.positive_number("eps", eps)
    return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta


def update_running(running_mean: Any, running_var: Any, mean: Any, var: Any, n: int,
                   momentum: float = MOMENTUM) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's update of the running statistics after one batch of ``n`` examples whose
    mean is ``mean`` and biased variance is ``var``: ``new = (1 − momentum)·old +
    momentum·batch``, with the batch variance made unbiased (× n / (n − 1)) first."""
    running_mean = checks.array("running_mean", running_mean, ndim=1)
    width = running_mean.shape[0]
    running_var = _features(running_var, "running_var", width)
    mean, var = _features(mean, "mean", width), _features(var, "var", width)
    n = checks.whole_number("n", n, minimum=2)
    momentum = checks.finite_number("momentum", momentum, minimum=0.0, maximum=1.0)
    unbiased = var * n / (n - 1)
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * unbiased)


def _check_dout(dout: Any, cache: Any) -> np.ndarray:
    if not isinstance(cache, BatchNormCache):
        raise ValueError(f"cache must be the BatchNormCache that batch_norm_forward returned, "
                         f"got {checks.describe(cache)}.")
    dout = checks.array("dout", dout, ndim=2)
    if dout.shape != cache.x_hat.shape:
        raise ValueError(f"dout must have the shape of the forward pass's output, "
                         f"{cache.x_hat.shape}, got {dout.shape}.")
    return dout


def batch_norm_backward_terms(dout: Any, cache: BatchNormCache) -> dict[str, np.ndarray]:
    """∂L/∂x as its three paths, each an array of the shape of ``x``:

    - ``direct``:   through x̂ with μ and σ² held fixed, dx̂/σ (dx̂ = dout·γ);
    - ``via_mean``: through the batch mean, −mean(dx̂)/σ (every example moves μ);
    - ``via_var``:  through the batch variance, −x̂·mean(dx̂·x̂)/σ.

    (σ = √(σ² + ε); the means are over the batch.) The mean path's share that goes through
    σ² is zero, because the deviations from the mean sum to zero.
    """
    dout = _check_dout(dout, cache)
    dx_hat = dout * cache.gamma
    return {
        "direct": dx_hat * cache.inv_std,
        "via_mean": -dx_hat.mean(axis=0) * cache.inv_std * np.ones_like(dx_hat),
        "via_var": -cache.x_hat * (dx_hat * cache.x_hat).mean(axis=0) * cache.inv_std,
    }


def batch_norm_backward(dout: Any,
                        cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dgamma, dbeta)`` for training-mode batch norm: dx is the sum of the three
    terms of ``batch_norm_backward_terms``; dγ = Σ dout·x̂ and dβ = Σ dout over the batch."""
    terms = batch_norm_backward_terms(dout, cache)
    dout = np.asarray(dout, dtype=np.float64)
    dx = terms["direct"] + terms["via_mean"] + terms["via_var"]
    return dx, (dout * cache.x_hat).sum(axis=0), dout.sum(axis=0)


class BatchNorm:
    """Batch norm as a layer with state, like ``nn.BatchNorm1d(features)`` in float64:
    γ = 1, β = 0, running mean 0 and running variance 1 at the start; ``training`` True
    uses (and updates) batch statistics, False uses the running ones."""

    def __init__(self, features: int, eps: float = EPS, momentum: float = MOMENTUM) -> None:
        features = checks.whole_number("features", features)
        self.eps = checks.positive_number("eps", eps)
        self.momentum = checks.finite_number("momentum", momentum, minimum=0.0, maximum=1.0)
        self.gamma, self.beta = np.ones(features), np.zeros(features)
        self.running_mean, self.running_var = np.zeros(features), np.ones(features)
        self.training = True
        self.cache: BatchNormCache | None = None

    def forward(self, x: Any) -> np.ndarray:
        """y for the batch ``x``; in training mode also updates the running statistics
        (a batch of one example raises, as in PyTorch: its variance is undefined)."""
        if not self.training:
            return batch_norm_eval(x, self.gamma, self.beta, self.running_mean,
                                   self.running_var, self.eps)
        x = _batch(x)
        if x.shape[0] < 2:
            raise ValueError("Batch norm in training mode needs more than 1 example per "
                             f"batch, got x of shape {x.shape}.")
        y, self.cache = batch_norm_forward(x, self.gamma, self.beta, self.eps)
        self.running_mean, self.running_var = update_running(
            self.running_mean, self.running_var, self.cache.mean, self.cache.var, x.shape[0],
            self.momentum)
        return y

    def backward(self, dout: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dx, dgamma, dbeta)`` of the last training-mode forward pass."""
        if self.cache is None:
            raise ValueError("backward needs a training-mode forward pass first.")
        return batch_norm_backward(dout, self.cache)


def layer_norm_forward(x: Any, gamma: Any, beta: Any, eps: float = EPS) -> np.ndarray:
    """Layer norm of ``x`` (N, D): each example (row) normalized over its own D features
    with their mean and biased variance, then γ·x̂ + β; no batch statistics, so train and
    eval modes are the same and a batch of one works."""
    x = _batch(x)
    gamma = _features(gamma, "gamma", x.shape[1])
    beta = _features(beta, "beta", x.shape[1])
    eps = checks.positive_number("eps", eps)
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def numerical_gradient(f: Callable[[np.ndarray], float], x: Any,
                       h: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, (f(x + h) − f(x − h)) / 2h for each entry of ``x``."""
    f = checks.function("f", f, "lambda x: float(np.sum(x ** 2))")
    x = checks.array("x", x).copy()
    h = checks.positive_number("h", h)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        up = f(x)
        x[index] = old - h
        down = f(x)
        x[index] = old
        grad[index] = (up - down) / (2 * h)
    return grad
