"""Exercise checks: the machinery, every reference solution, every typical wrong answer."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from utils.exercises import (
    CORRECT,
    ERROR,
    NOT_ATTEMPTED,
    OTHER_CONVENTION,
    REGISTRY,
    WRONG,
    Exercise,
    Slip,
    Wrong,
    check,
    describe_factor,
    expect_close,
    expect_number,
    register,
    reset_hints,
)

from conftest import NOTEBOOK_PATHS, notebook_params, read_notebook
from notebook_parts import check_calls, exercise_headings, solutions, tags

NOTEBOOK_EXERCISES = {
    exercise_id: (path, read_notebook(path))
    for path in NOTEBOOK_PATHS
    for exercise_id in exercise_headings(read_notebook(path))
}


def hidden_layers(net):
    """The hidden layers of a make_mlp network, input to output (utils.nets.hidden_layers
    where it exists)."""
    from utils import nets

    if hasattr(nets, "hidden_layers"):
        return nets.hidden_layers(net)
    return list(net)[:-1]


SOLUTION_NAMESPACE = {"np": np, "torch": torch, "nn": nn, "math": math}


@pytest.fixture(autouse=True)
def _fresh_hints():
    """Every test starts with no wrong attempts counted."""
    reset_hints()
    yield
    reset_hints()


def run_solution(exercise_id):
    """Execute the notebook's reference solution; return the learner-facing answer."""
    _, nb = NOTEBOOK_EXERCISES[exercise_id]
    namespace = dict(SOLUTION_NAMESPACE)
    context = REGISTRY[exercise_id].solution_context
    if context is not None:
        namespace.update(context())
    exec(solutions(nb)[exercise_id], namespace)
    return namespace[REGISTRY[exercise_id].answer_name]


# --- every exercise in the notebooks is complete and checked ----------------------------


def test_every_registered_exercise_is_in_a_notebook_and_back():
    assert set(NOTEBOOK_EXERCISES) == set(REGISTRY), (
        "Exercises in notebooks and in utils/exercises differ: "
        f"only in notebooks {sorted(set(NOTEBOOK_EXERCISES) - set(REGISTRY))}, "
        f"only registered {sorted(set(REGISTRY) - set(NOTEBOOK_EXERCISES))}")


@pytest.mark.parametrize("path", notebook_params())
def test_each_exercise_has_skeleton_check_and_solution(path):
    nb = read_notebook(path)
    number = int(path.name[:2])
    headings, calls, solved = exercise_headings(nb), check_calls(nb), solutions(nb)
    for exercise_id, (title, heading_index) in headings.items():
        assert exercise_id.split(".")[0] == str(number), f"{exercise_id} is in {path.name}"
        assert title == REGISTRY[exercise_id].title, f"title of {exercise_id} differs"
        assert exercise_id in calls, f"no check cell for exercise {exercise_id}"
        name, check_index = calls[exercise_id]
        assert name == REGISTRY[exercise_id].answer_name
        skeleton = nb.cells[check_index - 1]
        assert skeleton.cell_type == "code" and check_index - 1 > heading_index
        assert "NotImplementedError" in skeleton.source or "= ..." in skeleton.source, (
            f"the cell before the check of {exercise_id} should be the learner's skeleton")
        assert exercise_id in solved, f"no solution cell (tagged 'solution') for {exercise_id}"
    for cell in nb.cells:
        if "solution" in tags(cell):
            assert cell.cell_type == "markdown"
            assert cell.source.lstrip().startswith("<details>"), "solutions start collapsed"
            assert cell.source.rstrip().endswith("</details>")


@pytest.mark.parametrize("exercise_id", sorted(NOTEBOOK_EXERCISES))
def test_reference_solution_passes_its_check(exercise_id):
    feedback = check(exercise_id, run_solution(exercise_id))
    assert feedback.status == CORRECT, feedback.text()


@pytest.mark.parametrize("exercise_id", sorted(NOTEBOOK_EXERCISES))
def test_unsolved_skeleton_is_not_attempted(exercise_id):
    path, nb = NOTEBOOK_EXERCISES[exercise_id]
    name, check_index = check_calls(nb)[exercise_id]
    namespace = dict(SOLUTION_NAMESPACE)
    context = REGISTRY[exercise_id].solution_context
    if context is not None:
        namespace.update(context())
    exec(nb.cells[check_index - 1].source, namespace)
    feedback = check(exercise_id, namespace[name])
    assert feedback.status == NOT_ATTEMPTED, feedback.text()


