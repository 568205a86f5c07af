"""One training loop for the whole course.

``train(model, optimizer, (x, y), test=(x, y), epochs=...)`` runs minibatch
training with any ``torch.optim`` optimizer and returns a ``History`` of loss
(and accuracy, for classification) per epoch. If the loss becomes NaN or
infinite, training stops with a message that says when it happened.
"""

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from utils import checks

#: The most epochs ``train`` accepts: a slip such as ``epochs=10**9`` fails at once.
MAX_EPOCHS = 10_000


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite (raised when ``on_divergence="raise"``)."""


@dataclass
class History:
    """What happened during training, one entry per completed epoch."""

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    diverged: bool = False
    message: str = ""

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def __repr__(self):
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


def _as_pair(data, name):
    x, y = checks.tensor_pair(name, data, tip=" Tip: utils.data.digits_split().tensors().")
    if not x.is_floating_point():
        raise ValueError(f"{name}: x must be a floating-point tensor, got {x.dtype}. "
                         "Tip: x.float().")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: x has 0 rows.")
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} rows but y has {len(y)}; they must match.")
    return x, y


def _check_loss_fn(loss_fn):
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError(f"loss_fn must be a function such as nn.CrossEntropyLoss() or None (the "
                         f"default loss), got {type(loss_fn).__name__}.")


def _check_optimizer(optimizer, model):
    """Refuse an optimizer that is not one, or that updates none of the model's parameters."""
    checks.optimizer_for(model, optimizer)


def _model_device(model):
    for parameter in model.parameters():
        return parameter.device
    raise ValueError("The model has no parameters to train.")


@torch.no_grad()
def evaluate(model, data, loss_fn=None, batch_size=1024):
    """Mean loss and accuracy (``None`` for regression) of ``model`` on ``data=(x, y)``.

    The model is put in eval mode for the evaluation and restored afterwards
    to the mode it was in. ``batch_size`` only limits the memory used.
    """
    checks.module("model", model)
    x, y = _as_pair(data, "data")
    _check_loss_fn(loss_fn)
    batch_size = checks.whole_number("batch_size", batch_size)
    loss_fn = loss_fn or _default_loss(y)
    device = _model_device(model)
    was_training = model.training
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
        model.train(was_training)
    accuracy = correct / len(x) if _is_classification(y) else None
    return total_loss / len(x), accuracy


def _is_classification(y):
    return y.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8)


def _default_loss(y):
    return nn.CrossEntropyLoss() if _is_classification(y) else nn.MSELoss()


def _progress_bar(total, enabled, description):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=True)


def train(model, optimizer, train_data, test_data=None, epochs=10, batch_size=64,
          loss_fn=None, seed=None, progress=True, on_divergence="stop"):
    """Train ``model`` by minibatch gradient descent and return its ``History``.

    Parameters
    ----------
    model : nn.Module
        The network; batches are moved to the device of its parameters.
    optimizer : torch.optim.Optimizer
        Any optimizer over the model's parameters (SGD, Adam, ...).
    train_data, test_data : (x, y) pairs of tensors
        Integer ``y`` means classification (cross-entropy, accuracy is
        recorded); float ``y`` means regression (mean squared error).
    epochs, batch_size : int
        Passes over the data (at most ``MAX_EPOCHS``) and examples per step.
        Every epoch visits the examples in a new random order.
    loss_fn : callable, optional
        Overrides the default loss.
    seed : int, optional
        Seeds the order of the minibatches (default: the course seed).
        The history's test metrics are measured on ``test_data`` after each epoch.
    progress : bool
        Show a progress bar (``tqdm``).
    on_divergence : "stop" or "raise"
        When the loss becomes NaN or infinite: stop and print a message
        (``history.diverged`` is then True), or raise ``TrainingDiverged``.
    """
    checks.module("model", model)
    _model_device(model)  # a model without parameters is refused first
    _check_optimizer(optimizer, model)
    checks.one_of("on_divergence", on_divergence, ("stop", "raise"))
    epochs = checks.whole_number("epochs", epochs, maximum=MAX_EPOCHS)
    batch_size = checks.whole_number("batch_size", batch_size)
    progress = checks.boolean("progress", progress)
    _check_loss_fn(loss_fn)
    if seed is not None:
        seed = checks.seed("seed", seed)
    x, y = _as_pair(train_data, "train_data")
    if test_data is not None:
        test_data = _as_pair(test_data, "test_data")
    loss_fn = loss_fn or _default_loss(y)
    device = _model_device(model)
    if seed is None:
        from utils.setup import current_seed

        seed = current_seed()
    generator = torch.Generator().manual_seed(int(seed))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    history = History()
    bar = _progress_bar(epochs * steps_per_epoch, progress, "training")
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(x), generator=generator)
            losses, correct = [], 0
            for step, start in enumerate(range(0, len(x), batch_size), start=1):
                index = order[start:start + batch_size]
                xb, yb = x[index].to(device), y[index].to(device)
                optimizer.zero_grad()
                out = model(xb)
                loss = loss_fn(out, yb)
                value = loss.item()
                if not math.isfinite(value):
                    last = f"{history.step_loss[-1]:.4g}" if history.step_loss else "none"
                    history.diverged = True
                    history.message = (
                        f"Training stopped: the loss became {value} at epoch {epoch}, step {step} "
                        f"(last finite loss: {last}). Gradients or weights blew up; try a "
                        "smaller learning rate, gradient clipping or a different initialization.")
                    if on_divergence == "raise":
                        raise TrainingDiverged(history.message)
                    print(history.message)
                    return history
                loss.backward()
                optimizer.step()
                losses.append(value)
                history.step_loss.append(value)
                if _is_classification(y):
                    correct += (out.argmax(dim=1) == yb).sum().item()
                if bar is not None:
                    bar.update(1)
            history.train_loss.append(sum(losses) / len(losses))
            if _is_classification(y):
                history.train_accuracy.append(correct / len(x))
            if test_data is not None:
                test_loss, test_accuracy = evaluate(model, test_data, loss_fn)
                history.test_loss.append(test_loss)
                if test_accuracy is not None:
                    history.test_accuracy.append(test_accuracy)
            if bar is not None:
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}")
    finally:
        if bar is not None:
            bar.close()
    return history
