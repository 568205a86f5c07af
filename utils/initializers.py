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

The names are those of ``utils.nets.make_mlp`` (the course's one set of init
names; its aliases such as ``kaiming_normal`` for ``he_normal`` are accepted
too). ``make_mlp``'s ``"default"`` (PyTorch's own) and ``"normal"`` (a fixed
standard deviation) have no from-scratch version here. ``init_weights(shape,
name)`` picks one by name; ``apply_init(model, name)`` fills every
``nn.Linear`` of a model and sets its biases to zero.

``jacobian_singular_values(model, x)`` returns the singular values of the
input-output Jacobian ∂model(x)/∂x at one input: all equal to 1 is the
"dynamical isometry" of Saxe, McClelland & Ganguli (2013).

The random numbers come from ``rng``: a ``numpy.random.Generator``, a seed,
or ``None`` for a generator drawn from NumPy's global state (which
``utils.setup()`` seeds), so results repeat from run to run.
"""

import math
import numbers

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


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape = (fan_out, fan_in)``."""
    fan_out, fan_in = _check_shape(shape)
    return fan_in, fan_out


#: He et al.'s gain for ReLU: √2, because ReLU keeps half of the second moment.
RELU_GAIN = math.sqrt(2.0)


def xavier_uniform(shape, gain=1.0, rng=None):
    """Glorot & Bengio (2010): U[−b, b] with b = gain·√(6/(fan_in+fan_out)).

    The variance of U[−b, b] is b²/3, so Var(w) = gain²·2/(fan_in+fan_out).
    """
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) * math.sqrt(6.0 / (fan_in + fan_out))
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


def xavier_normal(shape, gain=1.0, rng=None):
    """Glorot & Bengio (2010), normal form: N(0, gain²·2/(fan_in+fan_out))."""
    fan_in, fan_out = fans(shape)
    std = _check_gain(gain) * math.sqrt(2.0 / (fan_in + fan_out))
    return std * _generator(rng).standard_normal((fan_out, fan_in))


def lecun_normal(shape, gain=1.0, rng=None):
    """LeCun et al. (1998): N(0, gain²/fan_in)."""
    fan_in, fan_out = fans(shape)
    std = _check_gain(gain) / math.sqrt(fan_in)
    return std * _generator(rng).standard_normal((fan_out, fan_in))


def he_normal(shape, gain=RELU_GAIN, rng=None):
    """He et al. (2015) for ReLU: N(0, gain²/fan_in) with gain √2, i.e. Var(w) = 2/fan_in.

    For a leaky ReLU with negative slope a, use gain = √(2/(1+a²)).
    """
    return lecun_normal(shape, gain, rng)


def he_uniform(shape, gain=RELU_GAIN, rng=None):
    """He et al. (2015), uniform form: U[−b, b] with b = gain·√(3/fan_in)."""
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) * math.sqrt(3.0 / fan_in)
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


def orthogonal(shape, gain=1.0, rng=None):
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


def glorot_standard(shape, gain=1.0, rng=None):
    """The "standard" init of Glorot & Bengio (2010): U[−b, b] with b = gain/√fan_in.

    Var(w) = gain²/(3·fan_in): a third of LeCun's. PyTorch's ``nn.Linear``
    draws its weights this way by default.
    """
    fan_in, fan_out = fans(shape)
    bound = _check_gain(gain) / math.sqrt(fan_in)
    return _generator(rng).uniform(-bound, bound, size=(fan_out, fan_in))


#: The from-scratch initializers, by the names of ``utils.nets.INITIALIZERS``.
INITIALIZERS = {
    "glorot_standard": glorot_standard,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
}


def _choose(name):
    """The initializer called ``name`` (or an alias of it, see ``utils.nets.INIT_ALIASES``)."""
    from utils.nets import INIT_ALIASES

    if isinstance(name, str) and name in INIT_ALIASES:
        name = INIT_ALIASES[name]
    if isinstance(name, str) and name in INITIALIZERS:
        return INITIALIZERS[name]
    accepted = ", ".join(repr(key) for key in INITIALIZERS)
    note = (f" (make_mlp(init={name!r}) has it; there is no from-scratch version)"
            if isinstance(name, str) and name in ("default", "normal") else "")
    raise ValueError(f"Unknown init {name!r}{note}; accepted: {accepted}.")


def init_weights(shape, name, gain=None, rng=None):
    """A weight matrix of ``shape = (fan_out, fan_in)`` drawn by the initializer ``name``.

    ``gain=None`` uses the initializer's own default (√2 for the He inits, 1 otherwise).
    """
    initializer = _choose(name)
    if gain is None:
        return initializer(shape, rng=rng)
    return initializer(shape, gain=gain, rng=rng)


def apply_init(model, name, gain=None, rng=None):
    """Fill every ``nn.Linear`` weight of ``model`` by ``name`` (biases set to 0); return it.

    The layers are filled input to output from one random generator, so a
    given ``rng`` seed always gives the same network.
    """
    initializer = _choose(name)
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


def jacobian_singular_values(model, x):
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
