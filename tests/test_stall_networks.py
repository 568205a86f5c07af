"""Exercise 5.3's answer is measured, not only derived: the six networks, trained (~30 s).

Notebook 05 trains them only in an opt-in cell; this test keeps the exercise's answer
(``STALLING``) honest: the networks it says stall stay at ln 10, the others learn.
"""

import math

import pytest
import torch

import utils
from utils import initializers
from utils.data import digits_split
from utils.exercises.nb05_weight_initialization import STALL_NETWORKS, STALLING
from utils.nets import make_mlp
from utils.train import train

INITS = {"he": "he_normal", "xavier": "xavier_normal", "default": "default",
         "orthogonal √2": "default"}


def lowest_loss(letter, seed):
    """Train network ``letter`` as notebook 05 does; return its lowest training loss."""
    activation, hidden, init = STALL_NETWORKS[letter]
    device = utils.setup(seed=seed, quiet=True)
    data = digits_split().tensors(device)
    torch.manual_seed(seed)
    net = make_mlp(64, 10, depth=hidden, width=128, activation=activation,
                   init=INITS[init]).to(device)
    if init == "orthogonal √2":
        initializers.apply_init(net, "orthogonal", gain=math.sqrt(2), rng=seed)
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