def every_slip():
    """(exercise id, slip) for every typical mistake of every exercise: a new slip is tested
    without new test code."""
    return [pytest.param(exercise_id, slip, id=f"{exercise_id}-{index}")
            for exercise_id, exercise in sorted(REGISTRY.items())
            for index, slip in enumerate(exercise.wrong_answers)]


def every_convention():
    return [pytest.param(exercise_id, convention, id=f"{exercise_id}-{convention.name}")
            for exercise_id, exercise in sorted(REGISTRY.items())
            for convention in exercise.conventions]


def test_every_exercise_has_typical_wrong_answers():
    for exercise_id, exercise in REGISTRY.items():
        assert exercise.wrong_answers, f"exercise {exercise_id} has no typical wrong answers"
        assert all(isinstance(slip, Slip) for slip in exercise.wrong_answers), exercise_id


@pytest.mark.parametrize("exercise_id, slip", every_slip())
def test_each_slip_gets_its_own_message(exercise_id, slip):
    """Each typical mistake is named: the feedback's message is the slip's own message,
    exactly (or, for a message that goes on with details of the answer, starts with it)."""
    feedback = check(exercise_id, slip.answer)
    assert feedback.status == WRONG, f"{slip.description}: {feedback.text()}"
    if slip.varies:
        assert feedback.message.startswith(slip.message), (
            f"{exercise_id}, {slip.description}: the message should start with "
            f"{slip.message!r}, got:\n{feedback.text()}")
    else:
        assert feedback.message == slip.message, (
            f"{exercise_id}, {slip.description}: expected its own message {slip.message!r}, "
            f"got:\n{feedback.text()}")
    assert feedback.expected is not None or feedback.hint, (
        f"{slip.description}: give the expected value or a hint")


@pytest.mark.parametrize("exercise_id, convention", every_convention())
def test_each_convention_is_named_not_called_wrong(exercise_id, convention):
    feedback = check(exercise_id, convention.answer)
    if convention.accepted:
        assert feedback.correct, feedback.text()
        assert convention.message in feedback.message, feedback.text()
    else:
        assert feedback.status == OTHER_CONVENTION, feedback.text()
        assert feedback.message == convention.message
        assert "another convention" in feedback.text()
    assert check(exercise_id, convention.answer).hint_level == 0  # not a wrong attempt


def test_some_exercises_of_00_05_name_other_conventions():
    assert len(every_convention()) >= 2


# --- hints escalate: a nudge first, the formula later, the code never ----------------------

#: Per exercise, what its formula level says (any one of these): it must not appear in the
#: feedback on a first wrong attempt, and the exercise's last hint level says it.
KEY_FORMULAS = {
    "0.1": ["σ(x)·(1 − σ(x))"],
    "1.1": ["x − lr · ∇f(x)"],
    "1.2": ["2 / max(c)"],
    "1.3": ["(2/n)·Xᵀr"],
    "1.4": ["w − lr·dw"],
    "2.1": ["(∂L/∂y)ᵀ·x"],
    "2.2": ["grad_out · (1 − tanh(x)²)"],
    "2.3": ["(near 1)"],
    "3.1": ["0.144⁷"],
    "3.2": ["diag(σ'(z))"],
    "3.3": ["far smaller than its neighbours'"],
    "4.1": ["f'(x) = 1 for x > 0"],
    "4.2": ["(activations == 0)"],
    "4.3": ["expm1"],
    "5.1": ["√(2/(1 + a²))"],
    "5.2": ["√(6/(fan_in + fan_out))"],
    "5.3": ["stalls:", "trains:"],
    "7.1": ["momentum · v + grad"],
    "7.2": ["m/(1 − β1ᵗ)"],
    "7.3": ["m̂ scales by c, √v̂ by |c|"],
    "6.1": ["(x − μ) / √(σ² + ε)"],
    "6.2": ["(1 − momentum)·running"],
    "6.3": ["−x̂·mean(dx̂·x̂)/σ"],
    "6.4": ["eval()"],
}
# Notebooks 08 onwards keep theirs in one file each (tests/key_formulas/nbNN.json: id -> list).
for _path in sorted((Path(__file__).parent / "key_formulas").glob("nb*.json")):
    KEY_FORMULAS.update(json.loads(_path.read_text(encoding="utf-8")))


