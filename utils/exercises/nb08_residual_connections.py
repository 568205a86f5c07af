"""Exercises of 08_residual_connections: a residual block, the gradient through identity + F,
and the block whose skip is missing."""

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.exercises.core import (
    Case,
    Exercise,
    Slip,
    Unreadable,
    Wrong,
    as_array,
    expect_close,
    function_exercise,
    register,
    same_values,
)

# --- 8.1 · A residual block -------------------------------------------------------------

_BLOCK_HINTS = [
    "The block's output is its input plus what the layer makes of it, and the activation "
    "comes last, after the two are added.",
    "y = relu(x + linear(x)): add the input x to the layer's output, then apply ReLU to the "
    "sum (the post-activation block of He et al. 2016a).",
]
#: The depth of the stack in which the check follows the gradient.
STACK_DEPTH = 30


def _block_reference(x, linear):
    return torch.relu(x + linear(x))


def _linear(width, seed, scale=1.0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = nn.Linear(width, width)
    with torch.no_grad():
        layer.weight.mul_(scale)
    return layer


def _block_case(n, width, seed):
    generator = torch.Generator().manual_seed(seed)
    return Case((torch.randn(n, width, generator=generator), _linear(width, seed)),
                f"x of shape ({n}, {width}) and an nn.Linear({width}, {width})")


_BLOCK_CASES = [_block_case(1, 3, 81), _block_case(2, 5, 82), _block_case(3, 4, 83),
                _block_case(17, 6, 84)]


def _compare_block(got, expected, case):
    x = case.args[0]
    if not torch.is_tensor(got):
        raise Wrong("residual_block should return a torch tensor (the block's output), got "
                    f"{type(got).__name__}.", expected="a tensor", got=type(got).__name__)
    if tuple(got.shape) != tuple(x.shape):
        raise Wrong("The output should have the shape of the input: a skip connection adds "
                    "x itself, so the block cannot change the shape.", expected=tuple(x.shape),
                    got=tuple(got.shape), hint="Which shape does x + linear(x) have?")
    expect_close(got.detach(), expected.detach(), what=f"the output on {case.label}",
                 rtol=1e-5, atol=1e-6, array=True)


def _stack_gradient(block, depth=STACK_DEPTH, width=8):
    """‖∂(sum of the output)/∂x‖ through ``depth`` blocks with small weights."""
    generator = torch.Generator().manual_seed(85)
    x = (torch.rand(4, width, generator=generator) + 0.5).requires_grad_()
    h = x
    for k in range(depth):
        h = block(h, _linear(width, 900 + k, scale=0.1))
    h.sum().backward()
    return 0.0 if x.grad is None else x.grad.norm().item()


_DETACHED = ("Your block gives the right numbers, but no gradient flows along its skip: x "
             "was detached (or turned into a NumPy array) before it was added, so autograd "
             "sees only linear(x). Through {depth} blocks the gradient at the input is "
             "{got:.2g}, where the real identity path carries {expected:.2g}.")


def _check_block(function):
    message = _block_checker(function)
    expected = _stack_gradient(_block_reference)
    try:
        got = _stack_gradient(function)
    except Exception:  # the values passed above: a stack that cannot backpropagate is the slip
        got = 0.0
    if not np.isclose(got, expected, rtol=1e-4):
        raise Wrong(_DETACHED.format(depth=STACK_DEPTH, got=got, expected=expected),
                    expected=f"‖∂L/∂x‖ = {expected:.4g} through {STACK_DEPTH} blocks",
                    got=f"{got:.4g}", hint="Is x itself, with its gradient, in the sum?")
    return message


def _detached(x, linear):
    return torch.relu(x.detach() + linear(x))


_block_exercise = function_exercise(
    "8.1", "A residual block", "residual_block", _block_reference, _BLOCK_CASES,
    hints=_BLOCK_HINTS, compare=_compare_block, unnamed_when_same=True, rtol=1e-5, atol=1e-6,
    success=f"Right: relu(x + linear(x)). Stacked {STACK_DEPTH} deep with small weights, the "
            "gradient at the input stays of the size it has at the output: the identity "
            "path carries it past every layer.",
    slips=[
        Slip("no skip", lambda x, linear: torch.relu(linear(x)),
             message="Your block is relu(linear(x)): a plain layer. The skip connection adds "
                     "the input x to the layer's output.",
             hint="Where does x itself appear in the output?"),
        Slip("skip after the activation", lambda x, linear: x + torch.relu(linear(x)),
             message="You added x after the ReLU, x + relu(linear(x)). This exercise asks for "
                     "the post-activation block of He et al. 2016a, where the sum goes "
                     "through the ReLU: relu(x + ...). (Adding after the activation is "
                     "closer to the pre-activation block of section 5.)",
             hint="Which comes first: the addition or the ReLU?"),
        Slip("skip added twice", lambda x, linear: torch.relu(2 * x + linear(x)),
             message="Your block adds the input twice (2x + linear(x)): the skip carries x "
                     "once.", hint="How many times does x go along the identity path?"),
        Slip("no activation", lambda x, linear: x + linear(x),
             message="Your block has no ReLU: x + linear(x). The block asked for applies the "
                     "ReLU to the sum.", hint="What happens to the sum?"),
        Slip("a row sum", lambda x, linear: torch.relu(x + linear(x)).sum(dim=1),
             message="The output should have the shape of the input: a skip connection adds "
                     "x itself, so the block cannot change the shape.", compared=False),
        Slip("skip detached", _detached,
             message="Your block gives the right numbers, but no gradient flows along its "
                     "skip", compared=False, varies=True),
    ],
)
_block_checker = _block_exercise.checker
_block_exercise.checker = _check_block

# --- 8.2 · The gradient through identity + F ---------------------------------------------

#: The numbers of 8.2: y = x + W·relu(x), upstream gradient g = ∂L/∂y.
GRAD_X = np.array([1.0, -2.0])
GRAD_W = np.array([[0.5, -1.0], [2.0, 0.25]])
GRAD_G = np.array([1.0, 2.0])


def gradient_through_block(x: np.ndarray, weight: np.ndarray,
                           upstream: np.ndarray) -> np.ndarray:
    """∂L/∂x for y = x + weight·relu(x) given ∂L/∂y = ``upstream`` (NumPy, one example)."""
    mask = (x > 0).astype(float)
    return upstream + mask * (weight.T @ upstream)


_GRAD_EXPECTED = gradient_through_block(GRAD_X, GRAD_W, GRAD_G)
_MASK = (GRAD_X > 0).astype(float)
_GRAD_HINTS = [
    "The block's Jacobian has two terms, one for each path from x to y; the gradient going "
    "back is the upstream gradient multiplied by that Jacobian (transposed).",
    "∂y/∂x = I + W·diag(relu'(x)), so ∂L/∂x = g + relu'(x) ⊙ (Wᵀ g), with relu'(x) = 1 where "
    "x > 0 and 0 elsewhere.",
]
_GRAD_SLIPS = [
    Slip("forgot the identity", _MASK * (GRAD_W.T @ GRAD_G),
         message="That is the gradient through F alone, relu'(x) ⊙ (Wᵀ g): the identity path "
                 "is missing. y = x + F(x), so the upstream gradient g also comes back "
                 "unchanged along the skip.", hint="How many paths lead from x to y?"),
    Slip("W instead of its transpose", GRAD_G + _MASK * (GRAD_W @ GRAD_G),
         message="You multiplied g by W; going backwards the gradient is multiplied by the "
                 "transpose, Wᵀ g (entry j collects Σᵢ gᵢ Wᵢⱼ).",
         hint="Which index of W does x_j sit at in y = W·relu(x)?"),
    Slip("no ReLU mask", GRAD_G + GRAD_W.T @ GRAD_G,
         message="You forgot the ReLU's slope: x₂ = −2 is negative, so relu'(x₂) = 0 and "
                 "nothing goes back through F to x₂ (only the identity carries g₂).",
         hint="What is the ReLU's slope at x = −2?"),
    Slip("the identity only", GRAD_G.copy(),
         message="That is the upstream gradient g alone: the identity path, without what "
                 "comes back through F (for x₁ > 0 the branch adds (Wᵀ g)₁).",
         hint="Does anything come back through F?"),
    Slip("mask before the transpose", GRAD_G + GRAD_W.T @ (_MASK * GRAD_G),
         message="You applied the ReLU's mask to g before multiplying by Wᵀ: the mask "
                 "belongs to x (the ReLU's input), so it multiplies the result, "
                 "relu'(x) ⊙ (Wᵀ g).", hint="Whose slope is relu'? Of which variable?"),
]


def _check_gradient(answer):
    got = as_array(answer, "grad_x")
    if got.shape != (2,):
        raise Unreadable(f"grad_x should be an array of 2 numbers (∂L/∂x₁, ∂L/∂x₂), got "
                         f"shape {got.shape}.", expected="shape (2,)", got=got.shape)
    for slip in _GRAD_SLIPS:
        if same_values(got, slip.answer) and not same_values(got, _GRAD_EXPECTED):
            raise Wrong(slip.message, expected=_GRAD_EXPECTED, got=got, hint=slip.hint)
    expect_close(got, _GRAD_EXPECTED, what="grad_x", rtol=1e-6, atol=1e-9, array=True)
    return ("Right: g along the identity plus relu'(x) ⊙ (Wᵀ g) through F. However small F's "
            "part, the g of the identity is always there: that is why a residual block "
            "cannot make the gradient vanish.")


register(Exercise(
    id="8.2", title="The gradient through identity + F", answer_name="grad_x",
    checker=_check_gradient, hints=_GRAD_HINTS, wrong_answers=_GRAD_SLIPS,
    solution_context=lambda: {"x": GRAD_X.copy(), "W": GRAD_W.copy(), "g": GRAD_G.copy()}))

# --- 8.3 · Which block lost its skip? -----------------------------------------------------

#: The broken network of 8.3: 8 residual blocks, one of them without its skip.
BROKEN_BLOCKS = 8
BROKEN_MISSING = 5


class _NoSkip(nn.Module):
    """A block whose skip connection is missing: y = layer(x) only."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        from utils.nets import BlockInput

        self.block_input = BlockInput()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.block_input(x))


def broken_network(seed: int = 0) -> nn.Sequential:
    """The network of 8.3: Linear(64→32), then blocks ``block1`` … ``block8`` of
    Linear-ReLU (PyTorch's default init) with a skip each, except one, then Linear(32→10)."""
    from utils.nets import Residual

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [("input", nn.Linear(64, 32))]
        for k in range(1, BROKEN_BLOCKS + 1):
            inner = nn.Sequential(nn.Linear(32, 32), nn.ReLU())
            layers.append((f"block{k}", _NoSkip(inner) if k == BROKEN_MISSING
                           else Residual(inner)))
        layers.append(("output", nn.Linear(32, 10)))
    return nn.Sequential(OrderedDict(layers))


def broken_gradients(seed: int = 0, n: int = 256) -> dict[str, float]:
    """‖∂L/∂x‖ at the input of each block of ``broken_network`` on ``n`` random inputs."""
    from utils.gradflow import GradFlow

    model = broken_network(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 64, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    with GradFlow(model) as flow:
        F.cross_entropy(model(x), y).backward()
    return {record.name.split(".")[0]: record.output_grad_norm
            for record in flow.layers(kind="residual")}


_BROKEN_NUDGE = ("Along a skip the gradient comes back at least as large as it went in: "
                 "compare the gradient at each block's input with the one at the next "
                 "block's input.")
_BROKEN_FORMULA = ("With a skip, ∂L/∂x_k = ∂L/∂x_(k+1)·(I + ∂F/∂x), so the ratio ‖∂L/∂x_k‖ / "
                   "‖∂L/∂x_(k+1)‖ stays near 1 or above; without it, ∂L/∂x_k = ∂L/∂x_(k+1)·"
                   "∂F/∂x alone, and the ratio drops well below 1: find that block.")


def _parse_block(answer):
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool):
        answer = f"block{int(answer)}"
    if isinstance(answer, str):
        answer = answer.strip().lower().replace(" ", "")
    names = [f"block{k}" for k in range(1, BROKEN_BLOCKS + 1)]
    if answer not in names:
        raise Unreadable(f"broken_block should name one block, \"block1\" … "
                         f"\"block{BROKEN_BLOCKS}\" (or its number), got {answer!r}.",
                         expected="a name such as \"block3\"", got=repr(answer))
    return answer


def _check_broken(answer):
    name = _parse_block(answer)
    norms = broken_gradients()
    right = f"block{BROKEN_MISSING}"
    after = {f"block{k}": f"block{k + 1}" for k in range(1, BROKEN_BLOCKS)}
    if name != right:
        if name in after:
            ratio = norms[name] / norms[after[name]]
            evidence = (f"{name} passes the gradient on with ratio ‖∂L/∂x‖ at its input / at "
                        f"the next block's input = {ratio:.2f}")
        else:
            evidence = f"{name} is the last block; its input gradient is {norms[name]:.3g}"
        drop = norms[right] / norms[after[right]]
        raise Wrong(f"Not {name}: {evidence}, as a block with its skip does. Look for the "
                    f"block where the ratio drops well below 1 (one block's is {drop:.2f}).",
                    got=name, hint=[_BROKEN_NUDGE, _BROKEN_FORMULA])
    drop = norms[right] / norms[after[right]]
    return (f"Right: {right}'s input gets only {drop:.2f} of the gradient at the next block's "
            "input. Every other block passes it on with a ratio near 1 or above, because its "
            "skip adds the identity to the block's Jacobian.")


register(Exercise(
    id="8.3", title="Which block lost its skip?", answer_name="broken_block",
    checker=_check_broken, hints=[_BROKEN_NUDGE, _BROKEN_FORMULA],
    wrong_answers=[
        Slip("the first block", "block1", message="Not block1", compared=False, varies=True),
        Slip("the last block", "block8", message="Not block8", compared=False, varies=True),
        Slip("the block after the broken one", "block6", message="Not block6",
             compared=False, varies=True),
        Slip("the block before the broken one", 4, message="Not block4", compared=False,
             varies=True),
    ],
))
