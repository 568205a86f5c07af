"""Network builders: an MLP, a small conv net for the 8×8 digits, and RNN / LSTM / GRU models.

``make_mlp`` builds an ``MLP`` by depth, width, activation, initialization,
normalization, dropout and residual blocks; ``make_convnet`` a conv net with the
same options where they apply; ``make_sequence_model`` a recurrent classifier or
regressor that returns a plain tensor (a stack of layers is a ``RecurrentStack`` of
one-layer modules ``rnn.l0``, ``rnn.l1``, …, so that every layer's output gradient
can be recorded). Every builder takes ``seed=`` to build the same weights without
touching the global random state.

Names come from the course's tables: activations from ``utils.activations.ACTIVATIONS``
(re-exported here as ``ACTIVATIONS``), inits from ``utils.initializers.INITIALIZERS``
(re-exported as ``INITIALIZERS``; ``INIT_NAMES`` adds ``"default"``, PyTorch's own
init; aliases in ``INIT_ALIASES``). An unknown
name or an invalid size raises ``ValueError`` that names the argument and lists
what is accepted.

The children of an ``MLP`` are ``hidden1`` … ``hidden{depth}`` (each a
``HiddenLayer`` with ``.linear``, ``.norm``, ``.activation``, ``.dropout``) and
``output``; a residual net adds a ``BlockInput`` marker ``block{k}`` at the input
of its k-th block. The Linear layers have the same names in a plain and in a
residual net (``hidden3.linear``, ``output``). ``hidden_layers(model)`` returns
the hidden layers in forward order.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from utils import checks
from utils.activations import ACTIVATIONS, lookup
from utils.initializers import INIT_ALIASES, INITIALIZERS

__all__ = [
    "ACTIVATIONS", "INITIALIZERS", "INIT_NAMES", "INIT_ALIASES", "NORMALIZATIONS",
    "RESIDUAL_SHAPES",
    "BlockInput", "HiddenLayer", "MLP", "FinalActivation", "ConvLayer", "ConvNet",
    "SequenceModel", "Residual", "CONV_RESIDUAL_SHAPES",
    "RecurrentStack", "make_mlp", "make_convnet", "make_sequence_model", "hidden_layers",
    "make_activation", "set_forget_bias", "recurrent_weights",
    "initialize_linear", "initialize_weight", "canonical_init", "linear_layers",
    "count_parameters",
]

#: Every init name the builders accept: ``"default"`` (PyTorch's own init) and the names
#: of the one table, ``utils.initializers.INITIALIZERS`` (aliases: ``INIT_ALIASES``).
INIT_NAMES: tuple[str, ...] = ("default", *INITIALIZERS)

NORMALIZATIONS: dict[str | None, type[nn.Module] | None] = {
    None: None,
    "batch": nn.BatchNorm1d,
    "layer": nn.LayerNorm,
}
NORM_POSITIONS = ("before", "after")
CONV_NORMALIZATIONS = (None, "batch")
#: ``make_convnet``'s ``residual=``: None (no block) or "post" (one post-activation block).
CONV_RESIDUAL_SHAPES = (None, "post")
#: ``residual=``: None (a plain net), "post" (He et al. 2016a: the activation after the
#: addition) or "pre" (He et al. 2016b: norm and activation inside the block, a clean sum).
RESIDUAL_SHAPES = (None, "post", "pre")
SEQUENCE_KINDS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

#: Limits that keep a slip (``depth=10**12``) from hanging the kernel or filling memory.
MAX_DEPTH = 1000
MAX_WIDTH = 100_000
MAX_PARAMETERS = 200_000_000

ActivationSpec = str | Callable[[], nn.Module]


# --- names: activations, inits ----------------------------------------------------------


def canonical_init(init: str, argument: str = "init") -> str:
    """The course's name of an init (one of ``INIT_NAMES``); aliases are translated.

    ``argument`` is the name an error message gives the value (e.g. ``"output_init"``).
    """
    if isinstance(init, str) and init in INIT_ALIASES:
        return INIT_ALIASES[init]
    return checks.one_of(argument, init, INIT_NAMES)


def _init_gain(init: str, init_std: float | None, gain: float | None,
               names: tuple[str, str, str] = ("init", "init_std", "gain")) -> float | None:
    """The gain to use for ``init`` (None: the table's default), or a helpful ValueError.

    For ``init="normal"`` the gain IS the standard deviation: ``init_std`` (or ``gain``).
    ``names`` are the arguments' names in the caller (e.g. ``("output_init", None,
    "output_gain")`` when there is no std argument), so the message names the right one.
    """
    init_name, std_name, gain_name = names
    if init == "normal":
        needs = f"{std_name} or {gain_name}" if std_name else gain_name
        if init_std is None and gain is None:
            raise ValueError(f"{init_name}='normal' needs its standard deviation: {needs} > 0 "
                             f"(e.g. {std_name or gain_name}=1.0).")
        if init_std is not None and gain is not None:
            raise ValueError(f"{init_name}='normal' takes {std_name} (its standard deviation) "
                             f"or {gain_name}, not both.")
        if init_std is not None:
            return checks.positive_number(std_name, init_std)
        return checks.positive_number(gain_name, gain)
    if init_std is not None:
        raise ValueError(f"{std_name} is only used by {init_name}='normal', not by "
                         f"{init_name}={init!r}.")
    if gain is not None and init == "default":
        raise ValueError(f"{gain_name} needs an init from the table (e.g. {init_name}="
                         f"'he_normal'); {init_name}='default' keeps PyTorch's own init and "
                         "takes no gain.")
    return None if gain is None else checks.positive_number(gain_name, gain)


def _activation_factory(activation: ActivationSpec,
                        options: dict[str, float] | None = None) -> Callable[[], nn.Module]:
    """A zero-argument function returning a fresh activation module, or a ValueError.

    ``activation`` is a name of ``ACTIVATIONS`` (with ``options`` such as
    ``{"negative_slope": 0.2}``) or a zero-argument callable returning an ``nn.Module``.
    """
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"activation_options must be a dict such as {{'negative_slope': 0.2}} "
                         f"or None, got {options!r}.")
    if isinstance(activation, str) or not callable(activation):
        entry = lookup(activation)
        chosen = entry.choose_options(options or {})
        return lambda: entry.module(**chosen)
    if options:
        raise ValueError("activation_options only go with an activation name; a factory "
                         "sets its own options.")
    module = activation()
    if not isinstance(module, nn.Module):
        raise ValueError(f"activation must be a name of ACTIVATIONS or a zero-argument function "
                         f"returning an nn.Module; it returned {type(module).__name__}.")
    return activation


def make_activation(name: ActivationSpec, **options: float) -> nn.Module:
    """A fresh activation module by name (see ``ACTIVATIONS``) or from a factory."""
    return _activation_factory(name, options or None)()


def initialize_weight(weight: torch.Tensor, init: str, gain: float | None = None) -> None:
    """Fill one weight (Linear or conv) in place by init name, with torch's random numbers."""
    init = canonical_init(init)
    if init != "default":
        INITIALIZERS[init].fill_(weight, gain)


