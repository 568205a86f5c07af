"""utils.train: the training loop, its history, and its stop on NaN."""

import math

import numpy as np
import pytest
import torch

import utils
from utils import nets
from utils.data import make_moons, make_regression_curve
from utils.train import Step, TrainingDiverged, evaluate, train


@pytest.fixture
def moons():
    utils.setup(seed=0, device="cpu", quiet=True)
    x, y = make_moons(200, noise=0.1)
    return torch.tensor(x), torch.tensor(y)


def test_training_lowers_the_loss_and_records_history(moons):
    model = nets.make_mlp(2, 2, depth=2, width=16, activation="tanh", init="xavier_normal")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    history = train(model, optimizer, moons, test_data=moons, epochs=20, batch_size=32,
                    progress=False)
    assert history.epochs == 20
    assert len(history.train_accuracy) == len(history.test_loss) == 20
    assert len(history.step_loss) == 20 * 7
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.test_accuracy[-1] > 0.85
    assert not history.diverged
    assert "20 epochs" in repr(history)


def test_same_seed_same_run(moons):
    def run():
        torch.manual_seed(1)
        model = nets.make_mlp(2, 2, depth=1, width=8)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        return train(model, optimizer, moons, epochs=3, seed=5, progress=False).step_loss

    assert run() == run()


def test_regression_uses_mean_squared_error():
    x, y = make_regression_curve(100)
    model = nets.make_mlp(1, 1, depth=1, width=16, activation="tanh")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    history = train(model, optimizer, (torch.tensor(x), torch.tensor(y)), epochs=5,
                    progress=False)
    assert history.train_accuracy == []
    loss, accuracy = evaluate(model, (torch.tensor(x), torch.tensor(y)))
    assert accuracy is None and loss > 0


def exploding_setup(moons):
    model = nets.make_mlp(2, 2, depth=8, width=32, init="normal", init_std=3.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=10.0)
    return model, optimizer


def test_divergence_stops_with_a_message(moons, capsys):
    model, optimizer = exploding_setup(moons)
    history = train(model, optimizer, moons, epochs=5, progress=False)
    assert history.diverged
    assert "Training stopped: the loss became" in history.message
    assert "epoch" in history.message and "smaller learning rate" in history.message
    assert history.message in capsys.readouterr().out


def test_divergence_can_raise(moons):
    model, optimizer = exploding_setup(moons)
    with pytest.raises(TrainingDiverged, match="the loss became"):
        train(model, optimizer, moons, epochs=5, progress=False, on_divergence="raise")


def test_progress_bar_can_be_shown(moons):
    model = nets.make_mlp(2, 2, depth=1, width=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert train(model, optimizer, moons, epochs=1, progress=True).epochs == 1


@pytest.mark.parametrize("change, message", [
    (dict(model="not a model"), "model must be a torch.nn.Module"),
    (dict(optimizer="sgd"), "optimizer must be a torch.optim optimizer"),
    (dict(train_data=[1, 2, 3]), "train_data must be a pair"),
    (dict(train_data=([1.0], [0])), "must hold torch tensors"),
    (dict(train_data=(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))), "is empty"),
    (dict(train_data=(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))), "must match"),
    (dict(epochs=0), "epochs must be"),
    (dict(batch_size=2.5), "batch_size must be"),
    (dict(on_divergence="ignore"), "on_divergence"),
])
def test_bad_input_is_explained(moons, change, message):
    model = nets.make_mlp(2, 2, depth=1, width=4)
    arguments = dict(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                     train_data=moons, epochs=1, progress=False) | change
    with pytest.raises(ValueError, match=message):
        train(**arguments)


def test_model_without_parameters_is_explained(moons):
    with pytest.raises(ValueError, match="no parameters"):
        evaluate(torch.nn.Identity(), moons)


# --- deliberate bugs these tests must catch (issue 8, section 5) ---------------------------


