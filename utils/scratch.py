"""A multilayer perceptron from scratch, in NumPy: every layer has a forward
and a backward pass, written as the maths says.

Each layer keeps what its backward pass needs from the forward pass::

    forward:   y = layer.forward(x)
    backward:  grad_x = layer.backward(grad_y)     # dL/dx from dL/dy

and a layer with parameters also stores their gradients in ``layer.grads``.
``gradient_check`` compares these analytic gradients with central finite
differences; ``to_torch`` copies a network into PyTorch so that autograd can
be compared with it.
"""

import numpy as np

# --- Layers -------------------------------------------------------------------------


class Layer:
    """Base class: keeps what the forward pass saved for the backward pass."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._saved = None

    def save_for_backward(self, value):
        self._saved = value

    def saved(self):
        if self._saved is None:
            raise RuntimeError(f"{self!r}.backward() was called before forward(): run the forward "
                               "pass first, it saves what the backward pass needs.")
        return self._saved

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Layer):
    """y = x Wᵀ + b, with W of shape (n_out, n_in) as in ``torch.nn.Linear``.

    Backward, for a batch x of shape (N, n_in) and g = dL/dy of shape (N, n_out):
    dL/dW = gᵀ x,  dL/db = Σ_batch g,  dL/dx = g W.
    """

    def __init__(self, n_in, n_out, rng=None, weight_std=None, dtype=np.float64):
        super().__init__()
        for name, value in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Linear: {name} must be a whole number ≥ 1, got {value!r}.")
        rng = np.random.default_rng(0) if rng is None else rng
        std = 1.0 / np.sqrt(n_in) if weight_std is None else weight_std
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.params = {"weight": (std * rng.standard_normal((n_out, n_in))).astype(dtype),
                       "bias": np.zeros(n_out, dtype=dtype)}

    def forward(self, x):
        self._check_input(x)
        self.save_for_backward(x)
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad_out):
        x = self.saved()
        self._check_gradient(grad_out, x)
        self.grads = {"weight": grad_out.T @ x, "bias": grad_out.sum(axis=0)}
        return grad_out @ self.params["weight"]

    def _check_input(self, x):
        if np.ndim(x) != 2 or np.shape(x)[1] != self.n_in:
            raise ValueError(f"{self!r} expects inputs of shape (batch, {self.n_in}), "
                             f"got {np.shape(x)}.")

    def _check_gradient(self, grad_out, x):
        expected = (x.shape[0], self.n_out)
        if np.shape(grad_out) != expected:
            raise ValueError(f"{self!r}.backward expects a gradient of shape {expected}, "
                             f"got {np.shape(grad_out)}.")

    def __repr__(self):
        return f"Linear({self.n_in} → {self.n_out})"


class Sigmoid(Layer):
    """σ(x) = 1 / (1 + e^(−x));  dσ/dx = σ(x)(1 − σ(x))."""

    def forward(self, x):
        out = 1.0 / (1.0 + np.exp(-x))
        self.save_for_backward(out)  # the backward pass only needs σ(x)
        return out

    def backward(self, grad_out):
        out = self.saved()
        return grad_out * out * (1.0 - out)


class Tanh(Layer):
    """tanh(x);  d tanh/dx = 1 − tanh²(x)."""

    def forward(self, x):
        out = np.tanh(x)
        self.save_for_backward(out)
        return out

    def backward(self, grad_out):
        out = self.saved()
        return grad_out * (1.0 - out**2)


class ReLU(Layer):
    """max(0, x);  slope 1 where x > 0, else 0."""

    def forward(self, x):
        self.save_for_backward(x)
        return np.maximum(x, 0.0)

    def backward(self, grad_out):
        x = self.saved()
        return grad_out * (x > 0)


ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)  # avoids overflow in exp
    exps = np.exp(shifted)
    return exps / exps.sum(axis=1, keepdims=True)


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels.

    L = −(1/N) Σ_i log softmax(z_i)[y_i];  dL/dz = (softmax(z) − onehot(y)) / N.
    """

    def __init__(self):
        self._saved = None

    def forward(self, logits, labels):
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2:
            raise ValueError(f"logits must have shape (batch, classes), got {logits.shape}.")
        if labels.shape != (logits.shape[0],):
            raise ValueError(f"labels must have shape ({logits.shape[0]},) to match the logits, "
                             f"got {labels.shape}.")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers (class numbers), got dtype {labels.dtype}.")
        classes = logits.shape[1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"labels must lie in 0..{classes - 1} for {classes} classes, got "
                             f"values from {labels.min()} to {labels.max()}.")
        probs = _softmax(logits)
        self._saved = (probs, labels)
        rows = np.arange(len(labels))
        return float(-np.log(probs[rows, labels]).mean())

    def backward(self):
        if self._saved is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward() was called before forward().")
        probs, labels = self._saved
        grad = probs.copy()
        grad[np.arange(len(labels)), labels] -= 1.0
        return grad / len(labels)


# --- The network --------------------------------------------------------------------


