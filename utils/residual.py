"""Residual connections measured (notebook 08): gradients at block inputs, deleting a block,
gradients carried by paths of each length, and stacks of transformer layers.

- ``block_input_gradients(model, x, y)``: ‖∂L/∂x‖ at the input of every block of an MLP from
  ``utils.nets.make_mlp`` (a residual net's ``BlockInput`` markers; in a plain net the input
  of the layers that would form each block), from the input side to the output side.
- ``plain_twin(model)``: the same layers (the same modules, not copies) without the skips.
- ``dropped_block(model, block)``: a context manager that leaves block ``block`` out of the
  forward pass (Veit et al. 2016's lesion experiment); the model is restored on exit.
- ``path_length_counts(n)`` and ``path_gradient_norms(model, x, y, ...)``: a residual net of
  n blocks is a sum of 2ⁿ paths; how many paths have each length, and how large a gradient
  a path of each length carries to the first block (Veit et al. 2016, Fig. 6).
- ``TransformerStack`` / ``make_transformer_stack(depth, norm_first)`` and
  ``transformer_layer_gradients(...)``: post-LN against pre-LN at initialisation
  (Xiong et al. 2020).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils import checks
from utils.nets import MLP, BlockInput, hidden_layers, seeded

__all__ = [
    "block_input_gradients", "plain_twin", "dropped_block", "path_length_counts",
    "PathGradients", "path_gradient_norms", "TransformerStack", "make_transformer_stack",
    "transformer_layer_gradients", "median_transformer_gradients", "blocks_of",
]

#: The deepest transformer stack ``make_transformer_stack`` builds (memory and time).
MAX_TRANSFORMER_DEPTH = 96


def _check_mlp(model: object) -> MLP:
    if not isinstance(model, MLP):
        raise ValueError(f"model must be a network built by utils.nets.make_mlp (an MLP), got "
                         f"{type(model).__name__}.")
    return model


def blocks_of(model: MLP) -> list[list[str]]:
    """The names of the hidden layers of each block, input side first.

    A residual net's blocks are its plan; a plain net's layers after ``hidden1`` are cut
    into blocks of ``model.block_layers`` layers, as its residual twin would be.
    """
    model = _check_mlp(model)
    if model.residual is not None:
        return [list(names) for _, names in model.plan]
    names = [name for _, covered in model.plan for name in covered]
    size = model.block_layers
    return [names[start:start + size] for start in range(0, len(names), size)]


def block_input_gradients(model: MLP, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """‖∂L/∂x‖ at the input of each block (cross-entropy on ``(x, y)``), input side first.

    In a residual net x is what a block's ``BlockInput`` passes on: the gradient there is
    the sum of what comes back through the skip and through the block. In a plain net it is
    the input of the block's first layer. The model's mode (train/eval) is left as it is.
    """
    model = _check_mlp(model)
    x, y = checks.tensor_pair("(x, y)", (x, y))
    captured: list[torch.Tensor] = []

    def keep(tensor: torch.Tensor) -> None:
        if tensor.requires_grad:
            tensor.retain_grad()
            captured.append(tensor)

    handles = []
    if model.residual is not None:
        for module in model.modules():
            if isinstance(module, BlockInput):
                handles.append(module.register_forward_hook(
                    lambda _m, _inputs, output: keep(output)))
    else:
        for names in blocks_of(model):
            handles.append(getattr(model, names[0]).register_forward_pre_hook(
                lambda _m, inputs: keep(inputs[0])))
    try:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    finally:
        for handle in handles:
            handle.remove()
    return np.array([tensor.grad.norm().item() for tensor in captured])


def plain_twin(model: MLP) -> MLP:
    """The same hidden layers and output layer (shared modules) with no skip connections.

    A pre-activation residual net's layers keep their order (norm → activation → Linear),
    so its twin is a plain pre-activation net; a post-activation net's twin is the usual
    Linear → norm → activation stack.
    """
    model = _check_mlp(model)
    final = getattr(model, "final", None)
    return MLP(hidden_layers(model), model.output, None, model.block_layers, final)


@contextlib.contextmanager
def dropped_block(model: MLP, block: int) -> Iterator[MLP]:
    """Within the ``with``, the forward pass skips block ``block`` (1 = next to the input).

    In a residual net the block's input goes straight on along the skip; in a plain net the
    layers of that block are left out (the width stays, so the rest still fits).
    """
    model = _check_mlp(model)
    count = len(blocks_of(model))
    block = checks.whole_number("block", block, maximum=count)
    saved = model.plan
    if model.residual is not None:
        model.plan = saved[:block - 1] + saved[block:]
    else:
        left_out = set(blocks_of(model)[block - 1])
        model.plan = [(None, [name for name in saved[0][1] if name not in left_out])]
    try:
        yield model
    finally:
        model.plan = saved


def path_length_counts(n: int) -> np.ndarray:
    """How many of the 2ⁿ paths through n residual blocks pass through k blocks' branches,
    for k = 0 … n: the binomial coefficients C(n, k)."""
    n = checks.whole_number("n", n, maximum=1000)
    return np.array([math.comb(n, k) for k in range(n + 1)], dtype=float)


@dataclass
class PathGradients:
    """The gradient carried to the first block's input by paths of each length.

    ``per_path[k]``: the median over the sampled sets of k blocks of ‖∂L/∂x₁‖ when the
    gradient may pass through the branches of exactly those k blocks (the skip of every
    other block). ``total[k]`` = ``per_path[k]`` × C(n, k): the size of the gradient that
    all paths of length k carry together, if they do not cancel (Veit et al. 2016).
    """

    lengths: np.ndarray
    per_path: np.ndarray
    total: np.ndarray

    @property
    def blocks(self) -> int:
        """The number of blocks n."""
        return int(self.lengths[-1])


def _forward_through(model: MLP, x: torch.Tensor, branches: set[int]) -> tuple[torch.Tensor,
                                                                               torch.Tensor]:
    """The model's output and the first block's input, with the gradient let through the
    branch only of the blocks in ``branches`` (1-based) and through the skip only of the
    others. The forward values are the model's own."""
    x = model.hidden1(x)
    first = x
    for index, (_, names) in enumerate(model.plan, 1):
        layers = [getattr(model, name) for name in names]
        through_branch = index in branches
        skip = x.detach() if through_branch else x
        h = x if through_branch else x.detach()
        if model.residual == "pre":
            for layer in layers:
                h = layer(h)
            x = skip + h
        else:
            for layer in layers[:-1]:
                h = layer(h)
            x = layers[-1].activate(skip + layers[-1].transform(h))
    if hasattr(model, "final"):
        x = model.final(x)
    return model.output(x), first


