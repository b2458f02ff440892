"""Experiment declarations, one per file; installed as ``lstm_search.catalogue.experiments``."""
