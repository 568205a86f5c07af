"""One training loop for the whole course.

``train(model, optimizer, (x, y), test_data=(x, y), epochs=...)`` runs minibatch
training with any ``torch.optim`` optimizer (a from-scratch one too:
``utils.optimizers.RuleOptimizer``) and returns a ``History`` of loss (and
accuracy, for classification) per epoch, and of loss and gradient norm per step.

Every step is: forward, ``backward()``, clipping (``clip_value=``,
``clip_norm=``), the hook ``on_step(step)``, then ``optimizer.step()``. The
hook receives a ``Step`` (model, optimizer, epoch, step, loss, gradient norm,
...): that is where a notebook measures something during training (batch-norm
statistics, a probe of the activations, ...) without writing its own loop.

If the loss becomes NaN or infinite, training stops with a message that says
when it happened. A batch-norm net never meets a tiny last minibatch by surprise:
it is dropped when it would have one row or fewer than half of ``batch_size``
(see ``train``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from utils import checks

#: The most epochs ``train`` accepts: a slip such as ``epochs=10**9`` fails at once.
MAX_EPOCHS = 10_000

#: What PyTorch says when batch norm meets a minibatch of one row in training mode.
_BATCH_NORM_ONE_ROW = "Expected more than 1 value per channel"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (raised when ``on_divergence="raise"``)."""


@dataclass
class History:
    """What happened during training.

    Per completed epoch: ``train_loss`` (mean over its steps), ``train_accuracy``
    (classification only), ``test_loss`` and ``test_accuracy`` (when test data
    was given). Per step: ``step_loss``, ``grad_norm`` (the total gradient norm
    over all parameters, measured **before** clipping) and, only when clipping
    is on, ``clipped_grad_norm`` (the same norm after clipping).
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    clipped_grad_norm: list[float] = field(default_factory=list)
    diverged: bool = False
    message: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def __repr__(self) -> str:
        if not self.train_loss:
            return f"History(no epoch completed{'; ' + self.message if self.message else ''})"
        parts = [f"{self.epochs} epochs", f"train loss {self.train_loss[-1]:.4g}"]
        if self.train_accuracy:
            parts.append(f"train accuracy {self.train_accuracy[-1]:.3f}")
        if self.test_loss:
            parts.append(f"test loss {self.test_loss[-1]:.4g}")
        if self.test_accuracy:
            parts.append(f"test accuracy {self.test_accuracy[-1]:.3f}")
        if self.diverged:
            parts.append("DIVERGED")
        return "History(" + ", ".join(parts) + ")"


@dataclass
class Step:
    """What ``on_step`` sees: one training step after ``backward()``, before ``optimizer.step()``.

    The gradients in ``model`` are already clipped (if clipping is on); the
    weights are those the loss was computed with. ``epoch`` and ``step`` count
    from 1 (``step`` within the epoch, ``global_step`` since training began),
    as in the divergence message. ``grad_norm`` is measured before clipping,
    ``clipped_grad_norm`` after it (``None`` when clipping is off). ``x``,
    ``y`` and ``output`` are the minibatch, its targets and the model's output
    (detached). ``history`` is the run's ``History`` so far, this step's loss and
    gradient norm included.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int
    step: int
    global_step: int
    loss: float
    grad_norm: float
    clipped_grad_norm: float | None
    x: torch.Tensor
    y: torch.Tensor
    output: torch.Tensor
    history: History


# --- checks -----------------------------------------------------------------------------


def _as_pair(data: Any, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = checks.tensor_pair(name, data, tip=" Tip: utils.data.digits_split().tensors().")
    if not x.is_floating_point():
        raise ValueError(f"{name}: x must be a floating-point tensor, got {x.dtype}. "
                         "Tip: x.float().")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: x has 0 rows.")
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} rows but y has {len(y)}; they must match.")
    return x, y


def _check_loss_fn(loss_fn: Any) -> None:
    """Refuse a loss_fn that is neither None (the default loss) nor a function."""
    checks.optional_function("loss_fn", loss_fn,
                             "nn.CrossEntropyLoss() (None: the default loss)")


