"""Activation functions and their derivatives, from scratch in NumPy (notebook 04).

Each activation is a plain function of a NumPy array (or a number) and comes
with its derivative, written from the closed form, so a notebook can check
the derivatives that autograd computes against the formulas::

    from utils import activations

    f = activations.function("elu")
    slope = activations.derivative("elu")
    f(np.array([-1.0, 2.0])), slope(np.array([-1.0, 2.0]))

``ACTIVATIONS`` is the course's ONE table of activations: each name maps to an
``Activation`` that holds the PyTorch module, the NumPy function, its NumPy
derivative and the default options (leaky ReLU's ``negative_slope``, ELU's
``alpha``). The builders (``utils.nets``), the explorers, the from-scratch
network (``utils.backprop``), the gradient-health tools and the plot styles
all use these names. At the kink x = 0 the derivatives follow PyTorch's
convention: ReLU's is 0, leaky ReLU's is the negative slope, ELU's and
SELU's are those of the negative side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from torch import nn

from utils import checks

#: PyTorch's default negative slope of leaky ReLU (``nn.LeakyReLU()``).
LEAKY_SLOPE = 0.01
#: The constants of SELU (Klambauer et al. 2017), as in ``torch.nn.SELU``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _array(x: ArrayLike) -> np.ndarray:
    """``x`` as a float64 array (a number, a list or an array; NaN and ±inf pass through)."""
    return checks.array("x", x, finite=False)


def identity(x: ArrayLike) -> np.ndarray:
    """f(x) = x."""
    return _array(x).copy()


def identity_derivative(x: ArrayLike) -> np.ndarray:
    """f'(x) = 1."""
    return np.ones_like(_array(x))


def sigmoid(x: ArrayLike) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x)), computed as exp(−log(1 + e^(−x))) so it never overflows."""
    return np.exp(-np.logaddexp(0.0, -_array(x)))


def sigmoid_derivative(x: ArrayLike) -> np.ndarray:
    """σ'(x) = σ(x)(1 − σ(x)), at most 1/4 (at x = 0)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: ArrayLike) -> np.ndarray:
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))."""
    return np.tanh(_array(x))


def tanh_derivative(x: ArrayLike) -> np.ndarray:
    """tanh'(x) = 1 − tanh(x)², at most 1 (at x = 0)."""
    return 1 - np.tanh(_array(x)) ** 2


def relu(x: ArrayLike) -> np.ndarray:
    """max(0, x)."""
    return np.maximum(0.0, _array(x))


def relu_derivative(x: ArrayLike) -> np.ndarray:
    """1 for x > 0, else 0."""
    return (_array(x) > 0).astype(np.float64)


