"""Unit tests of ``utils.checks.one_number``: the course's one number coercion."""

import math
import re

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
    with pytest.raises(checks.NotOneNumber, match=re.escape(described)):
        checks.one_number(value)


# --- show, describe, function, optional_function: the shared pieces of error messages ---

def test_show_is_the_repr_of_a_small_value():
    assert checks.show("relu") == "'relu'" and checks.show(0.5) == "0.5"


def test_show_shortens_a_long_repr_to_60_characters():
    shown = checks.show(list(range(100)))
    assert len(shown) == 60 and shown.endswith("...")


@pytest.mark.parametrize("value, described", [
    (torch.ones(3, 2), "a tensor of shape (3, 2)"), (np.ones((2, 4)), "an array of shape (2, 4)"),
    ([1.0], "list"), ("x", "str"), (None, "NoneType"), (torch.nn.Linear(2, 2), "Linear"),
])
def test_describe_gives_a_shape_or_a_type(value, described):
    assert checks.describe(value) == described


def test_function_returns_what_can_be_called():
    assert checks.function("f", abs) is abs


def test_function_names_the_argument_the_example_and_what_it_got():
    with pytest.raises(ValueError, match=r"loss_fn must be a function such as nn.MSELoss\(\), "
                                         r"got str\."):
        checks.function("loss_fn", "mse", example="nn.MSELoss()")


def test_function_without_an_example_says_only_function():
    with pytest.raises(ValueError, match=r"^f must be a function, got a tensor of shape \(2,\)\.$"):
        checks.function("f", torch.ones(2))


@pytest.mark.parametrize("value", [None, print, lambda step: None])
def test_optional_function_accepts_none_and_functions(value):
    assert checks.optional_function("on_step", value, "print") is value


def test_optional_function_refuses_anything_else_with_its_example():
    with pytest.raises(ValueError, match=r"on_step must be a function or None, e.g. "
                                         r"lambda step: print\(step.loss\), got str\."):
        checks.optional_function("on_step", "print", "lambda step: print(step.loss)")