def _check_clip(name: str, value: Any) -> float | None:
    """A clipping threshold: a positive number, or None for no clipping."""
    if value is None:
        return None
    try:
        return checks.positive_number(name, value)
    except ValueError:
        raise ValueError(f"{name} must be a positive number or None (no clipping), got "
                         f"{checks.show(value)}.") from None


def _model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    raise ValueError("The model has no parameters to train.")


def _has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())


def _resolve_drop_last(model: nn.Module, rows: int, batch_size: int,
                       drop_last: bool | None) -> bool:
    """Whether to drop each epoch's last, smaller minibatch (``None``: in a batch-norm net,
    when it has one row or fewer than half of ``batch_size``); a setting that leaves no minibatch
    raises ``ValueError``."""
    if drop_last is None:
        last_rows = rows % batch_size
        too_few = last_rows == 1 or 0 < 2 * last_rows < batch_size
        drop_last = too_few and rows > batch_size and _has_batch_norm(model)
    if drop_last and rows < batch_size:
        raise ValueError(f"train_data has {rows} rows, fewer than batch_size={batch_size}: with "
                         "drop_last=True no minibatch is left. Use a smaller batch_size.")
    return drop_last


# --- evaluation -------------------------------------------------------------------------


def _is_classification(y: torch.Tensor) -> bool:
    return y.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8)


def _default_loss(y: torch.Tensor) -> nn.Module:
    return nn.CrossEntropyLoss() if _is_classification(y) else nn.MSELoss()


@torch.no_grad()
def evaluate(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor],
             loss_fn: Callable | None = None,
             batch_size: int = 1024) -> tuple[float, float | None]:
    """Mean loss and accuracy (``None`` for regression) of ``model`` on ``data=(x, y)``.

    The model is put in eval mode for the evaluation and restored afterwards
    to the mode it was in (every submodule's own mode included). ``loss_fn``
    defaults to cross-entropy for integer ``y`` and mean squared error for
    float ``y``. ``batch_size`` (a whole number ≥ 1) only limits the memory used.
    """
    checks.module("model", model)
    x, y = _as_pair(data, "data")
    _check_loss_fn(loss_fn)
    batch_size = checks.whole_number("batch_size", batch_size)
    loss_fn = loss_fn or _default_loss(y)
    device = _model_device(model)
    modes = {module: module.training for module in model.modules()}
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device)
            out = model(xb)
            total_loss += loss_fn(out, yb).item() * len(xb)
            if _is_classification(y):
                correct += (out.argmax(dim=1) == yb).sum().item()
    finally:
        for module, training in modes.items():
            module.training = training
    accuracy = correct / len(x) if _is_classification(y) else None
    return total_loss / len(x), accuracy


# --- one step ---------------------------------------------------------------------------


