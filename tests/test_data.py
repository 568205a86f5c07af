"""utils.data: the shipped digits (checksum, split, scaling) and the synthetic sets."""

import shutil

import numpy as np
import pytest
import torch

from utils import data


def test_digits_shapes_and_classes():
    images, labels = data.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 16
    assert labels.shape == (1797,)
    assert sorted(np.unique(labels)) == list(range(10))


def test_altered_file_is_refused(tmp_path):
    copy = tmp_path / "digits.npz"
    shutil.copy(data.data_dir() / data.DIGITS_FILE, copy)
    content = bytearray(copy.read_bytes())
    content[-10] ^= 0xFF
    copy.write_bytes(bytes(content))
    with pytest.raises(ValueError, match="has been altered.*SHA-256"):
        data.load_digits(copy)


def test_missing_file_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.*git checkout"):
        data.load_digits(tmp_path / "digits.npz")


def test_data_dir_from_environment(tmp_path, monkeypatch):
    shutil.copy(data.data_dir() / data.DIGITS_FILE, tmp_path / data.DIGITS_FILE)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path


def test_data_dir_found_from_working_directory(tmp_path, monkeypatch):
    """A non-editable install (Colab) finds data/ from the notebooks folder."""
    (tmp_path / "data").mkdir()
    (tmp_path / "notebooks").mkdir()
    shutil.copy(data.data_dir() / data.DIGITS_FILE, tmp_path / "data" / data.DIGITS_FILE)
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.setattr(data, "__file__", str(tmp_path / "site-packages" / "utils" / "data.py"))
    assert data.data_dir() == tmp_path / "data"


def test_data_dir_not_found_is_explained(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "__file__", str(tmp_path / "site-packages" / "utils" / "data.py"))
    with pytest.raises(FileNotFoundError, match="COURSE_DATA_DIR"):
        data.data_dir()


def test_split_is_fixed_stratified_and_independent_of_the_course_seed():
    import utils

    utils.setup(seed=5, quiet=True)
    first = data.digits_split()
    utils.setup(seed=6, quiet=True)
    second = data.digits_split()
    assert first.x_train.shape == (1347, 64) and first.x_test.shape == (450, 64)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    shares_train = np.bincount(first.y_train) / len(first.y_train)
    shares_test = np.bincount(first.y_test) / len(first.y_test)
    assert np.abs(shares_train - shares_test).max() < 0.01


def test_standardization_uses_training_statistics_with_a_floor():
    split = data.digits_split()
    assert np.abs(split.x_train.mean(axis=0)).max() < 1e-5
    stds = split.x_train.std(axis=0)
    constant = stds < 1e-3
    assert constant.sum() >= 1  # some pixels are constant in the training split
    assert np.allclose(stds[~constant], 1.0, atol=1e-4)
    assert np.abs(split.x_test).max() < 100  # no exploding test inputs


def test_unstandardized_images_are_in_unit_range():
    split = data.digits_split(standardized=False, flatten=False)
    assert split.x_train.shape == (1347, 8, 8)
    assert split.x_train.min() == 0.0 and split.x_train.max() == 1.0


def test_tensors_have_the_right_types():
    split = data.digits_split().tensors("cpu")
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert "train: x (1347, 64)" in repr(split)


@pytest.mark.parametrize("fraction", [0, 1, -0.2, 1.5])
def test_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits_split(test_fraction=fraction)


def test_synthetic_sets_have_shapes_and_labels():
    x, y = data.make_spirals(n_per_class=50, n_classes=3)
    assert x.shape == (150, 2) and x.dtype == np.float32 and set(y) == {0, 1, 2}
    x, y = data.make_moons(101)
    assert x.shape == (101, 2) and set(y) == {0, 1}
    x, y = data.make_regression_curve(64, noise=0.0)
    assert x.shape == (64, 1) and y.shape == (64, 1)
    np.testing.assert_allclose(y[:, 0], data.target_curve(x[:, 0]), atol=1e-6)


def test_synthetic_sets_are_reproducible():
    np.testing.assert_array_equal(data.make_moons(seed=1)[0], data.make_moons(seed=1)[0])
    assert not np.array_equal(data.make_moons(seed=1)[0], data.make_moons(seed=2)[0])


@pytest.mark.parametrize("call, message", [
    (lambda: data.make_spirals(n_per_class=0), "n_per_class"),
    (lambda: data.make_spirals(n_classes=1), "n_classes"),
    (lambda: data.make_moons(n_samples=1), "n_samples"),
    (lambda: data.make_moons(noise=-1), "noise"),
    (lambda: data.make_regression_curve(low=1, high=0), "low must be smaller"),
    (lambda: data.make_regression_curve(n_samples=2.5), "n_samples"),
])
def test_synthetic_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- sequence tasks with a long time lag -----------------------------------------------------


def test_adding_problem_shapes_markers_and_targets():
    x, y = data.make_adding_problem(200, 30, seed=0)
    assert x.shape == (200, 30, 2) and y.shape == (200, 1)
    assert x.dtype == y.dtype == torch.float32
    markers = x[:, :, 1]
    assert torch.equal(markers.sum(1), torch.full((200,), 2.0))
    assert (markers[:, :15].sum(1) == 1).all()  # one marker in each half
    values = x[:, :, 0]
    assert values.min() >= 0 and values.max() <= 1
    torch.testing.assert_close(y[:, 0], (values * markers).sum(1))


def test_adding_problem_baseline_mse_is_one_sixth():
    """Always predicting 1 scores Var(u1 + u2) = 2/12 ≈ 0.167 (Hochreiter & Schmidhuber 1997)."""
    _, y = data.make_adding_problem(20_000, 20, seed=1)
    assert ((y - 1) ** 2).mean().item() == pytest.approx(1 / 6, abs=0.005)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_first_symbol_task_labels_the_first_step():
    x, y = data.make_first_symbol_task(500, 12, n_symbols=5, seed=0)
    assert x.shape == (500, 12, 5) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x.sum(2), torch.ones(500, 12))  # one-hot at every step
    assert torch.equal(x[:, 0].argmax(1), y)
    # no other step tells the answer: the last symbol agrees with it about 1 time in 5
    agreement = (x[:, -1].argmax(1) == y).float().mean().item()
    assert 0.1 < agreement < 0.3
    assert set(y.tolist()) == set(range(5))


@pytest.mark.parametrize("make", [data.make_adding_problem, data.make_first_symbol_task])
def test_sequence_tasks_are_reproducible_from_their_seed(make):
    first, again, other = make(50, 10, seed=3), make(50, 10, seed=3), make(50, 10, seed=4)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize("call, message", [
    (lambda: data.make_adding_problem(0, 10), "n must be"),
    (lambda: data.make_adding_problem(10, 1), "length must be a whole number ≥ 2, got 1"),
    (lambda: data.make_adding_problem(10, 10**9), "length must be"),
    (lambda: data.make_adding_problem(10**6, 10**5), "n × length must be at most"),
    (lambda: data.make_adding_problem(10, 10, seed=-1), "seed must be"),
    (lambda: data.make_first_symbol_task(10, 10, n_symbols=1), "n_symbols must be"),
])
def test_sequence_task_bad_input_is_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()
