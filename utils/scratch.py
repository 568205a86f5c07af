"""The old name of ``utils.backprop`` (the NumPy network of notebook 02), kept importable
until every notebook and check module imports ``utils.backprop``."""

from utils.backprop import *  # noqa: F403
from utils.backprop import _log_softmax, _numbers, _softmax  # noqa: F401
