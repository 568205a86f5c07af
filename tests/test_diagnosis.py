"""utils.diagnosis: what diagnose and diagnose_run find, what they cannot see, and that they
change nothing."""

import copy

import pytest
import torch
from torch import nn

from utils import course, diagnosis, gradflow, plots
from utils.nets import make_mlp

from conftest import DeclaredOutOfOrder, StateReader


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(128, 16), torch.randint(0, 4, (128,))


def sigmoid_chain():
    """A 10-layer sigmoid net (PyTorch's default init) as a flat list of layers."""
    torch.manual_seed(0)
    layers = [nn.Linear(16, 32), nn.Sigmoid()]
    for _ in range(9):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    return layers + [nn.Linear(32, 4)]


def test_the_declaration_order_does_not_change_the_diagnosis(batch):
    layers = sigmoid_chain()
    forward = DeclaredOutOfOrder(copy.deepcopy(layers), declare=range(len(layers)))
    backward = DeclaredOutOfOrder(copy.deepcopy(layers), declare=reversed(range(len(layers))))
    first, second = diagnosis.diagnose(forward, batch), diagnosis.diagnose(backward, batch)
    assert first.conditions == second.conditions == ["vanishing"]
    assert first.gradient_ratio == second.gradient_ratio < 1e-3


@pytest.mark.parametrize("layer_type", [nn.RNN, nn.GRU, nn.LSTM])
@pytest.mark.parametrize("batch_first", [True, False])
def test_a_recurrent_classifier_reading_h_n_gets_a_measured_ratio(layer_type, batch_first):
    torch.manual_seed(0)
    model = StateReader(layer_type, batch_first)
    x = torch.randn(4, 5, 3) if batch_first else torch.randn(5, 4, 3)
    result = diagnosis.diagnose(model, (x, torch.tensor([0, 1, 0, 1])))
    rnn, head = result.flow.layers(kind="weights")
    assert result.gradient_ratio == rnn.output_grad_norm / head.output_grad_norm > 0
    assert result.healthy and "not measured" not in repr(result)
    assert "hidden_state_gradients" in repr(result)


def test_an_unmeasured_ratio_is_never_called_healthy():
    class OneLayerSeen(nn.Module):  # the first layer's output is cut off from the loss
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(3, 3), nn.Linear(3, 2)

        def forward(self, x):
            return self.second(self.first(x).detach())

    torch.manual_seed(0)
    result = diagnosis.diagnose(OneLayerSeen(), (torch.randn(4, 3), torch.tensor([0, 1, 0, 1])))
    assert result.findings == [] and not result.healthy
    assert "no problem found." not in repr(result) and "not measured" in repr(result)
    assert "no gradient reached the output of first" in repr(result)


def test_diagnose_leaves_the_model_exactly_as_it_found_it(batch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))
    model[5].eval()  # a mixture of modes
    model[4].bias.requires_grad_(False)
    model[0].weight.grad = torch.full_like(model[0].weight, 0.25)
    kept_grad = model[0].weight.grad
    state = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    rng = torch.get_rng_state()
    diagnosis.diagnose(model, [batch, batch])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert model[0].weight.grad is kept_grad and torch.all(kept_grad == 0.25)
    assert all(p.grad is None for p in list(model.parameters())[1:])
    assert torch.equal(torch.get_rng_state(), rng)


def test_nan_inputs_are_named_not_blamed_on_overflow(batch):
    x, y = batch[0].clone(), batch[1]
    x[3, 5] = float("nan")
    x[7, 0] = float("inf")
    result = diagnosis.diagnose(make_mlp(16, 4, depth=2), (x, y))
    assert result.conditions == ["bad_inputs"]
    assert "inputs contain NaN/inf: 2 of" in repr(result) and "overflow" not in repr(result)
    assert not result.healthy


def test_nan_weights_are_named(batch):
    model = make_mlp(16, 4, depth=2)
    with torch.no_grad():
        model.hidden2.linear.weight[0, 0] = float("nan")
    result = diagnosis.diagnose(model, batch)
    assert result.conditions == ["bad_weights"] and "hidden2.linear.weight" in repr(result)


