"""Unit tests of ``utils.checks.one_number``: the course's one number coercion."""

import math

import numpy as np
import pytest
import torch

from utils import checks


@pytest.mark.parametrize("value, expected", [
    (3, 3.0), (2.5, 2.5), (np.float32(1.5), 1.5), (np.int64(7), 7.0), (np.array(4.0), 4.0),
    (np.array([5.0]), 5.0), (torch.tensor(6.0), 6.0), (torch.tensor([[0.25]]), 0.25),
])
def test_numbers_of_every_kind_become_floats(value, expected):
    result = checks.one_number(value)
    assert type(result) is float and result == expected


def test_nan_and_infinity_pass_through():
    assert math.isnan(checks.one_number(float("nan")))
    assert checks.one_number(torch.tensor(float("inf"))) == math.inf


def test_a_tensor_with_gradient_is_read():
    assert checks.one_number(torch.tensor(2.0, requires_grad=True) * 2) == 4.0


@pytest.mark.parametrize("value, described", [
    (torch.ones(3), "a tensor of shape (3,)"), (np.ones((2, 2)), "an array of shape (2, 2)"),
    (None, "None"), (True, "bool"), ("1.0", "str"), ([1.0], "list"),
    (10**400, "an integer of 401 digits"),
])
def test_anything_else_is_described(value, described):
    with pytest.raises(checks.NotOneNumber, match=described.replace("(", r"\(").replace(")", r"\)")):
        checks.one_number(value)
