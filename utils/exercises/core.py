"""The exercise framework: feedback, typical mistakes, conventions, hints, comparisons.

A check never crashes on a learner's mistake. It returns ``Feedback`` with one of five
statuses:

- ``correct``;
- ``wrong``: what was expected, what was got, and a hint;
- ``other convention``: the answer is right in another known convention (the unbiased
  variance, ½·MSE, a percentage for a fraction, ...), which the feedback names;
- ``not attempted``: the skeleton still raises ``NotImplementedError`` or gives ``None``
  or ``...`` (so "Run all" goes on past an unsolved exercise);
- ``error``: the learner's code raised an exception; its type, message and the line in the
  learner's code are shown.

A typical mistake is one object, a ``Slip``: a wrong implementation (or value) and the
message the check gives for it. A function-type exercise (``function_exercise``) runs the
reference and every slip on the same cases (batch sizes 1, 2, 3 and 17, odd shapes: unlike
the notebook's, so a hidden dependence on a notebook variable shows), names the slip the
learner's answer matches, and otherwise reports the smallest case on which it fails. A
``Convention`` is the same for an answer that is right in another convention. The tests
feed every slip and every convention and assert that its own message comes back.

Hints escalate. An exercise's ``hints`` are levels: a nudge first (which idea, which
quantity to look at), the formula later, never the code (that is only in the collapsed
solution). ``check`` counts the wrong attempts at each exercise in this session and shows
the next level each time; ``reset_hints()`` starts the count again.
"""

from __future__ import annotations

import copy
import html
import inspect
import math
import numbers
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from utils import checks

CORRECT, WRONG, NOT_ATTEMPTED, ERROR = "correct", "wrong", "not attempted", "error"
OTHER_CONVENTION = "other convention"
#: The batch sizes at which a function-type check calls the learner's function.
BATCH_SIZES = (1, 2, 3, 17)


# --- what a check can conclude -----------------------------------------------------------


class Wrong(Exception):
    """Raised by a checker when the answer is wrong: what, expected, got and a hint.

    ``hint`` is a first-level nudge for this particular slip (it replaces the
    exercise's first hint level), or a list of levels that replaces the
    exercise's whole ladder; empty: the exercise's own levels.
    """

    def __init__(self, message: str, expected: object = None, got: object = None,
                 hint: str | Sequence[str] = "") -> None:
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

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


@dataclass
class Convention:
    """An answer that is right in another known convention, and what to say about it.

    ``answer`` is the implementation (or value) in that convention, which the tests feed to
    the check; ``message`` names the convention and says which one the exercise uses.
    ``accepted=True``: the convention is as good as the exercise's own (the answer is
    correct, and the message is added to the praise); otherwise the feedback's status is
    ``other convention``: not wrong, but not what the exercise asks.
    """

    name: str
    answer: object
    message: str
    accepted: bool = False
    hint: str = ""


class OtherConvention(Exception):
    """Raised by a checker when the answer is right in a ``Convention`` the exercise does not
    use (an accepted convention is not raised: the checker returns its praise)."""

    def __init__(self, convention: Convention, expected: object = None,
                 got: object = None) -> None:
        super().__init__(convention.message)
        self.convention = convention
        self.expected = expected
        self.got = got


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
        """True for a correct answer only."""
        return self.status == CORRECT

    def text(self) -> str:
        """The feedback as plain text, as a learner sees it."""
        mark = {CORRECT: "✔", WRONG: "✘", NOT_ATTEMPTED: "…", ERROR: "✘",
                OTHER_CONVENTION: "≈"}[self.status]
        head = {CORRECT: "correct!", WRONG: "not yet right.",
                NOT_ATTEMPTED: "not attempted yet.", ERROR: "your code raised an error.",
                OTHER_CONVENTION: "right, in another convention."}
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

    def _hint_count(self) -> str:
        if self.hint_levels < 2:
            return ""
        if self.hint_level < self.hint_levels:
            return (f" (hint {self.hint_level} of {self.hint_levels}; run the check again "
                    "after another try for more)")
        return f" (hint {self.hint_level} of {self.hint_levels})"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        colour = {CORRECT: "#009E73", WRONG: "#D55E00", NOT_ATTEMPTED: "#0072B2",
                  ERROR: "#D55E00", OTHER_CONVENTION: "#E69F00"}[self.status]
        body = html.escape(self.text())
        return (f'<pre style="border-left: 4px solid {colour}; padding: 0.4em 0.8em; '
                f'white-space: pre-wrap">{body}</pre>')