def test_a_batch_given_as_a_list_is_accepted(batch):
    model = make_mlp(16, 4, depth=3, init="he_normal")
    as_tuple = diagnosis.diagnose(model, batch)
    as_list = diagnosis.diagnose(model, list(batch))
    of_lists = diagnosis.diagnose(model, [list(batch), list(batch)])
    assert as_tuple.gradient_ratio == as_list.gradient_ratio == of_lists.gradient_ratio


def test_dead_units_are_those_dead_in_every_batch():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]]))
        model[0].bias.zero_()
    y = torch.tensor([0, 1])
    all_alive = (torch.tensor([[1.0, 1], [-1, -1]]), y)  # every unit positive for one row
    one_alive = (torch.tensor([[1.0, 0], [2, 0]]), y[:2])  # only unit 0 positive: 3/4 zero
    result = diagnosis.diagnose(model, [all_alive, one_alive])
    assert "dead" not in result.conditions  # each unit lived in batch 1: none is dead
    assert result.flow.layers(kind="relu")[0].dead_fraction == 0
    result = diagnosis.diagnose(model, [one_alive, one_alive])
    assert "dead" in result.conditions and result.flow.layers(kind="relu")[0].dead_fraction == 0.75


def test_the_dead_unit_message_says_what_is_true(batch):
    model = make_mlp(16, 4, depth=4, init="he_normal")
    with torch.no_grad():
        model.hidden2.linear.bias.fill_(-20.0)
    text = repr(diagnosis.diagnose(model, batch))
    assert "never recover" not in text
    assert "no gradient back through itself" in text and "comes back only if" in text


def test_the_update_ratio_rule_of_thumb_is_attributed():
    documented = plots.plot_update_ratios.__doc__ + gradflow.__doc__ + open(
        gradflow.__file__, encoding="utf-8").read()
    assert "rule of thumb" in plots.plot_update_ratios.__doc__
    assert "Karpathy" in documented and "CS231n" in documented and "Zero to Hero" in documented
    assert gradflow.UPDATE_RATIO_RULE_OF_THUMB == 1e-3


@pytest.mark.parametrize("make, message", [
    (lambda b: diagnosis.diagnose("model", b), "model must be a torch.nn.Module"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), b[0]), "data must be one batch"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), "batch"), "data must be one batch"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), (b[0], b[1][:5])),
     r"data: loss_fn could not compare the model's output \(shape \(128, 4\)\) with y"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), [b, (b[0], None)]), r"data\[1\] must hold"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), [b, (b[0],)]), r"data\[1\] must be a pair"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), (b[0][:, :3], b[1])),
     "data: the model could not run on batch 1"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), b, loss_fn="cross_entropy"),
     "loss_fn must be a function"),
    (lambda b: diagnosis.diagnose(nn.Linear(16, 4), b, loss_fn=lambda out, y: out),
     "loss_fn must return a single number"),
])
def test_bad_arguments_name_the_argument(batch, make, message):
    with pytest.raises(ValueError, match=message):
        make(batch)


# --- findings are objects: condition, layer, value, sentence, the lessons ---------------


def test_a_finding_names_the_layer_the_value_and_the_lessons_of_the_course(batch):
    result = diagnosis.diagnose(make_mlp(16, 4, depth=10, activation="sigmoid",
                                         init="glorot_standard"), batch)
    (finding,) = result.findings
    assert finding.condition == "vanishing" and finding.layer == "hidden1.linear"
    assert finding.value == result.gradient_ratio < 1e-3
    assert finding.lessons == tuple(course.lesson(n) for n in (4, 5, 6, 8))
    assert finding.lesson.stem == "04_activation_functions"
    assert finding.sentence.endswith("08 (Residual connections).")
    assert repr(finding).startswith("Finding(vanishing at hidden1.linear (")


def test_every_condition_has_lessons_of_the_course_and_a_sentence():
    for condition in diagnosis.CONDITIONS:
        lessons = diagnosis.lessons_for(condition)
        assert lessons and all(isinstance(item, course.Lesson) for item in lessons)
        sentence = diagnosis._finding(condition, "Something.").sentence
        assert all(item.title in sentence for item in lessons)
    with pytest.raises(ValueError, match="condition .sleepy.; accepted: .vanishing."):
        diagnosis.lessons_for("sleepy")


