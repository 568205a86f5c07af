"""Backpropagation from scratch: a multilayer perceptron in NumPy whose every layer
has a forward and a backward pass, written as the maths says (notebook 02).

Each layer keeps what its backward pass needs from the forward pass::

    forward:   y = layer.forward(x)
    backward:  grad_x = layer.backward(grad_y)     # dL/dx from dL/dy

and a layer with parameters also stores their gradients in ``layer.grads``.
``gradient_check`` compares these analytic gradients with central finite
differences; ``to_torch`` copies a network into PyTorch so that autograd can
be compared with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from utils import checks

if TYPE_CHECKING:
    import torch

#: The floating-point types a scratch network can compute in.
DTYPES = (np.float32, np.float64)
#: The most layers (and units per layer) a scratch MLP accepts: a slip fails at once.
MAX_LAYERS = 1000
MAX_UNITS = 100_000
#: The largest step of a finite difference that still approximates a derivative.
MAX_EPS = 0.1


def _numbers(name: str, x: object) -> np.ndarray:
    """``x`` as a NumPy array of numbers in its own dtype (NaN and inf kept: a scratch
    network may overflow, and the lesson shows it), or a ValueError naming it."""
    return checks.array(name, x, dtype=None, finite=False)


def _check_dtype(dtype: object) -> object:
    try:
        known = dtype is not None and np.dtype(dtype) in [np.dtype(kind) for kind in DTYPES]
    except TypeError:
        known = False
    if not known:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}.")
    return dtype


def _check_rng(rng: object) -> None:
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {rng!r}.")

# --- Layers -------------------------------------------------------------------------


class Layer:
    """Base class: keeps what the forward pass saved for the backward pass."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._saved = None

    def save_for_backward(self, value: np.ndarray) -> None:
        """Keep ``value`` (an array the forward pass computed or received, e.g. a Linear
        layer's input or tanh's output) for the backward pass; a later call replaces it."""
        self._saved = value

    def saved(self) -> np.ndarray:
        """The array the last forward pass kept with ``save_for_backward``.

        Raises ``RuntimeError`` if no forward pass has run yet (backward before forward).
        """
        if self._saved is None:
            raise RuntimeError(f"{self!r}.backward() was called before forward(): run the forward "
                               "pass first, it saves what the backward pass needs.")
        return self._saved

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Layer):
    """y = x Wᵀ + b, with W of shape (n_out, n_in) as in ``torch.nn.Linear``.

    Backward, for a batch x of shape (N, n_in) and g = dL/dy of shape (N, n_out):
    dL/dW = gᵀ x,  dL/db = Σ_batch g,  dL/dx = g W.
    """

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator | None = None,
                 weight_std: float | None = None, dtype: type = np.float64) -> None:
        super().__init__()
        n_in = checks.whole_number("n_in", n_in, maximum=MAX_UNITS)
        n_out = checks.whole_number("n_out", n_out, maximum=MAX_UNITS)
        _check_rng(rng)
        _check_dtype(dtype)
        rng = np.random.default_rng(0) if rng is None else rng
        std = 1.0 / np.sqrt(n_in) if weight_std is None else checks.positive_number(
            "weight_std", weight_std)
        self.n_in, self.n_out = n_in, n_out
        self.params = {"weight": (std * rng.standard_normal((n_out, n_in))).astype(dtype),
                       "bias": np.zeros(n_out, dtype=dtype)}

    def forward(self, x: ArrayLike) -> np.ndarray:
        x = self._check_input(x)
        self.save_for_backward(x)
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self.saved()
        self._check_gradient(grad_out, x)
        self.grads = {"weight": grad_out.T @ x, "bias": grad_out.sum(axis=0)}
        return grad_out @ self.params["weight"]

    def _check_input(self, x):
        x = _numbers("x", x)
        if np.ndim(x) != 2 or np.shape(x)[1] != self.n_in:
            raise ValueError(f"{self!r} expects inputs of shape (batch, {self.n_in}), "
                             f"got {np.shape(x)}.")
        return x

    def _check_gradient(self, grad_out, x):
        _numbers("grad_out", grad_out)
        expected = (x.shape[0], self.n_out)
        if np.shape(grad_out) != expected:
            raise ValueError(f"{self!r}.backward expects a gradient of shape {expected}, "
                             f"got {np.shape(grad_out)}.")

    def __repr__(self) -> str:
        return f"Linear({self.n_in} → {self.n_out})"


class Sigmoid(Layer):
    """σ(x) = 1 / (1 + e^(−x));  dσ/dx = σ(x)(1 − σ(x))."""

    def forward(self, x: ArrayLike) -> np.ndarray:
        x = _numbers("x", x)
        out = 1.0 / (1.0 + np.exp(-x))
        self.save_for_backward(out)  # the backward pass only needs σ(x)
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        out = self.saved()
        return grad_out * out * (1.0 - out)