def initialize_linear(layer: nn.Linear, init: str = "default", init_std: float | None = None,
                      gain: float | None = None) -> None:
    """Initialize one ``nn.Linear`` (or conv layer) in place by init name (``INIT_NAMES``).

    Every init except ``"default"`` sets the bias to zero. ``init_std`` is the
    standard deviation for ``init="normal"`` and is accepted by no other init;
    ``gain`` scales the table's standard deviation (None: the table's default).
    """
    if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        raise ValueError(f"layer must be a torch.nn.Linear (or a conv layer), got "
                         f"{type(layer).__name__}.")
    init = canonical_init(init)
    _initialize(layer, init, _init_gain(init, init_std, gain))


def _initialize_all(layers: list[tuple[nn.Module, str, float | None]]) -> None:
    """Draw the weight of every ``(layer, init, gain)`` first, in the order given, then
    every bias (``"default"``: PyTorch's own draws; a table init: zero biases).

    Weights first, so that a layer's weight does not depend on which layers before it
    have a bias: a plain and a residual net, with or without batch norm, get the same
    weights from the same seed.
    """
    with torch.no_grad():
        for layer, init, gain in layers:
            if init == "default":  # what nn.Linear / nn.Conv2d.reset_parameters draw
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
            else:
                initialize_weight(layer.weight, init, gain)
        for layer, init, _ in layers:
            if layer.bias is None:
                continue
            if init == "default":
                bound = 1 / math.sqrt(layer.weight[0].numel())  # 1/√fan_in
                layer.bias.uniform_(-bound, bound)
            else:
                layer.bias.zero_()


def _output_gain(init: str, gain: float | None, output_init: str | None,
                 output_gain: float | None) -> tuple[str, float | None]:
    """(init, gain) of the output layer: ``output_init`` (None: ``init``) with
    ``output_gain`` (None: the table's default for an ``output_init`` given by name,
    else ``gain``)."""
    if output_init is None and output_gain is None:
        return init, gain
    name = init if output_init is None else canonical_init(output_init, "output_init")
    names = ("init" if output_init is None else "output_init", None, "output_gain")
    return name, _init_gain(name, None, output_gain, names)