# --- exercises, slips and the registry ---------------------------------------------------


@dataclass
class Slip:
    """A typical mistake: the wrong answer itself and what the check says about it.

    ``answer``: the wrong implementation (for a function-type exercise) or the wrong value.
    ``message``: the whole message the feedback gives when the learner's answer is this
    slip (the tests feed ``answer`` and compare the feedback's message with it).
    ``compared=True``: the check recognises the slip by comparing (a function-type check
    runs ``answer`` on its cases, a value-type check compares the values) and gives
    ``message``; False: the check recognises it another way (a wrong type, a shape, an
    exception, a failing case), and ``message`` is what that part of the check says.
    ``varies=True``: that message goes on with details of the answer (its values, the
    learner's own text), so ``message`` is how it starts. ``hint``: a nudge for this slip
    (replaces the exercise's first hint level).
    """

    description: str
    answer: object
    message: str
    hint: str = ""
    compared: bool = True
    varies: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.message, str) or not self.message.strip():
            raise ValueError(f"Slip {self.description!r}: message must be the text the "
                             f"feedback gives for it (a non-empty str), got {self.message!r}.")
        if self.varies and self.compared:
            raise ValueError(f"Slip {self.description!r}: a compared slip gives its message "
                             "as it is, so varies=True needs compared=False.")


@dataclass
class Exercise:
    """One exercise: its id (``"3.2"``), title, the name the learner defines, the checker,
    its typical wrong answers (``Slip``), its hint levels (nudge first, formula later,
    never the code) and the other conventions it recognises (``Convention``).

    ``solution_context``, if given, returns the names (besides np, torch, nn, math) that the
    notebook has defined before the solution uses them; the tests run the reference
    solution with them.
    """

    id: str
    title: str
    answer_name: str
    checker: Callable[[object], str | None]
    wrong_answers: list[Slip] = field(default_factory=list)
    solution_context: Callable[[], dict] | None = None
    hints: list[str] = field(default_factory=list)
    conventions: list[Convention] = field(default_factory=list)


REGISTRY: dict[str, Exercise] = {}
#: Wrong attempts per exercise id in this session: which hint level comes next.
_WRONG_ATTEMPTS: dict[str, int] = {}


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (ids must be unique)."""
    if exercise.id in REGISTRY:
        raise ValueError(f"Exercise {exercise.id} is registered twice.")
    REGISTRY[exercise.id] = exercise
    return exercise


def reset_hints(exercise_id: str | None = None) -> None:
    """Forget the wrong attempts (of one exercise, or of all): hints start at level 1."""
    if exercise_id is None:
        _WRONG_ATTEMPTS.clear()
    else:
        _WRONG_ATTEMPTS.pop(str(exercise_id), None)


def _hint_levels(exercise: Exercise, wrong: Wrong) -> list[str]:
    """The hint levels for this wrong answer: the slip's own nudge, then the exercise's."""
    if isinstance(wrong.hint, (list, tuple)):
        return list(wrong.hint)
    levels = list(exercise.hints)
    if wrong.hint:
        levels[:1] = [wrong.hint]
    return levels


def _is_unattempted_value(value: object) -> bool:
    return value is None or value is Ellipsis


# --- calling the learner's function ------------------------------------------------------

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)
_LIBRARY_DIRS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                       sysconfig.get_paths()["platlib"]})


def _where_in_learner_code(error: BaseException) -> str:
    """'at line 3: return 1 / x' for the innermost frame of the learner's own code, if any."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(_PACKAGE_DIR) or frame.filename.startswith(_LIBRARY_DIRS):
            continue
        return f"at line {frame.lineno}: {frame.line}" if frame.line else f"at line {frame.lineno}"
    return ""


def _parameter_names(function: Callable, count: int) -> list[str]:
    """The names of the first ``count`` parameters of ``function`` (or 'argument k')."""
    try:
        names = [p.name for p in inspect.signature(function).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(count)]