def normalized(text):
    """Text without spaces, with the maths symbols written as code writes them."""
    for symbol, plain in (("·", "*"), ("−", "-"), ("×", "*"), ("′", "'"), ("’", "'")):
        text = text.replace(symbol, plain)
    return "".join(text.split())


def solution_code_lines(exercise_id):
    """The lines of the notebook's reference solution that carry its code (normalized)."""
    _, nb = NOTEBOOK_EXERCISES[exercise_id]
    lines = []
    for line in solutions(nb)[exercise_id].splitlines():
        line = line.split("  #")[0].strip()
        if not line or line.startswith(("def ", '"""', "#", "for ", "print(", "import ")):
            continue
        line = normalized(line.removeprefix("return "))
        if len(line) >= 12 and not re.fullmatch(r"[\w,]+", line):  # not a list of names
            lines.append(line)
    return lines


def attempts(exercise_id, answer, count):
    """The feedback on ``count`` wrong attempts in a row, from a fresh hint count."""
    reset_hints()
    return [check(exercise_id, answer) for _ in range(count)]


def test_every_exercise_has_a_nudge_and_a_formula_level():
    assert set(KEY_FORMULAS) == set(REGISTRY)
    for exercise_id, exercise in REGISTRY.items():
        assert len(exercise.hints) >= 1, exercise_id
        last = normalized(exercise.hints[-1])
        if exercise_id != "5.3":  # 5.3's levels come with each answer (see below)
            assert len(exercise.hints) >= 2, f"{exercise_id}: hints should escalate"
            assert any(normalized(key) in last for key in KEY_FORMULAS[exercise_id]), (
                f"{exercise_id}: the last hint level should give the formula")
        assert not any(normalized(key) in normalized(exercise.hints[0])
                       for key in KEY_FORMULAS[exercise_id]), (
            f"{exercise_id}: the first hint level gives the formula away")


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_first_attempt_does_not_give_the_formula(exercise_id):
    for slip in REGISTRY[exercise_id].wrong_answers:
        first = attempts(exercise_id, slip.answer, 1)[0]
        assert first.hint_level in (0, 1), first
        text = normalized(first.text())
        for key in KEY_FORMULAS[exercise_id]:
            assert normalized(key) not in text, (
                f"{exercise_id}, {slip.description}: the first attempt already says {key!r}:"
                f"\n{first.text()}")


@pytest.mark.parametrize("exercise_id", sorted(NOTEBOOK_EXERCISES))
def test_no_hint_level_gives_the_solution_code(exercise_id):
    code = solution_code_lines(exercise_id)
    assert code, f"{exercise_id}: no code found in the solution"
    for slip in REGISTRY[exercise_id].wrong_answers:
        for feedback in attempts(exercise_id, slip.answer, 4):
            text = normalized(feedback.text())
            for line in code:
                assert line not in text, (
                    f"{exercise_id}, {slip.description}: the feedback gives the solution's "
                    f"code {line!r}:\n{feedback.text()}")


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_hints_escalate_with_each_wrong_attempt(exercise_id):
    slip = REGISTRY[exercise_id].wrong_answers[0]
    feedback = attempts(exercise_id, slip.answer, 4)
    levels = feedback[0].hint_levels
    assert levels >= 2, f"{exercise_id}: only one hint level for {slip.description}"
    assert [f.hint_level for f in feedback] == [min(k, levels) for k in range(1, 5)]
    assert feedback[0].hint != feedback[1].hint
    assert f"(hint 1 of {levels}; run the check again after another try for more)" in (
        feedback[0].text())
    assert f"(hint {levels} of {levels})" in feedback[-1].text()
    last = normalized(feedback[-1].hint)
    assert any(normalized(key) in last for key in KEY_FORMULAS[exercise_id]), (
        f"{exercise_id}: the last level should give the formula:\n{feedback[-1].text()}")


def test_hint_count_is_per_exercise_and_can_be_reset():
    wrong_step = REGISTRY["1.1"].wrong_answers[0].answer
    wrong_limit = REGISTRY["1.2"].wrong_answers[0].answer
    reset_hints()
    assert check("1.1", wrong_step).hint_level == 1
    assert check("1.1", wrong_step).hint_level == 2
    assert check("1.2", wrong_limit).hint_level == 1  # another exercise counts on its own
    assert check("1.1", None).status == NOT_ATTEMPTED  # not a wrong attempt
    reset_hints("1.1")
    assert check("1.1", wrong_step).hint_level == 1
    assert check("1.2", wrong_limit).hint_level == 2
    reset_hints()
    assert check("1.2", wrong_limit).hint_level == 1


