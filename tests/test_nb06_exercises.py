"""Notebook 06's checks beyond the automatic slip tests: the backward check's fit onto the
three paths, and the predict check's model handling."""

import numpy as np
import torch

from utils import normalization
from utils.exercises import CORRECT, OTHER_CONVENTION, WRONG, check
from utils.exercises import nb06_batch_normalization as nb06


def test_an_unnamed_scaling_of_one_path_is_named_with_its_factor():
    feedback = check("6.3", nb06._as_written(via_mean=0.5))
    assert feedback.status == WRONG
    assert "the path through the batch mean is multiplied by 0.5" in feedback.message
    assert "variance" not in feedback.message.split("but")[1]


def test_a_missing_direct_path_is_named():
    feedback = check("6.3", nb06._as_written(direct=0))
    assert feedback.status == WRONG
    assert "the direct path through x̂ is missing" in feedback.message


def test_the_fit_leaves_out_a_path_that_is_zero_for_the_inputs():
    rng = np.random.default_rng(0)
    x, gamma = rng.normal(size=(4, 3)), rng.uniform(0.5, 2, 3)
    _, cache = normalization.batch_norm_forward(x, gamma, np.zeros(3))
    terms = normalization.batch_norm_backward_terms(np.ones((4, 3)), cache)  # via_var is 0
    learner = terms["direct"] + terms["via_mean"]  # right, whatever the variance path
    coefficients = nb06.fit_terms([learner], [terms])
    assert set(coefficients) == {"direct", "via_mean"}
    # the two paths cancel here (one case alone cannot tell them apart: the check stacks
    # all its cases for that), so any equal pair fits and least squares picks the smallest
    assert np.isclose(coefficients["direct"], coefficients["via_mean"])
    assert nb06.fit_terms([rng.normal(size=(4, 3))], [terms]) is None


def test_the_fit_recovers_each_weight():
    rng = np.random.default_rng(1)
    x, gamma, dout = rng.normal(size=(6, 3)), rng.uniform(0.5, 2, 3), rng.normal(size=(6, 3))
    _, cache = normalization.batch_norm_forward(x, gamma, np.zeros(3))
    terms = normalization.batch_norm_backward_terms(dout, cache)
    learner = 1.0 * terms["direct"] - 2.0 * terms["via_mean"] + 0.25 * terms["via_var"]
    fitted = nb06.fit_terms([learner], [terms])
    assert np.allclose([fitted[name] for name in nb06.TERMS], [1.0, -2.0, 0.25])


def test_predict_check_accepts_train_false_and_restores_nothing_else():
    def predict(model, x):
        mode = model.training
        model.train(False)
        with torch.no_grad():
            out = model(x)
        model.train(mode)
        return out

    assert check("6.4", predict).status == CORRECT


def test_predict_that_updates_the_running_statistics_is_named():
    def predict(model, x):
        if len(x) > 1:
            model(x)  # a training-mode pass: updates the running statistics
        model.eval()
        with torch.no_grad():
            out = model(x)
        model.train()
        return out

    feedback = check("6.4", predict)
    assert feedback.status == WRONG and feedback.message == nb06.STATS_CHANGED


def test_running_statistics_in_keras_convention_are_named_not_wrong():
    keras = nb06.KERAS_MOMENTUM.answer
    assert check("6.2", keras).status == OTHER_CONVENTION
