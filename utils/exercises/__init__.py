"""Self-checks for the exercises, with feedback a learner can act on.

In a notebook::

    from utils.exercises import check

    def sigmoid_slope(x):
        raise NotImplementedError("Exercise 0.1")   # the learner replaces this

    check("0.1", sigmoid_slope)

``check`` never crashes on a learner's mistake. It returns ``Feedback`` with
one of four statuses:

- ``correct``;
- ``wrong``: what was expected, what was got, and a hint;
- ``not attempted``: the skeleton still raises ``NotImplementedError`` or
  gives ``None`` or ``...`` (so "Run all" goes on past an unsolved exercise);
- ``error``: the learner's code raised an exception; its type, message and
  the line in the learner's code are shown.

Each exercise is registered once, in the module of its notebook
(``utils/exercises/nbNN_*.py``), with the name the learner defines and a few
typical wrong answers that the tests feed to the check. Reference solutions
live in the notebook itself, in a collapsed ``<details>`` cell tagged
``solution``; the tests run each of them through its check. A solution may
use only ``np``, ``torch``, ``nn`` and ``math`` besides what it defines and
what its exercise's ``solution_context`` provides.
"""

import html
import math
import numbers
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CORRECT, WRONG, NOT_ATTEMPTED, ERROR = "correct", "wrong", "not attempted", "error"


class Wrong(Exception):
    """Raised by a checker when the answer is wrong: what, expected, got and a hint."""

    def __init__(self, message, expected=None, got=None, hint=""):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got
        self.hint = hint


class NotAttempted(Exception):
    """Raised when the learner has not filled in the exercise yet."""


class LearnerError(Exception):
    """Wraps an exception raised inside the learner's own code."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


@dataclass
class Feedback:
    """The result of a check. ``feedback.correct`` is True only for a correct answer."""

    exercise: str
    title: str
    status: str
    message: str = ""
    expected: object = None
    got: object = None
    hint: str = ""

    @property
    def correct(self) -> bool:
        return self.status == CORRECT

    def text(self) -> str:
        """The feedback as plain text, as a learner sees it."""
        mark = {CORRECT: "✔", WRONG: "✘", NOT_ATTEMPTED: "…", ERROR: "✘"}[self.status]
        head = {CORRECT: "correct!", WRONG: "not yet right.",
                NOT_ATTEMPTED: "not attempted yet.", ERROR: "your code raised an error."}
        lines = [f"{mark} Exercise {self.exercise} · {self.title}: {head[self.status]}"]
        if self.message:
            lines.append(f"  {self.message}")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.got is not None:
            lines.append(f"  got:      {self.got}")
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self):
        return self.text()

    def _repr_html_(self):
        colour = {CORRECT: "#009E73", WRONG: "#D55E00", NOT_ATTEMPTED: "#0072B2",
                  ERROR: "#D55E00"}[self.status]
        body = html.escape(self.text())
        return (f'<pre style="border-left: 4px solid {colour}; padding: 0.4em 0.8em; '
                f'white-space: pre-wrap">{body}</pre>')


@dataclass
class Exercise:
    """One exercise: its id (``"3.2"``), title, the name the learner defines,
    the checker and typical wrong answers (``(description, answer)`` pairs)
    that the tests use to make sure the check explains what is wrong.

    ``solution_context``, if given, returns the names (besides np, torch, nn,
    math) that the notebook has defined before the solution uses them; the
    tests run the reference solution with them.
    """

    id: str
    title: str
    answer_name: str
    checker: Callable
    wrong_answers: list = field(default_factory=list)
    solution_context: Callable = None


REGISTRY: dict = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (ids must be unique)."""
    if exercise.id in REGISTRY:
        raise ValueError(f"Exercise {exercise.id} is registered twice.")
    REGISTRY[exercise.id] = exercise
    return exercise


def _is_unattempted_value(value):
    return value is None or value is Ellipsis


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_LIBRARY_DIRS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                       sysconfig.get_paths()["platlib"]})


def _where_in_learner_code(error):
    """'at line 3: return 1 / x' for the innermost frame of the learner's own code, if any."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(_PACKAGE_DIR) or frame.filename.startswith(_LIBRARY_DIRS):
            continue
        return f"at line {frame.lineno}: {frame.line}" if frame.line else f"at line {frame.lineno}"
    return ""


def call_learner(function, *args, name=None):
    """Call the learner's function; turn its failures into NotAttempted or LearnerError.

    Arguments are passed as copies, so the learner's code cannot change the
    check's own data.
    """
    name = name or getattr(function, "__name__", "your function")
    if not callable(function):
        raise Wrong(f"`{name}` should be a function, but it is of type {type(function).__name__}.",
                    hint="Define it with `def ...:` in the cell above and run that cell.")
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    try:
        result = function(*copies)
    except NotImplementedError:
        raise NotAttempted("The function still raises NotImplementedError: replace that line "
                           "with your code, run the cell, then run this check again.") from None
    except (Exception, SystemExit) as error:  # the learner's code failed: report, not crash
        raise LearnerError(error) from error
    if _is_unattempted_value(result):
        raise NotAttempted(f"`{name}` returned {result!r}. If you wrote code, did you forget "
                           "the `return` statement?")
    return result


def _describe(value, limit=6):
    """A short readable rendering of a number or an array for feedback."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, np.ndarray):
        if value.size <= limit:
            return np.array2string(value, precision=4, separator=", ")
        flat = ", ".join(f"{v:.4g}" for v in value.ravel()[:limit])
        return f"array of shape {value.shape}: [{flat}, ...]"
    return repr(value)