class MLP:
    """Linear → activation → … → Linear, with a softmax cross-entropy loss.

    ``sizes`` lists the widths from input to output, e.g. ``[2, 16, 16, 2]``.
    Weights are drawn from N(0, 1/n_in) (N(0, 2/n_in) for ReLU), biases are 0.
    """

    def __init__(self, sizes, activation="tanh", seed=0, dtype=np.float64):
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes!r}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; accepted: "
                             f"{', '.join(repr(name) for name in ACTIVATIONS)}.")
        rng = np.random.default_rng(seed)
        gain = 2.0 if activation == "relu" else 1.0
        self.sizes, self.activation = list(sizes), activation
        self.layers = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(Linear(n_in, n_out, rng, np.sqrt(gain / n_in), dtype))
            if index < len(sizes) - 2:
                self.layers.append(ACTIVATIONS[activation]())
        self.loss_layer = SoftmaxCrossEntropy()

    def forward(self, x):
        """The logits (unnormalized class scores) for inputs x of shape (batch, sizes[0])."""
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x, labels):
        """Forward pass and mean cross-entropy loss."""
        return self.loss_layer.forward(self.forward(x), labels)

    def backward(self):
        """Back-propagate from the last loss; fills every Linear layer's ``grads``."""
        grad = self.loss_layer.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad

    def _linears(self):
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def named_parameters(self):
        """[("linear1.weight", array), ...] in input-to-output order."""
        return [(f"linear{number}.{key}", layer.params[key])
                for number, layer in enumerate(self._linears(), start=1)
                for key in ("weight", "bias")]

    def named_gradients(self):
        """[("linear1.weight", gradient), ...] after ``backward()``."""
        if any(not layer.grads for layer in self._linears()):
            raise RuntimeError("No gradients yet: call loss(x, y) and then backward().")
        return [(f"linear{number}.{key}", layer.grads[key])
                for number, layer in enumerate(self._linears(), start=1)
                for key in ("weight", "bias")]

    def sgd_step(self, lr):
        """One step of gradient descent: every parameter moves by −lr × its gradient."""
        self.named_gradients()  # raises a clear error if backward() has not run
        for layer in self.layers:
            for key, value in layer.params.items():
                value -= lr * layer.grads[key]

    def predict(self, x):
        """The most likely class for each input."""
        return self.forward(x).argmax(axis=1)

    def __repr__(self):
        return "MLP(" + " → ".join(repr(layer) for layer in self.layers) + ")"


# --- Gradient checking ----------------------------------------------------------------


def relative_error(a, b):
    """max |a − b| / max(|a|, |b|, tiny): 0 when equal, about 1 when unrelated."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {b.shape}.")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-300)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def numerical_gradient(loss_fn, array, eps=1e-5):
    """dL/d(array) by central differences: (L(a + ε) − L(a − ε)) / 2ε, entry by entry.

    ``loss_fn()`` must recompute the loss from ``array``, which is changed in
    place and restored afterwards.
    """
    if array.dtype != np.float64:
        raise ValueError(f"numerical_gradient needs float64 parameters (float32 rounding "
                         f"swamps the differences), got {array.dtype}.")
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = loss_fn()
        array[index] = original - eps
        minus = loss_fn()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def gradient_check(model, x, labels, eps=1e-5):
    """{parameter name: relative error between backprop and finite differences}.

    ``eps`` = 1e-5 balances the two errors of a central difference in float64:
    truncation (∝ ε²) and rounding (∝ 1e-16/ε). Expect errors below 1e-6 for a
    correct backward pass, except where a ReLU input lies within ε of its kink
    at 0 (the nudge then crosses the kink, where the slope jumps).
    """
    model.loss(x, labels)
    model.backward()
    analytic = dict(model.named_gradients())
    errors = {}
    for name, array in model.named_parameters():
        numeric = numerical_gradient(lambda: model.loss(x, labels), array, eps)
        errors[name] = relative_error(analytic[name], numeric)
    return errors


# --- The same network in PyTorch --------------------------------------------------------


def to_torch(model):
    """A ``torch.nn.Sequential`` with the same layers and (copied) weights, in float64."""
    import torch
    from torch import nn

    modules = []
    for layer in model.layers:
        if isinstance(layer, Linear):
            linear = nn.Linear(layer.n_in, layer.n_out, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.params["weight"]))
                linear.bias.copy_(torch.from_numpy(layer.params["bias"]))
            modules.append(linear)
        else:
            modules.append({"Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
                            "ReLU": nn.ReLU}[type(layer).__name__]())
    return nn.Sequential(*modules)


def torch_gradients(torch_model, x, labels):
    """{"linear1.weight": gradient, ...} from PyTorch autograd, for comparison."""
    import torch

    torch_model.zero_grad()
    logits = torch_model(torch.as_tensor(x, dtype=torch.float64))
    loss = torch.nn.functional.cross_entropy(logits, torch.as_tensor(labels, dtype=torch.int64))
    loss.backward()
    linears = [m for m in torch_model if isinstance(m, torch.nn.Linear)]
    named = {}
    for number, linear in enumerate(linears, start=1):
        named[f"linear{number}.weight"] = linear.weight.grad.numpy().copy()
        named[f"linear{number}.bias"] = linear.bias.grad.numpy().copy()
    return named, loss.item()
