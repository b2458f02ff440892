"""Layers and stacks generic over any compiled cell (and task models built on them)."""

from lstm_search.nn._layer import RecurrentLayer
from lstm_search.nn._models import (
    LanguageModel,
    NextStepClassifier,
    PianoRollModel,
    RecurrentModel,
    SequenceClassifier,
    SequenceRegressor,
    detach_state,
)
from lstm_search.nn._stack import RecurrentStack

__all__ = [
    "LanguageModel",
    "NextStepClassifier",
    "PianoRollModel",
    "RecurrentLayer",
    "RecurrentModel",
    "RecurrentStack",
    "SequenceClassifier",
    "SequenceRegressor",
    "detach_state",
]
