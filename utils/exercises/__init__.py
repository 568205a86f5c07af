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
(``utils/exercises/nbNN_*.py``), with the name the learner defines, its hints
and its typical wrong answers (``Slip``: the answer and what the check must
say about it), which the tests feed to the check.

Hints escalate. An exercise's ``hints`` are levels: a nudge first (which
idea, which quantity to look at), the formula later, never the code (that is
only in the collapsed solution). ``check`` counts the wrong attempts at each
exercise in this session and shows the next level each time;
``reset_hints()`` starts the count again.

Reference solutions live in the notebook itself, in a collapsed ``<details>`` cell tagged
``solution``; the tests run each of them through its check. A solution may
use only ``np``, ``torch``, ``nn`` and ``math`` besides what it defines and
what its exercise's ``solution_context`` provides.
"""

import html
import inspect
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
    """Raised by a checker when the answer is wrong: what, expected, got and a hint.

    ``hint`` is a first-level nudge for this particular slip (it replaces the
    exercise's first hint level), or a list of levels that replaces the
    exercise's whole ladder; empty: the exercise's own levels.
    """

    def __init__(self, message, expected=None, got=None, hint=""):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.got = got
        self.hint = hint


class Unreadable(Wrong):
    """A wrong answer in a form the check cannot read (a text it cannot parse, a value of the
    wrong type): it is explained like any wrong answer, but it does not count as an attempt,
    so the hints do not move on to the next, more specific level."""


class NotAttempted(Exception):
    """Raised when the learner has not filled in the exercise yet."""


class LearnerError(Exception):
    """Wraps an exception raised inside the learner's own code."""

    def __init__(self, original):
        super().__init__(str(original))
        self.original = original


@dataclass
class Feedback:
    """The result of a check. ``feedback.correct`` is True only for a correct answer.

    ``hint_level`` and ``hint_levels`` say which of the exercise's hint levels
    ``hint`` is (1-based), for a wrong answer.
    """

    exercise: str
    title: str
    status: str
    message: str = ""
    expected: object = None
    got: object = None
    hint: str = ""
    hint_level: int = 0
    hint_levels: int = 0

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
            lines.append(f"  Hint: {self.hint}{self._hint_count()}")
        return "\n".join(lines)

    def _hint_count(self):
        if self.hint_levels < 2:
            return ""
        if self.hint_level < self.hint_levels:
            return (f" (hint {self.hint_level} of {self.hint_levels}; run the check again "
                    "after another try for more)")
        return f" (hint {self.hint_level} of {self.hint_levels})"

    def __repr__(self):
        return self.text()

    def _repr_html_(self):
        colour = {CORRECT: "#009E73", WRONG: "#D55E00", NOT_ATTEMPTED: "#0072B2",
                  ERROR: "#D55E00"}[self.status]
        body = html.escape(self.text())
        return (f'<pre style="border-left: 4px solid {colour}; padding: 0.4em 0.8em; '
                f'white-space: pre-wrap">{body}</pre>')


@dataclass
class Slip:
    """A typical wrong answer, for the tests: what it is, the answer itself, and a
    phrase the check's message must contain (so the check names this mistake)."""

    description: str
    answer: object
    says: str


@dataclass
class Exercise:
    """One exercise: its id (``"3.2"``), title, the name the learner defines,
    the checker, its hint levels (nudge first, formula later, never the
    code) and typical wrong answers (``Slip``) that the tests feed to the
    check to make sure it names each mistake.

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
    hints: list = field(default_factory=list)


REGISTRY: dict = {}
#: Wrong attempts per exercise id in this session: which hint level comes next.
_WRONG_ATTEMPTS: dict = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (ids must be unique)."""
    if exercise.id in REGISTRY:
        raise ValueError(f"Exercise {exercise.id} is registered twice.")
    REGISTRY[exercise.id] = exercise
    return exercise


def reset_hints(exercise_id=None):
    """Forget the wrong attempts (of one exercise, or of all): hints start at level 1."""
    if exercise_id is None:
        _WRONG_ATTEMPTS.clear()
    else:
        _WRONG_ATTEMPTS.pop(str(exercise_id), None)


def _hint_levels(exercise, wrong):
    """The hint levels for this wrong answer: the slip's own nudge, then the exercise's."""
    if isinstance(wrong.hint, (list, tuple)):
        return list(wrong.hint)
    levels = list(exercise.hints)
    if wrong.hint:
        levels[:1] = [wrong.hint]
    return levels


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


def _parameter_names(function, count):
    """The names of the first ``count`` parameters of ``function`` (or 'argument k')."""
    try:
        names = [p.name for p in inspect.signature(function).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(count)]


def _reject_changed_inputs(function, name, originals, copies):
    """Raise Wrong if the learner's function wrote into one of its array arguments."""
    names = _parameter_names(function, len(originals))
    for original, given, parameter in zip(originals, copies, names):
        if isinstance(original, np.ndarray) and not (
                given.shape == original.shape and np.array_equal(given, original,
                                                                 equal_nan=True)):
            raise Wrong(f"`{name}` changed its input `{parameter}` in place (as `{parameter} "
                        f"-= ...`, `{parameter} *= ...` or `{parameter}[...] = ...` do): the "
                        f"caller's `{parameter}` is overwritten, and code that uses it again "
                        "gets wrong numbers.", got=f"`{parameter}` modified by the call",
                        hint="Leave the arguments as they are: compute the result as a new "
                             "array (an expression like a - b makes one).")


def call_learner(function, *args, name=None):
    """Call the learner's function; turn its failures into NotAttempted or LearnerError.

    Arguments are passed as copies, so the learner's code cannot change the
    check's own data; a function that writes into an array argument is wrong
    (it would overwrite its caller's data), and Wrong says so.
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
    _reject_changed_inputs(function, name, args, copies)
    return result


def describe_factor(factor):
    """A factor for a message, readable however large: '3.2', '1.5e+19 (19 orders of
    magnitude)'."""
    factor = abs(float(factor))
    if not math.isfinite(factor):
        return "an infinite factor"
    if factor < 1000:
        return f"{factor:.3g}"
    return f"{factor:.2g} ({math.floor(math.log10(factor))} orders of magnitude)"


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


