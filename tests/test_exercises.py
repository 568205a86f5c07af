"""Exercise checks: the machinery, every reference solution, every typical wrong answer."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from utils.exercises import (
    CORRECT,
    ERROR,
    NOT_ATTEMPTED,
    REGISTRY,
    WRONG,
    Exercise,
    Wrong,
    check,
    expect_close,
    expect_number,
    register,
)

from conftest import NOTEBOOK_PATHS, notebook_params, read_notebook
from notebook_parts import check_calls, exercise_headings, solutions, tags

NOTEBOOK_EXERCISES = {
    exercise_id: (path, read_notebook(path))
    for path in NOTEBOOK_PATHS
    for exercise_id in exercise_headings(read_notebook(path))
}
SOLUTION_NAMESPACE = {"np": np, "torch": torch, "nn": nn, "math": math}


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


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_typical_wrong_answers_are_explained(exercise_id):
    exercise = REGISTRY[exercise_id]
    assert exercise.wrong_answers, f"exercise {exercise_id} has no typical wrong answers"
    for description, answer in exercise.wrong_answers:
        feedback = check(exercise_id, answer)
        assert feedback.status == WRONG, f"{description}: {feedback.text()}"
        assert feedback.message, f"{description}: the feedback does not say what is wrong"
        assert feedback.expected is not None or feedback.hint, (
            f"{description}: give the expected value or a hint")


def raises_inside(*args):
    return 1 / 0


GARBAGE = [None, ..., 42, "text", [1, 2], object(), raises_inside, lambda: 1,
           lambda *a: float("nan"), lambda *a: None, lambda *a: np.full(3, np.nan),
           lambda *a: "text", lambda *a: torch.ones(2, 2), lambda *a: math.inf,
           lambda *a: [None]]


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
@pytest.mark.parametrize("answer", GARBAGE, ids=range(len(GARBAGE)))
def test_checks_never_crash_on_learner_mistakes(exercise_id, answer):
    feedback = check(exercise_id, answer)
    assert feedback.status in (WRONG, NOT_ATTEMPTED, ERROR), feedback.text()
    assert "bug in the course" not in feedback.text(), feedback.text()
    assert feedback.text().startswith(("✘", "…"))


# --- the machinery itself -----------------------------------------------------------------


@pytest.fixture
def square_exercise():
    def checker(square):
        from utils.exercises import call_learner

        expect_close(call_learner(square, np.arange(4.0)), np.arange(4.0) ** 2,
                     what="square(x)", hint="multiply x by itself")
        return "well done"

    exercise = register(Exercise("99.1", "Square", "square", checker, [("x", lambda x: x)]))
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
    assert "Hint: multiply x by itself" in text


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


def test_learner_cannot_change_the_checks_inputs(square_exercise):
    def square(x):
        result = x * x
        x[:] = 0
        return result

    assert check("99.1", square).correct


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
