"""Vanishing gradients in a GAN (notebook 11): the generator's two losses, measured.

Goodfellow et al. (2014, §3) train the generator G against a discriminator D. The minimax
game has G minimise log(1 − D(G(z))), which *saturates*: once D rejects the fakes
confidently (D(G(z)) → 0), its gradient vanishes. So they train G to maximise log D(G(z))
instead (the *non-saturating* loss −log D(G(z))). With D(G(z)) = σ(a) for the
discriminator's logit a:

    ∂/∂a log(1 − σ(a)) = −σ(a)          (→ 0 when D rejects the fake)
    ∂/∂a −log σ(a)     = −(1 − σ(a))    (→ −1 when D rejects the fake)

- ``sample_real(n, generator)``, ``sample_noise(n, generator)``: the 1-D data (a Gaussian
  with mean ``REAL_MEAN`` and standard deviation ``REAL_STD``) and the generator's noise.
- ``make_generator(seed)``, ``make_discriminator(seed)``: small MLPs on one number; the
  discriminator returns the logit a (D = σ(a)).
- ``saturating_loss(logits)``, ``non_saturating_loss(logits)``: the generator's two losses
  (means over the batch), written stably with softplus; ``GENERATOR_LOSSES`` names them.
- ``logit_gradients(logits)``: the two per-sample gradients ∂loss/∂a above, from scratch
  in NumPy (checked against autograd in the notebook).
- ``generator_gradient_norm(generator, discriminator, z, loss)``: ‖∂loss/∂θ_G‖ over all of
  the generator's parameters.
- ``discriminator_step(...)``: one step of the discriminator on real and generated samples.
- ``confident_discriminator(seed, ...)``: train D alone against a poor, fixed G and record,
  as D grows confident, D(G(z)) and the generator's gradient norm under each loss
  (``Confidence``).
- ``train_generator(loss, seed, ...)``: the same confident start, then G and D trained in
  turn; the mean of the generated samples after each step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils import checks
from utils.nets import seeded

__all__ = [
    "REAL_MEAN", "REAL_STD", "sample_real", "sample_noise", "make_generator",
    "make_discriminator", "saturating_loss", "non_saturating_loss", "GENERATOR_LOSSES",
    "logit_gradients", "generator_gradient_norm", "discriminator_step", "Confidence",
    "confident_discriminator", "train_generator",
]

#: The real data: a Gaussian on the line, far from where the untrained generator puts its
#: samples (near 0), so the discriminator can tell them apart quickly.
REAL_MEAN, REAL_STD = 3.0, 0.5
MAX_BATCH = 100_000
MAX_STEPS = 100_000


def _generator_of(name: str, value: object) -> torch.Generator | None:
    if value is not None and not isinstance(value, torch.Generator):
        raise ValueError(f"{name} must be a torch.Generator (e.g. "
                         f"torch.Generator().manual_seed(0)) or None, got "
                         f"{checks.describe(value)}.")
    return value


def sample_real(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` real samples, shape (n, 1): N(REAL_MEAN, REAL_STD²)."""
    n = checks.whole_number("n", n, maximum=MAX_BATCH)
    generator = _generator_of("generator", generator)
    return REAL_MEAN + REAL_STD * torch.randn(n, 1, generator=generator)


