"""Network builders: a multilayer perceptron by depth, width, activation,
initialization, normalization and residual connections.

Names come from small registries (``ACTIVATIONS``, ``INITIALIZERS``,
``NORMALIZATIONS``); an unknown name or an invalid size raises ``ValueError``
that names the argument and lists what is accepted. ``INITIALIZERS`` holds the
course's one set of init names (``canonical_init`` also takes ``INIT_ALIASES``
such as ``"kaiming_normal"``); ``utils.initializers`` and ``utils.widgets`` use
the same names.

The network built by ``make_mlp`` is an ``nn.Sequential`` whose children are
named ``hidden1`` … ``hidden{depth}`` and ``output``, so a layer can be found
by its number: ``model.hidden3``. Each hidden layer is
Linear → (normalization) → activation; with ``residual=True`` every hidden
layer after the first adds its input to its output (``x + layer(x)``).
"""

import math

import torch
from torch import nn

from utils import checks

ACTIVATIONS = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}

NORMALIZATIONS = {
    None: None,
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}


def _init_default(weight, bias, std):
    """PyTorch's own ``nn.Linear`` initialization (left as it is)."""


def _init_normal(weight, bias, std):
    """N(0, std²) weights (``init_std`` sets std), zero biases."""
    nn.init.normal_(weight, 0.0, std)


def _init_glorot_standard(weight, bias, std):
    """Glorot & Bengio's 'standard' init: U[-1/√n_in, 1/√n_in], zero biases."""
    bound = 1.0 / math.sqrt(weight.shape[1])
    nn.init.uniform_(weight, -bound, bound)


def _init_xavier_uniform(weight, bias, std):
    """Glorot & Bengio's 'normalized' init: U[±√(6/(n_in+n_out))], zero biases."""
    nn.init.xavier_uniform_(weight)


def _init_xavier_normal(weight, bias, std):
    """N(0, 2/(n_in+n_out)) weights, zero biases."""
    nn.init.xavier_normal_(weight)


def _init_he_uniform(weight, bias, std):
    """He et al. 2015 for ReLU, uniform: Var(w) = 2/n_in, zero biases."""
    nn.init.kaiming_uniform_(weight, nonlinearity="relu")


def _init_he_normal(weight, bias, std):
    """He et al. 2015 for ReLU: N(0, 2/n_in), zero biases."""
    nn.init.kaiming_normal_(weight, nonlinearity="relu")


def _init_lecun_normal(weight, bias, std):
    """LeCun normal: N(0, 1/n_in), zero biases (the init SELU expects)."""
    nn.init.normal_(weight, 0.0, 1.0 / math.sqrt(weight.shape[1]))


def _init_orthogonal(weight, bias, std):
    """A random (semi-)orthogonal matrix (Saxe et al. 2013), zero biases."""
    nn.init.orthogonal_(weight)


INITIALIZERS = {
    "default": _init_default,
    "normal": _init_normal,
    "glorot_standard": _init_glorot_standard,
    "xavier_uniform": _init_xavier_uniform,
    "xavier_normal": _init_xavier_normal,
    "he_uniform": _init_he_uniform,
    "he_normal": _init_he_normal,
    "lecun_normal": _init_lecun_normal,
    "orthogonal": _init_orthogonal,
}


#: Other names of the same inits, accepted everywhere and turned into the names above.
INIT_ALIASES = {
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
}

#: Limits that keep a slip (``depth=10**12``) from hanging the kernel or filling memory.
MAX_DEPTH = 1000
MAX_WIDTH = 100_000
MAX_PARAMETERS = 200_000_000


def canonical_init(init):
    """The course's name of an init (a key of ``INITIALIZERS``); aliases are translated.

    This is the one set of init names of the course: ``make_mlp``, the
    from-scratch ``utils.initializers`` and the explorers of ``utils.widgets``
    all accept these names (and ``INIT_ALIASES``).
    """
    if isinstance(init, str) and init in INIT_ALIASES:
        return INIT_ALIASES[init]
    return checks.one_of("init", init, INITIALIZERS)