class Recorder(torch.nn.Module):
    """A linear classifier that remembers the first feature of every training batch it sees."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].clone())
        return self.linear(x)


def test_every_epoch_visits_every_example_once_in_a_new_random_order():
    x = torch.arange(40, dtype=torch.float32)[:, None].repeat(1, 2)  # feature 0 = the row number
    y = torch.zeros(40, dtype=torch.int64)
    model = Recorder()
    train(model, torch.optim.SGD(model.parameters(), lr=0.01), (x, y), epochs=3, batch_size=8,
          seed=0, progress=False)
    epochs = [torch.cat(model.seen[i:i + 5]).long() for i in (0, 5, 10)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(40))  # each example exactly once
    assert not torch.equal(epochs[0], torch.arange(40))  # shuffled, not in stored order
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch, not once
    assert not torch.equal(epochs[1], epochs[2])


def batch_norm_net():
    """A small classifier with batch norm and dropout, built without utils.nets."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                               torch.nn.Dropout(0.2), torch.nn.Linear(8, 2))


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_the_mode_the_model_was_in(moons, training):
    model = batch_norm_net()
    model.train(training)
    modes = []
    model.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
    evaluate(model, moons)
    assert modes and not any(modes)  # evaluated in eval mode
    assert model.training is training
    assert all(layer.training is training for layer in model.modules())


def test_evaluate_restores_mixed_modes_layer_by_layer(moons):
    model = batch_norm_net().train()
    model[3].eval()  # dropout switched off by hand, the rest training
    evaluate(model, moons)
    assert [layer.training for layer in model] == [True, True, True, False, True]
    assert model.training


def test_history_test_metrics_come_from_the_test_data(moons):
    x, y = moons
    test_data = (x[:50], 1 - y[:50])  # flipped labels: a good model scores badly on them
    model = nets.make_mlp(2, 2, depth=2, width=16, activation="tanh")
    history = train(model, torch.optim.Adam(model.parameters(), lr=0.01), moons, test_data,
                    epochs=10, progress=False)
    test_loss, test_accuracy = evaluate(model, test_data)
    assert history.test_loss[-1] == pytest.approx(test_loss)
    assert history.test_accuracy[-1] == pytest.approx(test_accuracy)
    train_loss, train_accuracy = evaluate(model, moons)
    assert history.test_accuracy[-1] < 0.5 < train_accuracy


def test_an_optimizer_over_another_models_parameters_is_refused(moons):
    model, other = nets.make_mlp(2, 2, depth=1, width=4), nets.make_mlp(2, 2, depth=1, width=4)
    with pytest.raises(ValueError, match="optimizer holds none of the model's parameters"):
        train(model, torch.optim.SGD(other.parameters(), lr=0.1), moons, progress=False)


def test_numpy_integers_are_accepted(moons):
    import numpy as np

    model = nets.make_mlp(2, 2, depth=np.int64(1), width=np.int32(4))
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), moons,
                    epochs=np.int64(2), batch_size=np.int64(50), seed=np.int64(3), progress=False)
    assert history.epochs == 2
    assert evaluate(model, moons, batch_size=np.int64(7))[0] > 0


@pytest.mark.parametrize("call, message", [
    (lambda model, data: evaluate(model, data, batch_size=-1), "batch_size must be"),
    (lambda model, data: evaluate(None, data), "model must be a torch.nn.Module"),
    (lambda model, data: evaluate(model, data, loss_fn="mse"), "loss_fn must be a function"),
    (lambda model, data: train(model, torch.optim.SGD(model.parameters(), lr=math.nan), data,
                               progress=False), "lr must be a finite number"),
    (lambda model, data: train(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                               epochs=10**9, progress=False), "epochs must be a whole number"),
    (lambda model, data: train(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                               seed=-1, progress=False), "seed must be"),
    (lambda model, data: train(model, torch.optim.SGD(model.parameters(), lr=0.1),
                               (data[0].long(), data[1]), progress=False), "floating-point"),
])
def test_more_bad_input_is_explained(moons, call, message):
    with pytest.raises(ValueError, match=message):
        call(nets.make_mlp(2, 2, depth=1, width=4), moons)


# --- the hook between backward() and step(), clipping, the gradient norm ------------------


def sigmoid_net(width=16):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Sigmoid(),
                               torch.nn.Linear(width, width), torch.nn.Sigmoid(),
                               torch.nn.Linear(width, 2))


