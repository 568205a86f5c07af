"""The scoreboard of notebook 11: configurations, one run, many runs, the table and the figure."""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from utils import scoreboard as sb  # noqa: E402
from utils.data import digits_split  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return digits_split().tensors("cpu")


@pytest.fixture(scope="module")
def rows(data):
    """Two epochs of three configurations (one diverges) over two seeds."""
    return sb.run_scoreboard(["baseline", "bn", "relu+he+residual"], [0, 1], data, epochs=2)


def test_every_configuration_builds_its_settings():
    for name, config in sb.CONFIGURATIONS.items():
        model, optimizer = sb.build(name, 0)
        assert len([m for m in model.modules() if isinstance(m, torch.nn.Linear)]) == sb.DEPTH + 1
        has_bn = any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
        assert has_bn == (config.norm == "batch"), name
        assert isinstance(optimizer, torch.optim.Adam if config.optimizer == "adam"
                          else torch.optim.SGD), name
        assert optimizer.param_groups[0]["lr"] == sb.LEARNING_RATES[config.optimizer]
        assert (model.residual == "pre") == (config.residual == "pre"), name
        activations = {type(m).__name__ for m in model.modules()} & {"Sigmoid", "ReLU"}
        assert activations == {"ReLU" if config.activation == "relu" else "Sigmoid"}, name


def test_fixes_name_what_changes_against_the_baseline():
    assert sb.configuration("baseline").fixes == ()
    assert sb.configuration("relu+he+residual+bn").fixes == ("ReLU", "He init", "batch norm",
                                                              "residual")
    assert sb.configuration("clip").fixes == ("clipping 1",)
    table = sb.configurations_table()
    for name in sb.CONFIGURATIONS:
        assert name in table
    assert "sigmoid, default init, SGD lr 0.1" in table and "Adam lr 0.001" in table


def test_unknown_configuration_lists_the_known_ones():
    with pytest.raises(ValueError, match="Unknown configuration 'he'.*baseline.*relu\\+he"):
        sb.configuration("he")
    with pytest.raises(ValueError, match="Unknown configuration"):
        sb.build("batchnorm", 0)
    with pytest.raises(ValueError, match="names must be a list"):
        sb.run_scoreboard("baseline", [0], digits_split().tensors("cpu"))
    with pytest.raises(ValueError, match="names is empty"):
        sb.configurations_table([])
    with pytest.raises(ValueError, match="twice"):
        sb.configurations_table(["bn", "bn"])


@pytest.mark.parametrize("seeds, message", [
    ([-1], "each seed must be a whole number ≥ 0, got -1"),
    ([0.5], "each seed must be a whole number"),
    (["0"], "each seed must be a whole number"),
    ([], "seeds is empty"),
    ([1, 1], "seeds lists a seed twice"),
    (3, "seeds must be a list of whole numbers"),
    ("01", "seeds must be a list of whole numbers"),
])
def test_bad_seeds_get_a_clear_error(data, seeds, message):
    with pytest.raises(ValueError, match=message):
        sb.run_scoreboard(["baseline"], seeds, data, epochs=1)


def test_bad_seed_epochs_and_data_of_one_run(data):
    with pytest.raises(ValueError, match="seed must be a whole number ≥ 0"):
        sb.run_configuration("baseline", -3, data)
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        sb.run_configuration("baseline", 0, data, epochs=0)
    with pytest.raises(ValueError, match="data must be the digits as tensors"):
        sb.run_configuration("baseline", 0, digits_split())


def test_gradient_ratio_at_init_leaves_the_model_as_it_was(data):
    model, _ = sb.build("bn", 0)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    ratio = sb.gradient_ratio_at_init(model, (data.x_train, data.y_train))
    assert 0.1 < ratio < 10
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert all(parameter.grad is None for parameter in model.parameters())
    baseline, _ = sb.build("baseline", 0)
    assert sb.gradient_ratio_at_init(baseline, (data.x_train, data.y_train)) < 1e-8


def test_ratio_at_init_is_what_the_weights_gradients_say(data):
    model, _ = sb.build("relu+he", 3)
    ratio = sb.gradient_ratio_at_init(model, (data.x_train, data.y_train))
    torch.nn.functional.cross_entropy(model(data.x_train), data.y_train).backward()
    expected = (model.hidden1.linear.weight.grad.norm()
                / getattr(model, f"hidden{sb.DEPTH}").linear.weight.grad.norm()).item()
    assert ratio == pytest.approx(expected, rel=1e-5)


def test_one_run_is_reproducible_and_reads_the_history(data):
    first = sb.run_configuration("baseline", 5, data, epochs=2)
    again = sb.run_configuration("baseline", 5, data, epochs=2)
    assert (first.train_loss, first.test_accuracy) == (again.train_loss, again.test_accuracy)
    assert abs(first.train_loss - sb.GUESSING_LOSS) < 0.1
    assert first.epochs == 2 and not first.diverged and first.seconds > 0
    assert first.ratio_median < 1e-8 and first.ratio_at_init < 1e-8
    assert "baseline" in first.line() and "seed   5" in first.line()


def test_rows_of_a_board(rows):
    assert [(row.name, row.seed) for row in rows] == [
        ("baseline", 0), ("baseline", 1), ("bn", 0), ("bn", 1),
        ("relu+he+residual", 0), ("relu+he+residual", 1)]
    assert sb.names_of(rows) == ["baseline", "bn", "relu+he+residual"]
    assert all(row.diverged and math.isnan(row.train_loss)
               for row in rows if row.name == "relu+he+residual")
    assert sb.stuck(rows) == ["baseline"]
    assert len(sb.values(rows, "bn", "test_accuracy")) == 2
    assert sb.summary(rows, "train_loss")["relu+he+residual"][0] != \
        sb.summary(rows, "train_loss")["relu+he+residual"][0]  # NaN: diverged
    with pytest.raises(ValueError, match="Unknown field"):
        sb.values(rows, "bn", "accuracy")
    with pytest.raises(ValueError, match="rows hold no run of 'adam'"):
        sb.values(rows, "adam", "train_loss")
    with pytest.raises(ValueError, match="rows must be a non-empty list"):
        sb.scoreboard_table([])


def test_table_and_figure(rows):
    table = sb.scoreboard_table(rows)
    assert "median [min, max] over 2 seed(s), 2 epochs" in table
    assert "diverged" in table and "baseline" in table
    assert max(len(line) for line in table.splitlines()) < 160
    figure = sb.plot_scoreboard(rows)
    left, right = figure.axes[:2]
    assert right.get_xscale() == "log"
    assert [label.get_text() for label in left.get_yticklabels()] == sb.names_of(rows)
    assert left.get_xlabel() and right.get_xlabel() and figure._suptitle.get_text()
    plt.close(figure)


def test_a_zero_or_blown_up_last_layer_gradient_gives_no_ratio():
    assert math.isnan(sb._ratio(1.0, 0.0))
    assert math.isnan(sb._ratio(float("inf"), float("inf")))
    assert sb._ratio(1.0, 4.0) == 0.25
