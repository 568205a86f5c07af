"""The clinic's patients (utils.clinic): each is named by diagnose_run on every seed tested,
each fix trains with no false alarm, the evidence says what it should, and bad settings get
clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from utils import clinic
from utils.clinic import PATIENTS, SOFTMAX_FLOOR, run_healthy, run_patient

SEEDS = range(5)  # the doctor names each cause on these (the notebook's claims: 20 seeds)
FIX_SEEDS = range(3)


@pytest.mark.parametrize("name", sorted(PATIENTS))
def test_the_doctor_names_each_patients_cause_on_every_seed(name):
    for seed in SEEDS:
        run = run_patient(name, seed)
        assert run.named, (name, seed, run.diagnosis.conditions)
        assert not run.trains, (name, seed, run)
        assert clinic.shows_cause(run), (name, seed, run.evidence)


@pytest.mark.parametrize("name", sorted(PATIENTS))
def test_each_fix_trains_and_raises_no_alarm_about_the_cause(name):
    for fix in PATIENTS[name].fixes:
        for seed in FIX_SEEDS:
            run = run_patient(name, seed, **fix)
            assert run.trains, (name, fix, seed, run)
            assert run.cured, (name, fix, seed, run.diagnosis.conditions, run.evidence)


def test_the_healthy_run_raises_no_finding():
    for seed in FIX_SEEDS:
        run = run_healthy(seed)
        assert run.diagnosis.conditions == [], (seed, run.diagnosis)
        assert run.trains


def test_the_softmax_floor_is_ln_1_plus_9_over_e():
    one_hot = torch.eye(10, dtype=torch.float64)
    floor = F.cross_entropy(one_hot, torch.arange(10)).item()
    assert floor == pytest.approx(math.log(1 + 9 / math.e), abs=1e-12)
    assert SOFTMAX_FLOOR == pytest.approx(1.4612, abs=1e-4)
    for seed in SEEDS:
        assert run_patient("D", seed).evidence["best_loss"] > SOFTMAX_FLOOR


def test_signatures_of_the_patients():
    e = {name: run_patient(name, 0).evidence for name in PATIENTS}
    assert e["A"]["dead_share"] > 0.5
    assert e["B"]["gradient_ratio"] < 1e-3
    assert e["C"]["grad_growth"] > 3
    assert e["E"]["saturated_share"] > 0.5
    assert e["F"]["eval_mode_accuracy"] - e["F"]["test_score"] > 0.5
    assert math.isfinite(e["G"]["diverged_step"]) and e["G"]["recurrent"] == 1
    assert e["H"]["input_mean"] > 4 and e["H"]["input_std"] > 4


def test_runs_are_cached_and_settings_checked():
    assert run_patient("D", 0) is run_patient("D", 0)
    assert run_patient("D", 0, softmax_output=True) is run_patient("D", 0)
    fixed = run_patient("H", 0, standardize=True)
    assert fixed.history is run_healthy(0).history and fixed.patient is PATIENTS["H"]


@pytest.mark.parametrize("call, words", [
    (lambda: run_patient("Z"), ["name", "'Z'"]),
    (lambda: run_patient("A", learning_rate=0.1), ["no setting 'learning_rate'", "lr"]),
    (lambda: run_patient("A", lr=-1), ["lr", "positive"]),
    (lambda: run_patient("A", lr="fast"), ["lr", "'fast'"]),
    (lambda: run_patient("C", zero_grad="no"), ["zero_grad"]),
    (lambda: run_patient("B", norm="layer"), ["norm", "'batch'"]),
    (lambda: run_patient("A", optimizer="rmsprop"), ["optimizer"]),
    (lambda: run_patient("A", epochs=10**6), ["epochs"]),
    (lambda: run_patient("G", kind="gru"), ["kind"]),
    (lambda: run_patient("A", seed=-1), ["seed"]),
])
def test_bad_arguments_get_clear_errors(call, words):
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    for word in words:
        assert word in str(error.value), str(error.value)


def test_running_sum_task_and_dead_shares():
    x, y = clinic.running_sum_task(8, 10, seed=3)
    assert x.shape == (8, 10, 1) and y.shape == (8, 1)
    assert torch.allclose(y, x.sum(dim=1) / math.sqrt(10))
    run = run_patient("A", 0)
    shares = clinic.dead_shares(run.model, clinic.patient_digits().x_train)
    assert len(shares) == PATIENTS["A"].settings["depth"]
    assert max(shares) == run.evidence["dead_share"]
    assert run.model.training


def test_gradient_profile_and_repr():
    run = run_healthy(0)
    profile = clinic.gradient_profile(run)
    assert len(profile) == HEALTHY_DEPTH + 1 and all(v > 0 for v in profile)
    assert "trains=True" in repr(run)


HEALTHY_DEPTH = clinic.HEALTHY_MLP["depth"]