# --- the machinery itself -----------------------------------------------------------------


@pytest.fixture
def square_exercise():
    def checker(square):
        from utils.exercises import call_learner

        expect_close(call_learner(square, np.arange(4.0)), np.arange(4.0) ** 2,
                     what="square(x)", hint="multiply x by itself")
        return "well done"

    exercise = register(Exercise("99.1", "Square", "square", checker,
                                 [Slip("x", lambda x: x, "differs")],
                                 hints=["nudge", "formula"]))
    yield exercise
    del REGISTRY["99.1"]


def test_correct_answer(square_exercise):
    feedback = check("99.1", lambda x: x * x)
    assert feedback.correct and "well done" in feedback.text()
    assert feedback.text().startswith("✔ Exercise 99.1 · Square: correct!")


def test_wrong_answer_shows_expected_got_and_hint(square_exercise):
    text = check("99.1", lambda x: x + x).text()
    assert "differs from the expected value at index (1,)" in text
    assert "expected: 1\n" in text and "got:      2\n" in text
    assert "Hint: multiply x by itself" in text  # the checker's own hint for this slip


def test_wrong_shape_is_named(square_exercise):
    text = check("99.1", lambda x: x[:2] ** 2).text()
    assert "wrong shape" in text and "shape (4,)" in text and "shape (2,)" in text


def test_exception_in_learner_code_is_reported_with_its_line(square_exercise):
    def square(x):
        return x.nonexistent

    feedback = check("99.1", square)
    assert feedback.status == ERROR
    assert "AttributeError" in feedback.message and "at line" in feedback.message


@pytest.mark.parametrize("answer", [None, ...])
def test_placeholders_are_not_attempted(square_exercise, answer):
    feedback = check("99.1", answer)
    assert feedback.status == NOT_ATTEMPTED and "`square` is still" in feedback.message


def test_not_implemented_and_missing_return(square_exercise):
    def skeleton(x):
        raise NotImplementedError

    def forgot_return(x):
        x * x

    assert "NotImplementedError" in check("99.1", skeleton).message
    assert "forget the `return`" in check("99.1", forgot_return).message


def test_a_function_that_overwrites_its_input_is_wrong(square_exercise):
    def square(x):
        result = x * x
        x[:] = 0
        return result

    feedback = check("99.1", square)
    assert feedback.status == WRONG
    assert "`square` changed its input `x` in place" in feedback.message


def test_wrong_answer_hints_escalate(square_exercise):
    first, second, third = (check("99.1", lambda x: x + x) for _ in range(3))
    # the checker's own hint for this slip replaces the first level ("nudge")
    assert first.hint == "multiply x by itself"
    assert second.hint == "formula" and third.hint == "formula"
    assert ("Hint: multiply x by itself (hint 1 of 2; run the check again after another try "
            "for more)") in first.text()
    assert "Hint: formula (hint 2 of 2)" in second.text()


def test_unknown_exercise_id_lists_the_known_ones():
    with pytest.raises(ValueError, match="no exercise '9.9'; known exercises: 0.1"):
        check("9.9", None)


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register(Exercise("0.1", "again", "x", lambda a: None))


def test_a_bug_in_a_checker_is_reported_not_raised():
    register(Exercise("99.2", "Broken", "x", lambda a: {}["missing"]))
    try:
        feedback = check("99.2", 1)
        assert feedback.status == ERROR and "bug in the course" in feedback.message
    finally:
        del REGISTRY["99.2"]


def test_feedback_html_is_escaped():
    register(Exercise("99.3", "<b>", "x", lambda a: (_ for _ in ()).throw(Wrong("<script>"))))
    try:
        html = check("99.3", 1)._repr_html_()
        assert "<script>" not in html and "&lt;script&gt;" in html
    finally:
        del REGISTRY["99.3"]


@pytest.mark.parametrize("got, message", [("1", "single number"), (float("nan"), "NaN"),
                                          (2.0, "is off"), (torch.tensor([1.0, 2.0]), "single")])
def test_expect_number(got, message):
    with pytest.raises(Wrong, match=message):
        expect_number(got, 1.0)


