"""Layers and stacks generic over any compiled cell (and task models built on them)."""

from lstm_search.nn._layer import RecurrentLayer
from lstm_search.nn._stack import RecurrentStack

__all__ = ["RecurrentLayer", "RecurrentStack"]
