"""Building and loading the native backend's libraries, cached on disk.

A layer's C++ source (:mod:`._native`) is written to ``main.cpp`` and built with
``torch.utils.cpp_extension.load`` (g++ and ninja; not ``load_inline``, which prepends
``torch/extension.h``: three times the build time) into ``<cache>/native/<name>/<name>.so``
and loaded with ``torch.ops.load_library``. ``<name>`` is ``lsnat_`` and a hash of the source
(itself a pure function of the plan's structure, so of the genome, not of the sizes), the
compiler flags, the torch version and the compiler's version: a search builds each distinct
cell once per machine, later processes load the library (warm: milliseconds). Layers built
together by :func:`prebuild` share one library (a *bundle*), which each layer's folder names.
``<cache>`` is ``$LSTM_SEARCH_CACHE``, else ``$XDG_CACHE_HOME/lstm_search``, else
``~/.cache/lstm_search``. The CUDA targets (:data:`~._native.TARGETS`) are built the same way:
``lscuda_`` libraries from ``main.cu`` by nvcc (a CUDA device and ``CUDA_HOME`` needed),
``lsemu_`` ones from the CUDA source compiled by g++ with the emulation shim (tests).

Several processes building the same library (workers of one search) take turns through an
``flock`` on the library's folder, which the system releases when a process dies; torch's own
lock file left by a killed build is removed under it, so a killed worker never blocks the
next build.

:func:`toolchain_problem` says what is missing (no C++ compiler, no ninja); the caller then
falls back to the ``script`` backend with one warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lstm_search.compile._native import (
    library_source,
    native_refusal,
    native_source,
    plan_code,
)
from lstm_search.compile._plan import Plan

# seconds each library took to build in this process (name -> seconds); a warm load is 0
BUILD_SECONDS: dict[str, float] = {}
_LOADED: dict[str, Any] = {}


class NativeUnavailable(RuntimeError):
    """The native backend cannot run here (no toolchain, or the build failed)."""


def cache_root() -> Path:
    """Where built libraries are kept (see the module's docstring)."""
    env = os.environ.get("LSTM_SEARCH_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lstm_search"


def _compiler() -> str:
    return os.environ.get("CXX", "c++")


@functools.lru_cache(maxsize=1)
def toolchain_problem() -> str | None:
    """What the native backend lacks on this machine (None: nothing)."""
    if shutil.which(_compiler()) is None:
        return (f"no C++ compiler ({_compiler()!r} is not on PATH; install g++, e.g. "
                "`apt-get install g++`)")
    try:
        from torch.utils.cpp_extension import verify_ninja_availability
        verify_ninja_availability()
    except RuntimeError:
        return "no ninja build tool (install it, e.g. `apt-get install ninja-build`)"
    return None


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@functools.lru_cache(maxsize=1)
def cflags() -> tuple[str, ...]:
    """The compiler flags: optimised, no errno from math functions, AVX2/FMA vectors where
    the CPU has them (part of the cache key, so a library never runs on a CPU it was not built
    for), and OpenMP where torch's own parallel loops are OpenMP: ``at::parallel_for`` is a
    header template whose ``#pragma omp parallel`` a library compiled without ``-fopenmp``
    silently runs on one thread. The library's OpenMP calls resolve to the runtime torch has
    already loaded (``libgomp.so.1``), so it shares torch's thread pool and
    ``torch.set_num_threads``."""
    flags = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
    if {"avx2", "fma"} <= _cpu_flags():
        flags += ["-mavx2", "-mfma"]
    if torch._C.has_openmp:
        flags.append("-fopenmp")
    return tuple(flags)


@functools.lru_cache(maxsize=1)
def _compiler_version() -> str:
    try:
        out = subprocess.run([_compiler(), "--version"], capture_output=True, text=True,
                             timeout=30, check=False)
        return out.stdout.splitlines()[0] if out.stdout else ""
    except (OSError, subprocess.SubprocessError):
        return ""


# the library name's prefix per target (:data:`~._native.TARGETS`)
PREFIXES = {"cpu": "lsnat_", "cuda": "lscuda_", "cuda-emulated": "lsemu_"}


def library_name(plan: Plan, target: str = "cpu") -> str:
    """``lsnat_<hash>`` (``lscuda_``, ``lsemu_`` for the CUDA targets) of a layer's whole
    source (the shared prelude and the layer's code, a pure function of the plan's structure),
    the flags, torch's and the compiler's versions: a change to any of them, the prelude's
    helpers included, builds a new library rather than loading one built from other code."""
    text = "\0".join([native_source(plan, "lsnat", target), " ".join(cflags()),
                      torch.__version__, _compiler_version(), sys.version.split()[0]])
    return PREFIXES[target] + hashlib.sha256(text.encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def cuda_toolchain_problem() -> str | None:
    """What building CUDA kernels lacks here (None: nothing): a CUDA device for torch, and
    nvcc where torch's extension builder looks (CUDA_HOME)."""
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    from torch.utils.cpp_extension import CUDA_HOME
    if CUDA_HOME is None or not (Path(CUDA_HOME) / "bin" / "nvcc").exists():
        return "no CUDA toolkit (nvcc not found; set CUDA_HOME)"
    return toolchain_problem()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lstm_search.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(folder: Path, name: str, sources: list[str], target: str = "cpu") -> float:
    """Build ``sources`` (translation units, compiled in parallel by ninja; CUDA C++ by nvcc
    for the ``cuda`` target) into ``folder/name.so`` and load it; the seconds it took."""
    stale = folder / "lock"  # torch's lock, left by a build killed midway
    if stale.exists():
        stale.unlink()
    from torch.utils.cpp_extension import load as build
    t = time.perf_counter()
    paths = []
    ext = ".cu" if target == "cuda" else ".cpp"
    for i, source in enumerate(sources):
        paths.append(folder / (f"main{ext}" if i == 0 else f"part{i}{ext}"))
        paths[-1].write_text(source)
    try:
        build(name=name, sources=[str(p) for p in paths], is_python_module=False,
              build_directory=str(folder), extra_cflags=list(cflags()),
              extra_cuda_cflags=["-O3"] if target == "cuda" else None, verbose=False)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
        detail = str(e).strip().splitlines()
        raise NativeUnavailable(f"building {name} in {folder} failed: "
                                + (detail[-1] if detail else type(e).__name__)) from e
    return time.perf_counter() - t


def _load_bundled(folder: Path, name: str) -> Any | None:
    """The operators of ``name`` from the bundle its folder names, if built."""
    marker = folder / "bundle"
    if not marker.exists():
        return None
    bundle = marker.read_text().strip()
    if not any(bundle.startswith(p + "b") for p in PREFIXES.values()) \
            or not bundle.isidentifier():
        return None
    so = cache_root() / "native" / bundle / f"{bundle}.so"
    if not so.exists():
        return None
    torch.ops.load_library(str(so))
    return getattr(torch.ops, f"{name}_{bundle.split('_', 1)[1]}")


def load(plan: Plan, target: str = "cpu") -> tuple[str, Any]:
    """The library name and operators (``torch.ops.<namespace>``) of ``plan``'s layer for
    ``target`` (:data:`~._native.TARGETS`): loaded when this process has them, else from the
    cache when built before (by itself or, on CPU, in a bundle, :func:`prebuild`), else built
    now (its seconds in :data:`BUILD_SECONDS`). Raises :class:`NativeUnavailable` naming the
    problem."""
    problem = cuda_toolchain_problem() if target == "cuda" else toolchain_problem()
    if problem is not None:
        raise NativeUnavailable(problem)
    name = library_name(plan, target)
    if name in _LOADED:
        return name, _LOADED[name]
    folder = cache_root() / "native" / name
    so = folder / f"{name}.so"
    with _locked(folder):
        ops = _load_bundled(folder, name)
        if ops is not None:
            BUILD_SECONDS.setdefault(name, 0.0)
        elif so.exists():
            torch.ops.load_library(str(so))
            BUILD_SECONDS.setdefault(name, 0.0)
            ops = getattr(torch.ops, name)
        else:
            BUILD_SECONDS[name] = _build(folder, name, [native_source(plan, name, target)],
                                         target)
            ops = getattr(torch.ops, name)
    _LOADED[name] = ops
    return name, ops


def prebuild(plans: list[Plan], target: str = "cpu") -> float:
    """Build the layers of ``plans`` not built yet on this machine for ``target`` as one
    library (the compiler parses torch's headers once for all of them, instead of once per
    layer: what a search over many cells or a test suite wants); the seconds it took (0:
    nothing to build). Later :func:`load` calls, in any process, find each layer in it."""
    problem = cuda_toolchain_problem() if target == "cuda" else toolchain_problem()
    if problem is not None:
        raise NativeUnavailable(problem)
    todo: dict[str, Plan] = {}
    for plan in plans:
        if native_refusal(plan) is not None:
            continue
        name = library_name(plan, target)
        folder = cache_root() / "native" / name
        if name in _LOADED or (folder / f"{name}.so").exists() or (folder / "bundle").exists():
            continue
        todo.setdefault(name, plan)
    if not todo:
        return 0.0
    names = sorted(todo)
    prefix = PREFIXES[target]
    bundle = prefix + "b" + hashlib.sha256("\0".join(names).encode()).hexdigest()[:19]
    tag = bundle[len(prefix):]
    folder = cache_root() / "native" / bundle
    with _locked(folder):
        if (folder / f"{bundle}.so").exists():
            torch.ops.load_library(str(folder / f"{bundle}.so"))
            seconds = 0.0
        else:
            # one translation unit per core (ninja compiles them side by side)
            k = max(1, min(os.cpu_count() or 1, (len(names) + 3) // 4))
            codes = [plan_code(todo[n], f"{n}_{tag}", target) for n in names]
            seconds = _build(folder, bundle,
                             [library_source(codes[i::k], target) for i in range(k)], target)
    for n in names:
        marker = cache_root() / "native" / n
        marker.mkdir(parents=True, exist_ok=True)
        tmp = marker / f"bundle.{os.getpid()}"
        tmp.write_text(bundle + "\n")
        os.replace(tmp, marker / "bundle")
        _LOADED.setdefault(n, getattr(torch.ops, f"{n}_{tag}"))
        BUILD_SECONDS.setdefault(n, 0.0)
    return seconds