def _reject_changed_inputs(function: Callable, name: str, originals: Sequence[object],
                           copies: Sequence[object]) -> None:
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


def _copy_argument(argument: object) -> object:
    """A copy of one argument that the called function cannot change for the next caller:
    a NumPy array, and a NumPy or torch random generator in the same state (so the
    reference, every slip and the learner each draw the same numbers); anything else as
    it is."""
    if isinstance(argument, np.ndarray):
        return np.array(argument, copy=True)
    if isinstance(argument, np.random.Generator):
        return copy.deepcopy(argument)
    if isinstance(argument, torch.Generator):
        twin = torch.Generator(device=argument.device)
        twin.set_state(argument.get_state())
        return twin
    return argument


def _copies(args: Sequence[object]) -> list[object]:
    """Copies of the arguments of one call (see ``_copy_argument``)."""
    return [_copy_argument(a) for a in args]


def call_learner(function: object, *args: object, name: str | None = None) -> object:
    """Call the learner's function; turn its failures into NotAttempted or LearnerError.

    Arguments are passed as copies (arrays, and random generators in the same state),
    so the learner's code cannot change the check's own data nor advance its generators;
    a function that writes into an array argument is wrong (it would overwrite its
    caller's data), and Wrong says so. A function that is not callable is Wrong.
    """
    name = name or getattr(function, "__name__", "your function")
    if not callable(function):
        raise Wrong(f"`{name}` should be a function, but it is of type {type(function).__name__}.",
                    hint="Define it with `def ...:` in the cell above and run that cell.")
    copies = _copies(args)
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


# --- reading and comparing answers -------------------------------------------------------


def describe_factor(factor: float) -> str:
    """A factor for a message, readable however large: '3.2', '1.5e+19 (19 orders of
    magnitude)'."""
    factor = abs(float(factor))
    if not math.isfinite(factor):
        return "an infinite factor"
    if factor < 1000:
        return f"{factor:.3g}"
    return f"{factor:.2g} ({math.floor(math.log10(factor))} orders of magnitude)"


def describe(value: object, limit: int = 6) -> str:
    """A short readable rendering of a number, an array or a tuple of them for feedback."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, np.ndarray):
        if value.size <= limit:
            return np.array2string(value, precision=4, separator=", ")
        flat = ", ".join(f"{v:.4g}" for v in value.ravel()[:limit])
        return f"array of shape {value.shape}: [{flat}, ...]"
    if isinstance(value, tuple):
        return "(" + ", ".join(describe(part, limit) for part in value) + ")"
    return repr(value)[:80]



def is_low_precision(value: object) -> bool:
    """True for a float32 (or smaller) NumPy array or number, or torch tensor."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    if isinstance(dtype, np.dtype):
        return dtype.kind == "f" and dtype.itemsize < 8
    return str(dtype) in ("torch.float32", "torch.float16", "torch.bfloat16")


def as_array(value: object, what: str = "your answer", array: bool = False) -> np.ndarray:
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
                         hint="Return a float or a NumPy array of floats (lists of lists "
                              "must all have the same length).") from None
    return array_value


def reject_slips(got: object, slips: Sequence[Slip], right: object = None,
                 expected: object = None, shown: object = None, rtol: float = 1e-6,
                 atol: float = 1e-9) -> None:
    """Raise Wrong for the first compared ``Slip`` whose value the answer ``got`` matches.

    ``slips``: ``Slip`` objects; each compared slip's ``answer`` is the value it gives and
    its ``message`` (and ``hint``) what the learner is told; slips with ``compared=False``
    are recognised elsewhere and skipped. A slip whose value equals the right one
    (``right``) cannot be told apart from a correct answer, so it is skipped too.
    ``expected`` and ``shown`` are the expected and got lines of the message.
    """
    got = np.asarray(got, dtype=np.float64)
    for slip in slips:
        if not isinstance(slip, Slip):
            raise TypeError(f"reject_slips takes Slip objects, got {type(slip).__name__} "
                            f"{slip!r:.60}.")
        if not slip.compared:
            continue
        value = np.asarray(slip.answer, dtype=np.float64)
        if value.shape != got.shape or not np.allclose(got, value, rtol=rtol, atol=atol):
            continue
        if right is not None and np.allclose(value, right, rtol=rtol, atol=atol):
            continue
        raise Wrong(slip.message, expected=expected, got=shown, hint=slip.hint)