def as_array(value, what="your answer"):
    """Turn a number, list, NumPy array or torch tensor into a float64 array, or raise Wrong."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes, dict, set, bool)) or callable(value):
        raise Wrong(f"{what} should be a number or an array of numbers, but it is of type "
                    f"{type(value).__name__}.", got=repr(value)[:80],
                    hint="Return the computed number (a float) or NumPy array itself, "
                         "not text or a function.")
    try:
        if np.iscomplexobj(np.asarray(value)):
            raise Wrong(f"{what} contains complex numbers.", got=repr(value)[:80],
                        hint="Complex numbers come from the square root or power of a "
                             "negative number; the answer should be real.")
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be a number or an array of numbers; could not read "
                    f"{type(value).__name__} as numbers.", got=repr(value)[:80],
                    hint="Return a float or a NumPy array of floats (lists of lists must "
                         "all have the same length).") from None
    return array


def expect_close(got, expected, what="your answer", rtol=1e-6, atol=1e-9, hint="",
                 inputs=None):
    """Raise Wrong unless ``got`` has ``expected``'s shape and values (to tolerance).

    ``inputs``, if given, is the input array: the message then names the
    input at which the first mismatch happens.
    """
    expected = np.asarray(expected, dtype=np.float64)
    got_array = as_array(got, what)
    if got_array.shape != expected.shape:
        if got_array.ndim == 0 and expected.ndim >= 1:
            raise Wrong(f"{what} is a single number, but it should be an array of shape "
                        f"{expected.shape} (one value per element).",
                        expected=f"shape {expected.shape}", got=f"shape {got_array.shape}",
                        hint=hint or "Work element-wise with NumPy operations, so the output "
                                     "has the shape of the input.")
        raise Wrong(f"{what} has the wrong shape.", expected=f"shape {expected.shape}",
                    got=f"shape {got_array.shape}",
                    hint=hint or "Work element-wise with NumPy operations, so the output has "
                                 "the shape of the input.")
    if np.isnan(got_array).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(got_array))[0])
        raise Wrong(f"{what} contains NaN (not a number), first at index {where}.",
                    hint="NaN comes from 0/0, inf − inf or the log of a negative number; "
                         "look for such an operation.")
    if not np.allclose(got_array, expected, rtol=rtol, atol=atol):
        mismatch = ~np.isclose(got_array, expected, rtol=rtol, atol=atol)
        index = tuple(int(i) for i in np.argwhere(mismatch)[0]) if got_array.ndim else ()
        place = ""
        if inputs is not None:
            place = f" at input {float(np.asarray(inputs)[index]):.4g}"
        elif index:
            place = f" at index {index}"
        raise Wrong(f"{what} differs from the expected value{place} "
                    f"({int(mismatch.sum())} of {mismatch.size} values differ).",
                    expected=_describe(expected[index] if index else expected),
                    got=_describe(got_array[index] if index else got_array), hint=hint)


def expect_number(got, expected, what="your answer", rtol=1e-3, atol=1e-9, hint=""):
    """Raise Wrong unless ``got`` is one real number close to ``expected``."""
    if hasattr(got, "detach"):  # a torch tensor
        got = got.detach().cpu().numpy()
    if isinstance(got, (np.ndarray, np.generic)) and got.size == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        raise Wrong(f"{what} should be a single number, but it is of type {type(got).__name__}.",
                    expected=f"{expected:.6g}", got=repr(got)[:80], hint=hint)
    if math.isnan(got):
        raise Wrong(f"{what} is NaN (not a number).", expected=f"{expected:.6g}", got="nan",
                    hint=hint)
    if not math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        raise Wrong(f"{what} is off.", expected=f"{expected:.6g}", got=f"{float(got):.6g}",
                    hint=hint)


def check(exercise_id, answer) -> Feedback:
    """Check the learner's ``answer`` to exercise ``exercise_id`` and return ``Feedback``.

    Never raises because of the learner's answer. An unknown exercise id
    raises ``ValueError`` that lists the known ids.
    """
    exercise_id = str(exercise_id)
    if exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"There is no exercise {exercise_id!r}; known exercises: {known}.")
    exercise = REGISTRY[exercise_id]

    def feedback(status, **details):
        return Feedback(exercise.id, exercise.title, status, **details)

    if _is_unattempted_value(answer):
        shown = "..." if answer is Ellipsis else repr(answer)
        return feedback(NOT_ATTEMPTED, message=f"`{exercise.answer_name}` is still {shown}: "
                        "fill it in above, run that cell, then this one.")
    try:
        message = exercise.checker(answer)
    except NotAttempted as reason:
        return feedback(NOT_ATTEMPTED, message=str(reason))
    except Wrong as wrong:
        return feedback(WRONG, message=wrong.message, expected=wrong.expected, got=wrong.got,
                        hint=wrong.hint)
    except LearnerError as error:
        original = error.original
        where = _where_in_learner_code(original)
        return feedback(ERROR, message=f"{type(original).__name__}: {original}"
                        + (f" ({where})" if where else ""),
                        hint="Read the error above; test your function on one small input "
                             "in a scratch cell to see where it goes wrong.")
    except Exception as bug:  # a bug in the check itself: say so rather than crash
        return feedback(ERROR, message=f"The check itself failed ({type(bug).__name__}: {bug}). "
                        "This is a bug in the course; please report it.")
    return feedback(CORRECT, message=message or "")


# Importing the notebook modules registers their exercises.
from utils.exercises import (  # noqa: E402, F401
    nb00_welcome,
    nb01_gradient_descent,
    nb02_backpropagation,
    nb03_vanishing_gradients,
    nb04_activation_functions,
    nb05_weight_initialization,
)

__all__ = ["check", "Feedback", "Exercise", "register", "REGISTRY", "Wrong", "NotAttempted",
           "call_learner", "expect_close", "expect_number", "as_array"]