def is_low_precision(value):
    """True for a float32 (or smaller) NumPy array or number, or torch tensor."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    if isinstance(dtype, np.dtype):
        return dtype.kind == "f" and dtype.itemsize < 8
    return str(dtype) in ("torch.float32", "torch.float16", "torch.bfloat16")


def as_array(value, what="your answer", array=False):
    """Turn a number, list, NumPy array or torch tensor into a float64 array, or raise Wrong.

    ``array=True``: the exercise asks for a NumPy array, so a list or tuple is wrong.
    """
    if value is None or value is Ellipsis:
        raise Wrong(f"{what} is {value!r}: nothing was computed there.", got=repr(value),
                    hint="Check that every part of your answer is computed and returned.")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if array and isinstance(value, (list, tuple)):
        raise Wrong(f"{what} is a Python {type(value).__name__}; return a NumPy array.",
                    got=f"a {type(value).__name__} of length {len(value)}",
                    hint="NumPy operations on arrays give arrays; a list needs np.array(...), "
                         "and arithmetic on lists does not work element by element.")
    if isinstance(value, (str, bytes, dict, set, bool)) or callable(value):
        raise Unreadable(f"{what} should be a number or an array of numbers, but it is of type "
                    f"{type(value).__name__}.", got=repr(value)[:80],
                    hint="Return the computed number (a float) or NumPy array itself, "
                         "not text or a function.")
    try:
        if np.iscomplexobj(np.asarray(value)):
            raise Wrong(f"{what} contains complex numbers.", got=repr(value)[:80],
                        hint="Complex numbers come from the square root or power of a "
                             "negative number; the answer should be real.")
        array_value = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise Wrong(f"{what} is an integer too large for a floating-point number.",
                    got=f"an integer of {len(str(abs(int(value))))} digits"
                    if isinstance(value, numbers.Integral) else repr(value)[:80],
                    hint="Return the computed value as a float; a huge answer means the "
                         "computation is off by many orders of magnitude.") from None
    except (TypeError, ValueError):
        raise Unreadable(f"{what} should be a number or an array of numbers; could not read "
                    f"{type(value).__name__} as numbers.", got=repr(value)[:80],
                    hint="Return a float or a NumPy array of floats (lists of lists must "
                         "all have the same length).") from None
    return array_value


def reject_slips(got, slips, right=None, expected=None, shown=None, rtol=1e-6, atol=1e-9):
    """Raise Wrong for the first known slip that the answer ``got`` matches.

    ``slips`` holds ``(value, message)`` or ``(value, message, hint)`` tuples:
    the value a slip gives, what to tell the learner and, optionally, a
    nudge for that slip. A slip whose value equals the right one (``right``)
    cannot be told apart from a correct answer, so it is skipped.
    ``expected`` and ``shown`` are the expected and got lines of the message.
    """
    got = np.asarray(got, dtype=np.float64)
    for value, message, *hint in slips:
        value = np.asarray(value, dtype=np.float64)
        if value.shape != got.shape or not np.allclose(got, value, rtol=rtol, atol=atol):
            continue
        if right is not None and np.allclose(value, right, rtol=rtol, atol=atol):
            continue
        raise Wrong(message, expected=expected, got=shown, hint=hint[0] if hint else "")


def expect_close(got, expected, what="your answer", rtol=1e-6, atol=1e-9, hint="",
                 inputs=None, array=True, low_precision=None):
    """Raise Wrong unless ``got`` has ``expected``'s shape and values (to tolerance).

    ``inputs``, if given, is the input array: the message then names the
    input at which the first mismatch happens. An answer in float32 (or
    less) is compared to float32's precision (``low_precision``: say so
    when ``got`` has already been converted).
    """
    if low_precision is None:
        low_precision = is_low_precision(got)
    expected = np.asarray(expected, dtype=np.float64)
    got_array = as_array(got, what, array=array and expected.ndim >= 1)
    if low_precision:  # float32 keeps about 7 digits; e^x − 1 near 0 loses a few more
        rtol = max(rtol, 1e-4)
        atol = max(atol, 1e-6 * max(1.0, float(np.abs(expected).max(initial=0.0))))
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
        nearly = np.allclose(got_array, expected, rtol=1e-3, atol=1e-6)
        detail = (" by a relative difference below 0.1 %: a precision issue? Compute in "
                  "float64 (NumPy's default), and prefer np.expm1(x) to np.exp(x) − 1 near 0."
                  if nearly else f" ({int(mismatch.sum())} of {mismatch.size} values differ).")
        raise Wrong(f"{what} differs from the expected value{place}{detail}",
                    expected=_describe(expected[index] if index else expected),
                    got=_describe(got_array[index] if index else got_array), hint=hint)


def _as_float(got, what):
    """One real number as a float, or raise Wrong (huge integers included)."""
    if hasattr(got, "detach"):  # a torch tensor
        got = got.detach().cpu().numpy()
    if isinstance(got, (np.ndarray, np.generic)) and got.size == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        raise Wrong(f"{what} should be a single number, but it is "
                    + ("None" if got is None else f"of type {type(got).__name__}") + ".",
                    got=repr(got)[:80])
    try:
        return float(got)
    except OverflowError:
        raise Wrong(f"{what} is an integer too large for a floating-point number.",
                    got=f"an integer of {len(str(abs(int(got))))} digits",
                    hint="A huge answer means the computation is off by many orders of "
                         "magnitude.") from None


def expect_number(got, expected, what="your answer", rtol=1e-3, atol=1e-9, hint=""):
    """Raise Wrong unless ``got`` is one real number close to ``expected``."""
    try:
        value = _as_float(got, what)
    except Wrong as wrong:
        raise Wrong(wrong.message, expected=f"{expected:.6g}", got=wrong.got,
                    hint=wrong.hint or hint) from None
    if math.isnan(value):
        raise Wrong(f"{what} is NaN (not a number).", expected=f"{expected:.6g}", got="nan",
                    hint=hint)
    if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        raise Wrong(f"{what} is off.", expected=f"{expected:.6g}", got=f"{value:.6g}",
                    hint=hint)


def check(exercise_id, answer, demonstration=False) -> Feedback:
    """Check the learner's ``answer`` to exercise ``exercise_id`` and return ``Feedback``.

    Never raises because of the learner's answer. An unknown exercise id
    raises ``ValueError`` that lists the known ids. Each wrong answer moves
    the exercise's hint one level up (``reset_hints`` starts again).
    ``demonstration=True`` (for a notebook showing what a check says) shows
    the first hint level and records nothing: the learner's own attempts
    keep their count.
    """
    if not isinstance(demonstration, bool):
        raise ValueError(f"demonstration must be True or False, got {demonstration!r}.")
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
        attempts = _WRONG_ATTEMPTS.get(exercise.id, 0)
        if demonstration:
            attempts = 1
        elif not isinstance(wrong, Unreadable):
            attempts = _WRONG_ATTEMPTS[exercise.id] = attempts + 1
        attempts = max(attempts, 1)
        levels = _hint_levels(exercise, wrong)
        level = min(attempts, len(levels))
        return feedback(WRONG, message=wrong.message, expected=wrong.expected, got=wrong.got,
                        hint=levels[level - 1] if levels else "", hint_level=level,
                        hint_levels=len(levels))
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

__all__ = ["check", "Feedback", "Exercise", "Slip", "register", "reset_hints", "REGISTRY",
           "Wrong", "Unreadable", "NotAttempted", "call_learner", "expect_close", "expect_number",
           "as_array", "reject_slips", "describe_factor", "is_low_precision"]
