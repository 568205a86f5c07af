"""Network builders: a multilayer perceptron by depth, width, activation,
initialization, normalization and residual connections.

Names come from small registries (``ACTIVATIONS``, ``INITIALIZERS``,
``NORMALIZATIONS``); an unknown name or an invalid size raises ``ValueError``
that lists what is accepted.

The network built by ``make_mlp`` is an ``nn.Sequential`` whose children are
named ``hidden1`` … ``hidden{depth}`` and ``output``, so a layer can be found
by its number: ``model.hidden3``. Each hidden layer is
Linear → (normalization) → activation; with ``residual=True`` every hidden
layer after the first adds its input to its output (``x + layer(x)``).
"""

import math

import torch
from torch import nn

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


def _choose(registry, name, what):
    """Look ``name`` up in ``registry``; unknown names raise a helpful ValueError."""
    if name in registry:
        return registry[name]
    accepted = ", ".join(repr(key) for key in registry)
    raise ValueError(f"Unknown {what} {name!r}; accepted: {accepted}.")


def _check_size(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {value!r}.")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (see ``ACTIVATIONS``)."""
    return _choose(ACTIVATIONS, name, "activation")()


def initialize_linear(layer: nn.Linear, init: str = "default", init_std=None) -> None:
    """Initialize one ``nn.Linear`` in place by init name (see ``INITIALIZERS``).

    Every init except ``"default"`` sets the bias to zero. ``init_std`` is the
    standard deviation for ``init="normal"`` and is accepted by no other init.
    """
    initializer = _choose(INITIALIZERS, init, "init")
    if init == "normal":
        if init_std is None or not init_std > 0:
            raise ValueError(f"init='normal' needs init_std > 0 (e.g. init_std=1.0), got {init_std!r}.")
    elif init_std is not None:
        raise ValueError(f"init_std is only used by init='normal', not by init={init!r}.")
    with torch.no_grad():
        initializer(layer.weight, layer.bias, init_std)
        if init != "default" and layer.bias is not None:
            layer.bias.zero_()


class HiddenLayer(nn.Module):
    """Linear → optional normalization → activation."""

    def __init__(self, in_features, out_features, activation, norm=None, bias=True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        norm_class = _choose(NORMALIZATIONS, norm, "norm")
        self.norm = norm_class(out_features) if norm_class is not None else nn.Identity()
        self.activation = make_activation(activation)

    def forward(self, x):
        return self.activation(self.norm(self.linear(x)))


class Residual(nn.Module):
    """``x + layer(x)``: the identity path of a residual network (He et al. 2016)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
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
        One of ``INITIALIZERS``; applied to every Linear layer, output included.
    norm : None, "batch" or "layer"
        Normalization between each hidden Linear and its activation.
    residual : bool
        Wrap hidden layers 2…depth as ``x + layer(x)``.
    init_std : float, optional
        Standard deviation for ``init="normal"``.
    """
    _check_size("in_features", in_features)
    _check_size("out_features", out_features)
    _check_size("depth", depth)
    _check_size("width", width)
    _choose(ACTIVATIONS, activation, "activation")
    _choose(INITIALIZERS, init, "init")
    _choose(NORMALIZATIONS, norm, "norm")
    if not isinstance(residual, bool):
        raise ValueError(f"residual must be True or False, got {residual!r}.")
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
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
