"""Exercise 11.4's check beyond the automatic slip tests: right answers in any numerically
sound form pass (NumPy or torch, float32, σ(−a) for 1 − σ(a)), odd answers are explained,
and nothing crashes."""

import numpy as np
import pytest
import torch

from utils.exercises import CORRECT, ERROR, NOT_ATTEMPTED, WRONG, check, reset_hints


@pytest.fixture(autouse=True)
def fresh_hints():
    reset_hints()


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("answer", [
    lambda a: (-_sigmoid(a), -(1 - _sigmoid(a))),
    lambda a: (-_sigmoid(a), -_sigmoid(-a)),
    lambda a: [-_sigmoid(a), _sigmoid(a) - 1],
    lambda a: (-torch.sigmoid(torch.tensor(a)), -torch.sigmoid(-torch.tensor(a))),
    lambda a: (-_sigmoid(a).astype(np.float32), (_sigmoid(a) - 1).astype(np.float32)),
])
def test_right_answers_in_any_sound_form_pass(answer):
    feedback = check("11.4", answer)
    assert feedback.status == CORRECT, feedback.text()


def test_autograd_on_the_losses_is_right_too():
    def by_autograd(a):
        logits = torch.tensor(a, requires_grad=True)
        saturating = torch.autograd.grad(torch.log1p(-torch.sigmoid(logits)).sum(), logits)[0]
        non_saturating = torch.autograd.grad(-torch.log(torch.sigmoid(logits)).sum(),
                                             logits)[0]
        return saturating.numpy(), non_saturating.numpy()

    assert check("11.4", by_autograd).status == CORRECT


@pytest.mark.parametrize("answer", [None, ...])
def test_placeholders_are_not_attempted(answer):
    assert check("11.4", answer).status == NOT_ATTEMPTED


def test_skeleton_raising_is_not_attempted():
    def skeleton(a):
        raise NotImplementedError("Exercise 11.4")

    assert check("11.4", skeleton).status == NOT_ATTEMPTED


@pytest.mark.parametrize("answer, words", [
    (lambda a: (-_sigmoid(a), None), "grad_non_saturating is None"),
    (lambda a: ("x", "y"), "should be a number or an array"),
    (lambda a: (-_sigmoid(a)[..., :1], -_sigmoid(-a)), "wrong shape"),
    (lambda a: (-torch.sigmoid(a), -torch.sigmoid(-a)), "torch function refused it"),
    (lambda a: (-_sigmoid(a), -_sigmoid(-a), 0), "should return a pair"),
    (lambda a: (-_sigmoid(a) * (1 - _sigmoid(a)),) * 2, "differs from the expected value"),
    (3, "should be a function"),
])
def test_odd_answers_are_explained_not_crashed(answer, words):
    feedback = check("11.4", answer)
    assert feedback.status in (WRONG, ERROR), feedback.text()
    assert words in feedback.text(), feedback.text()


def test_an_exception_in_the_learners_code_is_reported():
    def broken(a):
        return undefined_name  # noqa: F821

    feedback = check("11.4", broken)
    assert feedback.status == ERROR and "NameError" in feedback.message


def test_hints_reach_the_formula_on_the_third_attempt():
    wrong = lambda a: (_sigmoid(a), 1 - _sigmoid(a))  # noqa: E731
    hints = [check("11.4", wrong).hint for _ in range(3)]
    assert "−σ(a)" not in hints[0] and "−(1 − σ(a))" in hints[2]