def sample_noise(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` noise inputs z for the generator, shape (n, 1): N(0, 1)."""
    n = checks.whole_number("n", n, maximum=MAX_BATCH)
    generator = _generator_of("generator", generator)
    return torch.randn(n, 1, generator=generator)


def make_generator(seed: int | None = None, hidden: int = 16) -> nn.Sequential:
    """G: z ↦ x, Linear(1, hidden) → tanh → Linear(hidden, 1), PyTorch's default init (its
    samples start near 0, far from the data)."""
    hidden = checks.whole_number("hidden", hidden, maximum=4096)
    with seeded(seed):
        return nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def make_discriminator(seed: int | None = None, hidden: int = 32) -> nn.Sequential:
    """D's logit: x ↦ a, Linear(1, hidden) → tanh → Linear(hidden, hidden) → tanh →
    Linear(hidden, 1); D(x) = σ(a) is the probability that x is real."""
    hidden = checks.whole_number("hidden", hidden, maximum=4096)
    with seeded(seed):
        return nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                             nn.Tanh(), nn.Linear(hidden, 1))


def _logits(name: str, value: object) -> torch.Tensor:
    if not torch.is_tensor(value) or not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch tensor (the discriminator's "
                         f"logits on generated samples), got {checks.describe(value)}.")
    if value.numel() == 0:
        raise ValueError(f"{name} must hold at least one logit, got an empty tensor.")
    return value


def saturating_loss(logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss mean(log(1 − D(G(z)))) with D = σ(logits), which G
    minimises: log(1 − σ(a)) = −softplus(a), computed without forming 1 − σ(a)."""
    return -F.softplus(_logits("logits", logits)).mean()


def non_saturating_loss(logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss mean(−log D(G(z))) with D = σ(logits):
    −log σ(a) = softplus(−a)."""
    return F.softplus(-_logits("logits", logits)).mean()


#: The generator's two losses by name, as the notebook and the figures call them.
GENERATOR_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "saturating": saturating_loss,
    "non-saturating": non_saturating_loss,
}


def _loss_named(loss: object) -> Callable[[torch.Tensor], torch.Tensor]:
    return GENERATOR_LOSSES[checks.one_of("loss", loss, tuple(GENERATOR_LOSSES))]


def logit_gradients(logits: object) -> tuple[np.ndarray, np.ndarray]:
    """From scratch: the per-sample gradients with respect to the logit a of the two
    generator losses, (∂/∂a log(1 − σ(a)), ∂/∂a −log σ(a)) = (−σ(a), −(1 − σ(a))).
    ``logits``: a number or an array (a tensor is read as NumPy); float64 arrays back.
    1 − σ(a) is computed as σ(−a), which keeps its digits when σ(a) is close to 1."""
    a = checks.array("logits", logits.detach().cpu().numpy() if torch.is_tensor(logits)
                     else logits)
    e = np.exp(-np.abs(a))  # in (0, 1]: no overflow for any a
    sigma = np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))            # σ(a)
    one_minus_sigma = np.where(a >= 0, e / (1.0 + e), 1.0 / (1.0 + e))  # 1 − σ(a) = σ(−a)
    return -sigma, -one_minus_sigma


def generator_gradient_norm(generator: nn.Module, discriminator: nn.Module, z: torch.Tensor,
                            loss: str) -> float:
    """‖∂loss/∂θ_G‖: the norm of the gradient of the generator loss ``loss``
    (``"saturating"`` or ``"non-saturating"``) over all the generator's parameters, on the
    noise batch ``z``. Only the generator's gradients are touched (set, then cleared)."""
    generator = checks.module("generator", generator)
    discriminator = checks.module("discriminator", discriminator)
    loss_function = _loss_named(loss)
    parameters = [p for p in generator.parameters() if p.requires_grad]
    value = loss_function(discriminator(generator(z)).squeeze(-1))
    grads = torch.autograd.grad(value, parameters)
    return float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))


def discriminator_step(generator: nn.Module, discriminator: nn.Module,
                       optimizer: torch.optim.Optimizer, real: torch.Tensor,
                       z: torch.Tensor) -> float:
    """One step of the discriminator: minimise −log D(x) − log(1 − D(G(z))) (Goodfellow
    et al.'s D objective, as a loss), with the generator's samples held fixed."""
    with torch.no_grad():
        fake = generator(z)
    optimizer.zero_grad()
    loss = (F.softplus(-discriminator(real)).mean()
            + F.softplus(discriminator(fake)).mean())
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@dataclass
class Confidence:
    """What ``confident_discriminator`` records at each checkpoint (arrays, one entry per
    checkpoint): ``steps`` of discriminator training so far, ``d_fake`` the median of
    D(G(z)) over the batch, ``mean_d_fake`` its mean, and the generator's gradient norm
    under each loss (``saturating``, ``non_saturating``), on the same noise batch."""

    steps: np.ndarray
    d_fake: np.ndarray
    mean_d_fake: np.ndarray
    saturating: np.ndarray
    non_saturating: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        """Non-saturating / saturating gradient norm at each checkpoint."""
        return self.non_saturating / self.saturating

    @property
    def predicted_ratio(self) -> np.ndarray:
        """The ratio if every sample's ∂a/∂θ_G were the same: mean(1 − D) / mean(D)."""
        return (1.0 - self.mean_d_fake) / self.mean_d_fake


def confident_discriminator(seed: int = 0, steps: int = 100, every: int = 5, lr: float = 0.01,
                            batch: int = 256) -> tuple[nn.Module, nn.Module, Confidence]:
    """Train the discriminator alone (Adam, ``lr``) for ``steps`` steps against a fixed,
    untrained generator whose samples sit near 0, far from the data. Every ``every`` steps
    (and at 0) record D(G(z)) and the generator's gradient norm under both losses on one
    fixed noise batch. Returns (generator, discriminator, Confidence)."""
    seed = checks.seed("seed", seed)
    steps = checks.whole_number("steps", steps, maximum=MAX_STEPS)
    every = checks.whole_number("every", every, maximum=steps)
    lr = checks.positive_number("lr", lr, maximum=1.0)
    batch = checks.whole_number("batch", batch, maximum=MAX_BATCH)
    generator = make_generator(seed)
    discriminator = make_discriminator(seed + 1)
    rng = torch.Generator().manual_seed(seed)
    z_probe = sample_noise(batch, rng)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr)
    rows = []
    for step in range(steps + 1):
        if step % every == 0:
            with torch.no_grad():
                d_fake = torch.sigmoid(discriminator(generator(z_probe)))
            rows.append((step, float(d_fake.median()), float(d_fake.mean()),
                         generator_gradient_norm(generator, discriminator, z_probe,
                                                 "saturating"),
                         generator_gradient_norm(generator, discriminator, z_probe,
                                                 "non-saturating")))
        if step < steps:
            discriminator_step(generator, discriminator, optimizer,
                               sample_real(batch, rng), sample_noise(batch, rng))
    columns = [np.array(column, dtype=float) for column in zip(*rows)]
    return generator, discriminator, Confidence(*columns)


def train_generator(loss: str, seed: int = 0, steps: int = 200, warmup: int = 100,
                    lr_generator: float = 0.02, lr_discriminator: float = 0.01,
                    batch: int = 256) -> np.ndarray:
    """A short GAN run from a confident discriminator: ``confident_discriminator(seed,
    warmup)``, then ``steps`` rounds of one generator step (plain SGD, ``lr_generator``, on
    the generator loss ``loss``) and one discriminator step (Adam). Returns the mean of G(z)
    on a fixed noise batch before the first round and after each round, shape (steps + 1,).

    Plain SGD, because Adam divides every step by the gradient's own running size, which
    would hide how small the gradient is (notebook 07)."""
    _loss_named(loss)
    steps = checks.whole_number("steps", steps, maximum=MAX_STEPS)
    lr_generator = checks.positive_number("lr_generator", lr_generator, maximum=10.0)
    generator, discriminator, _ = confident_discriminator(seed, warmup, every=warmup,
                                                          lr=lr_discriminator, batch=batch)
    rng = torch.Generator().manual_seed(seed + 10_000)
    z_probe = sample_noise(batch, rng)
    g_optimizer = torch.optim.SGD(generator.parameters(), lr=lr_generator)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr_discriminator)
    loss_function = GENERATOR_LOSSES[loss]
    means = np.empty(steps + 1)
    with torch.no_grad():
        means[0] = float(generator(z_probe).mean())
    for step in range(1, steps + 1):
        g_optimizer.zero_grad()
        loss_function(discriminator(generator(sample_noise(batch, rng))).squeeze(-1)).backward()
        g_optimizer.step()
        discriminator_step(generator, discriminator, d_optimizer, sample_real(batch, rng),
                           sample_noise(batch, rng))
        with torch.no_grad():
            means[step] = float(generator(z_probe).mean())
    return means