def gradient_norm(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm().item()


def test_on_step_runs_after_backward_and_before_the_optimizer_step(moons):
    model = sigmoid_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []

    def on_step(step):
        assert isinstance(step, Step) and step.model is model and step.optimizer is optimizer
        assert all(p.grad is not None for p in model.parameters())  # after backward()
        with torch.no_grad():  # before step(): the weights are those the loss was computed with
            loss = torch.nn.functional.cross_entropy(model(step.x), step.y).item()
        assert loss == pytest.approx(step.loss, rel=1e-5)
        assert step.grad_norm == pytest.approx(gradient_norm(model), rel=1e-5)
        assert step.clipped_grad_norm is None
        assert step.history.step_loss[-1] == step.loss  # the history includes this step
        assert step.history.grad_norm[-1] == step.grad_norm
        assert len(step.history.step_loss) == step.global_step
        seen.append((step.epoch, step.step, step.global_step, len(step.x)))

    history = train(model, optimizer, moons, epochs=2, batch_size=64, progress=False,
                    on_step=on_step)
    assert [s[:3] for s in seen] == [(1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 4, 4),
                                     (2, 1, 5), (2, 2, 6), (2, 3, 7), (2, 4, 8)]
    assert [s[3] for s in seen[:4]] == [64, 64, 64, 8]
    assert len(history.grad_norm) == len(history.step_loss) == 8
    assert history.clipped_grad_norm == []


def test_on_step_sees_the_weights_before_the_step_and_can_replace_a_hand_written_loop(moons):
    # Notebook 03 (section on saturation) wrote this loop by hand to probe the activations
    # after every 10th step; train(on_step=...) gives the same numbers.
    x, y = moons
    probe = x[:50]
    utils.setup(seed=3, device="cpu", quiet=True)
    model = sigmoid_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    generator = torch.Generator().manual_seed(utils.current_seed())
    by_hand, step = [], 0
    for _ in range(2):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(order), 10):
            index = order[start:start + 10]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[index]), y[index]).backward()
            optimizer.step()
            if step % 10 == 0:
                with torch.no_grad():
                    by_hand.append(model[:2](probe).mean().item())
            step += 1

    model = sigmoid_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with_hook = []

    def on_step(step):
        # on_step runs before step k's update: the weights after k - 1 updates. The loop above
        # probed after updates 1, 11, 21, ..., that is before steps 2, 12, 22, ...
        if step.global_step % 10 == 2:
            with torch.no_grad():
                with_hook.append(model[:2](probe).mean().item())

    train(model, optimizer, (x, y), epochs=2, batch_size=10, progress=False, on_step=on_step)
    assert len(by_hand) == 4  # 200 rows: 20 steps an epoch, probed at steps 0, 10, 20, 30
    assert with_hook == by_hand


def test_grad_norm_is_measured_before_clipping_by_norm(moons):
    model = sigmoid_net()
    clipped_norms = []
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), moons, epochs=2,
                    progress=False, clip_norm=0.01,
                    on_step=lambda step: clipped_norms.append(gradient_norm(step.model)))
    assert min(history.grad_norm) > 0.02  # all longer than the threshold ...
    np.testing.assert_allclose(clipped_norms, 0.01, rtol=1e-4)  # ... so all clipped to it
    np.testing.assert_allclose(history.clipped_grad_norm, clipped_norms, rtol=1e-5)


def test_clipping_by_norm_is_torchs_clip_grad_norm(moons):
    def by_hand():
        model = sigmoid_net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        generator = torch.Generator().manual_seed(0)
        x, y = moons
        losses = []
        for index in torch.randperm(len(x), generator=generator).split(32):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.05)
            optimizer.step()
            losses.append(loss.item())
        return losses

    model = sigmoid_net()
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.5), moons, epochs=1,
                    batch_size=32, seed=0, progress=False, clip_norm=0.05)
    assert history.step_loss == by_hand()


def test_clipping_by_value_bounds_every_entry(moons):
    model = sigmoid_net()
    largest = []
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), moons, epochs=1,
                    progress=False, clip_value=1e-3,
                    on_step=lambda step: largest.append(
                        max(p.grad.abs().max().item() for p in step.model.parameters())))
    assert max(largest) == pytest.approx(1e-3)
    assert all(after < before for after, before in zip(history.clipped_grad_norm,
                                                       history.grad_norm))


