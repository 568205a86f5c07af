"""Weight initializers written from scratch, and the spectrum of a network's Jacobian.

Each initializer draws a weight matrix of ``shape = (fan_out, fan_in)`` — the
layout of ``nn.Linear.weight`` — with NumPy alone, as a float64 array. The
formulas are the whole lesson of notebook 05:

- ``xavier_uniform``: U[−b, b] with b = gain·√(6/(fan_in+fan_out)); gain 1 by default;
- ``xavier_normal``: N(0, gain²·2/(fan_in+fan_out)); gain 1;
- ``he_uniform``: U[−b, b] with b = gain·√(3/fan_in); gain √2 (ReLU);
- ``he_normal``: N(0, gain²/fan_in); gain √2 (ReLU);
- ``lecun_normal``: N(0, gain²/fan_in); gain 1;
- ``orthogonal``: gain × a random (semi-)orthogonal matrix; gain 1;
- ``glorot_standard``: U[−b, b] with b = gain/√fan_in; gain 1 (the "standard"
  init Glorot & Bengio compare against, and PyTorch's default for weights).

- ``normal``: N(0, gain²), a fixed standard deviation whatever the fans.

``INITIALIZERS`` is the course's ONE table of inits: each name maps to an
``Initializer`` holding the NumPy draw above and the same init in PyTorch
(``fill_``, for any Linear, conv or recurrent weight), with one gain
convention (``gain`` scales the standard deviation; default √2 for the He
inits, 1 otherwise) and one label (``"He"``; ``INIT_LABELS`` maps every
name to it, for figures, legends and menus). ``utils.nets.make_mlp``, the
explorers and the plot styles use these names; ``INIT_ALIASES`` (``kaiming_normal`` for
``he_normal`` …) are accepted everywhere. ``make_mlp``'s ``"default"`` keeps
PyTorch's own init and has no from-scratch version. ``init_weights(shape,
name)`` picks one by name; ``apply_init(model, name)`` fills every
``nn.Linear`` of a model and sets its biases to zero.

``jacobian_singular_values(model, x)`` returns the singular values of the
input-output Jacobian ∂model(x)/∂x at one input: all equal to 1 is the
"dynamical isometry" of Saxe, McClelland & Ganguli (2013).

The random numbers come from ``rng``: a ``numpy.random.Generator``, a seed,
or ``None`` for a generator drawn from NumPy's global state (which
``utils.setup()`` seeds), so results repeat from run to run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from utils import checks


def _check_shape(shape):
    """``shape`` as a pair of positive ints (fan_out, fan_in), or a helpful ValueError."""
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape must be 2-D, (fan_out, fan_in) like nn.Linear.weight; got "
                         f"{shape!r}. (Convolution kernels are not covered here.)")
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ValueError(f"shape must hold two whole numbers ≥ 1, got {shape!r}.")
    return int(shape[0]), int(shape[1])


def _check_gain(gain):
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not math.isfinite(gain) \
            or gain <= 0:
        raise ValueError(f"gain must be a positive number (e.g. 1.0, or math.sqrt(2) for "
                         f"ReLU), got {gain!r}.")
    return float(gain)


def _generator(rng):
    """A NumPy Generator from ``rng`` (a Generator, a seed, or None for NumPy's global state)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(np.random.randint(0, 2**32 - 1, dtype=np.uint64))
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral) or rng < 0:
        raise ValueError(f"rng must be a numpy.random.Generator, a seed ≥ 0 or None, got "
                         f"{rng!r}.")
    return np.random.default_rng(int(rng))


