"""Corpora, synthetic tasks and downloads for lstm-search (usage note completed below)."""
