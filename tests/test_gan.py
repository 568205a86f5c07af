"""utils.gan: the generator's two losses, their gradients from scratch against autograd, the
gradient norm, the confident discriminator and the short GAN run, and clear errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.gan import (
    GENERATOR_LOSSES,
    REAL_MEAN,
    REAL_STD,
    confident_discriminator,
    generator_gradient_norm,
    logit_gradients,
    make_discriminator,
    make_generator,
    non_saturating_loss,
    sample_noise,
    sample_real,
    saturating_loss,
    train_generator,
)


def test_losses_are_the_papers_formulas():
    a = torch.tensor([-10.0, -3.0, 0.0, 2.0, 10.0], dtype=torch.float64)
    d = torch.sigmoid(a)
    assert torch.allclose(saturating_loss(a), torch.log1p(-d).mean(), rtol=1e-12)
    assert torch.allclose(non_saturating_loss(a), -torch.log(d).mean(), rtol=1e-12)
    assert GENERATOR_LOSSES == {"saturating": saturating_loss,
                                "non-saturating": non_saturating_loss}


def test_losses_stay_finite_where_the_naive_formula_does_not():
    a = torch.tensor([-200.0, 200.0])
    assert torch.isfinite(saturating_loss(a)) and torch.isfinite(non_saturating_loss(a))


@pytest.mark.parametrize("loss, index", [(saturating_loss, 0), (non_saturating_loss, 1)])
def test_logit_gradients_match_autograd_in_float64(loss, index):
    a = torch.linspace(-15, 15, 61, dtype=torch.float64, requires_grad=True)
    (loss(a) * a.numel()).backward()  # the sum: one sample's loss per logit
    ours = logit_gradients(a.detach().numpy())[index]
    np.testing.assert_allclose(ours, a.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_logit_gradients_formulas_and_limits():
    saturating, non_saturating = logit_gradients([0.0, -40.0, 40.0, -1000.0])
    np.testing.assert_allclose(saturating[:1], [-0.5])
    np.testing.assert_allclose(non_saturating[:1], [-0.5])
    assert abs(saturating[1]) < 1e-17 and non_saturating[1] == pytest.approx(-1.0)
    assert saturating[2] == pytest.approx(-1.0) and 0 < -non_saturating[2] < 1e-17
    assert np.isfinite(saturating).all() and np.isfinite(non_saturating).all()
    tensor = logit_gradients(torch.tensor([0.0]))
    assert isinstance(tensor[0], np.ndarray)


def test_samples_have_the_right_shape_and_statistics():
    rng = torch.Generator().manual_seed(0)
    real = sample_real(20_000, rng)
    assert real.shape == (20_000, 1)
    assert float(real.mean()) == pytest.approx(REAL_MEAN, abs=0.02)
    assert float(real.std()) == pytest.approx(REAL_STD, abs=0.02)
    assert sample_noise(5).shape == (5, 1)


def test_networks_are_seeded_without_touching_the_global_rng():
    torch.manual_seed(3)
    before = torch.rand(1)
    torch.manual_seed(3)
    first, second = make_generator(7), make_generator(7)
    assert torch.rand(1) == before
    for p, q in zip(first.parameters(), second.parameters()):
        assert torch.equal(p, q)
    assert make_discriminator(1)(torch.zeros(4, 1)).shape == (4, 1)


def test_generator_gradient_norm_is_the_norm_over_all_parameters():
    generator, discriminator = make_generator(0), make_discriminator(1)
    z = sample_noise(32, torch.Generator().manual_seed(0))
    for name, loss in GENERATOR_LOSSES.items():
        generator.zero_grad()
        loss(discriminator(generator(z)).squeeze(-1)).backward()
        expected = torch.cat([p.grad.flatten() for p in generator.parameters()]).norm()
        generator.zero_grad()
        assert generator_gradient_norm(generator, discriminator, z, name) == pytest.approx(
            float(expected), rel=1e-5)
        assert all(p.grad is None or not p.grad.any() for p in generator.parameters())


def test_confident_discriminator_makes_the_saturating_gradient_vanish():
    _, _, record = confident_discriminator(0, steps=60, every=20)
    assert list(record.steps) == [0, 20, 40, 60]
    assert 0.3 < record.d_fake[0] < 0.7 and record.d_fake[-1] < 0.01
    assert 0.3 < record.ratio[0] < 3 and record.ratio[-1] > 30
    np.testing.assert_allclose(record.predicted_ratio,
                               (1 - record.mean_d_fake) / record.mean_d_fake)


def test_confident_discriminator_is_reproducible():
    first = confident_discriminator(4, steps=10, every=5)[2]
    second = confident_discriminator(4, steps=10, every=5)[2]
    np.testing.assert_array_equal(first.saturating, second.saturating)


def test_train_generator_moves_only_with_the_non_saturating_loss():
    saturating = train_generator("saturating", 1, steps=10)
    non_saturating = train_generator("non-saturating", 1, steps=10)
    assert saturating.shape == (11,) and saturating[0] == non_saturating[0]
    assert abs(saturating[-1] - saturating[0]) < 0.05
    assert non_saturating[-1] - non_saturating[0] > 0.5


def test_discriminator_step_leaves_the_generator_alone():
    from utils.gan import discriminator_step

    generator, discriminator = make_generator(0), make_discriminator(1)
    before = [p.clone() for p in generator.parameters()]
    optimizer = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    loss = discriminator_step(generator, discriminator, optimizer, sample_real(8),
                              sample_noise(8))
    assert isinstance(loss, float) and loss > 0
    for p, q in zip(before, generator.parameters()):
        assert torch.equal(p, q)
    d_real, d_fake = discriminator(sample_real(8)), discriminator(sample_noise(8))
    assert torch.isfinite(F.softplus(-d_real)).all() and torch.isfinite(d_fake).all()


@pytest.mark.parametrize("call, message", [
    (lambda: sample_real(0), "n must be a whole number"),
    (lambda: sample_real(3, generator=5), "generator must be a torch.Generator"),
    (lambda: sample_noise(2.5), "n must be a whole number"),
    (lambda: make_generator(-1), "seed must be a whole number"),
    (lambda: make_discriminator(hidden="big"), "hidden must be a whole number"),
    (lambda: saturating_loss(np.zeros(3)), "logits must be a floating-point torch tensor"),
    (lambda: non_saturating_loss(torch.zeros(0)), "logits must hold at least one logit"),
    (lambda: non_saturating_loss(torch.zeros(3, dtype=torch.long)), "floating-point"),
    (lambda: logit_gradients("a"), "logits must be an array of numbers"),
    (lambda: logit_gradients([np.nan]), "logits must hold finite numbers"),
    (lambda: generator_gradient_norm("G", make_discriminator(), sample_noise(2),
                                     "saturating"), "generator must be a torch.nn.Module"),
    (lambda: generator_gradient_norm(make_generator(), make_discriminator(), sample_noise(2),
                                     "minimax"), "Unknown loss 'minimax'; accepted: "
                                                 "'saturating', 'non-saturating'"),
    (lambda: confident_discriminator(steps=0), "steps must be a whole number"),
    (lambda: confident_discriminator(steps=10, every=20), "every must be a whole number"),
    (lambda: confident_discriminator(lr=-1), "lr must be positive"),
    (lambda: train_generator("wasserstein"), "Unknown loss 'wasserstein'"),
    (lambda: train_generator("saturating", lr_generator=0), "lr_generator must be positive"),
])
def test_bad_arguments_are_refused_with_their_name(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()
