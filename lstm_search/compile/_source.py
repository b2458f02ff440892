"""The backend names' check and the generated source of one layer, as text."""

from __future__ import annotations

from lstm_search.compile._codegen import program_source
from lstm_search.compile._kernels import BACKENDS
from lstm_search.compile._native import native_refusal, native_source
from lstm_search.compile._plan import build_plan
from lstm_search.genome import Genome


def check_backend(backend: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def generated_source(genome: Genome, backend: str = "script", *, input_size: int = 2,
                     hidden_size: int = 1, fused_backward: bool = True,
                     onednn: bool = False, spatial: tuple[int, int] | None = None) -> str:
    """The source the compiler generates for one layer of ``genome``.

    For ``script`` this is exactly what TorchScript compiles (with the oneDNN branch of ``_mm``
    when ``onednn``); ``eager`` and ``compile`` interpret the same plan op by op, so the same
    text describes them. For ``native`` it is the C++ the native backend builds (its operator
    namespace ``lsnat``), for ``native-cuda`` the CUDA C++ it builds for CUDA tensors
    (``lscuda``), or, for a plan it does not cover, a line saying why and the script
    backend's source, which then runs. Sizes only matter for ``fit`` of x (a matrix unless
    m == n); a spatial cell's source does not depend on its map size (``spatial``, default
    (1, 1)).
    """
    target = "cuda" if backend == "native-cuda" else "cpu"
    backend = "native" if backend == "native-cuda" else backend
    check_backend(backend)
    if genome.kernel and spatial is None:
        spatial = (1, 1)
    plan = build_plan(genome, input_size, hidden_size, spatial)
    if backend == "native":
        reason = native_refusal(plan)
        if reason is None:
            return native_source(plan, "lscuda" if target == "cuda" else "lsnat", target)
        return (f"# the native backend does not cover {reason}: this layer runs the script "
                "backend, whose source follows\n\n"
                + program_source(plan, onednn=onednn, backward=fused_backward))
    return program_source(plan, onednn=onednn, backward=fused_backward)
