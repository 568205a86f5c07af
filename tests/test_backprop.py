"""utils.backprop: the NumPy network agrees with finite differences and with PyTorch."""

import numpy as np
import pytest
import torch

from utils import backprop


def random_problem(rng, n_in, n_classes, batch):
    x = rng.standard_normal((batch, n_in))
    y = rng.integers(0, n_classes, batch)
    return x, y


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("activation", sorted(backprop.ACTIVATION_LAYERS))
def test_backprop_matches_finite_differences_and_torch(seed, activation):
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    sizes = [int(rng.integers(1, 7))] + [int(rng.integers(1, 9)) for _ in range(depth)]
    sizes.append(int(rng.integers(2, 5)))
    x, y = random_problem(rng, sizes[0], sizes[-1], int(rng.integers(1, 9)))
    model = backprop.MLP(sizes, activation, seed=seed)
    for name, parameter in model.named_parameters():
        if name.endswith("bias"):  # non-zero biases keep ReLU inputs off the kink at exactly 0
            parameter[:] = 0.1 * rng.standard_normal(parameter.shape)

    errors = backprop.gradient_check(model, x, y)
    assert max(errors.values()) < 1e-6, errors

    torch_grads, torch_loss = backprop.torch_gradients(backprop.to_torch(model), x, y)
    loss = model.loss(x, y)
    model.backward()
    assert abs(loss - torch_loss) < 1e-12
    for name, grad in model.named_gradients():
        assert backprop.relative_error(grad, torch_grads[name]) < 1e-10, name


def test_input_gradient_matches_torch():
    rng = np.random.default_rng(0)
    x, y = random_problem(rng, 3, 4, 5)
    model = backprop.MLP([3, 6, 4], "tanh")
    model.loss(x, y)
    grad_x = model.backward()
    x_t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(backprop.to_torch(model)(x_t), torch.tensor(y)).backward()
    assert backprop.relative_error(grad_x, x_t.grad.numpy()) < 1e-10


def test_sgd_step_lowers_the_loss():
    rng = np.random.default_rng(1)
    x, y = random_problem(rng, 2, 2, 32)
    model = backprop.MLP([2, 8, 2], "relu", seed=1)
    before = model.loss(x, y)
    for _ in range(50):
        model.loss(x, y)
        model.backward()
        model.sgd_step(0.1)
    assert model.loss(x, y) < before


def test_softmax_is_stable_for_large_logits():
    loss_layer = backprop.SoftmaxCrossEntropy()
    loss = loss_layer.forward(np.array([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 1]))
    assert np.isfinite(loss) and loss < 1e-6


@pytest.mark.parametrize("call, error, message", [
    (lambda: backprop.Linear(0, 3), ValueError, "n_in must be"),
    (lambda: backprop.Linear(3, 2).forward(np.zeros((4, 5))), ValueError,
     r"Linear\(3 → 2\) expects inputs of shape \(batch, 3\), got \(4, 5\)"),
    (lambda: backprop.Linear(3, 2).backward(np.zeros((4, 2))), RuntimeError, "before forward"),
    (lambda: backprop.MLP([2, 4, 2], "swish"), ValueError,
     "Unknown activation 'swish'; accepted: 'sigmoid', 'tanh', 'relu'"),
    (lambda: backprop.MLP([2]), ValueError, "at least an input and an output"),
    (lambda: backprop.SoftmaxCrossEntropy().forward(np.zeros((3, 2)), np.array([0, 1])),
     ValueError, r"labels must have shape \(3,\)"),
    (lambda: backprop.SoftmaxCrossEntropy().forward(np.zeros((2, 2)), np.array([0, 2])),
     ValueError, r"labels must lie in 0..1"),
    (lambda: backprop.SoftmaxCrossEntropy().forward(np.zeros((2, 2)), np.array([0.0, 1.0])),
     ValueError, "labels must be integers"),
    (lambda: backprop.relative_error(np.zeros(2), np.zeros(3)), ValueError, "shapes differ"),
    (lambda: backprop.numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32)),
     ValueError, "float64"),
    (lambda: backprop.MLP([2, 3, 2]).named_gradients(), RuntimeError, "No gradients yet"),
])
def test_bad_input_is_explained(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_linear_backward_checks_the_gradient_shape():
    layer = backprop.Linear(3, 2)
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"gradient of shape \(4, 2\)"):
        layer.backward(np.zeros((4, 3)))


@pytest.mark.parametrize("logits", [[[0.0, 1000.0]], [[1000.0, 0.0]], [[-1e4, 1e4], [3.0, -3.0]],
                                    [[-800.0, -1000.0, -1200.0]], [[1e300, -1e300]]])
def test_cross_entropy_of_extreme_logits_matches_torch(logits):
    import torch

    logits = np.array(logits)
    labels = np.zeros(len(logits), dtype=np.int64)
    loss_layer = backprop.SoftmaxCrossEntropy()
    ours = loss_layer.forward(logits, labels)
    z = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(z, torch.as_tensor(labels))
    theirs.backward()
    assert np.isfinite(ours)
    assert ours == pytest.approx(theirs.item(), rel=1e-12)
    np.testing.assert_allclose(loss_layer.backward(), z.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("eps", [np.nan, np.inf, 0.0, -1e-5, 1.0])
def test_gradient_check_refuses_a_bad_eps(eps):
    x, y = random_problem(np.random.default_rng(0), 2, 2, 4)
    with pytest.raises(ValueError, match="eps must be"):
        backprop.gradient_check(backprop.MLP([2, 3, 2]), x, y, eps=eps)


def test_the_activation_layers_follow_the_course_table():
    from utils import activations

    x = np.linspace(-3, 3, 13).reshape(1, -1)
    for name, layer_class in backprop.ACTIVATION_LAYERS.items():
        layer = layer_class()
        np.testing.assert_allclose(layer.forward(x), activations.function(name)(x), rtol=1e-12)
        np.testing.assert_allclose(layer.backward(np.ones_like(x)),
                                   activations.derivative(name)(x), rtol=1e-12)