def _check_init_std(init, init_std):
    """``init_std`` as a float for ``init='normal'``, else None; or a helpful ValueError."""
    if init == "normal":
        if init_std is None:
            raise ValueError(f"init='normal' needs init_std > 0 (e.g. init_std=1.0), got "
                             f"{init_std!r}.")
        return checks.positive_number("init_std", init_std)
    if init_std is not None:
        raise ValueError(f"init_std is only used by init='normal', not by init={init!r}.")
    return None


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (see ``ACTIVATIONS``)."""
    return ACTIVATIONS[checks.one_of("activation", name, ACTIVATIONS)]()


def initialize_linear(layer: nn.Linear, init: str = "default", init_std=None) -> None:
    """Initialize one ``nn.Linear`` in place by init name (see ``INITIALIZERS``).

    Every init except ``"default"`` sets the bias to zero. ``init_std`` is the
    standard deviation for ``init="normal"`` and is accepted by no other init.
    """
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}.")
    init = canonical_init(init)
    init_std = _check_init_std(init, init_std)
    with torch.no_grad():
        INITIALIZERS[init](layer.weight, layer.bias, init_std)
        if init != "default" and layer.bias is not None:
            layer.bias.zero_()


class HiddenLayer(nn.Module):
    """Linear → optional normalization → activation."""

    def __init__(self, in_features, out_features, activation, norm=None, bias=True):
        super().__init__()
        in_features = checks.whole_number("in_features", in_features, maximum=MAX_WIDTH)
        out_features = checks.whole_number("out_features", out_features, maximum=MAX_WIDTH)
        self.linear = nn.Linear(in_features, out_features, bias=checks.boolean("bias", bias))
        norm_class = NORMALIZATIONS[checks.one_of("norm", norm, NORMALIZATIONS)]
        self.norm = norm_class(out_features) if norm_class is not None else nn.Identity()
        self.activation = make_activation(activation)

    def forward(self, x):
        return self.activation(self.norm(self.linear(x)))


class BlockInput(nn.Identity):
    """Marks the input of a residual block: the start of its identity path.

    It passes its input through unchanged. ``utils.gradflow.GradFlow`` records
    the gradient that reaches each ``BlockInput`` (layer kind ``"residual"``),
    so any model that places one at the input of each residual block, built
    here or by hand, shows the gradient carried by the identity path.
    """


class Residual(nn.Module):
    """``x + layer(x)``: the identity path of a residual network (He et al. 2016)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        checks.module("layer", layer)
        self.layer = layer

    def forward(self, x):
        return x + self.layer(x)


def make_mlp(in_features, out_features, depth, width=64, activation="relu", init="default",
             norm=None, residual=False, init_std=None, bias=True) -> nn.Sequential:
    """A multilayer perceptron with ``depth`` hidden layers of ``width`` units.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and of the output (e.g. 64 and 10 for the digits).
    depth : int
        Number of hidden layers (≥ 1); the output layer comes on top.
    width : int
        Units in every hidden layer.
    activation : str
        One of ``ACTIVATIONS``.
    init : str
        One of ``INITIALIZERS`` (or ``INIT_ALIASES``); applied to every Linear
        layer, output included.
    norm : None, "batch" or "layer"
        Normalization between each hidden Linear and its activation.
    residual : bool
        Wrap hidden layers 2…depth as ``x + layer(x)``.
    init_std : float, optional
        Standard deviation for ``init="normal"``.
    bias : bool
        Give every Linear layer a bias.

    Sizes are limited (``MAX_DEPTH``, ``MAX_WIDTH``, ``MAX_PARAMETERS``) so that a
    slip raises an error instead of hanging or filling the memory.
    """
    in_features = checks.whole_number("in_features", in_features, maximum=MAX_WIDTH)
    out_features = checks.whole_number("out_features", out_features, maximum=MAX_WIDTH)
    depth = checks.whole_number("depth", depth, maximum=MAX_DEPTH)
    width = checks.whole_number("width", width, maximum=MAX_WIDTH)
    checks.one_of("activation", activation, ACTIVATIONS)
    init = canonical_init(init)
    init_std = _check_init_std(init, init_std)
    checks.one_of("norm", norm, NORMALIZATIONS)
    residual = checks.boolean("residual", residual)
    bias = checks.boolean("bias", bias)
    parameters = (in_features + 1) * width + (depth - 1) * (width + 1) * width \
        + (width + 1) * out_features
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"depth={depth} and width={width} make {parameters:,} parameters, more "
                         f"than the {MAX_PARAMETERS:,} this course allows (memory); use a "
                         "smaller depth or width.")
    layers = nn.Sequential()
    for index in range(1, depth + 1):
        layer = HiddenLayer(in_features if index == 1 else width, width, activation, norm, bias)
        if residual and index > 1:
            layer = Residual(layer)
        layers.add_module(f"hidden{index}", layer)
    layers.add_module("output", nn.Linear(width, out_features, bias=bias))
    for module in layers.modules():
        if isinstance(module, nn.Linear):
            initialize_linear(module, init, init_std)
    return layers


def linear_layers(model: nn.Module):
    """The model's ``nn.Linear`` layers, input to output."""
    checks.module("model", model)
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    checks.module("model", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