def path_gradient_norms(model: MLP, x: torch.Tensor, y: torch.Tensor, samples: int = 3,
                        seed: int = 0, lengths: list[int] | None = None) -> PathGradients:
    """Veit et al.'s measurement: for each path length k, ``samples`` random sets of k blocks,
    the norm of the gradient that reaches the first block's input through exactly those
    blocks' branches. Run the model in eval mode for a trained net (batch norm then uses its
    running statistics, so the forward pass is the same for every set)."""
    model = _check_mlp(model)
    if model.residual is None:
        raise ValueError("path_gradient_norms needs a residual net (residual='post' or 'pre'); "
                         "a plain net has one path only.")
    x, y = checks.tensor_pair("(x, y)", (x, y))
    samples = checks.whole_number("samples", samples, maximum=1000)
    n = len(model.plan)
    lengths = list(range(n + 1)) if lengths is None else [
        checks.whole_number("lengths", k, minimum=0, maximum=n) for k in lengths]
    rng = np.random.default_rng(checks.seed("seed", seed))
    medians = []
    for k in lengths:
        norms = []
        for _ in range(samples if 0 < k < n else 1):
            chosen = {int(b) + 1 for b in rng.choice(n, size=k, replace=False)}
            out, first = _forward_through(model, x, chosen)
            (gradient,) = torch.autograd.grad(F.cross_entropy(out, y), first)
            norms.append(gradient.norm().item())
        medians.append(float(np.median(norms)))
    per_path = np.array(medians)
    counts = path_length_counts(n)[lengths]
    return PathGradients(np.array(lengths), per_path, per_path * counts)


