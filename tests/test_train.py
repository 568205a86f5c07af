"""utils.train: the training loop, its history, and its stop on NaN."""

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
    (dict(on_divergence="ignore"), "on_divergence must be"),
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