class Tanh(Layer):
    """tanh(x);  d tanh/dx = 1 − tanh²(x)."""

    def forward(self, x: ArrayLike) -> np.ndarray:
        out = np.tanh(_numbers("x", x))
        self.save_for_backward(out)
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        out = self.saved()
        return grad_out * (1.0 - out**2)


class ReLU(Layer):
    """max(0, x);  slope 1 where x > 0, else 0."""

    def forward(self, x: ArrayLike) -> np.ndarray:
        x = _numbers("x", x)
        self.save_for_backward(x)
        return np.maximum(x, 0.0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self.saved()
        return grad_out * (x > 0)


#: The activation layers written out here, by the names of the course's one activation
#: table (``utils.activations.ACTIVATIONS``); the lesson's three.
ACTIVATION_LAYERS: dict[str, type[Layer]] = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}


def _log_softmax(logits):
    """log softmax(z) = z − m − log Σ exp(z − m), m = max z: the log-sum-exp trick.

    Shifting by the largest logit keeps exp from overflowing, and taking the
    log before dividing keeps a tiny probability from rounding to 0 (whose log
    would be −inf): for logits [0, 1000], log softmax = [−1000, 0], not [−inf, 0].
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax(logits):
    return np.exp(_log_softmax(logits))


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels.

    L = −(1/N) Σ_i log softmax(z_i)[y_i];  dL/dz = (softmax(z) − onehot(y)) / N.
    """

    def __init__(self) -> None:
        self._saved = None

    def forward(self, logits: ArrayLike, labels: ArrayLike) -> float:
        logits = _numbers("logits", logits)
        labels = _numbers("labels", labels)
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (batch, classes), got {logits.shape}.")
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"labels must have shape ({logits.shape[0]},) to match the logits, "
                             f"got {labels.shape}.")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers (class numbers), got dtype {labels.dtype}.")
        classes = logits.shape[1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"labels must lie in 0..{classes - 1} for {classes} classes, got "
                             f"values from {labels.min()} to {labels.max()}.")
        log_probs = _log_softmax(logits)
        self._saved = (np.exp(log_probs), labels)
        rows = np.arange(len(labels))
        return float(-log_probs[rows, labels].mean())

    def backward(self) -> np.ndarray:
        if self._saved is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward() was called before forward().")
        probs, labels = self._saved
        grad = probs.copy()
        grad[np.arange(len(labels)), labels] -= 1.0
        return grad / len(labels)


# --- The network --------------------------------------------------------------------


class MLP:
    """Linear → activation → … → Linear, with a softmax cross-entropy loss.

    ``sizes`` lists the widths from input to output, e.g. ``[2, 16, 16, 2]``.
    Weights are drawn from N(0, 1/n_in) (N(0, 2/n_in) for ReLU), biases are 0.
    """

    def __init__(self, sizes: list[int], activation: str = "tanh", seed: int = 0,
                 dtype: type = np.float64) -> None:
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, e.g. "
                             f"[2, 16, 2], got {sizes!r}.")
        if len(sizes) > MAX_LAYERS + 1:
            raise ValueError(f"sizes may list at most {MAX_LAYERS + 1} sizes, got {len(sizes)}.")
        sizes = [checks.whole_number("sizes", size, maximum=MAX_UNITS) for size in sizes]
        checks.one_of("activation", activation, ACTIVATION_LAYERS)
        rng = np.random.default_rng(checks.seed("seed", seed))
        _check_dtype(dtype)
        gain = 2.0 if activation == "relu" else 1.0
        self.sizes, self.activation = list(sizes), activation
        self.layers = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(Linear(n_in, n_out, rng, np.sqrt(gain / n_in), dtype))
            if index < len(sizes) - 2:
                self.layers.append(ACTIVATION_LAYERS[activation]())
        self.loss_layer = SoftmaxCrossEntropy()

    def forward(self, x: ArrayLike) -> np.ndarray:
        """The logits (unnormalized class scores) for inputs x of shape (batch, sizes[0])."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x: ArrayLike, labels: ArrayLike) -> float:
        """Forward pass and mean cross-entropy loss."""
        return self.loss_layer.forward(self.forward(x), labels)

    def backward(self) -> np.ndarray:
        """Back-propagate from the last loss; fills every Linear layer's ``grads``."""
        grad = self.loss_layer.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def _linears(self):
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """[("linear1.weight", array), ...] in input-to-output order."""
        return [(f"linear{number}.{key}", layer.params[key])
                for number, layer in enumerate(self._linears(), start=1)
                for key in ("weight", "bias")]

    def named_gradients(self) -> list[tuple[str, np.ndarray]]:
        """[("linear1.weight", gradient), ...] after ``backward()``."""
        if any(not layer.grads for layer in self._linears()):
            raise RuntimeError("No gradients yet: call loss(x, y) and then backward().")
        return [(f"linear{number}.{key}", layer.grads[key])
                for number, layer in enumerate(self._linears(), start=1)
                for key in ("weight", "bias")]

    def sgd_step(self, lr: float) -> None:
        """One step of gradient descent: every parameter moves by −lr × its gradient."""
        lr = checks.positive_number("lr", lr)
        self.named_gradients()  # raises a clear error if backward() has not run
        for layer in self.layers:
            for key, value in layer.params.items():
                value -= lr * layer.grads[key]

    def predict(self, x: ArrayLike) -> np.ndarray:
        """The most likely class for each input."""
        return self.forward(x).argmax(axis=1)

    def __repr__(self) -> str:
        return "MLP(" + " → ".join(repr(layer) for layer in self.layers) + ")"