def test_without_clipping_the_gradient_is_untouched(moons):
    model = sigmoid_net()
    norms = []
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), moons, epochs=1,
                    progress=False, on_step=lambda step: norms.append(gradient_norm(step.model)))
    np.testing.assert_allclose(history.grad_norm, norms, rtol=1e-6)


@pytest.mark.parametrize("change, message", [
    (dict(clip_norm=0), "clip_norm must be a positive number or None"),
    (dict(clip_norm=-1.0), "clip_norm must be a positive number or None"),
    (dict(clip_value="1"), "clip_value must be a positive number or None"),
    (dict(clip_value=math.inf), "clip_value must be a positive number or None"),
    (dict(on_step="print"), "on_step must be a function or None"),
    (dict(drop_last="yes"), "drop_last must be True or False"),
])
def test_bad_hook_and_clipping_arguments_are_explained(moons, change, message):
    model = sigmoid_net()
    with pytest.raises(ValueError, match=message):
        train(model, torch.optim.SGD(model.parameters(), lr=0.1), moons, epochs=1,
              progress=False, **change)


# --- batch norm and a one-row last minibatch ----------------------------------------------


def rows_201(moons):
    x, y = moons
    return torch.cat([x, x[:1]]), torch.cat([y, y[:1]])


def test_a_batch_norm_net_skips_a_one_row_last_minibatch(moons):
    x, y = rows_201(moons)  # 4 minibatches of 50, then 1 row
    model = batch_norm_net()
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=2,
                    batch_size=50, progress=False)
    assert len(history.step_loss) == 2 * 4
    assert all(0 <= accuracy <= 1 for accuracy in history.train_accuracy)


def test_a_batch_norm_net_drops_a_last_minibatch_under_half_a_batch(moons):
    x, y = rows_201(moons)
    for batch_size, sizes in ((2, [2] * 100),  # one row left: dropped
                              (60, [60, 60, 60]),  # 21 rows left: under half, dropped
                              (80, [80, 80, 41])):  # 41 rows left: over half, kept
        model = batch_norm_net()
        history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
                        batch_size=batch_size, progress=False)
        assert len(history.step_loss) == len(sizes), batch_size
    seen = []
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=60,
          progress=False, drop_last=False, on_step=lambda step: seen.append(len(step.x)))
    assert seen == [60, 60, 60, 21]


def test_without_batch_norm_the_last_row_is_kept_unless_drop_last(moons):
    x, y = rows_201(moons)
    model = sigmoid_net()
    sizes = []
    train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=50,
          progress=False, on_step=lambda step: sizes.append(len(step.x)))
    assert sizes == [50, 50, 50, 50, 1]
    history = train(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
                    batch_size=60, progress=False, drop_last=True)
    assert len(history.step_loss) == 3  # 201 = 3 × 60 + 21: the 21 are dropped


def test_a_one_row_minibatch_in_batch_norm_gets_a_clear_message(moons):
    x, y = rows_201(moons)
    model = batch_norm_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for arguments in (dict(batch_size=50, drop_last=False), dict(batch_size=1)):
        with pytest.raises(ValueError, match=r"Batch norm cannot normalise a minibatch of 1 row "
                                             r"\(epoch 1, step \d+\).*batch_size ≥ 2"):
            train(model, optimizer, (x, y), epochs=1, progress=False, **arguments)


def test_drop_last_with_too_few_rows_is_explained(moons):
    model = sigmoid_net()
    with pytest.raises(ValueError, match="fewer than batch_size=64: with drop_last=True no "
                                         "minibatch is left"):
        train(model, torch.optim.SGD(model.parameters(), lr=0.1), (moons[0][:10], moons[1][:10]),
              progress=False, drop_last=True)


def test_a_from_scratch_optimizer_trains_like_torchs(moons):
    from utils.optimizers import RuleOptimizer

    histories = []
    for make in (lambda p: torch.optim.Adam(p, lr=0.01), lambda p: RuleOptimizer(p, "adam",
                                                                               lr=0.01)):
        model = sigmoid_net()
        histories.append(train(model, make(model.parameters()), moons, epochs=3, seed=0,
                               progress=False))
    np.testing.assert_allclose(histories[0].step_loss, histories[1].step_loss, rtol=1e-4)