def fans(shape: tuple[int, int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape = (fan_out, fan_in)``."""
    fan_out, fan_in = _check_shape(shape)
    return fan_in, fan_out


#: He et al.'s gain for ReLU: √2, because ReLU keeps half of the second moment.
RELU_GAIN = math.sqrt(2.0)


def xavier_uniform(shape: tuple[int, int], gain: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Glorot & Bengio (2010): U[−b, b] with b = gain·√(6/(fan_in+fan_out)).

    The variance of U[−b, b] is b²/3, so Var(w) = gain²·2/(fan_in+fan_out).
    """
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) * math.sqrt(6.0 / (fan_in + fan_out))
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


def xavier_normal(shape: tuple[int, int], gain: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Glorot & Bengio (2010), normal form: N(0, gain²·2/(fan_in+fan_out))."""
    fan_in, fan_out = fans(shape)
    std = _check_gain(gain) * math.sqrt(2.0 / (fan_in + fan_out))
    return std * _generator(rng).standard_normal((fan_out, fan_in))


def lecun_normal(shape: tuple[int, int], gain: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """LeCun et al. (1998): N(0, gain²/fan_in)."""
    fan_in, fan_out = fans(shape)
    std = _check_gain(gain) / math.sqrt(fan_in)
    return std * _generator(rng).standard_normal((fan_out, fan_in))


def he_normal(shape: tuple[int, int], gain: float = RELU_GAIN,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """He et al. (2015) for ReLU: N(0, gain²/fan_in) with gain √2, i.e. Var(w) = 2/fan_in.

    For a leaky ReLU with negative slope a, use gain = √(2/(1+a²)).
    """
    return lecun_normal(shape, gain, rng)


def he_uniform(shape: tuple[int, int], gain: float = RELU_GAIN,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """He et al. (2015), uniform form: U[−b, b] with b = gain·√(3/fan_in)."""
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) * math.sqrt(3.0 / fan_in)
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


def orthogonal(shape: tuple[int, int], gain: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Saxe et al. (2013): gain × a random (semi-)orthogonal matrix.

    The Q of the QR decomposition of a Gaussian matrix, with the signs of R's
    diagonal moved into Q so that Q is uniformly distributed. Its rows (if
    fan_out ≤ fan_in) or its columns (otherwise) are orthonormal: every
    singular value equals ``gain``.
    """
    fan_out, fan_in = _check_shape(shape)
    gain = _check_gain(gain)
    tall = (max(fan_out, fan_in), min(fan_out, fan_in))
    q, r = np.linalg.qr(_generator(rng).standard_normal(tall))
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    if fan_out < fan_in:
        q = q.T
    return gain * q


def glorot_standard(shape: tuple[int, int], gain: float = 1.0,
        rng: np.random.Generator | int | None = None) -> np.ndarray:
    """The "standard" init of Glorot & Bengio (2010): U[−b, b] with b = gain/√fan_in.

    Var(w) = gain²/(3·fan_in): a third of LeCun's. PyTorch's ``nn.Linear``
    draws its weights this way by default.
    """
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) / math.sqrt(fan_in)
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


def normal(shape: tuple[int, int], gain: float = 1.0,
           rng: np.random.Generator | int | None = None) -> np.ndarray:
    """N(0, gain²): a fixed standard deviation ``gain``, whatever the fans.

    The "large" or "small" init of the lessons (``make_mlp(init="normal",
    init_std=...)``): its variance does not adapt to the layer's width.
    """
    fan_out, fan_in = _check_shape(shape)
    return _check_gain(gain) * _generator(rng).standard_normal((fan_out, fan_in))


# --- The same initializers in PyTorch (for any weight: Linear, conv, recurrent) -------------


def _torch_fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a torch weight: a Linear's (out, in), a conv's (out, in, k, k)."""
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
    return fan_in, fan_out


def _torch_uniform(weight: torch.Tensor, bound: float) -> None:
    weight.uniform_(-bound, bound)


def _torch_normal(weight: torch.Tensor, std: float) -> None:
    weight.normal_(0.0, std)


def _torch_xavier_uniform(weight: torch.Tensor, gain: float) -> None:
    fan_in, fan_out = _torch_fans(weight)
    _torch_uniform(weight, gain * math.sqrt(6.0 / (fan_in + fan_out)))


def _torch_xavier_normal(weight: torch.Tensor, gain: float) -> None:
    fan_in, fan_out = _torch_fans(weight)
    _torch_normal(weight, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _torch_lecun_normal(weight: torch.Tensor, gain: float) -> None:
    _torch_normal(weight, gain / math.sqrt(_torch_fans(weight)[0]))


def _torch_he_uniform(weight: torch.Tensor, gain: float) -> None:
    _torch_uniform(weight, gain * math.sqrt(3.0 / _torch_fans(weight)[0]))


def _torch_glorot_standard(weight: torch.Tensor, gain: float) -> None:
    _torch_uniform(weight, gain / math.sqrt(_torch_fans(weight)[0]))


def _torch_orthogonal(weight: torch.Tensor, gain: float) -> None:
    nn.init.orthogonal_(weight, gain=gain)


@dataclass(frozen=True)
class Initializer:
    """One row of the initializer table: the same init in NumPy and in PyTorch.

    Both follow one gain convention: ``gain`` multiplies the standard
    deviation (and the bound of a uniform draw), and ``default_gain`` is used
    when no gain is given (√2 for the He inits, 1 otherwise). Calling the row
    draws a NumPy matrix: ``INITIALIZERS["he_normal"]((256, 64), rng=0)``.
    """

    name: str
    numpy: Callable[..., np.ndarray]  # draw(shape, gain, rng) → float64 array (fan_out, fan_in)
    torch: Callable[[torch.Tensor, float], None]  # fill(weight, gain) in place, torch's RNG
    default_gain: float
    formula: str  # the variance in words, for tables and menus
    label: str  # the init's one name in figures, legends and menus, e.g. "He"
    #: Var(w) = E[w²] of one weight as a function of (fan_in, fan_out, gain), as the row
    #: draws it (for orthogonal weights, the mean of the squares: gain²/max(fan_in, fan_out)).
    variance: Callable[[int, int, float], float]

    def __call__(self, shape: tuple[int, int], **options: object) -> np.ndarray:
        """A NumPy weight of ``shape = (fan_out, fan_in)``, exactly as the NumPy function.

        ``options``: ``gain`` (a positive number; omitted: ``default_gain``) and
        ``rng`` (a NumPy Generator, a seed, or None for NumPy's global state).
        """
        return self.numpy(shape, **options)

    def fill_(self, weight: torch.Tensor, gain: float | None = None) -> torch.Tensor:
        """Fill a torch ``weight`` in place (under ``no_grad``) from torch's RNG; return it."""
        if not torch.is_tensor(weight) or weight.dim() < 2:
            raise ValueError(f"weight must be a torch tensor with at least 2 dimensions (a "
                             f"Linear or conv weight), got {checks.describe(weight)}.")
        gain = self.default_gain if gain is None else _check_gain(gain)
        with torch.no_grad():
            self.torch(weight, gain)
        return weight

    def weight_variance(self, fan_in: int, fan_out: int, gain: float | None = None) -> float:
        """Var(w) of a weight drawn by this row for a layer ``fan_in → fan_out`` (whole
        numbers ≥ 1) with ``gain`` (a positive number; None: ``default_gain``)."""
        fan_out, fan_in = _check_shape((fan_out, fan_in))
        gain = self.default_gain if gain is None else _check_gain(gain)
        return float(self.variance(fan_in, fan_out, gain))


def _fixed_variance(fan_in: int, fan_out: int, gain: float) -> float:
    return gain ** 2


def _glorot_standard_variance(fan_in: int, fan_out: int, gain: float) -> float:
    return gain ** 2 / (3 * fan_in)


def _xavier_variance(fan_in: int, fan_out: int, gain: float) -> float:
    return gain ** 2 * 2 / (fan_in + fan_out)


def _lecun_variance(fan_in: int, fan_out: int, gain: float) -> float:
    return gain ** 2 / fan_in


def _orthogonal_variance(fan_in: int, fan_out: int, gain: float) -> float:
    # min(fan_in, fan_out) orthonormal rows or columns, times the gain, over fan_in·fan_out
    return gain ** 2 / max(fan_in, fan_out)


#: The course's ONE initializer table: name → ``Initializer`` (NumPy and PyTorch), with the
#: formula and the label that figures, legends and menus show.
INITIALIZERS: dict[str, Initializer] = {
    "normal": Initializer("normal", normal, lambda w, gain: _torch_normal(w, gain), 1.0,
                          "N(0, gain²)", "N(0, σ²)", variance=_fixed_variance),
    "glorot_standard": Initializer("glorot_standard", glorot_standard, _torch_glorot_standard,
                                   1.0, "U[±gain/√fan_in]", "standard",
                                   variance=_glorot_standard_variance),
    "xavier_uniform": Initializer("xavier_uniform", xavier_uniform, _torch_xavier_uniform, 1.0,
                                  "U[±gain·√(6/(fan_in+fan_out))]", "Xavier (uniform)",
                                  variance=_xavier_variance),
    "xavier_normal": Initializer("xavier_normal", xavier_normal, _torch_xavier_normal, 1.0,
                                 "N(0, gain²·2/(fan_in+fan_out))", "Xavier (normal)",
                                 variance=_xavier_variance),
    "he_uniform": Initializer("he_uniform", he_uniform, _torch_he_uniform, RELU_GAIN,
                              "U[±gain·√(3/fan_in)], gain √2", "He (uniform)",
                              variance=_lecun_variance),
    "he_normal": Initializer("he_normal", he_normal, _torch_lecun_normal, RELU_GAIN,
                             "N(0, gain²/fan_in), gain √2", "He", variance=_lecun_variance),
    "lecun_normal": Initializer("lecun_normal", lecun_normal, _torch_lecun_normal, 1.0,
                                "N(0, gain²/fan_in)", "LeCun", variance=_lecun_variance),
    "orthogonal": Initializer("orthogonal", orthogonal, _torch_orthogonal, 1.0,
                              "gain × a random orthogonal matrix", "orthogonal",
                              variance=_orthogonal_variance),
}

#: The label of every init name of ``utils.nets.make_mlp``, read from the table above, plus
#: ``"default"`` (PyTorch's own init, which has no row): for figures and legends.
INIT_LABELS: dict[str, str] = {"default": "PyTorch default",
                               **{name: row.label for name, row in INITIALIZERS.items()}}

#: Other names of the same inits, accepted everywhere and turned into the names above.
INIT_ALIASES: dict[str, str] = {
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
}


def lookup(name: str) -> Initializer:
    """The table's row for ``name`` (a key of ``INITIALIZERS`` or ``INIT_ALIASES``)."""
    if isinstance(name, str) and name in INIT_ALIASES:
        name = INIT_ALIASES[name]
    if isinstance(name, str) and name in INITIALIZERS:
        return INITIALIZERS[name]
    accepted = ", ".join(repr(key) for key in INITIALIZERS)
    note = (" (make_mlp(init='default') keeps PyTorch's own init; there is no from-scratch "
            "version)" if isinstance(name, str) and name == "default" else "")
    raise ValueError(f"Unknown init {name!r}{note}; accepted: {accepted}.")


def init_weights(shape: tuple[int, int], name: str, gain: float | None = None,
                 rng: np.random.Generator | int | None = None) -> np.ndarray:
    """A weight matrix of ``shape = (fan_out, fan_in)`` drawn by the initializer ``name``.

    ``gain=None`` uses the initializer's own default (√2 for the He inits, 1 otherwise).
    """
    initializer = lookup(name)
    if gain is None:
        return initializer(shape, rng=rng)
    return initializer(shape, gain=gain, rng=rng)


def apply_init(model: nn.Module, name: str, gain: float | None = None,
               rng: np.random.Generator | int | None = None) -> nn.Module:
    """Fill every ``nn.Linear`` weight of ``model`` by ``name`` (biases set to 0); return it.

    The layers are filled input to output from one NumPy random generator, so
    a given ``rng`` seed always gives the same network.
    """
    initializer = lookup(name)
    if gain is not None:
        _check_gain(gain)
    checks.module("model", model)
    layers = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to initialize.")
    generator = _generator(rng)
    with torch.no_grad():
        for layer in layers:
            shape = tuple(layer.weight.shape)
            values = (initializer(shape, rng=generator) if gain is None
                      else initializer(shape, gain=gain, rng=generator))
            layer.weight.copy_(torch.from_numpy(values))
            if layer.bias is not None:
                layer.bias.zero_()
    return model


def jacobian_singular_values(model: nn.Module | Callable, x: torch.Tensor) -> np.ndarray:
    """Singular values (largest first) of the Jacobian ∂model(x)/∂x at one input ``x``.

    ``x`` is one input: a 1-D tensor of the model's input size (or a batch of
    one). The Jacobian is computed by ``torch.autograd.functional.jacobian``
    in the dtype of ``x``; use float64 for deep networks, whose smallest
    singular values can fall below float32's resolution. Returns a float64
    NumPy array.
    """
    if not callable(model):
        raise ValueError(f"model must be a torch.nn.Module (or a function of a tensor), got "
                         f"{type(model).__name__}.")
    if not torch.is_tensor(x):
        raise ValueError(f"x must be a torch tensor (one input), got {type(x).__name__}.")
    if x.dim() == 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 1 or x.numel() == 0:
        raise ValueError(f"x must be ONE input: a 1-D tensor (or shape (1, n)); got shape "
                         f"{tuple(x.shape)}. Pick one example, e.g. x_batch[0].")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}.")

    def single(inputs):
        return model(inputs.unsqueeze(0)).squeeze(0)

    try:  # one batched backward pass; some operations cannot be batched this way
        jacobian = torch.autograd.functional.jacobian(single, x.detach(), vectorize=True)
    except RuntimeError:
        jacobian = torch.autograd.functional.jacobian(single, x.detach())
    jacobian = jacobian.reshape(-1, x.numel())
    return torch.linalg.svdvals(jacobian.detach().to("cpu", torch.float64)).numpy()