def expect_close(got: object, expected: object, what: str = "your answer", rtol: float = 1e-6,
                 atol: float = 1e-9, hint: str = "", inputs: object = None, array: bool = True,
                 low_precision: bool | None = None) -> None:
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
        if expected.ndim == 0:
            raise Wrong(f"{what} should be a single number, but it is an array of shape "
                        f"{got_array.shape}.", expected="a single number",
                        got=f"shape {got_array.shape}", hint=hint)
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
                  if nearly else "." if mismatch.size == 1
                  else f" ({int(mismatch.sum())} of {mismatch.size} values differ).")
        raise Wrong(f"{what} differs from the expected value{place}{detail}",
                    expected=describe(expected[index] if index else expected),
                    got=describe(got_array[index] if index else got_array), hint=hint)


def as_float(got: object, what: str) -> float:
    """One real number (a Python or NumPy number, a one-element array or tensor) as a float,
    read by ``utils.checks.one_number``; anything else, huge integers included, raises
    Wrong naming ``what`` and what the value is instead."""
    try:
        return checks.one_number(got)
    except checks.NotOneNumber as error:
        if isinstance(got, numbers.Integral) and not isinstance(got, bool):
            raise Wrong(f"{what} is an integer too large for a floating-point number.",
                        got=f"an integer of {len(str(abs(int(got))))} digits",
                        hint="A huge answer means the computation is off by many orders of "
                             "magnitude.") from None
        raise Wrong(f"{what} should be a single number, but it is {error}.",
                    got=repr(got)[:80]) from None


def expect_number(got: object, expected: float, what: str = "your answer", rtol: float = 1e-3,
                  atol: float = 1e-9, hint: str = "") -> None:
    """Raise Wrong unless ``got`` is one real number close to ``expected``."""
    try:
        value = as_float(got, what)
    except Wrong as wrong:
        raise Wrong(wrong.message, expected=f"{expected:.6g}", got=wrong.got,
                    hint=wrong.hint or hint) from None
    if math.isnan(value):
        raise Wrong(f"{what} is NaN (not a number).", expected=f"{expected:.6g}", got="nan",
                    hint=hint)
    if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        raise Wrong(f"{what} is off.", expected=f"{expected:.6g}", got=f"{value:.6g}",
                    hint=hint)


def result_parts(result: object, names: Sequence[str], function: str,
                 expected: str | None = None) -> tuple:
    """The parts of a result that must be a tuple (or list) of ``len(names)`` values, named
    ``names`` (e.g. ``("dw", "db")``), as a tuple; Wrong when the result is something else
    or a part is None or ``...``. ``function`` names the learner's function in the message;
    ``expected`` is the expected line (default: the names in parentheses)."""
    together = "(" + ", ".join(names) + ")"
    count = {2: "a pair", 3: "three values"}.get(len(names), f"{len(names)} values")
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = (f"a {type(result).__name__} of length {len(result)}"
               if isinstance(result, (tuple, list)) else f"one object of type "
                                                        f"{type(result).__name__}")
        raise Wrong(f"{function} should return {count} {together}.",
                    expected=expected or together, got=got,
                    hint=f"End with `return {', '.join(names)}`.")
    for part, name in zip(result, names):
        if part is None or part is Ellipsis:
            raise Wrong(f"{name} is {part!r}: did you forget to compute it?",
                        expected=f"{name} computed", got=f"{name} = {part!r}")
    return tuple(result)


