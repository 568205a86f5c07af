"""Exercise 5.3's answer is measured, not only derived: the six networks, trained (~30 s).

Notebook 05 trains them only in an opt-in cell; this test keeps the exercise's answer
(``STALLING``) honest: the networks it says stall stay at ln 10, the others learn. The
networks are the patients of ``utils.exercises.patients`` (``stall_network``).
"""

import math

import pytest
import torch

import utils
from utils.data import digits_split
from utils.exercises.patients import STALL_NETWORKS, STALLING, stall_network
from utils.train import train


def lowest_loss(letter: str, seed: int) -> float:
    """Train network ``letter`` as notebook 05 does; return its lowest training loss."""
    device = utils.setup(seed=seed, quiet=True)
    data = digits_split().tensors(device)
    net = stall_network(letter, seed).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0015, momentum=0.9)
    history = train(net, optimizer, (data.x_train, data.y_train), epochs=20, progress=False)
    return min(history.train_loss)


@pytest.mark.parametrize("seed", [0])
def test_the_networks_the_answer_says_stall_stall_and_the_others_learn(seed):
    lowest = {letter: lowest_loss(letter, seed) for letter in STALL_NETWORKS}
    stalled = {letter for letter, loss in lowest.items() if abs(loss - math.log(10)) < 0.05}
    learned = {letter for letter, loss in lowest.items() if loss < math.log(10) / 2}
    assert stalled == STALLING, lowest
    assert learned == set(STALL_NETWORKS) - STALLING, lowest