def _initialize(layer: nn.Module, init: str, gain: float | None) -> None:
    """Fill a checked layer's weight by ``init`` and zero its bias (``"default"``: untouched)."""
    if init == "default":
        return
    initialize_weight(layer.weight, init, gain)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.zero_()


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Build under ``seed`` without touching the global RNG (None: use the global RNG)."""
    if seed is None:
        yield
        return
    seed = checks.seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_dropout(dropout: float) -> float:
    return checks.finite_number("dropout", dropout, minimum=0.0, maximum=0.99)


# --- the MLP -----------------------------------------------------------------------------


class _NormActivationLayer(nn.Module):
    """What a hidden layer and a conv layer share: ``.norm`` before or after ``.activation``
    (``norm_position``), then ``.dropout``. Subclasses set these and their weight layer."""

    norm_position: str
    norm: nn.Module
    activation: nn.Module
    dropout: nn.Module

    def _norm_if_before(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) if self.norm_position == "before" else x

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        """The rest of a post-order layer: activation (→ norm if after) → dropout."""
        x = self.activation(x)
        if self.norm_position == "after":
            x = self.norm(x)
        return self.dropout(x)


class HiddenLayer(_NormActivationLayer):
    """One hidden layer: ``.linear``, ``.norm``, ``.activation``, ``.dropout``.

    ``order="post"`` (the usual): Linear → norm → activation → dropout, with
    ``norm_position="after"`` moving the norm after the activation.
    ``order="pre"`` (a pre-activation residual block, He et al. 2016b):
    norm → activation → dropout → Linear; the norm then sees the layer's input.
    """

    def __init__(self, in_features: int, out_features: int, activation: ActivationSpec = "relu",
                 norm: str | None = None, bias: bool = True, *,
                 activation_options: dict[str, float] | None = None,
                 norm_position: str = "before", dropout: float = 0.0,
                 order: str = "post") -> None:
        super().__init__()
        in_features = checks.whole_number("in_features", in_features, maximum=MAX_WIDTH)
        out_features = checks.whole_number("out_features", out_features, maximum=MAX_WIDTH)
        norm_class = NORMALIZATIONS[checks.one_of("norm", norm, NORMALIZATIONS)]
        self.norm_position = checks.one_of("norm_position", norm_position, NORM_POSITIONS)
        self.order = checks.one_of("order", order, ("post", "pre"))
        self.linear = nn.Linear(in_features, out_features, bias=checks.boolean("bias", bias))
        normed = out_features if order == "post" else in_features
        self.norm = norm_class(normed) if norm_class is not None else nn.Identity()
        self.activation = _activation_factory(activation, activation_options)()
        dropout = _check_dropout(dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def _norm_then_activation(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_position == "before":
            return self.activation(self.norm(x))
        return self.norm(self.activation(x))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The part before the activation of a post-order layer: Linear (→ norm if before)."""
        return self._norm_if_before(self.linear(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order == "pre":
            return self.linear(self.dropout(self._norm_then_activation(x)))
        return self.activate(self.transform(x))


class BlockInput(nn.Identity):
    """Marks the input of a residual block: the start of its identity path.

    It passes its input through unchanged. ``utils.gradflow.GradFlow`` records
    the gradient that reaches each ``BlockInput`` (layer kind ``"residual"``),
    so any model that places one at the input of each residual block, built
    here or by hand, shows the gradient carried by the identity path.
    """


class Residual(nn.Module):
    """``x + layer(x)``: a generic identity path around any module (for hand-built nets).

    ``layer`` is any module whose output has the shape of its input. Its input
    passes a ``BlockInput`` (``.block_input``) first, so ``GradFlow`` records the
    gradient reaching the block (kind ``"residual"``, named ``<this module>.block_input``).
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        checks.module("layer", layer)
        self.block_input = BlockInput()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block_input(x)
        return x + self.layer(x)


class MLP(nn.Module):
    """A multilayer perceptron built by ``make_mlp`` (see there for the options).

    Children: ``hidden1`` … ``hidden{depth}``, ``output``, in a residual net a
    ``BlockInput`` ``block{k}`` before the layers of block k, and with ``final``
    (a pre-activation net's closing norm and activation, a ``FinalActivation``)
    ``final`` before ``output``. ``hidden_layers(net)`` gives the hidden layers.
    """

    def __init__(self, layers: list[HiddenLayer], output: nn.Linear,
                 residual: str | None = None, block_layers: int = 1,
                 final: nn.Module | None = None) -> None:
        super().__init__()
        self.residual = residual
        self.block_layers = block_layers
        self.hidden1 = layers[0]
        # (marker name or None, names of the hidden layers it covers), in forward order
        self.plan: list[tuple[str | None, list[str]]] = []
        names = [f"hidden{index}" for index in range(2, len(layers) + 1)]
        if residual is None:
            self.plan.append((None, names))
        else:
            for start in range(0, len(names), block_layers):
                self.plan.append((f"block{start // block_layers + 1}",
                                  names[start:start + block_layers]))
        modules = dict(zip(names, layers[1:], strict=True))
        for marker, covered in self.plan:  # registered in forward order
            if marker is not None:
                self.add_module(marker, BlockInput())
            for name in covered:
                self.add_module(name, modules[name])
        if final is not None:
            self.final = final
        self.output = output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hidden1(x)
        for marker, names in self.plan:
            layers = [getattr(self, name) for name in names]
            if marker is None:
                for layer in layers:
                    x = layer(x)
                continue
            x = getattr(self, marker)(x)
            h = x
            if self.residual == "pre":
                for layer in layers:
                    h = layer(h)
                x = x + h
            else:  # post: the last layer's activation comes after the addition
                for layer in layers[:-1]:
                    h = layer(h)
                x = layers[-1].activate(x + layers[-1].transform(h))
        if hasattr(self, "final"):
            x = self.final(x)
        return self.output(x)


class FinalActivation(nn.Module):
    """``.norm`` → ``.activation``: what a pre-activation residual net applies to the sum
    of its last block before the output layer (He et al. 2016b: the blocks' sums are
    never normalised or activated inside a block)."""

    def __init__(self, width: int, activation: Callable[[], nn.Module],
                 norm: str | None) -> None:
        super().__init__()
        norm_class = NORMALIZATIONS[norm]
        self.norm = norm_class(width) if norm_class is not None else nn.Identity()
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.norm(x))


def hidden_layers(model: nn.Module) -> list[HiddenLayer]:
    """The ``HiddenLayer`` modules of a network from ``make_mlp``, in forward order."""
    checks.module("model", model)
    layers = [module for module in model.modules() if isinstance(module, HiddenLayer)]
    if not layers:
        raise ValueError(f"hidden_layers reads networks built by make_mlp (made of HiddenLayer "
                         f"modules); this {type(model).__name__} has none. For another model "
                         "use linear_layers(model) or model.named_modules().")
    return layers


def _check_residual(residual: str | None, depth: int,
                    block_layers: int) -> tuple[str | None, int]:
    """(residual shape, block_layers) checked against the depth, or a helpful ValueError."""
    checks.one_of("residual", residual, RESIDUAL_SHAPES)
    block_layers = checks.one_of("block_layers", block_layers, (1, 2))
    if residual and (depth - 1) % block_layers:
        raise ValueError(f"residual={residual!r} with block_layers={block_layers} needs depth = "
                         f"1 + a multiple of {block_layers} (hidden1 changes the width, then "
                         f"blocks of {block_layers} layers), got depth={depth}.")
    if residual and depth < 2:
        raise ValueError(f"residual={residual!r} needs depth ≥ 2 (hidden1, then at least one "
                         f"block), got depth={depth}.")
    return residual, block_layers


def make_mlp(in_features: int, out_features: int, depth: int, width: int = 64,
             activation: ActivationSpec = "relu", init: str = "default",
             norm: str | None = None, residual: str | None = None,
             init_std: float | None = None, bias: bool = True, *,
             activation_options: dict[str, float] | None = None, gain: float | None = None,
             output_init: str | None = None, output_gain: float | None = None,
             seed: int | None = None, dropout: float = 0.0, norm_position: str = "before",
             block_layers: int = 1, final_activation: bool = False) -> MLP:
    """A multilayer perceptron with ``depth`` hidden layers of ``width`` units.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and of the output (e.g. 64 and 10 for the digits).
    depth : int
        Number of hidden layers (≥ 1); the output layer comes on top.
    width : int
        Units in every hidden layer.
    activation : str or callable
        A name of ``ACTIVATIONS`` (options in ``activation_options``, e.g.
        ``{"negative_slope": 0.2}`` for "leaky_relu", ``{"alpha": 0.5}`` for
        "elu") or a zero-argument callable returning a fresh ``nn.Module``.
    init : str
        One of ``INIT_NAMES`` (``"default"``: PyTorch's own) or ``INIT_ALIASES``;
        applied to every Linear layer (biases set to 0). ``gain`` scales its
        standard deviation (None: the table's default, √2 for the He inits);
        ``init_std`` is the standard deviation of ``init="normal"``.
    output_init, output_gain : str and float, optional
        Another init and/or gain for the output layer. None: ``init`` and ``gain``;
        an ``output_init`` given by name gets its own default gain unless
        ``output_gain`` is given (for ``output_init="normal"``, ``output_gain`` is
        its standard deviation).
    norm : None, "batch" or "layer"
        Normalization in each hidden layer, ``norm_position="before"`` (default)
        or ``"after"`` the activation. A Linear followed by batch norm has no
        bias (the norm's shift replaces it).
    residual : None, "post" or "pre"
        None: a plain net. Otherwise hidden1 (which changes the width) is
        followed by blocks of ``block_layers`` (1 or 2) layers that add their
        input: "post" = x → act(x + F(x)) with F = Linear-norm(-act-Linear-norm)
        (He et al. 2016a); "pre" = x → x + F(x) with F = norm-act-Linear(-norm-
        act-Linear) (He et al. 2016b). Each block starts with a ``BlockInput``
        marker ``block{k}``.
    final_activation : bool
        Only with ``residual="pre"``: a ``FinalActivation`` ``final`` (norm, then
        activation) between the last block's sum and the output layer, as in He
        et al. 2016b (False: the output layer reads the sum itself).
    dropout : float
        Dropout probability after each hidden activation (0: none).
    seed : int, optional
        Build the weights from this seed without touching torch's global RNG
        (None: draw from the global RNG, which ``utils.setup()`` seeds). The
        weights are drawn before the biases, so the Linear weights are the same
        in a plain and in a residual net (either shape, with or without a norm)
        of the same sizes, init and seed.
    bias : bool
        Give the Linear layers a bias.

    Sizes are limited (``MAX_DEPTH``, ``MAX_WIDTH``, ``MAX_PARAMETERS``) so that a
    slip raises an error instead of hanging or filling the memory.
    """
    in_features = checks.whole_number("in_features", in_features, maximum=MAX_WIDTH)
    out_features = checks.whole_number("out_features", out_features, maximum=MAX_WIDTH)
    depth = checks.whole_number("depth", depth, maximum=MAX_DEPTH)
    width = checks.whole_number("width", width, maximum=MAX_WIDTH)
    factory = _activation_factory(activation, activation_options)
    init = canonical_init(init)
    gain = _init_gain(init, init_std, gain)
    output = _output_gain(init, gain, output_init, output_gain)
    checks.one_of("norm", norm, NORMALIZATIONS)
    norm_position = checks.one_of("norm_position", norm_position, NORM_POSITIONS)
    residual, block_layers = _check_residual(residual, depth, block_layers)
    if checks.boolean("final_activation", final_activation) and residual != "pre":
        raise ValueError(f"final_activation=True goes with residual='pre' (a pre-activation "
                         f"net's closing norm and activation), got residual={residual!r}.")
    bias = checks.boolean("bias", bias)
    dropout = _check_dropout(dropout)
    parameters = (in_features + 1) * width + (depth - 1) * (width + 1) * width \
        + (width + 1) * out_features
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"depth={depth} and width={width} make {parameters:,} parameters, more "
                         f"than the {MAX_PARAMETERS:,} this course allows (memory); use a "
                         "smaller depth or width.")
    with seeded(seed):
        layers = []
        for index in range(1, depth + 1):
            order = "pre" if residual == "pre" and index > 1 else "post"
            # a pre-order layer's Linear feeds the next layer's norm inside its block
            inside_block = order == "pre" and (index - 2) % block_layers < block_layers - 1
            feeds_batch_norm = norm == "batch" and norm_position == "before" and (
                order == "post" or inside_block)
            layers.append(HiddenLayer(in_features if index == 1 else width, width, factory, norm,
                                      bias and not feeds_batch_norm, norm_position=norm_position,
                                      dropout=dropout, order=order))
        final = FinalActivation(width, factory, norm) if final_activation else None
        model = MLP(layers, nn.Linear(width, out_features, bias=bias), residual, block_layers,
                    final)
    with seeded(seed):  # afresh: the weights do not depend on what the modules drew
        _initialize_all([*((layer.linear, init, gain) for layer in hidden_layers(model)),
                         (model.output, *output)])
    return model


# --- a small conv net for the 8×8 digits ----------------------------------------------------


class ConvLayer(_NormActivationLayer):
    """A 3×3 convolution (padding 1, the size is kept) → norm → activation → dropout
    (``norm_position="after"``: the norm after the activation)."""

    def __init__(self, in_channels: int, out_channels: int, activation: ActivationSpec = "relu",
                 norm: str | None = None, dropout: float = 0.0,
                 norm_position: str = "before") -> None:
        super().__init__()
        checks.one_of("norm", norm, CONV_NORMALIZATIONS)
        self.norm_position = checks.one_of("norm_position", norm_position, NORM_POSITIONS)
        feeds_norm = norm is not None and norm_position == "before"
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not feeds_norm)
        self.norm = nn.BatchNorm2d(out_channels) if norm == "batch" else nn.Identity()
        self.activation = _activation_factory(activation)()
        dropout = _check_dropout(dropout)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The part before the activation: convolution (→ norm if before)."""
        return self._norm_if_before(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.transform(x))


class ConvNet(nn.Module):
    """conv1 → conv2 → pool (8×8 → 4×4) → [block1: conv3, conv4, post-activation] → output.

    Takes a batch of digits as (batch, 64) or (batch, 1, 8, 8); returns (batch, classes).
    """

    def __init__(self, channels: tuple[int, int], out_features: int,
                 activation: ActivationSpec, norm: str | None, dropout: float,
                 residual: str | None, norm_position: str = "before") -> None:
        super().__init__()
        first, second = channels
        options = {"norm": norm, "dropout": dropout, "norm_position": norm_position}
        self.conv1 = ConvLayer(1, first, activation, **options)
        self.conv2 = ConvLayer(first, second, activation, **options)
        self.pool = nn.MaxPool2d(2)
        self.residual = residual
        if residual is not None:
            self.block1 = BlockInput()
            self.conv3 = ConvLayer(second, second, activation, **options)
            self.conv4 = ConvLayer(second, second, activation, **options)
        self.output = nn.Linear(second * 16, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2 and x.shape[1] == 64:
            x = x.reshape(-1, 1, 8, 8)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 8, 8):
            raise ValueError(f"ConvNet takes digits of shape (batch, 64) or (batch, 1, 8, 8), "
                             f"got {tuple(x.shape)}.")
        x = self.pool(self.conv2(self.conv1(x)))
        if self.residual is not None:
            x = self.block1(x)
            x = self.conv4.activate(x + self.conv4.transform(self.conv3(x)))
        return self.output(x.flatten(1))


def make_convnet(out_features: int = 10, channels: tuple[int, int] = (8, 16),
                 activation: ActivationSpec = "relu", init: str = "default",
                 norm: str | None = None, dropout: float = 0.0, residual: str | None = None, *,
                 activation_options: dict[str, float] | None = None,
                 gain: float | None = None, output_init: str | None = None,
                 output_gain: float | None = None, norm_position: str = "before",
                 seed: int | None = None) -> ConvNet:
    """A small conv net for the 8×8 digits (3,818 parameters with the defaults; 8,458 with
    the residual block).

    Two 3×3 conv layers (``channels``), a 2×2 max-pool, optionally one residual
    block of two conv layers (``residual="post"``, the only shape here:
    post-activation, with a ``BlockInput`` ``block1``; None: no block), and a
    Linear output. ``activation``, ``activation_options``, ``init``, ``gain``,
    ``output_init``, ``output_gain``, ``norm_position``, ``dropout`` and ``seed``
    work as in ``make_mlp``; ``norm`` is None or "batch" (a conv that feeds the
    norm has no bias).
    """
    out_features = checks.whole_number("out_features", out_features, maximum=MAX_WIDTH)
    if not isinstance(channels, (tuple, list)) or len(channels) != 2:
        raise ValueError(f"channels must be two numbers of channels, e.g. (8, 16), got "
                         f"{channels!r}.")
    channels = tuple(checks.whole_number("channels", c, maximum=512) for c in channels)
    factory = _activation_factory(activation, activation_options)
    init = canonical_init(init)
    gain = _init_gain(init, None, gain)
    output = _output_gain(init, gain, output_init, output_gain)
    checks.one_of("norm", norm, CONV_NORMALIZATIONS)
    norm_position = checks.one_of("norm_position", norm_position, NORM_POSITIONS)
    dropout = _check_dropout(dropout)
    checks.one_of("residual", residual, CONV_RESIDUAL_SHAPES)
    with seeded(seed):
        model = ConvNet(channels, out_features, factory, norm, dropout, residual, norm_position)
    convs = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    with seeded(seed):
        _initialize_all([*((conv, init, gain) for conv in convs), (model.output, *output)])
    return model


# --- recurrent models -------------------------------------------------------------------


class RecurrentStack(nn.Module):
    """A stack of one-layer recurrent modules ``l0``, ``l1``, … (batch_first), run in turn.

    It computes what one ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``num_layers`` layers
    computes (``dropout`` on the outputs of every layer but the top one) and is
    called the same way: ``forward(x, state=None)`` takes x (batch, time, features)
    and an optional initial state h_0, or (h_0, c_0) for an LSTM, of shape
    (num_layers, batch, hidden) and returns ``(outputs, h_n)`` or ``(outputs, (h_n,
    c_n))``. Being separate modules, every layer's output can be hooked: ``GradFlow``
    records the gradient reaching each one (``rnn.l0``, ``rnn.l1``, …), which a
    multi-layer ``nn.LSTM`` keeps inside itself.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0, **options: str) -> None:
        super().__init__()
        self.kind = checks.one_of("kind", kind, SEQUENCE_KINDS)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.bidirectional, self.proj_size = True, False, 0
        for index in range(num_layers):
            size = input_size if index == 0 else hidden_size
            self.add_module(f"l{index}", SEQUENCE_KINDS[kind](size, hidden_size, 1,
                                                               batch_first=True, **options))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def layers(self) -> list[nn.RNNBase]:
        """The one-layer modules, bottom (``l0``, reading the input) to top."""
        return [getattr(self, f"l{index}") for index in range(self.num_layers)]

    def forward(self, x: torch.Tensor, state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
                | None = None) -> tuple[torch.Tensor, Any]:
        lstm = self.kind == "lstm"
        finals = []
        for index, layer in enumerate(self.layers()):
            if index > 0:
                x = self.dropout(x)
            initial = None
            if state is not None:
                initial = tuple(s[index:index + 1] for s in state) if lstm \
                    else state[index:index + 1]
            x, last = layer(x, initial)
            finals.append(last)
        if lstm:
            return x, (torch.cat([h for h, _ in finals]), torch.cat([c for _, c in finals]))
        return x, torch.cat(finals)


class SequenceModel(nn.Module):
    """A recurrent layer (``.rnn``, batch_first) and a Linear ``.head`` on the last step.

    ``.rnn`` is one ``nn.RNN``/``nn.LSTM``/``nn.GRU`` for one layer, a
    ``RecurrentStack`` of them (``rnn.l0``, ``rnn.l1``, …) for more.
    ``forward(x)`` takes (batch, time, features) and returns a plain tensor
    (batch, output_size): class scores for a classifier, values for a regressor.
    """

    def __init__(self, rnn: nn.RNNBase | RecurrentStack, head: nn.Linear) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.rnn.input_size:
            raise ValueError(f"{type(self.rnn).__name__} model takes x of shape (batch, time, "
                             f"{self.rnn.input_size}), got {tuple(x.shape)}.")
        outputs, _ = self.rnn(x)
        return self.head(outputs[:, -1])


def _lstm_layers(lstm: nn.Module) -> list[tuple[nn.LSTM, int]]:
    """(module, layer number) of every layer of an ``nn.LSTM`` or of a stack of them."""
    if isinstance(lstm, nn.LSTM):
        return [(lstm, index) for index in range(lstm.num_layers)]
    if isinstance(lstm, RecurrentStack) and lstm.kind == "lstm":
        return [(layer, 0) for layer in lstm.layers()]
    raise ValueError(f"lstm must be a torch.nn.LSTM (or a RecurrentStack of LSTMs), got "
                     f"{type(lstm).__name__}.")


def set_forget_bias(lstm: nn.LSTM | RecurrentStack, value: float) -> None:
    """Set the forget-gate bias of every layer of ``lstm`` so that b_ih + b_hh = ``value``.

    ``lstm`` is an ``nn.LSTM`` or a ``RecurrentStack`` of them. PyTorch stores the
    four gates' biases stacked in the order i, f, g, o, so the forget gate is the
    slice [H, 2H) of ``bias_ih_l{k}`` (set to ``value``) and of ``bias_hh_l{k}``
    (set to 0).
    """
    layers = _lstm_layers(lstm)
    value = checks.finite_number("forget_bias", value)
    if not all(module.bias for module, _ in layers):
        raise ValueError("forget_bias needs an LSTM with biases (bias=True).")
    size = lstm.hidden_size
    with torch.no_grad():
        for module, layer in layers:
            getattr(module, f"bias_ih_l{layer}")[size:2 * size].fill_(value)
            getattr(module, f"bias_hh_l{layer}")[size:2 * size].zero_()


def recurrent_weights(rnn: nn.Module) -> list[torch.Tensor]:
    """The hidden-to-hidden weights W_hh of every layer of an RNN/LSTM/GRU or a stack."""
    modules = rnn.layers() if isinstance(rnn, RecurrentStack) else [rnn]
    return [getattr(module, f"weight_hh_l{index}") for module in modules
            for index in range(module.num_layers)]


def _initialize_recurrent(rnn: nn.Module, init: str, gain: float | None) -> None:
    """Fill every W_hh by ``init`` (a name of ``INIT_NAMES``), one gate's block at a time
    (an LSTM's W_hh stacks 4 square blocks, a GRU's 3), so that ``"orthogonal"`` makes
    each gate's matrix orthogonal."""
    for weight in recurrent_weights(rnn):
        blocks = weight.shape[0] // weight.shape[1]
        for block in weight.detach().chunk(blocks, dim=0):
            initialize_weight(block, init, gain)


def make_sequence_model(kind: str, input_size: int, hidden_size: int, output_size: int,
                        num_layers: int = 1, *, nonlinearity: str = "tanh",
                        forget_bias: float | None = None, dropout: float = 0.0,
                        recurrent_init: str = "default", recurrent_gain: float | None = None,
                        seed: int | None = None) -> SequenceModel:
    """An RNN, LSTM or GRU (``kind``: "rnn", "lstm", "gru") with a Linear head.

    ``num_layers`` stacks recurrent layers as a ``RecurrentStack`` of one-layer
    modules ``rnn.l0``, ``rnn.l1``, … (``dropout`` between them), so that the
    gradient reaching every layer's output can be recorded; one layer is a plain
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` ``rnn``. ``nonlinearity`` ("tanh" or "relu") is
    the vanilla RNN's; ``forget_bias`` (LSTM only) sets the forget gate's total
    bias, e.g. 1.0 (Gers et al. 2000; Jozefowicz et al. 2015). ``recurrent_init``
    (one of ``INIT_NAMES``, e.g. "orthogonal"; "default": PyTorch's own) fills the
    hidden-to-hidden weights W_hh, one gate's square block at a time, scaled by
    ``recurrent_gain`` (for "normal": its standard deviation). The model returns
    (batch, output_size) from the last time step: a classifier's scores or a
    regressor's values. ``seed`` builds the same weights without touching torch's
    global RNG.
    """
    checks.one_of("kind", kind, SEQUENCE_KINDS)
    input_size = checks.whole_number("input_size", input_size, maximum=MAX_WIDTH)
    hidden_size = checks.whole_number("hidden_size", hidden_size, maximum=MAX_WIDTH)
    output_size = checks.whole_number("output_size", output_size, maximum=MAX_WIDTH)
    num_layers = checks.whole_number("num_layers", num_layers, maximum=MAX_DEPTH)
    dropout = _check_dropout(dropout)
    recurrent_init = canonical_init(recurrent_init, "recurrent_init")
    recurrent_gain = _init_gain(recurrent_init, None, recurrent_gain,
                                ("recurrent_init", None, "recurrent_gain"))
    options = {}
    if kind == "rnn":
        options["nonlinearity"] = checks.one_of("nonlinearity", nonlinearity, ("tanh", "relu"))
    elif nonlinearity != "tanh":
        raise ValueError(f"nonlinearity is the vanilla RNN's option, not the {kind}'s.")
    if forget_bias is not None and kind != "lstm":
        raise ValueError(f"forget_bias is an LSTM option (its forget gate), got kind={kind!r}.")
    if 4 * num_layers * hidden_size * (input_size + hidden_size) > MAX_PARAMETERS:
        raise ValueError(f"hidden_size={hidden_size} and num_layers={num_layers} make more "
                         f"than {MAX_PARAMETERS:,} parameters; use smaller sizes.")
    with seeded(seed):
        if num_layers == 1:
            rnn = SEQUENCE_KINDS[kind](input_size, hidden_size, batch_first=True, **options)
        else:
            rnn = RecurrentStack(kind, input_size, hidden_size, num_layers, dropout, **options)
        model = SequenceModel(rnn, nn.Linear(hidden_size, output_size))
        if recurrent_init != "default":
            _initialize_recurrent(rnn, recurrent_init, recurrent_gain)
    if forget_bias is not None:
        set_forget_bias(rnn, forget_bias)
    return model


# --- reading a model -----------------------------------------------------------------------


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """The model's ``nn.Linear`` layers, input to output."""
    checks.module("model", model)
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    checks.module("model", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