def test_expect_number_accepts_tensors_and_numpy():
    expect_number(torch.tensor(1.0), 1.0)
    expect_number(np.float32(1.0), 1.0)


def test_expect_close_reports_nan_position():
    with pytest.raises(Wrong, match=r"NaN .* index \(2,\)"):
        expect_close(np.array([1.0, 1.0, np.nan]), np.ones(3))


def test_describe_factor_is_readable_however_large():
    assert describe_factor(3.21) == "3.21"
    assert describe_factor(14810974269583071232) == "1.5e+19 (19 orders of magnitude)"
    assert describe_factor(float("inf")) == "an infinite factor"


# --- the feedback a learner found misleading (issue 8) -------------------------------------


def test_4_2_an_answer_without_the_axis_is_told_so():
    for answer in (lambda a: (a == 0).all(), lambda a: (a == 0).all().mean()):
        feedback = check("4.2", answer)
        assert feedback.status == WRONG and "without an axis" in feedback.message


def test_4_2_dead_means_exactly_zero():
    feedback = check("4.2", lambda a: (a < 1e-3).all(axis=0).mean())
    assert "exactly zero" in feedback.message


def test_2_1_none_is_not_called_a_number():
    x_grad = check("2.1", lambda x, w, g: (None, g.T @ x, g.sum(axis=0)))
    assert "grad_x is None" in x_grad.message and "single number" not in x_grad.text()
    bias = check("2.1", lambda x, w, g: (g @ w, g.T @ x, None))
    assert "grad_bias is None" in bias.message


def test_4_3_accepts_float32_answers():
    def in_float32(x, alpha=1.0):
        x = x.astype(np.float32)
        return np.where(x > 0, x, np.float32(alpha) * (np.exp(x) - 1))

    def cast_at_the_end(x, alpha=1.0):
        return np.where(x > 0, x, alpha * np.expm1(x)).astype(np.float32)

    def in_torch(x, alpha=1.0):
        return torch.nn.functional.elu(torch.as_tensor(x, dtype=torch.float32), alpha)

    for answer in (in_float32, cast_at_the_end, in_torch):
        feedback = check("4.3", answer)
        assert feedback.correct, feedback.text()


def test_a_near_miss_is_called_a_precision_issue():
    with pytest.raises(Wrong, match="precision issue"):
        expect_close(np.array([1.0, 2.0 + 2e-4]), np.array([1.0, 2.0]))


def test_3_1_diagnoses_multiplying_and_formats_huge_factors():
    multiplied = check("3.1", 0.144 * 7)
    assert "multiplying the factor by 7" in multiplied.message
    assert "divide" not in multiplied.text()
    tiny = check("3.1", 1e-30).message
    assert "orders of magnitude" in tiny and not any(len(word) > 12 for word in tiny.split())


@pytest.mark.parametrize("answer", ["hidden5", "Hidden 5", "hidden_5", "layer 5", "5",
                                    "hidden5.linear", "hidden layer 5", 5, np.int64(5),
                                    np.int32(5), np.array(5)])
def test_3_3_accepts_the_layer_in_any_plain_form(answer):
    feedback = check("3.3", answer)
    assert feedback.correct, feedback.text()


@pytest.mark.parametrize("answer", ["hidden5 or hidden6", "layers 5-8", "not 5", "5, 6",
                                    "hidden5 hidden6", "5?", "maybe 5", 5.0, True])
def test_3_3_rejects_ambiguous_answers(answer):
    assert check("3.3", answer).status == WRONG


def test_3_3_names_the_learners_own_answer():
    assert "hidden1 is not the layer" in check("3.3", "hidden1").message
    assert "'1'" not in check("3.3", "hidden1").text()


def test_huge_integers_are_an_ordinary_wrong_answer():
    for exercise_id, answer in [("1.2", lambda c: 10 ** 400), ("3.1", 10 ** 400),
                                ("5.1", 10 ** 400), ("0.1", lambda x: 10 ** 400)]:
        feedback = check(exercise_id, answer)
        assert feedback.status == WRONG, feedback.text()
        assert "bug in the course" not in feedback.text()


@pytest.mark.parametrize("exercise_id", ["1.1", "4.1", "4.3"])
def test_overwriting_the_callers_input_is_wrong(exercise_id):
    slips = [s for s in REGISTRY[exercise_id].wrong_answers if "in place" in s.message]
    assert slips, f"{exercise_id} has no slip that overwrites its input"
    for slip in slips:
        assert "in place" in check(exercise_id, slip.answer).message


