"""Format version 1 is frozen: every zoo cell written before format version 2 keeps its
genome_id and its JSON still says version 1 (ids are the keys of every results table)."""

from __future__ import annotations

import json

import pytest

from lstm_search import zoo
from lstm_search.genome import Genome, genome_id

# genome_id of every zoo cell as of format version 1; never edit an entry.
V1_IDS = {
    "rnn_tanh": "c80b1ff16e7c1130",
    "lstm": "9081163c3ad93712",
    "gru": "55accd7162663ed8",
    "lstm_b": "e64844d1ecdf3db2",
    "lstm_f": "95521622c73aad89",
    "lstm_i": "0e2f5c3d0fecde61",
    "lstm_o": "e8a2bd002ebb73a3",
    "mut1": "45a6e9947589df54",
    "mut2": "0860ce22c6a7d9d0",
    "mut3": "e87557c0eb5651bf",
    "vanilla": "f34575e29cf9b834",
    "nig": "a53e43afbc749a2b",
    "nfg": "6ffdb7d9c407c49c",
    "nog": "56035f785912d43e",
    "niaf": "ed028f56716b9275",
    "noaf": "e8766f7c5178ed60",
    "np": "1e0ced40a1890fa3",
    "cifg": "0f70a5514b66a93b",
    "fgr": "d8fe0bfe23b78690",
    "darts_v1": "26f51f810223f5c3",
    "darts_v2": "391172ea2bb26a7e",
    "enas": "dbfe4b6f1cceecdf",
    # the modern recurrences use no format-2 construct: written and hashed as version 1
    "mingru": "1542619d08edd29f",
    "minlstm": "90501fad86dea07d",
    "rglru": "9497bb51ea631b28",
    "hgrn": "ed187b7888c0c16b",
    "slstm": "cfd29f21b58bacba",
}


@pytest.mark.parametrize("name", sorted(V1_IDS))
def test_version_1_cells_keep_their_ids(name: str) -> None:
    g = zoo.get(name)
    assert genome_id(g) == V1_IDS[name]
    data = g.to_dict()
    assert data["version"] == 1  # a cell using no format-2 construct is still written as 1
    again = Genome.from_json(json.dumps(data))
    assert genome_id(again) == V1_IDS[name]


def test_every_version_1_zoo_cell_is_pinned() -> None:
    unpinned = [n for n in zoo.names() if zoo.get(n).to_dict()["version"] == 1
                and n not in V1_IDS]
    assert unpinned == []