# --- Gradient checking ----------------------------------------------------------------


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """max |a − b| / max(|a|, |b|, tiny): 0 when equal, about 1 when unrelated."""
    a = _numbers("a", a).astype(np.float64)
    b = _numbers("b", b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: a and b must have the same shape; shapes differ, "
                         f"{a.shape} vs {b.shape}.")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def numerical_gradient(loss_fn: Callable[[], float], array: np.ndarray,
                       eps: float = 1e-5) -> np.ndarray:
    """dL/d(array) by central differences: (L(a + ε) − L(a − ε)) / 2ε, entry by entry.

    ``loss_fn()`` must recompute the loss from ``array``, which is changed in
    place and restored afterwards.
    """
    checks.function("loss_fn", loss_fn)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"array must be a NumPy array (a parameter of the model), got "
                         f"{type(array).__name__}.")
    eps = checks.positive_number("eps", eps, maximum=MAX_EPS)
    if array.dtype != np.float64:
        raise ValueError(f"numerical_gradient needs float64 parameters (float32 rounding "
                         f"swamps the differences), got {array.dtype}.")
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = loss_fn()
        array[index] = original - eps
        minus = loss_fn()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def gradient_check(model: MLP, x: ArrayLike, labels: ArrayLike,
                   eps: float = 1e-5) -> dict[str, float]:
    """{parameter name: relative error between backprop and finite differences}.

    ``eps`` = 1e-5 balances the two errors of a central difference in float64:
    truncation (∝ ε²) and rounding (∝ 1e-16/ε). Expect errors below 1e-6 for a
    correct backward pass, except where a ReLU input lies within ε of its kink
    at 0 (the nudge then crosses the kink, where the slope jumps).
    """
    if not isinstance(model, MLP):
        raise ValueError(f"model must be a utils.backprop.MLP, got {type(model).__name__}.")
    checks.positive_number("eps", eps, maximum=MAX_EPS)
    model.loss(x, labels)
    model.backward()
    analytic = dict(model.named_gradients())
    errors = {}
    for name, array in model.named_parameters():
        numeric = numerical_gradient(lambda: model.loss(x, labels), array, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


# --- The same network in PyTorch --------------------------------------------------------


def to_torch(model: MLP) -> torch.nn.Sequential:
    """A ``torch.nn.Sequential`` with the same layers and (copied) weights, in float64."""
    import torch
    from torch import nn

    if not isinstance(model, MLP):
        raise ValueError(f"model must be a utils.backprop.MLP, got {type(model).__name__}.")
    modules = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            linear = nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.params["weight"]))
                linear.bias.copy_(torch.from_numpy(layer.params["bias"]))
            modules.append(linear)
        else:
            modules.append({"Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
                            "ReLU": nn.ReLU}[type(layer).__name__]())
    return nn.Sequential(*modules)


def torch_gradients(torch_model: torch.nn.Module, x: ArrayLike,
                    labels: ArrayLike) -> tuple[dict[str, np.ndarray], float]:
    """{"linear1.weight": gradient, ...} from PyTorch autograd, for comparison."""
    import torch

    checks.module("torch_model", torch_model, example=" (e.g. from to_torch)")
    x, labels = _numbers("x", x), _numbers("labels", labels)
    if x.ndim != 2 or labels.shape != (len(x),):
        raise ValueError(f"x must have shape (batch, inputs) and labels shape (batch,), got "
                         f"{x.shape} and {labels.shape}.")
    torch_model.zero_grad()
    logits = torch_model(torch.as_tensor(x, dtype=torch.float64))
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels, dtype=torch.int64))
    loss.backward()
    linears = [m for m in torch_model if isinstance(m, torch.nn.Linear)]
    named = {}
    for number, linear in enumerate(linears, start=1):
        named[f"linear{number}.weight"] = linear.weight.grad.numpy().copy()
        named[f"linear{number}.bias"] = linear.bias.grad.numpy().copy()
    return named, loss.item()