@pytest.mark.parametrize("exercise_id", ["0.1", "1.1", "1.3", "2.1", "2.2", "3.2", "4.1",
                                         "4.3", "5.2"])
def test_lists_are_refused_where_arrays_are_asked(exercise_id):
    assert any("is a Python list; return a NumPy array." in s.message
               for s in REGISTRY[exercise_id].wrong_answers)


# --- 1.4: the learner's loop against the reference loop on the same generator -------------


def test_1_4_batch_size_and_batch_count_differ():
    from utils.exercises.nb01_gradient_descent import _SGD_SETTINGS, _sgd_case

    X, _ = _sgd_case()
    assert len(X) % _SGD_SETTINGS["batch_size"] == 0
    assert len(X) // _SGD_SETTINGS["batch_size"] != _SGD_SETTINGS["batch_size"]


def test_1_4_every_slip_is_far_from_the_reference():
    """A correct loop agrees with the reference to float32 precision; each compared slip
    must end far outside that tolerance on some case, or the check could not tell it from a
    correct loop."""
    from utils.exercises.core import _copies

    exercise = REGISTRY["1.4"]
    reference = exercise.checker.reference
    for slip in (s for s in exercise.wrong_answers if s.compared):
        distances = []
        for case in exercise.checker.cases:
            right = np.append(*reference(*_copies(case.args)))
            try:
                wrong = np.append(*slip.answer(*_copies(case.args)))
            except ZeroDivisionError:  # empty minibatches (one short of batch_size 1)
                distances.append(np.inf)
                continue
            distances.append(np.abs(wrong - right).max() / nb01_tolerance(right))
        assert max(distances) > 10, f"{slip.description}: {max(distances):.2g}"


def nb01_tolerance(right):
    from utils.exercises import nb01_gradient_descent as nb01

    return nb01._SGD_ATOL + nb01._SGD_RTOL * np.abs(right).max()


def test_1_4_runs_the_loop_at_batch_sizes_1_2_3_and_17():
    from utils.optimizers import mse_gradient

    def fixed_batch(X, y, lr, epochs, batch_size, rng):  # the notebook's batch size, typed in
        w, b = np.zeros(X.shape[1]), 0.0
        for _ in range(epochs):
            order = rng.permutation(len(y))
            for start in range(0, len(y), 12):
                batch = order[start:start + 12]
                dw, db = mse_gradient(X[batch], y[batch], w, b)
                w, b = w - lr * dw, b - lr * db
        return w, b

    examples = {len(case.args[1]) for case in REGISTRY["1.4"].checker.cases}
    assert {1, 2, 3, 17} <= examples
    feedback = check("1.4", fixed_batch)
    assert feedback.status == WRONG
    assert feedback.message.startswith("On train_sgd(X, y, lr=0.1, epochs=3, batch_size=1, "
                                       "rng) on 2 examples of 3 features: "), feedback.text()


def test_1_4_names_the_other_correct_conventions():
    from utils.optimizers import mse_gradient

    def by_choice(X, y, lr, epochs, batch_size, rng):
        w, b = np.zeros(X.shape[1]), 0.0
        for _ in range(epochs):
            order = rng.choice(len(y), len(y), replace=False)
            for batch in order.reshape(-1, batch_size):
                dw, db = mse_gradient(X[batch], y[batch], w, b)
                w, b = w - lr * dw, b - lr * db
        return w, b

    feedback = check("1.4", by_choice)
    assert feedback.correct and "as good as" in feedback.message, feedback.text()


# --- 5.2 at several shapes; 5.3's factors from notebook 05's network ----------------------


def test_5_2_accepts_other_correct_draws():
    def scaled_random(fan_in, fan_out, rng):
        bound = math.sqrt(6 / (fan_in + fan_out))
        return (2 * rng.random((fan_out, fan_in)) - 1) * bound

    def in_torch(fan_in, fan_out, rng):
        bound = math.sqrt(6 / (fan_in + fan_out))
        return torch.as_tensor(rng.uniform(-bound, bound, (fan_out, fan_in)))

    for answer in (scaled_random, in_torch):
        feedback = check("5.2", answer)
        assert feedback.correct, feedback.text()