def leaky_relu(x: ArrayLike, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """x for x > 0, else ``slope``·x."""
    x = _array(x)
    slope = checks.finite_number("slope", slope)
    return np.where(x > 0, x, slope * x)


def leaky_relu_derivative(x: ArrayLike, slope: float = LEAKY_SLOPE) -> np.ndarray:
    """1 for x > 0, else ``slope``."""
    x = _array(x)
    return np.where(x > 0, 1.0, checks.finite_number("slope", slope))


def elu(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """x for x > 0, else α(e^x − 1) (Clevert et al. 2015): saturates at −α."""
    x = _array(x)
    alpha = checks.positive_number("alpha", alpha)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_derivative(x: ArrayLike, alpha: float = 1.0) -> np.ndarray:
    """1 for x > 0, else α·e^x."""
    x = _array(x)
    alpha = checks.positive_number("alpha", alpha)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def _normal_cdf(x: ArrayLike) -> np.ndarray:
    return 0.5 * (1 + _erf(x / math.sqrt(2)))


def gelu(x: ArrayLike) -> np.ndarray:
    """x·Φ(x), Φ the standard normal distribution function (Hendrycks & Gimpel 2016)."""
    x = _array(x)
    return x * _normal_cdf(x)


def gelu_derivative(x: ArrayLike) -> np.ndarray:
    """Φ(x) + x·φ(x), φ the standard normal density: slightly above 1 near x = 0.75,
    slightly negative below x ≈ −0.75."""
    x = _array(x)
    density = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    return _normal_cdf(x) + x * density


def selu(x: ArrayLike) -> np.ndarray:
    """λ·ELU_α(x) with λ ≈ 1.0507 and α ≈ 1.6733 (Klambauer et al. 2017)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_derivative(x: ArrayLike) -> np.ndarray:
    """λ for x > 0, else λα·e^x."""
    return SELU_SCALE * elu_derivative(x, SELU_ALPHA)


@dataclass(frozen=True)
class Activation:
    """One row of the activation table: the same activation in PyTorch and in NumPy.

    ``options`` holds the activation's options with their defaults, under
    PyTorch's keyword names (``negative_slope`` for leaky ReLU, ``alpha`` for
    ELU); an activation without options has an empty dict.
    """

    name: str
    module: type[nn.Module]  # the torch.nn class, e.g. nn.LeakyReLU
    function: Callable[..., np.ndarray]  # NumPy f(x, **options)
    derivative: Callable[..., np.ndarray]  # NumPy f'(x, **options)
    options: dict[str, float] = field(default_factory=dict)

    def make(self, **options: float) -> nn.Module:
        """A fresh PyTorch module, with ``options`` (PyTorch's names) over the defaults."""
        return self.module(**self.choose_options(options))

    def numpy(self, **options: float) -> tuple[Callable, Callable]:
        """(function, derivative) in NumPy with ``options`` fixed (PyTorch's names)."""
        chosen = {_NUMPY_NAMES.get(key, key): value
                  for key, value in self.choose_options(options).items()}

        def function(x: ArrayLike) -> np.ndarray:
            return self.function(x, **chosen)

        def derivative(x: ArrayLike) -> np.ndarray:
            return self.derivative(x, **chosen)

        return function, derivative

    def choose_options(self, options: dict[str, float]) -> dict[str, float]:
        """The defaults updated by ``options``; an unknown option is refused by name."""
        for key in options:
            if key not in self.options:
                accepted = ", ".join(repr(k) for k in self.options) or "none"
                raise ValueError(f"activation_options: {self.name!r} has no option {key!r}; "
                                 f"accepted: {accepted}.")
        return self.options | {key: checks.finite_number(f"activation_options[{key!r}]", value)
                               for key, value in options.items()}

    def __iter__(self) -> Iterator[Callable]:
        """Unpacks as ``(function, derivative)``, like the rows of the older table."""
        return iter((self.function, self.derivative))


#: The NumPy functions' names of options whose PyTorch name differs.
_NUMPY_NAMES = {"negative_slope": "slope"}

#: The course's ONE activation table: name → ``Activation``.
ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation("identity", nn.Identity, identity, identity_derivative),
    "sigmoid": Activation("sigmoid", nn.Sigmoid, sigmoid, sigmoid_derivative),
    "tanh": Activation("tanh", nn.Tanh, tanh, tanh_derivative),
    "relu": Activation("relu", nn.ReLU, relu, relu_derivative),
    "leaky_relu": Activation("leaky_relu", nn.LeakyReLU, leaky_relu, leaky_relu_derivative,
                             {"negative_slope": LEAKY_SLOPE}),
    "elu": Activation("elu", nn.ELU, elu, elu_derivative, {"alpha": 1.0}),
    "gelu": Activation("gelu", nn.GELU, gelu, gelu_derivative),
    "selu": Activation("selu", nn.SELU, selu, selu_derivative),
}


def lookup(name: str) -> Activation:
    """The table's row for ``name`` (a key of ``ACTIVATIONS``), or a ValueError listing them."""
    if isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS[name]
    accepted = ", ".join(repr(key) for key in ACTIVATIONS)
    raise ValueError(f"Unknown activation {name!r}; accepted: {accepted}.")


def name_of(module: nn.Module) -> str | None:
    """The table's name of an activation module (``nn.ReLU()`` → ``"relu"``), else None.

    Only the exact classes of the table count (a subclass of ``nn.Identity``
    such as ``utils.nets.BlockInput`` is not the identity activation).
    """
    for name, entry in ACTIVATIONS.items():
        if type(module) is entry.module:
            return name
    return None


def function(name: str) -> Callable[..., np.ndarray]:
    """The NumPy activation function called ``name`` (see ``ACTIVATIONS``)."""
    return lookup(name).function


def derivative(name: str) -> Callable[..., np.ndarray]:
    """The NumPy derivative of the activation called ``name``, from its closed form."""
    return lookup(name).derivative
