"""Argument checks shared by the course's modules.

Each check returns the value in a plain form (``int``, ``float``, ``bool``)
or raises ``ValueError`` with a short message that names the argument, says
what was wrong and what is accepted, e.g.::

    depth = whole_number("depth", depth, maximum=MAX_DEPTH)
    lr = positive_number("lr", lr)

NumPy numbers are accepted like Python numbers; ``True``/``False`` are not
numbers here (``steps=True`` is almost always a slip).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def show(value: Any) -> str:
    """``repr(value)`` of any value, shortened to at most 60 characters so that a big
    array does not flood an error message (e.g. ``got {show(value)}``)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(value: Any) -> str:
    """A short description of any value for an error message: a torch tensor's or a NumPy
    array's shape ("a tensor of shape (3, 2)"), else the name of its type ("list").

    Use it where the value itself may be large or unreadable (a model, a batch of data);
    ``show`` prints the value itself.
    """
    import torch

    if torch.is_tensor(value):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__


def whole_number(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``; numpy integers are accepted."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {show(value)}.")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number ≥ {minimum}, got {show(value)}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum:,}, got "
                         f"{value:,}.")
    return int(value)


class NotOneNumber(ValueError):
    """Raised by ``one_number``; its message says what the value was instead."""


def one_number(value: Any) -> float:
    """A Python, NumPy or one-element torch number as a ``float`` (NaN and ±inf pass through).

    The course's one number coercion (claims and exercise checks use it).
    Anything else raises ``NotOneNumber`` whose message describes what
    ``value`` is (e.g. "a tensor of shape (3,)"), for the caller to put in
    its own sentence. ``True``/``False`` are not numbers here.
    """
    if hasattr(value, "numel") and hasattr(value, "item"):  # a torch tensor
        if value.numel() != 1:
            raise NotOneNumber(f"a tensor of shape {tuple(value.shape)}")
        value = value.detach().cpu().item()
    elif isinstance(value, (np.ndarray, np.generic)):
        if value.size != 1:
            raise NotOneNumber(f"an array of shape {value.shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise NotOneNumber("None" if value is None else f"{show(value)} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:
        raise NotOneNumber(f"an integer of {len(str(abs(int(value))))} digits, too large for a "
                           "floating-point number") from None


def finite_number(name: str, value: Any, minimum: float | None = None,
                  maximum: float | None = None) -> float:
    """``value`` as a finite ``float`` in ``[minimum, maximum]`` (either bound optional)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {show(value)}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be a number ≥ {minimum}, got {show(value)}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be a number ≤ {maximum}, got {show(value)}.")
    return float(value)


def positive_number(name: str, value: Any, maximum: float | None = None) -> float:
    """``value`` as a finite ``float`` > 0 (and ≤ ``maximum`` if given)."""
    value = finite_number(name, value, maximum=maximum)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {show(value)}.")
    return value


def boolean(name: str, value: Any) -> bool:
    """``value`` as a ``bool``: only True or False (NumPy's too) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {show(value)}.")
    return bool(value)


def one_of(name: str, value: Any, choices: Iterable[Hashable]) -> Any:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if isinstance(value, Hashable) and value in choices:
        return value
    accepted = ", ".join(repr(choice) for choice in choices)
    raise ValueError(f"Unknown {name} {show(value)}; accepted: {accepted}.")


def seed(name: str, value: Any) -> int:
    """A random seed: a whole number ≥ 0 (as an ``int``)."""
    return whole_number(name, value, minimum=0)


def function(name: str, value: Any, example: str = "") -> Callable:
    """``value`` if it can be called (a function, a lambda, a module), else a ValueError.

    ``example`` (a piece of code such as ``"nn.CrossEntropyLoss()"``; optional) is named
    in the message: "loss_fn must be a function such as nn.CrossEntropyLoss(), got str."
    """
    if not callable(value):
        such_as = f" such as {example}" if example else ""
        raise ValueError(f"{name} must be a function{such_as}, got {describe(value)}.")
    return value


def optional_function(name: str, value: Any, example: str) -> Callable | None:
    """``value`` if it is None or can be called, else a ValueError that names ``name``,
    gives ``example`` (a piece of code, e.g. ``"lambda step: print(step.loss)"``) and
    describes what ``value`` was instead."""
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a function or None, e.g. {example}, got "
                         f"{describe(value)}.")
    return value


def text(name: str, value: Any, optional: bool = False) -> str | None:
    """``value`` if it is a string (or None, when ``optional``), else a ValueError."""
    if isinstance(value, str) or (optional and value is None):
        return value
    accepted = "a string or None" if optional else "a string"
    raise ValueError(f"{name} must be {accepted}, got {show(value)}.")


def axes(name: str, value: Any, optional: bool = False) -> Any:
    """``value`` if it is matplotlib axes (or None, when ``optional``), else a ValueError."""
    from matplotlib.axes import Axes

    if isinstance(value, Axes) or (optional and value is None):
        return value
    raise ValueError(f"{name} must be matplotlib axes (e.g. fig, ax = plt.subplots())"
                     f"{' or None' if optional else ''}, got {type(value).__name__}.")


def interval(name: str, value: Any) -> tuple[float, float]:
    """``value`` as a pair ``(low, high)`` of finite floats with low < high."""
    pair = array(name, value)
    if pair.shape != (2,) or not pair[0] < pair[1]:
        raise ValueError(f"{name} must be a pair (low, high) of numbers with low < high, got "
                         f"{show(value)}.")
    return float(pair[0]), float(pair[1])


def array(name: str, value: Any, ndim: int | None = None, dtype: Any = np.float64,
          finite: bool = True) -> np.ndarray:
    """``value`` as a NumPy array of ``dtype`` (None: keep its own) with ``ndim``
    dimensions; finite values only, unless ``finite=False``.

    Lists are accepted; strings, ``None`` and anything that is not numbers are not.
    """
    if value is None or isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be an array of numbers, got {show(value)}.")
    try:
        result = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {show(value)}.") from None
    if not (np.issubdtype(result.dtype, np.number) or result.dtype == np.bool_):
        raise ValueError(f"{name} must be an array of numbers, got dtype {result.dtype}.")
    if ndim is not None and result.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {result.shape}.")
    if finite and np.issubdtype(result.dtype, np.floating) and not np.isfinite(result).all():
        raise ValueError(f"{name} must hold finite numbers (no NaN or inf).")
    return result


def module(name: str, value: Any, example: str = "") -> torch.nn.Module:
    """``value`` if it is a ``torch.nn.Module`` (a network or layer), else a ValueError.

    ``example`` is added to the message (e.g. ``" (a network)"``).
    """
    import torch

    if not isinstance(value, torch.nn.Module):
        shown = (f"a tensor of shape {tuple(value.shape)}" if torch.is_tensor(value)
                 else type(value).__name__)
        raise ValueError(f"{name} must be a torch.nn.Module{example}, got {shown}.")
    return value


def optimizer_for(model: torch.nn.Module, optimizer: Any, also: str = "",
                  purpose: str = "training would change nothing") -> None:
    """Refuse an optimizer that is not a ``torch.optim.Optimizer``, one with a non-finite
    learning rate, or one that holds none of ``model``'s parameters (built for another model).

    ``also`` is added to the list of accepted values in the message (e.g. ``" or None"``).
    """
    import torch

    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ValueError(f"optimizer must be a torch.optim optimizer (e.g. torch.optim.SGD("
                         f"model.parameters(), lr=0.1)){also}, got {type(optimizer).__name__}.")
    for group in optimizer.param_groups:
        rate = group.get("lr")
        if rate is not None and not math.isfinite(float(rate)):
            raise ValueError(f"optimizer's lr must be a finite number, got {float(rate)}.")
    mine = {id(parameter) for parameter in model.parameters()}
    theirs = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    if not any(id(parameter) in mine for parameter in theirs):
        raise ValueError(f"optimizer holds none of the model's parameters (was it built for "
                         f"another model?), so {purpose}: build it from this model, e.g. "
                         "torch.optim.SGD(model.parameters(), lr=0.1).")


def tensor_pair(name: str, data: Any, tip: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Check that ``data`` is a pair ``(x, y)`` of tensors with one row per example; return it.

    A tuple or a list is accepted. ``tip`` is added to the message for non-tensors.
    """
    import torch

    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        length = f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""
        raise ValueError(f"{name} must be a pair (x, y) of tensors, got "
                         f"{type(data).__name__}{length}.")
    x, y = data
    if not (torch.is_tensor(x) and torch.is_tensor(y)):
        raise ValueError(f"{name} must hold torch tensors (x, y); got {type(x).__name__} and "
                         f"{type(y).__name__}.{tip}")
    if x.dim() == 0 or y.dim() == 0:
        raise ValueError(f"{name}: x and y need one row per example, got shapes "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")
    return x, y