def _total_norm(parameters: list[torch.Tensor]) -> float:
    """The 2-norm of all the parameters' gradients taken together (0 if none has one)."""
    grads = [p.grad.detach().reshape(-1) for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return torch.linalg.vector_norm(torch.cat(grads)).item()  # for small nets, faster than
    # one norm per tensor (measured: 18 µs against 48 µs for a 5-layer MLP of width 64)


def _clip(parameters: list[torch.Tensor], clip_norm: float | None,
          clip_value: float | None) -> tuple[float, float | None]:
    """Clip the gradients in place; return their total norm before and after (``None``: no
    clipping). By value first (each entry into ``[-clip_value, clip_value]``), then by norm
    (the whole gradient rescaled to norm ``clip_norm`` if it is longer)."""
    norm = _total_norm(parameters)
    if clip_norm is None and clip_value is None:
        return norm, None
    if clip_value is not None:
        nn.utils.clip_grad_value_(parameters, clip_value)
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(parameters, clip_norm)
    return norm, _total_norm(parameters)


def _forward(model: nn.Module, xb: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
    """``model(xb)``, with a clear message when batch norm meets a one-row minibatch."""
    try:
        return model(xb)
    except ValueError as error:
        if _BATCH_NORM_ONE_ROW not in str(error):
            raise
        raise ValueError(
            f"Batch norm cannot normalise a minibatch of {len(xb)} row (epoch {epoch}, step "
            f"{step}): in training mode it needs at least 2 values per channel to compute a "
            "mean and a variance. Use batch_size ≥ 2, and drop_last=True if the last "
            "minibatch is that small.") from error


def _divergence_message(value: float, epoch: int, step: int, history: History) -> str:
    last = f"{history.step_loss[-1]:.4g}" if history.step_loss else "none"
    return (f"Training stopped: the loss became {value} at epoch {epoch}, step {step} "
            f"(last finite loss: {last}). Gradients or weights blew up; try a "
            "smaller learning rate, gradient clipping or a different initialization.")


@dataclass
class _Run:
    """Everything the steps of one ``train`` call share."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable
    device: torch.device
    parameters: list[torch.Tensor]
    clip_norm: float | None
    clip_value: float | None
    on_step: Callable[[Step], Any] | None
    history: History
    global_step: int = 0


def _train_step(run: _Run, xb: torch.Tensor, yb: torch.Tensor, epoch: int,
                step: int) -> tuple[float, torch.Tensor]:
    """One step: forward, backward, clipping, ``on_step``, ``optimizer.step()``.

    Returns the loss and the output; a non-finite loss is returned before any
    backward pass, and the weights are left as they were.
    """
    run.optimizer.zero_grad()
    out = _forward(run.model, xb, epoch, step)
    loss = run.loss_fn(out, yb)
    value = loss.item()
    if not math.isfinite(value):
        return value, out
    loss.backward()
    run.global_step += 1
    norm, clipped = _clip(run.parameters, run.clip_norm, run.clip_value)
    run.history.step_loss.append(value)
    run.history.grad_norm.append(norm)
    if clipped is not None:
        run.history.clipped_grad_norm.append(clipped)
    if run.on_step is not None:
        run.on_step(Step(run.model, run.optimizer, epoch, step, run.global_step, value, norm,
                         clipped, xb, yb, out.detach(), run.history))
    run.optimizer.step()
    return value, out


def _minibatches(rows: int, batch_size: int, generator: torch.Generator,
                 drop_last: bool) -> Iterator[torch.Tensor]:
    """The row indices of each minibatch of one epoch: a fresh random order, cut in slices."""
    order = torch.randperm(rows, generator=generator)
    end = rows - rows % batch_size if drop_last else rows
    for start in range(0, end, batch_size):
        yield order[start:start + batch_size]


def _train_epoch(run: _Run, x: torch.Tensor, y: torch.Tensor, epoch: int, batch_size: int,
                 generator: torch.Generator, drop_last: bool, bar: Any) -> bool:
    """One pass over the data; appends the epoch's loss (and accuracy) to the history.

    Returns False when the loss became NaN or infinite (the history then says so).
    """
    run.model.train()
    losses, correct, seen = [], 0, 0
    classification = _is_classification(y)
    for step, index in enumerate(_minibatches(len(x), batch_size, generator, drop_last), 1):
        xb, yb = x[index].to(run.device), y[index].to(run.device)
        value, out = _train_step(run, xb, yb, epoch, step)
        if not math.isfinite(value):
            run.history.diverged = True
            run.history.message = _divergence_message(value, epoch, step, run.history)
            return False
        losses.append(value)
        seen += len(index)
        if classification:
            correct += (out.argmax(dim=1) == yb).sum().item()
        if bar is not None:
            bar.update(1)
    run.history.train_loss.append(sum(losses) / len(losses))
    if classification:
        run.history.train_accuracy.append(correct / seen)
    return True


def _record_test(run: _Run, test_data: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    if test_data is None:
        return
    test_loss, test_accuracy = evaluate(run.model, test_data, run.loss_fn)
    run.history.test_loss.append(test_loss)
    if test_accuracy is not None:
        run.history.test_accuracy.append(test_accuracy)


def _progress_bar(total: int, enabled: bool, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=True)


# --- the loop -----------------------------------------------------------------------------


def train(model: nn.Module, optimizer: torch.optim.Optimizer,
          train_data: tuple[torch.Tensor, torch.Tensor],
          test_data: tuple[torch.Tensor, torch.Tensor] | None = None, epochs: int = 10,
          batch_size: int = 64, loss_fn: Callable | None = None, seed: int | None = None,
          progress: bool = True, on_divergence: str = "stop",
          on_step: Callable[[Step], Any] | None = None, clip_norm: float | None = None,
          clip_value: float | None = None, drop_last: bool | None = None) -> History:
    """Train ``model`` by minibatch gradient descent and return its ``History``.

    Parameters
    ----------
    model : nn.Module
        The network; batches are moved to the device of its parameters.
    optimizer : torch.optim.Optimizer
        Any optimizer over the model's parameters (SGD, Adam, a
        ``utils.optimizers.RuleOptimizer``, ...).
    train_data, test_data : (x, y) pairs of tensors
        Integer ``y`` means classification (cross-entropy, accuracy is
        recorded); float ``y`` means regression (mean squared error).
        The history's test metrics are measured on ``test_data`` after each epoch.
    epochs, batch_size : int
        Passes over the data (at most ``MAX_EPOCHS``) and examples per step.
        Every epoch visits the examples in a new random order.
    loss_fn : callable, optional
        Overrides the default loss.
    seed : int, optional
        Seeds the order of the minibatches (default: the course seed).
    progress : bool
        Show a progress bar (``tqdm``).
    on_divergence : "stop" or "raise"
        When the loss becomes NaN or infinite: stop and print a message
        (``history.diverged`` is then True), or raise ``TrainingDiverged``.
    on_step : function of a ``Step``, optional
        Called at every step after ``backward()`` and clipping, before
        ``optimizer.step()``; its return value is ignored.
    clip_norm, clip_value : positive numbers, optional
        Gradient clipping (``torch.nn.utils``): ``clip_value`` clamps every
        gradient entry to ``[-clip_value, clip_value]``; ``clip_norm`` rescales
        the whole gradient to that norm when it is longer (value first when
        both are given). ``history.grad_norm`` is measured before clipping.
    drop_last : bool or None
        Drop each epoch's last minibatch when it is smaller than ``batch_size``.
        ``None`` (default) drops it when the model has batch norm and the last
        minibatch has one row or fewer than half of ``batch_size``: batch norm cannot
        normalise one row, and a few rows give statistics so noisy that a deep
        net's training can be wrecked (measured in 08: with 1347 digits in
        minibatches of 32, the 3-row last one sent a 56-layer net's training loss
        to 36).
    """
    checks.module("model", model)
    device = _model_device(model)  # a model without parameters is refused first
    checks.optimizer_for(model, optimizer)
    checks.one_of("on_divergence", on_divergence, ("stop", "raise"))
    epochs = checks.whole_number("epochs", epochs, maximum=MAX_EPOCHS)
    batch_size = checks.whole_number("batch_size", batch_size)
    progress = checks.boolean("progress", progress)
    _check_loss_fn(loss_fn)
    checks.optional_function("on_step", on_step, "lambda step: print(step.grad_norm)")
    clip_norm, clip_value = _check_clip("clip_norm", clip_norm), _check_clip("clip_value",
                                                                             clip_value)
    if drop_last is not None:
        drop_last = checks.boolean("drop_last", drop_last)
    if seed is None:
        from utils.setup import current_seed

        seed = current_seed()
    seed = checks.seed("seed", seed)
    x, y = _as_pair(train_data, "train_data")
    if test_data is not None:
        test_data = _as_pair(test_data, "test_data")
    drop_last = _resolve_drop_last(model, len(x), batch_size, drop_last)
    run = _Run(model, optimizer, loss_fn or _default_loss(y), device, list(model.parameters()),
               clip_norm, clip_value, on_step, History())
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(x) // batch_size if drop_last else math.ceil(len(x) / batch_size)
    bar = _progress_bar(epochs * steps_per_epoch, progress, "training")
    try:
        for epoch in range(1, epochs + 1):
            if not _train_epoch(run, x, y, epoch, batch_size, generator, drop_last, bar):
                if on_divergence == "raise":
                    raise TrainingDiverged(run.history.message)
                print(run.history.message)
                return run.history
            _record_test(run, test_data)
            if bar is not None:
                bar.set_postfix(loss=f"{run.history.train_loss[-1]:.4g}")
    finally:
        if bar is not None:
            bar.close()
    return run.history
