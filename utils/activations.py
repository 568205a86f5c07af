"""Activation functions and their derivatives, from scratch in NumPy (notebook 04).

Each activation is a plain function of a NumPy array (or a number) and comes
with its derivative, written from the closed form, so a notebook can check
the derivatives that autograd computes against the formulas::

    from utils import activations

    f = activations.function("elu")
    slope = activations.derivative("elu")
    f(np.array([-1.0, 2.0])), slope(np.array([-1.0, 2.0]))

The names are those of ``utils.nets.ACTIVATIONS``. At the kink x = 0 the
derivatives follow PyTorch's convention: ReLU's is 0, leaky ReLU's is the
negative slope, ELU's and SELU's are those of the negative side.
"""

import math

import numpy as np

from utils import checks

#: PyTorch's default negative slope of leaky ReLU (``nn.LeakyReLU()``).
LEAKY_SLOPE = 0.01
#: The constants of SELU (Klambauer et al. 2017), as in ``torch.nn.SELU``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _array(x):
    """``x`` as a float64 array (a number, a list or an array; NaN and ±inf pass through)."""
    return checks.array("x", x, finite=False)


def identity(x):
    """f(x) = x."""
    return _array(x).copy()


def identity_derivative(x):
    """f'(x) = 1."""
    return np.ones_like(_array(x))


def sigmoid(x):
    """σ(x) = 1 / (1 + e^(−x)), computed as exp(−log(1 + e^(−x))) so it never overflows."""
    return np.exp(-np.logaddexp(0.0, -_array(x)))


def sigmoid_derivative(x):
    """σ'(x) = σ(x)(1 − σ(x)), at most 1/4 (at x = 0)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x):
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))."""
    return np.tanh(_array(x))


def tanh_derivative(x):
    """tanh'(x) = 1 − tanh(x)², at most 1 (at x = 0)."""
    return 1 - np.tanh(_array(x)) ** 2


def relu(x):
    """max(0, x)."""
    return np.maximum(0.0, _array(x))


def relu_derivative(x):
    """1 for x > 0, else 0."""
    return (_array(x) > 0).astype(np.float64)


def leaky_relu(x, slope=LEAKY_SLOPE):
    """x for x > 0, else ``slope``·x."""
    x = _array(x)
    slope = checks.finite_number("slope", slope)
    return np.where(x > 0, x, slope * x)


def leaky_relu_derivative(x, slope=LEAKY_SLOPE):
    """1 for x > 0, else ``slope``."""
    x = _array(x)
    return np.where(x > 0, 1.0, checks.finite_number("slope", slope))


def elu(x, alpha=1.0):
    """x for x > 0, else α(e^x − 1) (Clevert et al. 2015): saturates at −α."""
    x = _array(x)
    alpha = checks.positive_number("alpha", alpha)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_derivative(x, alpha=1.0):
    """1 for x > 0, else α·e^x."""
    x = _array(x)
    alpha = checks.positive_number("alpha", alpha)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def _normal_cdf(x):
    return 0.5 * (1 + _erf(x / math.sqrt(2)))


def gelu(x):
    """x·Φ(x), Φ the standard normal distribution function (Hendrycks & Gimpel 2016)."""
    x = _array(x)
    return x * _normal_cdf(x)


def gelu_derivative(x):
    """Φ(x) + x·φ(x), φ the standard normal density: slightly above 1 near x = 0.75,
    slightly negative below x ≈ −0.75."""
    x = _array(x)
    density = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    return _normal_cdf(x) + x * density


def selu(x):
    """λ·ELU_α(x) with λ ≈ 1.0507 and α ≈ 1.6733 (Klambauer et al. 2017)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_derivative(x):
    """λ for x > 0, else λα·e^x."""
    return SELU_SCALE * elu_derivative(x, SELU_ALPHA)


#: name → (function, derivative); the names of ``utils.nets.ACTIVATIONS``.
ACTIVATIONS = {
    "identity": (identity, identity_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "relu": (relu, relu_derivative),
    "leaky_relu": (leaky_relu, leaky_relu_derivative),
    "elu": (elu, elu_derivative),
    "gelu": (gelu, gelu_derivative),
    "selu": (selu, selu_derivative),
}


def _lookup(name):
    if isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS[name]
    accepted = ", ".join(repr(key) for key in ACTIVATIONS)
    raise ValueError(f"Unknown activation {name!r}; accepted: {accepted}.")


def function(name):
    """The activation function called ``name`` (see ``ACTIVATIONS``)."""
    return _lookup(name)[0]


def derivative(name):
    """The derivative of the activation called ``name``, from its closed form."""
    return _lookup(name)[1]