def measured_signal_factor(letter, seed):
    """E[h²] after the hidden layers / E[x²] of the input, in notebook 05's network."""
    from utils.exercises.patients import stall_network

    net = stall_network(letter, seed).double()
    with torch.no_grad():
        for layer in hidden_layers(net):
            layer.linear.bias.zero_()  # the factors are the weights' (C's biases: see below)
    x = torch.randn(4096, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    h = x
    with torch.no_grad():
        for layer in hidden_layers(net):
            h = layer(h)
    return float((h ** 2).mean() / (x ** 2).mean())


@pytest.mark.parametrize("letter", ["A", "B", "C", "D", "F"])
def test_5_3_signal_factors_match_the_network(letter):
    """The factor each explanation of 5.3 states is what notebook 05's network does to a
    signal's second moment at initialization (within the spread of the random weights)."""
    from utils.exercises.nb05_weight_initialization import signal_factor

    for seed in (0, 1, 2):
        ratio = measured_signal_factor(letter, seed) / signal_factor(letter)
        assert 0.25 < ratio < 4, f"{letter}, seed {seed}: measured / stated = {ratio:.3g}"


def test_5_3_xavier_explanation_counts_the_first_layer():
    from utils.exercises.nb05_weight_initialization import _why, signal_factor

    assert signal_factor("B") == pytest.approx(2.0 ** -28 / 3)
    assert "(1/3)·2⁻²⁸" in _why()["B"] and "2^(-29)" not in _why()["B"]
    assert signal_factor("D") == pytest.approx(1 / 6)


def test_5_3_default_init_loses_the_input_despite_its_biases():
    """PyTorch's default init also draws biases, which keep the second moment up, but the
    part of the signal that depends on the input is gone: the output is the same for all."""
    from utils.nets import make_mlp

    torch.manual_seed(0)
    net = make_mlp(64, 10, depth=29, width=128, activation="relu", init="default").double()
    x = torch.randn(1024, 64, dtype=torch.float64)
    with torch.no_grad():
        h = x
        for layer in hidden_layers(net):
            h = layer(h)
    assert (h ** 2).mean() > 1e-4
    assert h.var(dim=0).mean() < 1e-15


def test_an_unreadable_answer_does_not_move_the_hints_on():
    """A value of the wrong form is explained, but it is not an attempt at the content."""
    from utils.exercises import reset_hints

    reset_hints("0.1")
    first = check("0.1", lambda x: "sigma")  # text: unreadable
    again = check("0.1", lambda x: "sigma")
    assert first.status == again.status == "wrong"
    assert first.hint_level == again.hint_level == 1
    wrong = check("0.1", lambda x: 1 / (1 + np.exp(-x)))  # σ itself: a real attempt
    assert wrong.hint_level == 1
    assert check("0.1", lambda x: 1 / (1 + np.exp(-x))).hint_level == 2
    reset_hints("0.1")


@pytest.mark.parametrize("prediction", [0.5, 1e-3, 1e-12, 0.144 ** 8, 0.25 ** 7])
def test_a_wrong_prediction_in_3_1_is_not_shown_the_measured_ratio(prediction):
    """Predict, then measure: a learner who could read the measurement off would just type it."""
    from utils.exercises import nb03_vanishing_gradients, reset_hints

    measured = nb03_vanishing_gradients.measured_gradient_ratio()
    feedback = check("3.1", prediction)
    reset_hints("3.1")
    assert feedback.status == "wrong"
    for shown in (f"{measured:.1e}", f"{measured:.2e}", f"{measured:.3g}"):
        assert shown not in feedback.text(), feedback.text()


def test_an_unreadable_layer_name_in_3_3_does_not_move_the_hints_on():
    from utils.exercises import reset_hints

    reset_hints("3.3")
    first, second = check("3.3", "layers 5-8"), check("3.3", "hidden5 or hidden6")
    assert first.status == second.status == "wrong"
    assert first.hint_level == second.hint_level == 1
    reset_hints("3.3")


def test_a_demonstration_shows_the_first_hint_and_leaves_the_learners_count_alone():
    from utils.exercises import reset_hints

    reset_hints("0.1")
    sigma = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731 — the slip: σ instead of its slope
    assert check("0.1", sigma).hint_level == 1  # the learner's own first attempt
    shown = check("0.1", sigma, demonstration=True)
    assert shown.status == "wrong" and shown.hint_level == 1
    assert check("0.1", sigma).hint_level == 2  # the demonstration did not count
    reset_hints("0.1")