def test_dead_and_saturated_findings_name_their_layer(batch):
    model = make_mlp(16, 4, depth=4, init="he_normal")
    with torch.no_grad():
        model.hidden2.linear.bias.fill_(-20.0)
    (dead,) = [f for f in diagnosis.diagnose(model, batch).findings if f.condition == "dead"]
    assert dead.layer == "hidden2.activation" and dead.value == 1.0
    assert dead.lessons == (course.lesson(4),)


# --- a training run: diagnose_run ---------------------------------------------------------


def history(**fields):
    from utils.train import History

    record = History()
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_a_diverged_run_is_named():
    result = diagnosis.diagnose_run(history(train_loss=[2.3, 1.9],
                                            step_loss=[2.3, 2.0, float("nan")]))
    assert result.conditions == ["diverged"] and result.findings[0].value == 3
    assert "at step 3" in repr(result) and "10 (Exploding gradients and clipping)" in repr(result)
    assert "no GradFlow was given" in repr(result)


def test_a_run_that_barely_learns_is_named_and_one_that_learns_is_not():
    flat = diagnosis.diagnose_run(history(train_loss=[2.31, 2.30, 2.30, 2.29]))
    assert flat.conditions == ["not_learning"] and flat.findings[0].value > 0.9
    learning = diagnosis.diagnose_run(history(train_loss=[2.3, 1.2, 0.6, 0.4]))
    assert learning.conditions == []


def test_gradient_spikes_are_named():
    norms = [1.0] * 30
    norms[17] = 50.0
    result = diagnosis.diagnose_run(history(train_loss=[2.3, 0.5], grad_norm=norms))
    assert result.conditions == ["gradient_spikes"] and result.findings[0].value == 50
    assert "at step 18" in repr(result)
    norms[17] = 5.0  # below SPIKE_FACTOR times the median
    assert diagnosis.diagnose_run(history(train_loss=[2.3, 0.5], grad_norm=norms)).conditions \
        == []


def watched_run(model, batch, steps=5, lr=0.1):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    with gradflow.GradFlow(model, optimizer=optimizer) as flow:
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(batch[0]), batch[1]).backward()
            optimizer.step()
        with torch.no_grad():
            model(batch[0])  # an evaluation pass: no gradients, not a training step
    return flow


def test_a_watched_deep_sigmoid_run_vanishes_and_its_first_layer_barely_learns(batch):
    torch.manual_seed(0)
    model = make_mlp(16, 4, depth=10, activation="sigmoid", init="glorot_standard")
    flow = watched_run(model, batch)
    result = diagnosis.diagnose_run(flow=flow)
    assert result.conditions == ["vanishing", "slow_layer"]
    assert "median over 5 training steps" in repr(result)
    ratios = [flow.layers(step=i, kind="weights")[0].output_grad_norm
              / flow.layers(step=i, kind="weights")[-1].output_grad_norm for i in range(5)]
    assert result.gradient_ratio == pytest.approx(sorted(ratios)[2])
    assert result.findings[1].layer == "hidden1.linear"


def test_a_watched_healthy_run_is_healthy(batch):
    torch.manual_seed(0)
    result = diagnosis.diagnose_run(history(train_loss=[1.4, 0.9, 0.6]),
                                    watched_run(make_mlp(16, 4, depth=3, init="he_normal"),
                                                batch))
    assert result.healthy and result.findings == []


@pytest.mark.parametrize("make, message", [
    (lambda: diagnosis.diagnose_run(), "needs history=.*flow="),
    (lambda: diagnosis.diagnose_run(history=[1.0, 2.0]), "history must be the History"),
    (lambda: diagnosis.diagnose_run(flow="flow"), "flow must be the GradFlow"),
])
def test_diagnose_run_names_a_bad_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_healthy_model_without_activation_modules_does_not_claim_it_checked_them():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Linear(3, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.second(torch.relu(self.first(x)))

    torch.manual_seed(0)
    result = diagnosis.diagnose(Functional(), (torch.randn(8, 3), torch.randint(0, 2, (8,))))
    assert result.healthy
    assert "no saturated or dead layer" not in repr(result)
    assert "no activation modules to check" in repr(result)
    assert "no activation modules found" in repr(result)
    with_modules = diagnosis.diagnose(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
                                      (torch.randn(8, 3), torch.randint(0, 2, (8,))))
    assert with_modules.healthy and "no saturated or dead layer" in repr(with_modules)
