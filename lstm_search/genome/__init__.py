"""Genomes: recurrent cells as small graphs of gates and pointwise ops.

Values (:class:`Genome`, :class:`Node`, :class:`Builder`; a genome holds tuples and read-only
:class:`FrozenMap` mappings, never a dict or list that could be changed in place), validation
listing every problem, canonical form, :func:`genome_id` and :func:`correspondence` (which
node of one writing of a cell is which of another), seeded :func:`random_genome` and :func:`mutate`
(Jozefowicz et al. 2015's six operators), :func:`from_nasbench` (NAS-Bench-NLP recipes);
pictures as text in :mod:`lstm_search.genome.draw`
(drawn as PNG files by :mod:`lstm_search.analysis.cell_png`).

>>> from lstm_search.genome import Genome, validate, genome_id
>>> from lstm_search import zoo
>>> g = zoo.get("gru")
>>> validate(g)
[]
>>> len(genome_id(g))
16
"""

from lstm_search.genome._canonical import (
    canonical,
    cell_name,
    correspondence,
    genome_id,
    topo_order,
)
from lstm_search.genome._darts import (
    DARTS_V1,
    DARTS_V2,
    ENAS,
    DartsGenotype,
    darts_params,
    import_darts,
    parse_genotype,
)
from lstm_search.genome._frozen import FrozenMap
from lstm_search.genome._genome import Builder, Genome, Node
from lstm_search.genome._mutate import (
    JOZEFOWICZ_OPERATORS,
    MODERN_OPERATORS,
    OPERATORS,
    SEED_OPERATORS,
    Mutation,
    mutate,
)
from lstm_search.genome._nasbench import (
    from_nasbench,
    from_nasbench_with_names,
    import_nasbench_nlp,
    nasbench_cell_params,
    nasbench_model_params,
)
from lstm_search.genome._nasbench_files import (
    ImportReport,
    RecipeSource,
    import_recipes,
    read_recipes,
)
from lstm_search.genome._ops import (
    ACTIVATIONS,
    BELOW,
    ELEMENTWISE,
    FORMAT,
    FORMAT_VERSION,
    HEAD_OPS,
    MAX_KERNEL,
    OPS,
    RESERVED_INPUT_PREFIXES,
    RESERVED_OPS,
    VALUE_KINDS,
    OpSpec,
    X,
    below_state,
    conv_param_count,
    dropout_mask,
    format_2_uses,
    format_version,
    module_sizes,
    spatial_kernel,
    value_heads,
)
from lstm_search.genome._random import prune, random_genome
from lstm_search.genome._shapes import SHAPES, hidden_multiple, value_shapes
from lstm_search.genome._validate import (
    DEFAULT_MAX_NODES,
    GenomeError,
    Problem,
    n_params,
    validate,
    validate_json,
)

__all__ = [
    "ACTIVATIONS",
    "BELOW",
    "DARTS_V1",
    "DARTS_V2",
    "DEFAULT_MAX_NODES",
    "ELEMENTWISE",
    "ENAS",
    "FORMAT",
    "FORMAT_VERSION",
    "HEAD_OPS",
    "JOZEFOWICZ_OPERATORS",
    "MAX_KERNEL",
    "MODERN_OPERATORS",
    "OPERATORS",
    "OPS",
    "RESERVED_INPUT_PREFIXES",
    "RESERVED_OPS",
    "SEED_OPERATORS",
    "SHAPES",
    "VALUE_KINDS",
    "Builder",
    "DartsGenotype",
    "FrozenMap",
    "Genome",
    "GenomeError",
    "ImportReport",
    "Mutation",
    "Node",
    "OpSpec",
    "Problem",
    "RecipeSource",
    "X",
    "below_state",
    "canonical",
    "cell_name",
    "conv_param_count",
    "correspondence",
    "darts_params",
    "dropout_mask",
    "format_2_uses",
    "format_version",
    "from_nasbench",
    "from_nasbench_with_names",
    "genome_id",
    "hidden_multiple",
    "import_darts",
    "import_nasbench_nlp",
    "import_recipes",
    "module_sizes",
    "mutate",
    "n_params",
    "nasbench_cell_params",
    "nasbench_model_params",
    "parse_genotype",
    "prune",
    "random_genome",
    "read_recipes",
    "spatial_kernel",
    "topo_order",
    "validate",
    "validate_json",
    "value_heads",
    "value_shapes",
]