def same_values(a: object, b: object, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """True if two results are equal to tolerance: numbers, arrays, tensors, or tuples and
    lists of them (compared part by part). Anything unreadable is not equal."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same_values(p, q, rtol, atol) for p, q in zip(a, b))
    if is_low_precision(a) or is_low_precision(b):
        rtol, atol = max(rtol, 1e-4), max(atol, 1e-6)
    try:
        a_array, b_array = (as_array(v) for v in (a, b))
    except Wrong:
        return False
    return (a_array.shape == b_array.shape and np.isfinite(a_array).all()
            and np.isfinite(b_array).all()
            and bool(np.allclose(a_array, b_array, rtol=rtol, atol=atol)))


# --- function-type exercises: the reference, the slips and the learner on the same cases ---


@dataclass
class Case:
    """One call of the learner's function: its arguments and how the feedback names them
    (e.g. ``"x of shape (17, 3)"``). Cases run smallest first (``size``: the elements of
    all array arguments)."""

    args: tuple
    label: str

    @property
    def size(self) -> int:
        """The number of elements of the array arguments (numbers count 1, functions 0)."""
        return sum(int(np.size(a)) for a in self.args
                   if isinstance(a, (np.ndarray, numbers.Number)))


def batch_cases(make: Callable[[int, np.random.Generator], tuple], label: str,
                sizes: Sequence[int] = BATCH_SIZES, seed: int = 0) -> list[Case]:
    """One ``Case`` per batch size n: ``make(n, rng)`` gives the arguments and
    ``label.format(n=n)`` names them. The default sizes 1, 2, 3, 17 are unlike any
    notebook's, so a function that reads a notebook variable instead of its argument fails."""
    rng = np.random.default_rng(seed)
    return [Case(tuple(make(n, rng)), label.format(n=n)) for n in sizes]


#: What an outcome of one case is: ("value", result), ("raised", LearnerError) or
#: ("wrong", Wrong) for an answer the check refuses outright (it changed its input).
Outcome = tuple


def _run(function: Callable, case: Case, name: str) -> Outcome:
    """The learner's outcome on one case (NotAttempted propagates: nothing to check yet)."""
    try:
        return ("value", call_learner(function, *case.args, name=name))
    except LearnerError as error:
        return ("raised", error)


def _run_model(function: Callable, case: Case) -> Outcome:
    """A reference's, slip's or convention's outcome on one case (on copies of the data)."""
    try:
        return ("value", function(*_copies(case.args)))
    except Exception as error:  # a slip may fail (math.exp on an array): that is its outcome
        return ("raised", LearnerError(error))


def _same_outcomes(learner: list[Outcome], model: list[Outcome], rtol: float,
                   atol: float) -> bool:
    """Same values on every case, or an exception where the model raises too."""
    for (kind, value), (model_kind, model_value) in zip(learner, model):
        if kind != model_kind:
            return False
        if kind == "value" and not same_values(value, model_value, rtol, atol):
            return False
    return True


def _explain_array_error(error: LearnerError, case: Case, name: str) -> Wrong | None:
    """Say why an `if` on an array fails, for any element-wise function."""
    original = error.original
    if isinstance(original, ValueError) and "ambiguous" in str(original):
        return Wrong("An argument is a NumPy array, not a single number, so `if x > 0` (or "
                     f"`... if x > 0 else ...`) cannot decide for all its elements at once: "
                     f"Python raised \"{original}\" on {case.label}.",
                     hint="Choose between two values element by element with a NumPy "
                          "function made for it, instead of `if`.")
    return None


@dataclass
class FunctionCheck:
    """The checker of a function-type exercise: the learner's function against the reference
    on every case, then against each convention and slip on the same cases.

    ``compare(got, expected, case)`` raises Wrong when one result is wrong (default:
    ``expect_close`` with ``rtol``/``atol``, an array when the reference gives one).
    ``explain_error(error, case, name)`` may turn an exception of the learner's code on one
    case into a Wrong that explains it (e.g. a shape mismatch); None: the default.
    ``explain_failure(function, case, name)``, when no slip or convention matches, may
    explain the smallest failing case by calling the learner's ``function`` again (e.g.
    whether it draws from the generator it is given); None: nothing to add.
    ``unnamed_when_same=True``: a failure with the same message on every case is reported
    without the smallest case's name (the case does not explain it: a result of the wrong
    form, say); False (default): the smallest failing case is always named.
    ``success`` is the praise for a correct answer.
    """

    name: str
    reference: Callable
    cases: list[Case]
    slips: list[Slip]
    conventions: list[Convention]
    success: str
    compare: Callable[[object, object, Case], None] | None = None
    explain_error: Callable[[LearnerError, Case, str], Wrong | None] | None = None
    explain_failure: Callable[[Callable, Case, str], Wrong | None] | None = None
    unnamed_when_same: bool = False
    rtol: float = 1e-6
    atol: float = 1e-9

    def __post_init__(self) -> None:
        self.cases = sorted(self.cases, key=lambda case: case.size)

    def _compare(self, got: object, expected: object, case: Case) -> None:
        if self.compare is not None:
            self.compare(got, expected, case)
            return
        expect_close(got, expected, what=f"{self.name} on {case.label}", rtol=self.rtol,
                     atol=self.atol, array=np.ndim(expected) >= 1)

    def _failure(self, outcome: Outcome, expected: object, case: Case) -> Wrong | None:
        """Why the learner's value on one case is wrong (None: it is right)."""
        try:
            self._compare(outcome[1], expected, case)
        except Wrong as wrong:
            return wrong
        return None

    def _explain(self, error: LearnerError, case: Case) -> Wrong | None:
        """The exercise's explanation of an exception on one case, or the generic one."""
        explained = self.explain_error(error, case, self.name) if self.explain_error else None
        return explained or _explain_array_error(error, case, self.name)

    def _matching(self, learner: list[Outcome], models: Sequence[Slip | Convention],
                  reference: list[Outcome]) -> Slip | Convention | None:
        """The first compared slip or convention whose outcomes the learner's match (and that
        can be told apart from the reference)."""
        for model in models:
            if not (callable(model.answer) and getattr(model, "compared", True)):
                continue
            outcomes = [_run_model(model.answer, case) for case in self.cases]
            if _same_outcomes(outcomes, reference, self.rtol, self.atol):
                continue  # on these cases it cannot be told from a right answer
            if _same_outcomes(learner, outcomes, self.rtol, self.atol):
                return model
        return None

    def _failing(self, learner: list[Outcome],
                 reference: list[Outcome]) -> list[tuple[int, Wrong | None]]:
        """(case index, why it fails) for every failing case, smallest first; why is None
        for an exception that nothing explains."""
        failing = []
        for index, (case, outcome) in enumerate(zip(self.cases, learner)):
            if outcome[0] == "raised":
                failing.append((index, self._explain(outcome[1], case)))
            else:
                wrong = self._failure(outcome, reference[index][1], case)
                if wrong is not None:
                    failing.append((index, wrong))
        return failing

    def __call__(self, function: object) -> str:
        """Check the learner's function; return the praise, or raise OtherConvention, Wrong
        or LearnerError (which ``check`` turns into feedback)."""
        reference = [_run_model(self.reference, case) for case in self.cases]
        learner = [_run(function, case, self.name) for case in self.cases]
        failing = self._failing(learner, reference)
        if not failing:
            return self.success
        convention = self._matching(learner, self.conventions, reference)
        if convention is not None and convention.accepted:
            return f"{self.success} {convention.message}".strip()
        index, wrong = failing[0]  # the smallest failing case
        case, (kind, got) = self.cases[index], learner[index]
        expected = f"{describe(reference[index][1])} on {case.label}"
        shown = describe(got) if kind == "value" else None
        if convention is not None:
            raise OtherConvention(convention, expected=expected, got=shown)
        slip = self._matching(learner, self.slips, reference)
        if slip is not None:
            raise Wrong(slip.message, expected=expected, got=shown, hint=slip.hint)
        explained = (self.explain_failure(function, case, self.name)
                     if self.explain_failure else None)
        if explained is not None:
            raise Wrong(explained.message, expected=expected, got=shown, hint=explained.hint)
        failed = {i for i, _ in failing}
        passing = [case.label for i, case in enumerate(self.cases) if i not in failed]
        if wrong is None:  # an exception that nothing explains
            if not passing:
                raise got  # the learner's code fails everywhere: show its error
            raise Wrong(f"`{self.name}` works on {passing[0]} but raises "
                        f"{type(got.original).__name__} on {case.label}: {got.original}",
                        expected=expected)
        everywhere = self.unnamed_when_same and len(failing) == len(self.cases) and all(
            other is not None and other.message == wrong.message for _, other in failing)
        raise self._smallest_case(wrong, case, passing if kind == "value" else [],
                                  _fixed_shape(learner, reference), named=not everywhere)

    @staticmethod
    def _smallest_case(wrong: Wrong, case: Case, passing: list[str],
                       fixed_shape: tuple | None, named: bool = True) -> Wrong:
        """The Wrong of the smallest failing case, named (unless ``named`` is False: the
        same message on every case, which the case would not explain), and saying where the
        function passes or that its result keeps one shape (``fixed_shape``) whatever its
        input."""
        message = wrong.message
        if named and case.label not in message:
            message = f"On {case.label}: {message}"
        if fixed_shape is not None:
            message += (f" Your result has shape {fixed_shape} whatever the input's size: does "
                        "the function use a variable of the notebook, or a fixed size, instead "
                        "of its arguments?")
        elif passing:
            message += f" (It is right on {', '.join(passing[:2])}.)"
        return type(wrong)(message, expected=wrong.expected, got=wrong.got, hint=wrong.hint)


def _shape(value: object) -> tuple | None:
    """The shape of an array-like result (None for anything else: a tuple, text, ...)."""
    if isinstance(value, np.ndarray) or hasattr(value, "detach"):
        return tuple(value.shape)
    return None


def _fixed_shape(learner: list[Outcome], reference: list[Outcome]) -> tuple | None:
    """The one shape of all the learner's arrays when the right ones change with the input
    (the function's size comes from somewhere else than its arguments); else None."""
    shapes = {_shape(value) for kind, value in learner if kind == "value"}
    right = {_shape(value) for kind, value in reference if kind == "value"}
    if len(shapes) == 1 and None not in shapes and len(right) > 1 and not shapes <= right:
        return shapes.pop()
    return None


def function_exercise(id: str, title: str, answer_name: str, reference: Callable,
                      cases: list[Case], *, slips: list[Slip], hints: list[str],
                      success: str, conventions: list[Convention] | None = None,
                      compare: Callable[[object, object, Case], None] | None = None,
                      explain_error: Callable[[LearnerError, Case, str], Wrong | None]
                      | None = None,
                      explain_failure: Callable[[Callable, Case, str], Wrong | None]
                      | None = None, unnamed_when_same: bool = False, rtol: float = 1e-6,
                      atol: float = 1e-9,
                      solution_context: Callable[[], dict] | None = None) -> Exercise:
    """Register a function-type exercise: the learner writes ``answer_name``, which must give
    what ``reference`` gives on every case (see ``FunctionCheck``); each slip and convention
    with a message is recognised by running it on the same cases."""
    conventions = list(conventions or [])
    checker = FunctionCheck(answer_name, reference, cases, slips, conventions, success,
                            compare=compare, explain_error=explain_error,
                            explain_failure=explain_failure,
                            unnamed_when_same=unnamed_when_same, rtol=rtol, atol=atol)
    return register(Exercise(id=id, title=title, answer_name=answer_name, checker=checker,
                             wrong_answers=slips, solution_context=solution_context,
                             hints=hints, conventions=conventions))


# --- check -------------------------------------------------------------------------------


def check(exercise_id: str | float, answer: object, demonstration: bool = False) -> Feedback:
    """Check the learner's ``answer`` to exercise ``exercise_id`` and return ``Feedback``.

    Never raises because of the learner's answer. An unknown exercise id
    raises ``ValueError`` that lists the known ids. Each wrong answer moves
    the exercise's hint one level up (``reset_hints`` starts again); an unreadable answer
    and an answer in another convention do not.
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

    def feedback(status: str, **details: object) -> Feedback:
        return Feedback(exercise.id, exercise.title, status, **details)

    if _is_unattempted_value(answer):
        shown = "..." if answer is Ellipsis else repr(answer)
        return feedback(NOT_ATTEMPTED, message=f"`{exercise.answer_name}` is still {shown}: "
                        "fill it in above, run that cell, then this one.")
    try:
        message = exercise.checker(answer)
    except NotAttempted as reason:
        return feedback(NOT_ATTEMPTED, message=str(reason))
    except OtherConvention as other:
        return feedback(OTHER_CONVENTION, message=other.convention.message,
                        expected=other.expected, got=other.got, hint=other.convention.hint)
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
