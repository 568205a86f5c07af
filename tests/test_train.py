"""utils.train: the training loop, its history, and its stop on NaN."""

import math

import pytest
import torch

import utils
from utils import nets
from utils.data import make_moons, make_regression_curve
from utils.train import TrainingDiverged, evaluate, train


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


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_restores_the_mode_the_model_was_in(moons, training):
    model = nets.make_mlp(2, 2, depth=2, width=8, norm="batch")
    model.train(training)
    modes = []
    model.register_forward_pre_hook(lambda module, inputs: modes.append(module.training))
    evaluate(model, moons)
    assert modes and not any(modes)  # evaluated in eval mode
    assert model.training is training
    assert all(layer.training is training for layer in model.modules())


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
