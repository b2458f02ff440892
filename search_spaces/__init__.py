"""Search-space declarations, one per file; installed as ``lstm_search.catalogue.search_spaces``."""