# --- transformers: post-LN and pre-LN -----------------------------------------------------


class TransformerStack(nn.Module):
    """``depth`` ``nn.TransformerEncoderLayer``s (``.layers``), then (pre-LN only) a closing
    ``nn.LayerNorm`` (``.final_norm``), then a Linear read-out (``.readout``) to one number
    per position. ``norm_first=False`` is the original post-LN transformer (Vaswani et al.
    2017: x → LN(x + F(x))); ``True`` the pre-LN one (x → x + F(LN(x)))."""

    def __init__(self, depth: int, norm_first: bool, d_model: int, nhead: int,
                 dim_feedforward: int) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0,
                                       batch_first=True, norm_first=norm_first)
            for _ in range(depth))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.readout = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.readout(self.final_norm(x)).squeeze(-1)


def make_transformer_stack(depth: int, norm_first: bool, d_model: int = 32, nhead: int = 4,
                           dim_feedforward: int = 64, seed: int | None = None,
                           init: str = "xavier") -> TransformerStack:
    """A ``TransformerStack`` drawn from ``seed`` (None: the global RNG) without touching
    torch's global random state. ``init="xavier"``: every weight matrix of the layers
    Xavier-uniform (as Vaswani et al. 2017 and Xiong et al. 2020); ``"default"``: PyTorch's
    own init."""
    depth = checks.whole_number("depth", depth, maximum=MAX_TRANSFORMER_DEPTH)
    norm_first = checks.boolean("norm_first", norm_first)
    d_model = checks.whole_number("d_model", d_model, maximum=1024)
    nhead = checks.whole_number("nhead", nhead, maximum=d_model)
    if d_model % nhead:
        raise ValueError(f"d_model must be a multiple of nhead, got d_model={d_model} and "
                         f"nhead={nhead}.")
    dim_feedforward = checks.whole_number("dim_feedforward", dim_feedforward, maximum=4096)
    init = checks.one_of("init", init, ("xavier", "default"))
    with seeded(seed):
        model = TransformerStack(depth, norm_first, d_model, nhead, dim_feedforward)
        if init == "xavier":
            for parameter in model.layers.parameters():
                if parameter.dim() == 2:
                    nn.init.xavier_uniform_(parameter)
    return model


def transformer_layer_gradients(depth: int, norm_first: bool, seed: int = 0, batch: int = 16,
                                length: int = 8, d_model: int = 32) -> np.ndarray:
    """‖∂L/∂W‖ of each layer's last feed-forward weight (``linear2``, Xiong et al.'s W²) at
    initialisation, input side first: random inputs (N(0, 1)), random targets, mean squared
    error of the read-out."""
    seed = checks.seed("seed", seed)
    batch = checks.whole_number("batch", batch, maximum=4096)
    length = checks.whole_number("length", length, maximum=4096)
    model = make_transformer_stack(depth, norm_first, d_model=d_model, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, d_model, generator=generator)
    target = torch.randn(batch, length, generator=generator)
    F.mse_loss(model(x), target).backward()
    return np.array([layer.linear2.weight.grad.norm().item() for layer in model.layers])


def median_transformer_gradients(depth: int, norm_first: bool, inits: int = 8,
                                 seed: int = 0) -> np.ndarray:
    """The median over ``inits`` initialisations (seeds ``seed``, ``seed + 1``, …) of
    ``transformer_layer_gradients``: one init's profile is noisy, the median is not."""
    inits = checks.whole_number("inits", inits, maximum=100)
    seed = checks.seed("seed", seed)
    return np.median([transformer_layer_gradients(depth, norm_first, seed + k)
                      for k in range(inits)], axis=0)
