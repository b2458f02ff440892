"""The shipped catalogue of named declarations.

``lstm_search.catalogue.experiments`` holds the experiments (``lstm-search run quickstart``) and
``lstm_search.catalogue.search_spaces`` the search spaces (``load_space("greff")``). In the
source tree they are the top-level ``experiments/`` and ``search_spaces/`` folders, mapped here
by ``pyproject.toml`` (``[tool.setuptools] package-dir``); :mod:`lstm_search.declarations`
finds and imports them.
"""
