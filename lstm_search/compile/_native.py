"""Code generation for the ``native`` backend: C++ for one layer's whole sequence.

The generated library has the calling convention of the TorchScript program
(:mod:`._codegen`, the same :class:`~._codegen.Layout`): ``forward``, ``forward_save`` and
``backward`` over the whole sequence, registered as operators of their own namespace
(``torch.ops.<namespace>``). What differs is the step: where TorchScript dispatches one kernel
per pointwise op (about 15 forward and 30 backward per step for an LSTM), each step here is

* the matrix products of the step (one per recurrent source, through oneDNN with a weight
  packed once per call when ``packed``, else ``at::linear``), and
* one loop over the batch's rows and units computing every pointwise op of the step in
  registers (forward: the values; backward: the derivative of every op, in reverse), split
  only where a product reads a value computed in the same step (``W (r ⊙ h)`` of GRU-like
  cells): a *segment* per such product.

The values the backward reads are stored once per step (``forward_save``), the same set the
TorchScript backward reads. In float32 the exponential, sigmoid and tanh are written as
polynomials (Cephes' ``expf``, relative error about 1e-7; tanh as Eigen's rational
interpolant, below 3e-7) that the C++ compiler vectorises; float64 calls the C library. Every
identifier in the source is made here from plan positions, numbers are written with
``repr(float(...))``: nothing from the genome's strings reaches the source, as in
:mod:`._codegen`.

For CUDA (``target="cuda"``) each loop becomes a kernel with a thread per element (row b,
unit j), its arguments the host values the loop reads, launched in the loop's place on the
current stream; the float math is the device's own (``exp``, ``tanh``, ``log1p``). The same
CUDA source compiled by the C++ compiler with ``LS_EMULATE_CUDA`` runs each kernel's threads
one after the other on the CPU (``target="cuda-emulated"``): how the kernels are tested where
there is no GPU.

Genome format 2's values from the layer below (``below:``, Depth-Gated and Grid LSTM stacks)
are covered where steps read them pointwise: the layer below's new states (T, B, n) follow the
layer's own states in the operators' state list, the layer's own new states at every step are
returned after its final states for the layer above, and the backward takes their gradients
after the states' and returns the gradient of the values below last (the calling convention
of the TorchScript program, :mod:`._codegen`).

:func:`native_refusal` names what a plan uses that the generator does not cover (genome
format 2's attention, head-wise and spatial values, clocks, a product of a value from the
layer below, dropout masks, and the per-group ``norm``); such a layer runs the ``script``
backend instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from lstm_search.compile._codegen import Layout, layout
from lstm_search.compile._plan import Group, Plan, Step

# the pointwise ops the fused loop computes (proj: a slot of a product, copy: identity/fit)
NATIVE_OPS = frozenset({
    "proj", "copy", "add", "mean", "mul", "sub", "blend", "one_minus", "sigmoid", "tanh",
    "relu", "leaky_relu", "diag", "exp", "log", "softplus", "logsigmoid", "max", "min", "div",
    "sqrt", "abs", "scale"})

# rows of work under which a step's loop runs on one thread (at::parallel_for's grain), in
# elements (rows × units): below it, waking a second thread costs more than it saves. Measured
# on the 2-core Intel Xeon, 2 threads, forward + backward against torch.nn.LSTM (two runs of
# 15 and 25 repetitions): grains of 2048 / 4096 / 16384 / one thread gave lstm at hidden 200,
# batch 20 (4000 elements a step) 1.06-1.12 / 1.12-1.16 / 1.11-1.16 / 1.12; at batch 64
# 1.05-1.08 / 1.02-1.06 / 1.12-1.17 / 1.22; at hidden 650 all grains split the rows (0.86-0.93)
GRAIN = 2048

# where a library runs: "cpu" (the fused loops of this module), "cuda" (each loop a CUDA
# kernel, built by nvcc) or "cuda-emulated" (the CUDA source compiled by the C++ compiler with
# a shim that runs each kernel's threads one after the other on the CPU: the kernels' code
# checked where no CUDA toolchain is)
TARGETS: tuple[str, ...] = ("cpu", "cuda", "cuda-emulated")


def native_refusal(plan: Plan) -> str | None:
    """Why ``plan`` cannot run on the native backend (None: it can)."""
    if plan.kernel:
        return "spatial values (genome format 2)"
    if plan.heads:
        return "head-wise values (genome format 2)"
    if plan.attentions:
        return "attention over earlier states (genome format 2)"
    if plan.clocks:
        return "a clock (genome format 2)"
    if any(g.source[0] == "u" for g in plan.groups):
        return "a product of the layer below's values (genome format 2)"
    if plan.masks:
        return "variational dropout masks (genome format 2)"
    for s in plan.steps:
        if s.op not in NATIVE_OPS:
            return f"op {s.op!r}"
        if s.op == "proj" and s.diag_add and plan.groups[s.group].source == "x":
            return "a diagonal term on a projection of x"
    return None


def _f(v: float) -> str:
    """A C++ literal of type T."""
    return f"T({float(v)!r})"


_PRELUDE = r'''// generated by lstm_search.compile._native: recurrent layers, forward and backward
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// the BLAS torch links (MKL's or OpenBLAS's Fortran gemm), where the loaded libraries have it
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*,
            const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*) __attribute__((weak));
}
inline bool has_gemm(float*) { return sgemm_ != nullptr; }
inline bool has_gemm(double*) { return dgemm_ != nullptr; }
inline void gemm(const char* ta, const int* M, const int* N, const int* K, const float* beta,
                 const float* A, const int* lda, const float* B, const int* ldb, float* C,
                 const int* ldc) {
  const float one = 1.0f;
  sgemm_(ta, "N", M, N, K, &one, A, lda, B, ldb, beta, C, ldc);
}
inline void gemm(const char* ta, const int* M, const int* N, const int* K, const double* beta,
                 const double* A, const int* lda, const double* B, const int* ldb, double* C,
                 const int* ldc) {
  const double one = 1.0;
  dgemm_(ta, "N", M, N, K, &one, A, lda, B, ldb, beta, C, ldc);
}

// a (R, K) times w^T (w: (N, K) or a transposed view) [+ b] by one BLAS call into a new
// (R, N) tensor: a step's product without the layers of at::linear (matmul, t, addmm) and
// their per-call cost; false where the shapes or strides do not fit a single gemm call
template <typename T>
bool blas_linear(at::Tensor& out, const at::Tensor& a, const at::Tensor& w,
                 const std::optional<at::Tensor>& b) {
  if (!has_gemm(static_cast<T*>(nullptr)) || a.dim() != 2 || w.dim() != 2) return false;
  const int64_t R = a.size(0), K = a.size(1), N = w.size(0);
  const int64_t lim = std::numeric_limits<int>::max();
  if (R < 1 || K < 1 || N < 1 || w.size(1) != K || R > lim || K > lim || N > lim) return false;
  if (a.stride(1) != 1 || a.stride(0) < K || a.stride(0) > lim) return false;
  char ta;
  int64_t lw;
  if (w.stride(1) == 1 && w.stride(0) >= K) {  // row-major (N, K): column-major K x N
    ta = 'T';
    lw = w.stride(0);
  } else if (w.stride(0) == 1 && w.stride(1) >= N) {  // a transposed view: N x K
    ta = 'N';
    lw = w.stride(1);
  } else {
    return false;
  }
  if (lw > lim) return false;
  if (b.has_value() && (b->dim() != 1 || b->size(0) != N || b->stride(0) != 1
                       || b->scalar_type() != a.scalar_type())) return false;
  out = at::empty({R, N}, a.options());
  T* c = out.data_ptr<T>();
  T beta = T(0);
  if (b.has_value()) {
    const T* bp = b->data_ptr<T>();
    for (int64_t r = 0; r < R; ++r) std::memcpy(c + r * N, bp, sizeof(T) * N);
    beta = T(1);
  }
  const int M_ = static_cast<int>(N), N_ = static_cast<int>(R), K_ = static_cast<int>(K);
  const int lda = static_cast<int>(lw), ldb = static_cast<int>(a.stride(0)), ldc = M_;
  gemm(&ta, &M_, &N_, &K_, &beta, w.data_ptr<T>(), &lda, a.data_ptr<T>(), &ldb, c, &ldc);
  return true;
}

// a (R, in) times w (out, in)^T [+ b]: oneDNN with a weight packed once (packed), else one
// BLAS call (blas_linear), else at::linear (the ATen operator F.linear calls)
at::Tensor mm(const at::Tensor& a, const at::Tensor& w, const std::optional<at::Tensor>& b,
              bool packed) {
  if (!packed && a.scalar_type() == w.scalar_type() && a.device().is_cpu()) {
    at::Tensor out;
    if (a.scalar_type() == at::kFloat && blas_linear<float>(out, a, w, b)) return out;
    if (a.scalar_type() == at::kDouble && blas_linear<double>(out, a, w, b)) return out;
  }
  if (packed) {
    static auto op = c10::Dispatcher::singleton()
        .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
        .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                          const std::optional<at::Tensor>&, c10::string_view,
                          c10::List<std::optional<c10::Scalar>>,
                          std::optional<c10::string_view>)>();
    return op.call(a, w, b, "none", c10::List<std::optional<c10::Scalar>>(),
                   c10::string_view(""));
  }
  return at::linear(a, w, b);
}

// rows b0 .. b0 + rb of a (B, ...) tensor (the tensor itself when they are all of them)
inline at::Tensor rows(const at::Tensor& t, int64_t b0, int64_t rb) {
  return rb == t.size(0) ? t : t.narrow(0, b0, rb);
}

// blocks of batch rows a step loop runs on threads of their own, every step of a block on one
// thread (its products single-threaded inside the parallel region): rows never mix in a cell,
// so the blocks share nothing but the weights, where one product per step over the batch
// would split a small product over threads and wait for them twice a step
constexpr int64_t MIN_BLOCK_ROWS = 8;  // fewer rows a product: its own cost per call dominates
inline int64_t row_blocks(int64_t B, bool packed) {
  const int64_t th = at::get_num_threads();
  if (packed || th < 2 || at::in_parallel_region()) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(th, B / MIN_BLOCK_ROWS));
}

// float32: Cephes' expf (range reduction by ln 2, degree-6 polynomial), branch-free so that
// the compiler vectorises the loops calling it. 2^k is applied as two factors so that k = 128
// (x up to ln FLT_MAX = 88.72) does not overflow the exponent field: above, the product
// overflows to inf as expf does; below -87 (denormal results) it returns 0; NaN stays NaN
inline float ex(float x) {
  const float xc = x > 88.8f ? 88.8f : (x < -87.5f ? -87.5f : x);
  const float k = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - k * 0.693359375f;
  r = r + k * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3333452e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r2 + r + 1.0f;
  const int32_t ki = static_cast<int32_t>(k);
  const int32_t k1 = ki / 2;
  const int32_t bits1 = (k1 + 127) << 23;
  const int32_t bits2 = (ki - k1 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &bits1, sizeof s1);
  std::memcpy(&s2, &bits2, sizeof s2);
  return x < -87.0f ? 0.0f : y * s1 * s2;
}
inline double ex(double x) { return std::exp(x); }

template <typename T> inline T sig(T x) { return T(1) / (T(1) + ex(-x)); }

// float32 tanh: Eigen's 13/6-degree rational interpolant (odd numerator over even
// denominator in x², one division and no exponential; within 5 ulp of tanh, relative error
// below 3e-7), exactly ±1 beyond |x| = 7.905 where the clamp holds, x itself below
// |x| = 0.0004 (as tanh is in float32, -0 and denormals kept), NaN kept
inline float th(float x) {
  const float c = x > 7.90531110763549805f ? 7.90531110763549805f
                  : (x < -7.90531110763549805f ? -7.90531110763549805f : x);
  const float z = c * c;
  float p = -2.76076847742355e-16f;
  p = p * z + 2.00018790482477e-13f;
  p = p * z - 8.60467152213735e-11f;
  p = p * z + 5.12229709037114e-08f;
  p = p * z + 1.48572235717979e-05f;
  p = p * z + 6.37261928875436e-04f;
  p = p * z + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * z + 1.18534705686654e-04f;
  q = q * z + 2.26843463243900e-03f;
  q = q * z + 4.89352518554385e-03f;
  const float r = std::fabs(x) < 0.0004f ? x : c * p / q;
  return x != x ? x : r;
}
inline double th(double x) { return std::tanh(x); }

// torch.maximum / torch.minimum: NaN if either is
template <typename T> inline T mx(T a, T b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
template <typename T> inline T mn(T a, T b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
// float32 log of a positive normal number: Cephes' logf (x = m 2^e with m in [sqrt(1/2),
// sqrt(2)), a degree-9 polynomial in m - 1), branch-free: the exponent and mantissa come from
// the bits, so loops calling it vectorise
inline float lgp(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int32_t e = ((bits >> 23) & 0xff) - 126;
  const int32_t mbits = (bits & 0x007fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &mbits, sizeof m);
  const bool low = m < 0.707106781186547524f;
  const float fe = static_cast<float>(e) - (low ? 1.0f : 0.0f);
  const float r = low ? m + m - 1.0f : m - 1.0f;
  const float z = r * r;
  float p = 7.0376836292e-2f;
  p = p * r - 1.1514610310e-1f;
  p = p * r + 1.1676998740e-1f;
  p = p * r - 1.2420140846e-1f;
  p = p * r + 1.4249322787e-1f;
  p = p * r - 1.6668057665e-1f;
  p = p * r + 2.0000714765e-1f;
  p = p * r - 2.4999993993e-1f;
  p = p * r + 3.3333331174e-1f;
  float y = p * r * z;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return r + y + 0.693359375f * fe;
}
// log1p(y) for 0 <= y <= 1e30 (the callers pass e^x for x <= 20) or NaN (kept):
// log(u) * y / (u - 1) with u = 1 + y, exact to float rounding also where 1 + y rounds
// (Goldberg's correction)
inline float l1p(float y) {
  const float u = 1.0f + y;
  const float d = u - 1.0f;
  const float v = d == 0.0f ? y : lgp(u) * (y / d);
  return y != y ? y : v;
}
inline double l1p(double y) { return std::log1p(y); }
// F.softplus with beta 1, threshold 20; F.logsigmoid
template <typename T> inline T sp(T x) { return x > T(20) ? x : l1p(ex(x)); }
template <typename T> inline T lsg(T x) {
  return (x < T(0) ? x : T(0)) - l1p(ex(-std::fabs(x)));
}
// torch.relu (NaN stays NaN), torch.sign
template <typename T> inline T rl(T x) { return x < T(0) ? T(0) : x; }
template <typename T> inline T sgn(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

template <typename T> inline T* ptr(const at::Tensor& t) { return t.data_ptr<T>(); }
'''


_CUDA_PRELUDE = r'''// generated by lstm_search.compile._native for CUDA: recurrent layers, forward
// and backward, each step's fused loops one kernel each (a thread per row and unit)
#define TORCH_ASSERT_ONLY_METHOD_OPERATORS
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <math.h>
#include <optional>
#include <vector>

#ifdef LS_EMULATE_CUDA
// the kernels compiled by the C++ compiler and run on the CPU, their threads one after the
// other in index order (what a test can check without a GPU: the kernels' own code)
#define __global__
#define __host__
#define __device__
#define __restrict__
struct ls_dim3 { unsigned int x = 0; };
static thread_local ls_dim3 blockIdx, threadIdx, blockDim;
#define LS_LAUNCH(kernel, total, ...) do { \
    const int64_t ls_total = (total); blockDim.x = 256; \
    for (int64_t ls_i = 0; ls_i < ls_total; ++ls_i) { \
      blockIdx.x = static_cast<unsigned int>(ls_i / 256); \
      threadIdx.x = static_cast<unsigned int>(ls_i % 256); \
      kernel(__VA_ARGS__); \
    } \
  } while (0)
#else
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#define LS_LAUNCH(kernel, total, ...) do { \
    const int64_t ls_total = (total); \
    if (ls_total > 0) { \
      kernel<<<static_cast<unsigned int>((ls_total + 255) / 256), 256, 0, \
               at::cuda::getCurrentCUDAStream()>>>(__VA_ARGS__); \
      C10_CUDA_KERNEL_LAUNCH_CHECK(); \
    } \
  } while (0)
#endif

namespace {

// cuBLAS through at::linear: a (R, in) times w (out, in)^T [+ b] (no packed weights here)
at::Tensor mm(const at::Tensor& a, const at::Tensor& w, const std::optional<at::Tensor>& b,
              bool) {
  return at::linear(a, w, b);
}

// rows b0 .. b0 + rb of a (B, ...) tensor (the tensor itself when they are all of them)
inline at::Tensor rows(const at::Tensor& t, int64_t b0, int64_t rb) {
  return rb == t.size(0) ? t : t.narrow(0, b0, rb);
}

// the device's own exp, tanh, log1p (float and double overloads); the same formulas as the
// CPU prelude's sigmoid, softplus (beta 1, threshold 20), logsigmoid, max/min (NaN if either
// is), relu and sign
template <typename T> __host__ __device__ inline T ex(T x) { return exp(x); }
template <typename T> __host__ __device__ inline T th(T x) { return tanh(x); }
template <typename T> __host__ __device__ inline T l1p(T x) { return log1p(x); }
template <typename T> __host__ __device__ inline T sig(T x) { return T(1) / (T(1) + ex(-x)); }
template <typename T> __host__ __device__ inline T mx(T a, T b) {
  return (a != a || b != b) ? a + b : (a > b ? a : b);
}
template <typename T> __host__ __device__ inline T mn(T a, T b) {
  return (a != a || b != b) ? a + b : (a < b ? a : b);
}
template <typename T> __host__ __device__ inline T sp(T x) {
  return x > T(20) ? x : l1p(ex(x));
}
template <typename T> __host__ __device__ inline T lsg(T x) {
  return (x < T(0) ? x : T(0)) - l1p(ex(-fabs(x)));
}
template <typename T> __host__ __device__ inline T rl(T x) { return x < T(0) ? T(0) : x; }
template <typename T> __host__ __device__ inline T sgn(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

template <typename T> inline T* ptr(const at::Tensor& t) { return t.data_ptr<T>(); }
'''


class _Terms:
    """The gradient terms of one backward loop: ``add(ref, expr)`` adds a term to ``ref``'s
    gradient, ``add.line(text)`` a line of the loop's body (a temporary)."""

    def __init__(self, terms: dict[str, list[str]], body: list[str]) -> None:
        self.terms, self.body = terms, body

    def __call__(self, ref: str, expr: str) -> None:
        self.terms.setdefault(ref, []).append(expr)

    def line(self, text: str) -> None:
        self.body.append(text)


@dataclass(frozen=True)
class _Seg:
    """The steps of one fused loop, in plan order."""

    index: int
    steps: tuple[Step, ...]


# ops whose recomputation in a backward costs more than reading their saved value
_COSTLY = frozenset({"exp", "log", "sqrt", "softplus", "logsigmoid"})


class _Gen:
    """The C++ source of one plan (see the module's docstring)."""

    def __init__(self, plan: Plan, target: str = "cpu") -> None:
        reason = native_refusal(plan)
        if reason is not None:
            raise ValueError(f"the native backend does not cover {reason}")
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
        self.cuda = target != "cpu"
        self.pending: list[tuple[list[str], list[str]]] = []  # CUDA: the loops to kernelise
        self.plan = plan
        self.lay: Layout = layout(plan)
        self.xg: Group | None = plan.x_group
        self.pg: Group | None = plan.groups[plan.pair_group] if plan.n_pairs else None
        self.full_pairs = (self.pg is not None and self.xg is not None and
                           plan.n_pairs == len(self.pg.members) == len(self.xg.members))
        self.by_pos = {s.pos: s for s in plan.steps}
        self.sgroups = [g for g in plan.step_groups if g.source[0] == "s"]
        self.vgroups = [g for g in plan.step_groups if g.source[0] == "v"]
        # segment of every value: 0 for x, states and the step's products of states; a
        # product of an internal value (a v-group) is available one segment after its source
        seg: dict[str, int] = {}
        for st in plan.steps:
            k = max((seg.get(a, 0) for a in st.args), default=0)
            if st.op == "proj" and plan.groups[st.group].source[0] == "v":
                k = max(k, seg[plan.groups[st.group].source] + 1)
            seg[st.out] = k
        self.seg = seg
        n_seg = 1 + max(seg.values(), default=0)
        self.segs = [_Seg(i, tuple(s for s in plan.steps if seg[s.out] == i))
                     for i in range(n_seg)]
        # values read in a later segment than their own, or by a product: kept in a (B, n)
        # buffer per step (the saved stack's row when the backward saves it anyway)
        self.crossing = sorted(
            {a for st in plan.steps for a in st.args
             if a[0] == "v" and seg[a] < seg[st.out]}
            | {g.source for g in self.vgroups}, key=lambda r: int(r[1:]))
        # a step without matrix products (every projection hoisted: gates of x alone, as in
        # minGRU, minLSTM, RG-LRU): rows never mix, so on CPU one parallel loop over the rows
        # runs every step, the time loop inside it, with no tensor operation per step
        self.time_inside = (not self.cuda and not plan.step_groups and len(self.segs) == 1
                            and not self.crossing and not plan.below)
        # a time-inside plan without costly functions trains saving what its steps read (the
        # states before each step, the input's products xp, the raw input) rather than the
        # values its backward needs, and the backward recomputes them: 40-50 % less saved memory
        # for minGRU and minLSTM, and 5-19 % faster forward + backward at T = 1024 (minLSTM
        # at hidden 256: 144 ms against 177; minGRU at 64: 10.8 against 12.6), where with exp
        # and sqrt to recompute (RG-LRU) it was 7-14 % slower (2-core Intel Xeon, 2 threads,
        # batch 16; benchmarks/results/native_time_inside-2026-12-07-intel.md)
        # a CPU step loop chaining two products a step runs per block of batch rows (the
        # prelude's row_blocks; why, measured: _blocks_open): a step's products cover the
        # block's rows, B0 .. B1, and its loops those rows
        self.row_blocks = (not self.cuda and not self.time_inside and bool(self.vgroups)
                           and len(self.sgroups) + len(self.vgroups) <= 2)
        self.recompute = False
        if self.time_inside and not any(st.op in _COSTLY for st in plan.steps):
            self.use_recompute()
        # a time-inside plan's loop adds the x group's bias as it reads the products, and its
        # backward sums the bias's gradient as it writes theirs: the product no longer copies
        # the bias into every row first and reads it back (beta = 1), and no second pass reads
        # the products' gradients for their sum (minGRU at T = 1024, hidden 64: 8 MB copied
        # and 8 MB summed per forward + backward). Forward + backward, batch 16, both orders
        # of the pair, 2-core Intel Xeon: at 2 threads minGRU 9.3 / 9.0 ms against 10.1 /
        # 10.1, minLSTM 11.8 / 11.6 against 15.8 / 13.1, RG-LRU 10.7 / 11.1 against 11.7 /
        # 12.1; at hidden 256 (1 thread) and at 35 steps, hidden 200 within the spread
        if self.time_inside and self.xg is not None and self.xg.n_bias:
            self.lay = replace(self.lay, loop_bias=True)
        # ... and saves no copy of the raw input (its backward is handed the input itself)
        if self.time_inside:
            copies = {st.out for st in plan.steps if st.op == "copy" and st.args == ("xt",)}
            self.lay = replace(self.lay, from_input=tuple(
                r for r in self.lay.saved if r == "xt" or r in copies))
        # a time-inside plan's saved exp(2·y) whose twin exp(y) is saved too
        # (:meth:`_exp_of_half`): not stored; the backward squares the twin (RG-LRU: one
        # (T, B, n) array less written and read)
        self.squares: dict[str, str] = {}
        for st in plan.steps if self.time_inside else ():
            twin = self._exp_of_half(st) if st.op == "exp" else None
            if twin and st.out in self.lay.saved and twin in self.lay.saved:
                self.squares[st.out] = twin

    def _blocks_open(self) -> list[str]:
        """The start of the loop over blocks of batch rows B0 .. B1 (RB rows): on CPU one block
        per thread where :func:`row_blocks` splits the batch, else (CUDA) the whole batch."""
        if not self.row_blocks:
            return ["  {", "  const int64_t B0 = 0, B1 = B, RB = B; (void)B1;"]
        # blocks where a step chains two products (the second of a value the step computed:
        # MUT1's and MUT2's W (r ⊙ h)): forward + backward at 2 threads, hidden 200, against
        # one product per step over the batch, both orders of the pair, medians of 25: batch
        # 20 mut1 0.70 vs 0.75 torch.nn.LSTM, mut2 0.80 vs 0.84; batch 64 mut1 0.66 vs 0.72.
        # Longer chains gain nothing or lose (mut3, three products: 0.98 vs 1.02, within the
        # spread; darts_v1, nine: 3.18 vs 3.10; enas 4.30 vs 3.96), and so does a step of one
        # product (the LSTM: 1.12 vs 1.08 at batch 20, 1.07 vs 1.08 at 64; the GRU 0.84 vs
        # 0.85 and 0.83 vs 0.87, within the spread): each thread's product packs the whole
        # weight again (two threads on 10 rows each took 13.6 us for a 200 x 200 weight where
        # one product on 2 threads took 10.8)
        return ["  const int64_t nblk = row_blocks(B, packed);",
                "  at::parallel_for(0, nblk, 1, [&](int64_t k0, int64_t k1) {",
                "  for (int64_t k = k0; k < k1; ++k) {",
                "  const int64_t B0 = k * B / nblk, B1 = (k + 1) * B / nblk, RB = B1 - B0;"]

    def _blocks_close(self) -> list[str]:
        return ["  }", "  });"] if self.row_blocks else ["  }"]

    @property
    def _b(self) -> str:
        """The row of a block's product (a step product covers the block's rows only)."""
        return "(b - B0)" if self.row_blocks else "b"

    def use_recompute(self) -> None:
        """A time-inside plan's backward recomputes the values from the states, the input's
        products and the raw input, which are all its forward saves."""
        if not self.time_inside:  # pragma: no cover - the step-by-step program saves values
            raise ValueError("only a time-inside plan recomputes its values")
        plan = self.plan
        read = {a for st in plan.steps for a in st.args}
        self.recompute = True
        self.lay = replace(self.lay, saved=(
            *(f"s{j}" for j in range(plan.n_states) if f"s{j}" in read),
            *(("xt",) if "xt" in read else ()),
            *(("xp",) if self.xg is not None else ())))

    # -- forward -------------------------------------------------------------------------------
    def _load(self, ref: str) -> str:
        """The C++ expression of ``ref``'s value at element (b, j) in the forward loop."""
        if ref == "xt":
            return "xt_row[j]"
        if ref[0] in "su":  # a previous state, the layer below's new state (format 2)
            return f"{ref}_row[j]"
        if ref[0] == "r":
            i, pg = int(ref[1:]), self.pg.gid  # type: ignore[union-attr]
            return f"(xp_row[{i} * n + j] + g{pg}_row[{i} * n + j])"
        return ref  # a local already computed (or loaded) in this loop

    def _value(self, st: Step) -> str:
        a = [self._load(r) for r in st.args]
        op = st.op
        if op == "proj":
            g = self.plan.groups[st.group]
            row = "xp_row" if g.hoisted else f"g{g.gid}_row"
            e = f"{row}[{st.slot} * n + j]"
            if g.hoisted and self.lay.loop_bias:
                e = f"({e} + bx_p[{st.slot} * n + j])"
            if st.diag_add:
                e = f"{e} + {_f(st.diag_add)} * {self._load(g.source)}"
            return e
        if op in ("copy",):
            return a[0]
        if op == "add":
            return " + ".join(a)
        if op == "mean":
            return f"({' + '.join(a)}) / {_f(len(a))}"
        if op == "mul":
            return " * ".join(a)
        if op == "sub":
            return f"{a[0]} - {a[1]}"
        if op == "blend":  # z ⊙ a + (1 − z) ⊙ b
            return f"{a[0]} * {a[1]} + (T(1) - {a[0]}) * {a[2]}"
        if op == "one_minus":
            return f"T(1) - {a[0]}"
        if op == "sigmoid":
            return f"sig({a[0]})"
        if op == "tanh":
            return f"th({a[0]})"
        if op == "relu":
            return f"rl({a[0]})"
        if op == "leaky_relu":
            if st.slope <= 1.0:
                return f"({a[0]} > T(0) ? {a[0]} : {a[0]} * {_f(st.slope)})"
            return f"({a[0]} > T(0) ? {a[0]} * {_f(st.slope)} : {a[0]})"
        if op == "diag":
            return f"p{st.pos}_p[j] * {a[0]}"
        if op == "exp":
            twin = self._exp_of_half(st)
            return f"{twin} * {twin}" if twin else f"ex({a[0]})"
        if op == "log":
            return f"std::log({a[0]})"
        if op == "softplus":
            return f"sp({a[0]})"
        if op == "logsigmoid":
            return f"lsg({a[0]})"
        if op == "max":
            return f"mx({a[0]}, {a[1]})"
        if op == "min":
            return f"mn({a[0]}, {a[1]})"
        if op == "div":
            den = f"({a[1]} + {_f(st.const)})" if st.const else a[1]
            return f"{a[0]} / {den}"
        if op == "sqrt":
            return f"std::sqrt({a[0]})"
        if op == "abs":
            return f"std::fabs({a[0]})"
        if op == "scale":
            return f"{a[0]} * {_f(st.const)}"
        raise ValueError(f"no native rule for op {op!r}")  # pragma: no cover

    def _exp_of_half(self, st: Step) -> str | None:
        """For ``exp(2·y)`` where the same loop computed ``e = exp(y)`` before it, ``e``: the
        value is then ``e·e``, one exponential less per element (RG-LRU's ``a² = exp(2 log a)``
        beside ``a = exp(log a)``, De et al. 2024, eq. 4; equal up to rounding: both overflow to
        inf, and for y below −43.5 both are 0 or a denormal under 1.2e-38)."""
        src = self.by_pos.get(int(st.args[0][1:])) if st.args[0][0] == "v" else None
        if src is None or src.op != "scale" or src.const != 2.0 or src.args[0][0] != "v":
            return None
        y = src.args[0]
        twin = next((s for s in self.plan.steps if s.op == "exp" and s.args == (y,)
                     and s.pos < st.pos), None)
        if twin is None or self.seg[twin.out] != self.seg[st.out]:
            return None
        return twin.out

    def _rows(self, refs: set[str]) -> list[str]:
        """Row pointers (row b) of the arrays a forward loop reads."""
        plan = self.plan
        out: list[str] = []
        if "xp" in refs and self.xg is not None:
            out.append("const T* xp_row = xp_t + b * KX;")
        if "xt" in refs:
            out.append("const T* xt_row = x_t + b * m;")
        for j in range(plan.n_states):
            if f"s{j}" in refs:
                out.append(f"const T* s{j}_row = s{j}_p + b * n;")
        for j in plan.below:
            if f"u{j}" in refs:
                out.append(f"const T* u{j}_row = ul{j}_t + b * n;")
        for g in self.sgroups + self.vgroups:
            if f"g{g.gid}" in refs:
                out.append(f"const T* g{g.gid}_row = g{g.gid}_p + {self._b} * "
                           f"{len(g.members)} * n;")
        return out

    def _forward_seg(self, sg: _Seg, save: bool) -> list[str]:
        plan = self.plan
        uses: set[str] = set()
        body: list[str] = []
        defined = {st.out for st in sg.steps}
        # values of earlier segments this loop reads: from their buffers
        for st in sg.steps:
            for a in st.args:
                if a[0] == "v" and a not in defined:
                    body.append(f"const T {a} = {a}_b[b * n + j];")
                    defined.add(a)
                if a == "xt":
                    uses.add("xt")
                if a[0] in "su":
                    uses.add(a)
                if a[0] == "r":
                    uses.update(("xp", f"g{self.pg.gid}"))  # type: ignore[union-attr]
            if st.op == "proj":
                g = plan.groups[st.group]
                uses.add("xp" if g.hoisted else f"g{g.gid}")
                if st.diag_add:
                    uses.add(g.source)
        for st in sg.steps:
            body.append(f"const T {st.out} = {self._value(st)};")
        # stores: crossing values, saved values, outputs and new states
        for st in sg.steps:
            r = st.out
            if r in self.crossing:
                body.append(f"{r}_b[b * n + j] = {r};")
        if save:
            for r in self.lay.saved:
                if self._seg_of(r) == sg.index:
                    if r[0] in "sxu" or r in self.lay.from_input or r in self.squares:
                        continue  # a previous state, the raw input, a value below: the caller
                        # copies it, or it is the input itself; a square of a saved value
                    body.append(f"sv_{r}_p[b * n + j] = {self._load(r)};")
                    if r[0] == "r":
                        uses.update(("xp", f"g{self.pg.gid}"))  # type: ignore[union-attr]
        for j, r in enumerate(plan.new_states):
            if self._seg_of(r) == sg.index:
                body.append(f"n{j}_p[b * n + j] = {self._load(r)};")
                if j in plan.below:  # the layer above reads this step's new state
                    body.append(f"em{j}_t[b * n + j] = {self._load(r)};")
                uses.update(self._uses_of(r))
        if self._seg_of(plan.output) == sg.index:
            body.append(f"y_t[b * n + j] = {self._load(plan.output)};")
            uses.update(self._uses_of(plan.output))
        return self._loop(self._rows(uses), body)

    def _uses_of(self, ref: str) -> set[str]:
        if ref == "xt":
            return {"xt"}
        if ref[0] in "su":
            return {ref}
        if ref[0] == "r":
            return {"xp", f"g{self.pg.gid}"}  # type: ignore[union-attr]
        return set()

    def _seg_of(self, ref: str) -> int:
        """The segment whose loop has ``ref``'s value (refs not computed by a step: 0)."""
        return self.seg.get(ref, 0)

    def _loop(self, rows: list[str], body: list[str]) -> list[str]:
        """The loop over rows b and units j of one segment: an ``at::parallel_for`` over the
        rows (CPU), or a placeholder for the launch of the kernel :meth:`_finish` makes of it
        (CUDA: one thread per element)."""
        if self.cuda or self.time_inside:
            self.pending.append((rows, body))
            return [f"@@launch{len(self.pending) - 1}@@"]
        lo, hi = ("B0", "B1") if self.row_blocks else ("0", "B")
        out = [f"at::parallel_for({lo}, {hi}, rows_grain, [&](int64_t b0, int64_t b1) {{",
               "  for (int64_t b = b0; b < b1; ++b) {"]
        out += ["    " + r for r in rows]
        out += ["#pragma GCC ivdep", "    for (int64_t j = 0; j < n; ++j) {"]
        out += ["      " + line for line in body]
        out += ["    }", "  }", "});"]
        return out

    def _rows_loop(self, pre: list[str]) -> list[str]:
        """The one parallel loop of a :attr:`time_inside` plan: over rows b0..b1, every step
        (``pre``: the step's pointers) then the step's loop over the rows and units."""
        rows, body = self.pending.pop()
        out = ["    " + line for line in pre]
        out += ["    for (int64_t b = b0; b < b1; ++b) {"]
        out += ["      " + r for r in rows]
        out += ["#pragma GCC ivdep", "      for (int64_t j = 0; j < n; ++j) {"]
        out += ["        " + line for line in body]
        out += ["      }", "    }"]
        return out

    @staticmethod
    def _forward_head(name: str, grain: str) -> list[str]:
        """The start of a forward operator: signature, sizes, the rows' grain (``grain``: the
        elements of work per row)."""
        return ["template <typename T>",
                f"std::vector<at::Tensor> {name}_impl(const at::Tensor& x_in, "
                "const std::vector<at::Tensor>& s_in, const std::vector<at::Tensor>& w, "
                "bool packed) {",
                "  const at::Tensor x = x_in.contiguous();",
                "  const int64_t TT = x.size(0), B = x.size(1), m = x.size(2);",
                "  const int64_t n = s_in[0].size(1);",
                f"  const int64_t rows_grain = std::max<int64_t>(1, {GRAIN} / {grain});",
                "  const auto opt = x.options();"]

    @staticmethod
    def _backward_head(grain: str) -> list[str]:
        """The start of the backward operator (see :meth:`_forward_head`)."""
        return ["template <typename T>",
                "std::vector<at::Tensor> backward_impl(const at::Tensor& dy_in, "
                "const std::vector<at::Tensor>& ds_in, const std::vector<at::Tensor>& sv, "
                "const std::vector<at::Tensor>& wt, const std::vector<at::Tensor>& pw, "
                "bool packed) {",
                "  const at::Tensor dy = dy_in.contiguous();",
                "  const int64_t TT = dy.size(0), B = dy.size(1), n = dy.size(2);",
                f"  const int64_t rows_grain = std::max<int64_t>(1, {GRAIN} / {grain});",
                "  const auto opt = dy.options();"]

    def _forward_time_inside(self, save: bool) -> list[str]:
        """The forward of a :attr:`time_inside` plan (same operator and results as
        :meth:`forward`'s step-by-step program)."""
        plan, lay = self.plan, self.lay
        name = "forward_save" if save else "forward"
        o = self._forward_head(name, "std::max<int64_t>(1, n * TT)")
        o.append("  const T* x_p = ptr<T>(x);")
        wi = {name_: i for i, name_ in enumerate(lay.weights)}
        if self.xg is not None:
            xg = self.xg
            bias = (f"std::optional<at::Tensor>(w[{wi[f'b{xg.gid}']}])"
                    if xg.n_bias and not lay.loop_bias else "std::optional<at::Tensor>()")
            o += [f"  const at::Tensor xp = mm(x.reshape({{TT * B, m}}), w[{wi[f'w{xg.gid}']}], "
                  f"{bias}, packed).contiguous();",
                  f"  const int64_t KX = {len(xg.members)} * n;",
                  "  const T* xp_p = ptr<T>(xp);"]
            if lay.loop_bias:
                o.append(f"  const T* bx_p = ptr<T>(w[{wi[f'b{xg.gid}']}]);")
        hist = {j for j in range(plan.n_states) if save and f"s{j}" in lay.saved}
        for j in range(plan.n_states):
            if j in hist:
                o += [f"  at::Tensor f{j} = s_in[{j}].contiguous().clone();",
                      f"  T* f{j}_p = ptr<T>(f{j});"]
            else:
                o += [f"  at::Tensor s{j} = s_in[{j}].contiguous().clone();",
                      f"  at::Tensor n{j} = at::empty({{B, n}}, opt);",
                      f"  T* s{j}_p0 = ptr<T>(s{j});",
                      f"  T* n{j}_p0 = ptr<T>(n{j});"]
        o += ["  at::Tensor y = at::empty({TT, B, n}, opt);", "  T* y_p = ptr<T>(y);"]
        if save:
            for r in lay.saved:
                if r == "xp":  # the products themselves, as (TT, B, KX)
                    o.append("  const at::Tensor sv_xp = xp.view({TT, B, KX});")
                    continue
                if r in lay.from_input or r in self.squares:  # the caller hands the backward
                    # x itself; a square the backward recomputes
                    o.append(f"  const at::Tensor sv_{r} = at::empty({{0}}, opt);")
                    continue
                width = "m" if r == "xt" else "n"
                o.append(f"  at::Tensor sv_{r} = at::empty({{TT, B, {width}}}, opt);")
                o.append(f"  T* sv_{r}_p0 = ptr<T>(sv_{r});")
            if "xt" in lay.saved and "xt" not in lay.from_input:
                o.append("  sv_xt.copy_(x);")
        for j in sorted(hist):
            o.append(f"  if (TT > 0) sv_s{j}.select(0, 0).copy_(f{j});")
        o += [f"  const T* p{k}_p = ptr<T>(w[{wi[f'p{k}']}]);" for k in plan.diags]
        pre = ["const T* x_t = x_p + t * B * m;", "(void)x_t;"]
        if self.xg is not None:
            pre.append("const T* xp_t = xp_p + t * B * KX;")
        pre.append("T* y_t = y_p + t * B * n;")
        for j in range(plan.n_states):
            if j in hist:
                pre += [f"const T* s{j}_p = sv_s{j}_p0 + t * B * n;",
                        f"T* n{j}_p = t + 1 < TT ? sv_s{j}_p0 + (t + 1) * B * n : f{j}_p;"]
            else:
                pre += [f"const T* s{j}_p = t % 2 == 0 ? s{j}_p0 : n{j}_p0;",
                        f"T* n{j}_p = t % 2 == 0 ? n{j}_p0 : s{j}_p0;"]
        if save:
            pre += [f"T* sv_{r}_p = sv_{r}_p0 + t * B * n;" for r in lay.saved
                    if r[0] not in "sx" and r not in lay.from_input and r not in self.squares]
        self._forward_seg(self.segs[0], save)  # the step's loop, into self.pending
        o.append("  at::parallel_for(0, B, rows_grain, [&](int64_t b0, int64_t b1) {")
        o.append("  for (int64_t t = 0; t < TT; ++t) {")
        o += self._rows_loop(pre)
        o += ["  }", "  });"]
        # the final states: after TT steps in s (TT even) or n (TT odd) of the two buffers
        finals = [f"f{j}" if j in hist else f"(TT % 2 == 0 ? s{j} : n{j})"
                  for j in range(plan.n_states)]
        rets = ["y", *finals]
        if save:
            rets += [f"sv_{r}" for r in lay.saved]
        o.append(f"  return {{{', '.join(rets)}}};")
        o.append("}")
        return o

    def forward(self, save: bool) -> list[str]:
        if self.time_inside:
            return self._forward_time_inside(save)
        plan, lay = self.plan, self.lay
        name = "forward_save" if save else "forward"
        o = self._forward_head(name, "n")
        o.append("  std::optional<at::Tensor> none;")
        wi = {name_: i for i, name_ in enumerate(lay.weights)}

        def bias(g: Group) -> str:
            return f"std::optional<at::Tensor>(w[{wi[f'b{g.gid}']}])" if g.n_bias else "none"

        if self.xg is not None:
            xg = self.xg
            o += [f"  // hoisted: every projection of x over the whole sequence, (T, B, "
                  f"{len(xg.members)}·n)",
                  f"  const at::Tensor xp = mm(x.reshape({{TT * B, m}}), w[{wi[f'w{xg.gid}']}], "
                  f"{bias(xg)}, packed).contiguous();",
                  f"  const int64_t KX = {len(xg.members)} * n;",
                  "  const T* xp_p = ptr<T>(xp);"]
        # a state the backward reads lives in its saved history: step t reads row t and
        # writes row t + 1 (the last step the final state); others swap two buffers
        hist = {j for j in range(plan.n_states) if save and f"s{j}" in lay.saved}
        for j in range(plan.n_states):
            if j in hist:
                o.append(f"  at::Tensor f{j} = s_in[{j}].contiguous().clone();")
            else:
                o += [f"  at::Tensor s{j}_all = s_in[{j}].contiguous().clone();",
                      f"  at::Tensor n{j}_all = at::empty({{B, n}}, opt);"]
        o.append("  at::Tensor y = at::empty({TT, B, n}, opt);")
        # format 2: the layer below's new states (T, B, n), after this layer's states in s_in,
        # and this layer's, emitted for the layer above
        nb = {j: plan.n_states + k for k, j in enumerate(plan.below)}
        o += [f"  const at::Tensor ul{j} = s_in[{k}].contiguous();" for j, k in nb.items()]
        o += [f"  at::Tensor em{j} = at::empty({{TT, B, n}}, opt);" for j in plan.below]
        for r in self.crossing:
            if not (save and r in lay.saved):
                o.append(f"  at::Tensor {r}_buf = at::empty({{B, n}}, opt);")
        if save:
            for r in lay.saved:
                width = "m" if r == "xt" else "n"
                o.append(f"  at::Tensor sv_{r} = ul{r[1:]};" if r[0] == "u" else
                         f"  at::Tensor sv_{r} = at::empty({{TT, B, {width}}}, opt);")
        for j in sorted(hist):
            o.append(f"  if (TT > 0) sv_s{j}.select(0, 0).copy_(f{j});")
        o += [f"  const T* p{k}_p = ptr<T>(w[{wi[f'p{k}']}]);" for k in plan.diags]
        # each step's weight as a view of its transpose, made contiguous once, where that
        # pays: one gemm call then reads it without transposing. Measured on the Intel Xeon,
        # 1 thread: torch.mm of (20, 200) by the (800, 200) weight's transposed view, 35 steps,
        # 2.19 ms, by its contiguous transpose 1.51 ms, for a 0.10 ms copy (the native lstm at
        # hidden 200: inference 1.20-1.22x torch.nn.LSTM against 1.30-1.38x, training
        # 0.98-0.99x against 1.05x, both orders of the pair); at hidden 650 (a 6.8 MB weight)
        # the copy cost what the products saved (inference 1.15-1.16x against 1.09-1.16x), so
        # weights above 2^20 entries and sequences under 8 steps keep the view
        o.append("  const bool tq = !packed && TT >= 8;")
        o += [f"  const at::Tensor wq{g.gid} = tq && w[{wi[f'w{g.gid}']}].numel() <= (1 << 20) "
              f"? w[{wi[f'w{g.gid}']}].t().contiguous().t() : w[{wi[f'w{g.gid}']}];"
              for g in self.sgroups + self.vgroups]
        o += self._blocks_open()
        o += [f"  at::Tensor s{j} = s{j}_all, n{j} = n{j}_all;  // swapped per step"
              for j in range(plan.n_states) if j not in hist]
        o.append("  for (int64_t t = 0; t < TT; ++t) {")
        b: list[str] = []
        b.append("const T* x_t = ptr<T>(x) + t * B * m;")
        if self.xg is not None:
            b.append("const T* xp_t = xp_p + t * B * KX;")
        b.append("T* y_t = ptr<T>(y) + t * B * n;")
        for j in plan.below:
            b += [f"const T* ul{j}_t = ptr<T>(ul{j}) + t * B * n;",
                  f"T* em{j}_t = ptr<T>(em{j}) + t * B * n;"]
        for j in range(plan.n_states):
            if j in hist:
                b += [f"const at::Tensor s{j} = sv_s{j}.select(0, t);",
                      f"T* n{j}_p = t + 1 < TT ? ptr<T>(sv_s{j}) + (t + 1) * B * n "
                      f": ptr<T>(f{j});"]
            else:
                b.append(f"T* n{j}_p = ptr<T>(n{j});")
            b.append(f"const T* s{j}_p = ptr<T>(s{j});")
        if save:
            for r in lay.saved:
                if r[0] in "su":  # the previous state's history, the values below: above
                    continue
                if r == "xt":
                    b.append("rows(sv_xt.select(0, t), B0, RB).copy_(rows(x.select(0, t), B0, "
                             "RB));")
                else:
                    b.append(f"T* sv_{r}_p = ptr<T>(sv_{r}) + t * B * n;")
        for r in self.crossing:
            if save and r in lay.saved:
                b.append(f"T* {r}_b = sv_{r}_p;")
                b.append(f"const at::Tensor {r}_t = sv_{r}.select(0, t);")
            else:
                b.append(f"T* {r}_b = ptr<T>({r}_buf);")
                b.append(f"const at::Tensor& {r}_t = {r}_buf;")
        for g in self.sgroups:  # one product per previous state
            b.append(f"const at::Tensor g{g.gid} = mm(rows({g.source}, B0, RB), wq{g.gid}, "
                     f"{bias(g)}, packed);")
            b.append(f"const T* g{g.gid}_p = ptr<T>(g{g.gid});")
        for sg in self.segs:
            for g in self.vgroups:  # products of values computed by an earlier segment
                if self.seg[g.source] + 1 == sg.index:
                    b.append(f"const at::Tensor g{g.gid} = mm(rows({g.source}_t, B0, RB), "
                             f"wq{g.gid}, {bias(g)}, packed);")
                    b.append(f"const T* g{g.gid}_p = ptr<T>(g{g.gid});")
            b += self._forward_seg(sg, save)
        b += [f"std::swap(s{j}, n{j});" for j in range(plan.n_states) if j not in hist]
        o += ["    " + line for line in b]
        o += ["  }", *self._blocks_close()]
        # after TT swaps the final state is in s_all (TT even) or n_all (odd)
        rets = ["y", *(f"f{j}" if j in hist else f"(TT % 2 == 0 ? s{j}_all : n{j}_all)"
                       for j in range(plan.n_states)),
                *(f"em{j}" for j in plan.below)]
        if save:
            rets += [f"sv_{r}" for r in lay.saved]
        o.append(f"  return {{{', '.join(rets)}}};")
        o.append("}")
        return self._finish(name, o)

    # -- backward ------------------------------------------------------------------------------
    def _grad_rules(self, st: Step, d: str, add: _Terms, val: Callable[[str], str]) -> None:
        """Contributions of step ``st``'s gradient ``d`` to its arguments' (mirrors the
        TorchScript backward's rules, :func:`._codegen._backward`)."""
        a, op = st.args, st.op
        if op == "proj":
            g = self.plan.groups[st.group]
            if st.diag_add:
                add(g.source, f"{_f(st.diag_add)} * {d}")
        elif op in ("add", "copy"):
            for r in a:
                add(r, d)
        elif op == "mean":
            for r in a:
                add(r, f"{d} / {_f(len(a))}")
        elif op == "sub":
            add(a[0], d)
            add(a[1], f"-{d}")
        elif op == "one_minus":
            add(a[0], f"-{d}")
        elif op == "mul":
            for i in range(len(a)):
                others = [val(a[k]) for k in range(len(a)) if k != i]
                add(a[i], " * ".join([d, *others]))
        elif op == "blend":
            add(a[0], f"{d} * ({val(a[1])} - {val(a[2])})")
            add(a[1], f"{d} * {val(a[0])}")
            add(a[2], f"{d} * (T(1) - {val(a[0])})")
        elif op == "sigmoid":
            y = val(st.out)
            add(a[0], f"{d} * (T(1) - {y}) * {y}")
        elif op == "tanh":
            y = val(st.out)
            add(a[0], f"{d} * (T(1) - {y} * {y})")
        elif op == "relu":
            add(a[0], f"({val(st.out)} <= T(0) ? T(0) : {d})")
        elif op == "leaky_relu":
            hi, lo = max(1.0, st.slope), min(1.0, st.slope)
            add(a[0], f"({val(a[0])} > T(0) ? {d} * {_f(hi)} : {d} * {_f(lo)})")
        elif op == "diag":
            add(a[0], f"{d} * p{st.pos}_p[j]")
            add(f"p{st.pos}", f"{d} * {val(a[0])}")
        elif op == "exp":
            add(a[0], f"{d} * {val(st.out)}")
        elif op == "log":
            add(a[0], f"{d} / {val(a[0])}")
        elif op == "softplus":
            v = val(a[0])
            add(a[0], f"({v} > T(20) ? {d} : {d} * sig({v}))")
        elif op == "logsigmoid":
            add(a[0], f"{d} * sig(-{val(a[0])})")
        elif op in ("max", "min"):
            cmp = ">" if op == "max" else "<"
            for i, k in ((0, 1), (1, 0)):
                vi, vk = val(a[i]), val(a[k])
                add(a[i], f"({vi} {cmp} {vk} ? {d} : ({vi} == {vk} ? {d} * T(0.5) : T(0)))")
        elif op == "div":
            den = f"({val(a[1])} + {_f(st.const)})" if st.const else val(a[1])
            e = f"e{st.pos}"
            add.line(f"const T {e} = {d} / {den};")
            add(a[0], e)
            add(a[1], f"-{e} * {val(st.out)}")
        elif op == "sqrt":
            add(a[0], f"{d} / (T(2) * {val(st.out)})")
        elif op == "abs":
            add(a[0], f"{d} * sgn({val(a[0])})")
        elif op == "scale":
            add(a[0], f"{d} * {_f(st.const)}")
        else:  # pragma: no cover
            raise ValueError(f"no native derivative rule for op {op!r}")

    def _backward_seg(self, sg: _Seg, written: set[str]) -> tuple[list[str], set[str]]:
        plan, lay = self.plan, self.lay
        defined = {st.out for st in sg.steps}
        body: list[str] = []
        uses: set[str] = set()
        loaded: set[str] = set()
        terms: dict[str, list[str]] = {}

        def val(ref: str) -> str:
            if self.recompute:  # the forward's values, recomputed at the top of the body
                return self._load(ref)
            if ref not in lay.saved:  # pragma: no cover - the layout saves what rules read
                raise ValueError(f"the backward reads {ref}, which is not saved")
            if ref not in loaded and ref in self.squares:
                e = val(self.squares[ref])
                loaded.add(ref)
                body.append(f"const T {ref}_v = {e} * {e};")
            elif ref not in loaded:
                loaded.add(ref)
                body.append(f"const T {ref}_v = sv_{ref}_p[b * {'m' if ref == 'xt' else 'n'}"
                            " + j];")
            return f"{ref}_v"

        add = _Terms(terms, body)
        # the gradients arriving from outside this loop: dy, the new states', later segments'
        if plan.output in defined or (sg.index == len(self.segs) - 1
                                       and plan.output not in self.seg):
            add(plan.output, "dy_t[b * n + j]")
        for j, r in enumerate(plan.new_states):
            if r in defined or (sg.index == len(self.segs) - 1 and r not in self.seg):
                add(r, f"dsa{j}_p[b * n + j]")  # the pointwise part, and each product's
                for g in self.sgroups:
                    if g.source == f"s{j}":
                        add(r, f"dsm{g.gid}_p[{self._b} * n + j]")
                if j in plan.below:  # what the layer above sent back for it
                    add(r, f"dem{j}_t[b * n + j]")
        for r in self.crossing:
            if r in defined:
                add(r, f"a{r}_p[b * n + j]")
        for st in reversed(sg.steps):
            d = f"d{st.pos}"
            t = terms.pop(st.out, None)
            body.append(f"const T {d} = {' + '.join(t) if t else 'T(0)'};")
            if st.op == "proj":
                g = plan.groups[st.group]
                if g.hoisted:
                    body.append(f"dxp_row[{st.slot} * n + j] = {d};")
                    if lay.loop_bias:
                        body.append(f"dbx_row[{st.slot} * n + j] += {d};")
                    uses.add("dxp")
                else:
                    body.append(f"dq{g.gid}_row[{st.slot} * n + j] = {d};")
                    uses.add(f"dq{g.gid}")
            self._grad_rules(st, d, add, val)
        # what is left flows out of this loop: earlier segments, states, x, pairs, diagonals
        for ref, t in sorted(terms.items()):
            e = " + ".join(t)
            if ref[0] == "v":
                body.append(f"a{ref}_p[b * n + j] += {e};")
            elif ref[0] == "s":
                body.append(f"dsp{ref[1:]}_p[b * n + j] {'+=' if ref in written else '='} {e};")
                written.add(ref)
            elif ref == "xt":  # one loop writes it in a time-inside plan, several may else
                body.append(f"dxt_t[b * m + j] {'=' if self.time_inside else '+='} {e};")
                uses.add("dxt")
            elif ref[0] == "r":
                i = int(ref[1:])
                body.append(f"const T dr{i} = {e};")
                body.append(f"dxp_row[{i} * n + j] = dr{i};")
                uses.add("dxp")
                if not self.full_pairs:
                    body.append(f"dq{self.pg.gid}_row[{i} * n + j] = dr{i};")  # type: ignore[union-attr]
                    uses.add(f"dq{self.pg.gid}")  # type: ignore[union-attr]
            elif ref[0] == "p":
                body.append(f"da{ref}_p[b * n + j] += {e};")
            elif ref[0] == "u":  # to the layer below's new state at this step
                body.append(f"dul{ref[1:]}_t[b * n + j] += {e};")
            else:  # pragma: no cover
                raise ValueError(f"no gradient route for {ref}")
        return body, uses

    def _backward_time_inside(self) -> list[str]:
        """The backward of a :attr:`time_inside` plan (same operator and results as
        :meth:`backward`'s step-by-step program): the reverse time loop inside one parallel
        loop over the rows."""
        plan, lay = self.plan, self.lay
        ns = plan.n_states
        written: set[str] = set()
        body, uses = self._backward_seg(self.segs[0], written)
        pw = {j for j in range(ns) if f"s{j}" in written}
        o = self._backward_head("std::max<int64_t>(1, n * TT)")
        o += ["  (void)wt; (void)packed;", "  const T* dy_p = ptr<T>(dy);"]
        svi = {r: i for i, r in enumerate(lay.saved)}
        o += [f"  const at::Tensor sv_{r} = sv[{i}].contiguous();" for r, i in svi.items()]
        o += [f"  const T* sv_{r}_p0 = ptr<T>(sv_{r});" for r in svi if r not in self.squares]
        if "xt" in svi:
            o.append("  const int64_t m = sv_xt.size(2);")
        else:
            o.append("  const int64_t m = n; (void)m;")
        if self.xg is not None:
            o += [f"  const int64_t KX = {len(self.xg.members)} * n;",
                  "  at::Tensor dxp = at::empty({TT, B, KX}, opt);",
                  "  T* dxp_p = ptr<T>(dxp);"]
        if lay.loop_bias:  # the bias's gradient, summed per row of the batch in the loop
            o += ["  at::Tensor dbx = at::zeros({B, KX}, opt);", "  T* dbx_p = ptr<T>(dbx);",
                  f"  const T* bx_p = ptr<T>(pw[{len(plan.diags)}]);", "  (void)bx_p;"]
        if plan.uses_xt:  # written once per element where the loop writes it at all
            init = "empty" if "dxt" in uses else "zeros"
            o += [f"  at::Tensor dxt = at::{init}({{TT, B, m}}, opt);",
                  "  T* dxt_p = ptr<T>(dxt);"]
        o += [f"  const at::Tensor dsa_in{j} = ds_in[{j}].contiguous();" for j in range(ns)]
        o += [f"  const T* dsa_in{j}_p = ptr<T>(dsa_in{j});" for j in range(ns)]
        for j in range(ns):
            if j in pw:
                o += [f"  at::Tensor dsp{j}a = at::empty({{B, n}}, opt);",
                      f"  at::Tensor dsp{j}b = at::empty({{B, n}}, opt);",
                      f"  T* dsp{j}a_p = ptr<T>(dsp{j}a);",
                      f"  T* dsp{j}b_p = ptr<T>(dsp{j}b);"]
            else:
                o += [f"  const at::Tensor dz{j} = at::zeros({{B, n}}, opt);",
                      f"  const T* dz{j}_p = ptr<T>(dz{j});"]
        o += [f"  at::Tensor dap{k} = at::zeros({{B, n}}, opt);" for k in plan.diags]
        o += [f"  const T* p{k}_p = ptr<T>(pw[{i}]);" for i, k in enumerate(plan.diags)]
        o += [f"  T* dap{k}_p = ptr<T>(dap{k});" for k in plan.diags]
        pre = ["const T* dy_t = dy_p + t * B * n;",
               "const bool odd = (TT - 1 - t) % 2 == 1;", "(void)odd;"]
        width = {"xt": "m", "xp": "KX"}
        pre += [f"const T* sv_{r}_p = sv_{r}_p0 + t * B * {width.get(r, 'n')};"
                for r in lay.saved if r not in self.squares]
        for j in range(ns):
            before = f"(odd ? dsp{j}a_p : dsp{j}b_p)" if j in pw else f"dz{j}_p"
            pre.append(f"const T* dsa{j}_p = t == TT - 1 ? dsa_in{j}_p : {before};")
            if j in pw:
                pre.append(f"T* dsp{j}_p = odd ? dsp{j}b_p : dsp{j}a_p;")
        if self.xg is not None:
            pre.append("T* dxp_t = dxp_p + t * B * KX;")
        if plan.uses_xt:
            pre.append("T* dxt_t = dxt_p + t * B * m;")
        rows = ["T* dxp_row = dxp_t + b * KX;"] if "dxp" in uses else []
        if lay.loop_bias and "dxp" in uses:
            rows.append("T* dbx_row = dbx_p + b * KX;")
        if self.recompute:  # the step's values from what the forward saved, then the rules
            pre += [{"xp": "const T* xp_t = sv_xp_p;", "xt": "const T* x_t = sv_xt_p;"}.get(
                r, f"const T* {r}_p = sv_{r}_p;") for r in lay.saved]
            rows += self._rows(set(lay.saved))
            body = [f"const T {st.out} = {self._value(st)};" for st in plan.steps] + body
        self.pending.append((rows, body))
        o.append("  at::parallel_for(0, B, rows_grain, [&](int64_t b0, int64_t b1) {")
        o.append("  for (int64_t t = TT - 1; t >= 0; --t) {")
        o += self._rows_loop(pre)
        o += ["  }", "  });"]
        for j in range(ns):
            last = f"(((TT - 1) % 2 == 1) ? dsp{j}b : dsp{j}a)" if j in pw else f"dz{j}"
            o.append(f"  at::Tensor dfin{j} = TT == 0 ? dsa_in{j}.clone() : {last}.clone();")
        empty = "at::zeros({0}, opt)"
        rets = ["dxp" if self.xg is not None else empty,
                "dxt" if plan.uses_xt else empty,
                *(f"dfin{j}" for j in range(ns)),
                *(f"dap{k}.sum(0)" for k in plan.diags),
                *(["dbx.sum(0)"] if lay.loop_bias else [])]
        o.append(f"  return {{{', '.join(rets)}}};")
        o.append("}")
        return o

    def backward(self) -> list[str]:
        if self.time_inside:
            return self._backward_time_inside()
        plan, lay = self.plan, self.lay
        ns = plan.n_states
        # the loops, last segment first; ``written``: the states some loop writes a
        # pointwise gradient to (the first loop assigns, later ones add)
        written: set[str] = set()
        loops = [(sg, *self._backward_seg(sg, written)) for sg in reversed(self.segs)]
        pw = {j for j in range(ns) if f"s{j}" in written}
        o = self._backward_head("n")
        o.append("  std::optional<at::Tensor> none;")
        svi = {r: i for i, r in enumerate(lay.saved)}
        o += [f"  const at::Tensor sv_{r} = sv[{i}].contiguous();" for r, i in svi.items()]
        if "xt" in svi:
            o.append("  const int64_t m = sv_xt.size(2);")
        else:
            o.append("  const int64_t m = n; (void)m;")
        if self.xg is not None:
            o.append(f"  const int64_t KX = {len(self.xg.members)} * n;")
            o.append("  at::Tensor dxp = at::empty({TT, B, KX}, opt);")
        if plan.uses_xt:
            o.append("  at::Tensor dxt = at::zeros({TT, B, m}, opt);")
        # the gradient of each new state at step t: dsa (the incoming one at the last step,
        # then the pointwise part written by step t + 1's loop, two buffers in turn) plus
        # dsm, the product dq W of each group reading the state at step t + 1
        o += [f"  const at::Tensor dsa_in{j} = ds_in[{j}].contiguous();" for j in range(ns)]
        # format 2: the gradients of the states emitted for the layer above (after the
        # states' in ds_in), and those this layer sends to the layer below
        o += [f"  const at::Tensor dem_in{j} = ds_in[{ns + k}].contiguous();"
              for k, j in enumerate(plan.below)]
        o += [f"  at::Tensor dul{j} = at::zeros({{TT, B, n}}, opt);" for j in plan.below]
        for j in range(ns):
            if j in pw:
                o += [f"  at::Tensor dsp{j}a = at::empty({{B, n}}, opt);",
                      f"  at::Tensor dsp{j}b = at::empty({{B, n}}, opt);"]
            else:
                o.append(f"  const at::Tensor dz{j} = at::zeros({{B, n}}, opt);")
        o += [f"  at::Tensor dsm{g.gid}_all = at::zeros({{B, n}}, opt);" for g in self.sgroups]
        gi = {gid: i for i, gid in enumerate(lay.step_groups)}
        for g in plan.step_groups:
            if not (self.full_pairs and g is self.pg):
                o.append(f"  at::Tensor dqs{g.gid} = at::empty({{TT, B, {len(g.members)} * n}}, "
                         "opt);")
        o += [f"  at::Tensor a{r} = at::empty({{B, n}}, opt);" for r in self.crossing]
        o += [f"  at::Tensor dap{k} = at::zeros({{B, n}}, opt);" for k in plan.diags]
        o += [f"  const T* p{k}_p = ptr<T>(pw[{i}]);" for i, k in enumerate(plan.diags)]
        o += [f"  T* dap{k}_p = ptr<T>(dap{k});" for k in plan.diags]
        o += self._blocks_open()
        # the block's rows of each state product's gradient dq W (a new tensor each step)
        o += [f"  at::Tensor dsm{g.gid} = rows(dsm{g.gid}_all, B0, RB);" for g in self.sgroups]
        o.append("  for (int64_t t = TT - 1; t >= 0; --t) {")
        b: list[str] = ["const T* dy_t = ptr<T>(dy) + t * B * n;",
                        "const bool odd = (TT - 1 - t) % 2 == 1;"]
        b += [f"const T* sv_{r}_p = ptr<T>(sv_{r}) + t * B * {'m' if r == 'xt' else 'n'};"
              for r in lay.saved]
        for j in range(ns):
            before = f"(odd ? dsp{j}a : dsp{j}b)" if j in pw else f"dz{j}"
            b.append(f"const T* dsa{j}_p = t == TT - 1 ? ptr<T>(dsa_in{j}) : ptr<T>({before});")
            if j in pw:
                b.append(f"T* dsp{j}_p = ptr<T>(odd ? dsp{j}b : dsp{j}a);")
        b += [f"const T* dsm{g.gid}_p = ptr<T>(dsm{g.gid});" for g in self.sgroups]
        for j in plan.below:
            b += [f"const T* dem{j}_t = ptr<T>(dem_in{j}) + t * B * n;",
                  f"T* dul{j}_t = ptr<T>(dul{j}) + t * B * n;"]
        b += [f"rows(a{r}, B0, RB).zero_();" for r in self.crossing]
        b += [f"T* a{r}_p = ptr<T>(a{r});" for r in self.crossing]
        if self.xg is not None:
            b.append("T* dxp_t = ptr<T>(dxp) + t * B * KX;")
        if plan.uses_xt:
            b.append("T* dxt_t = ptr<T>(dxt) + t * B * m;")
        for g in plan.step_groups:
            if not (self.full_pairs and g is self.pg):
                b.append(f"const at::Tensor dq{g.gid} = dqs{g.gid}.select(0, t);")
            else:
                b.append(f"const at::Tensor dq{g.gid} = dxp.select(0, t);")
            b.append(f"T* dq{g.gid}_p = ptr<T>(dq{g.gid});")
        for sg, body, uses in loops:
            rows: list[str] = []
            if "dxp" in uses:
                rows.append("T* dxp_row = dxp_t + b * KX;")
            for g in plan.step_groups:
                if f"dq{g.gid}" in uses:
                    rows.append(f"T* dq{g.gid}_row = dq{g.gid}_p + b * {len(g.members)} * n;")
            b += self._loop(rows, body)
            # a product of a value of an earlier segment: its gradient, dq W, to the value
            for g in self.vgroups:
                if self.seg[g.source] + 1 == sg.index:
                    b.append(f"rows(a{g.source}, B0, RB).add_(mm(rows(dq{g.gid}, B0, RB), "
                             f"wt[{gi[g.gid]}], none, packed));")
        # each state product's part of the previous state's gradient, read by the next loop
        b += [f"dsm{g.gid} = mm(rows(dq{g.gid}, B0, RB), wt[{gi[g.gid]}], none, packed);"
              for g in self.sgroups]
        o += ["    " + line for line in b]
        o.append("  }")
        o += [f"  rows(dsm{g.gid}_all, B0, RB).copy_(dsm{g.gid});" for g in self.sgroups]
        o += self._blocks_close()
        # the initial states' gradients: what the first step's loops and products left
        for j in range(ns):
            last = f"(((TT - 1) % 2 == 1) ? dsp{j}b : dsp{j}a)" if j in pw else f"dz{j}"
            parts = "".join(f".add_(dsm{g.gid}_all)" for g in self.sgroups
                            if g.source == f"s{j}")
            o.append(f"  at::Tensor dfin{j} = TT == 0 ? dsa_in{j}.clone() : "
                     f"{last}.clone(){parts};")
        empty = "at::zeros({0}, opt)"
        rets = ["dxp" if self.xg is not None else empty,
                "dxt" if plan.uses_xt else empty,
                *(f"dfin{j}" for j in range(ns)),
                *("dxp" if (self.full_pairs and plan.groups[gid] is self.pg)
                  else f"dqs{gid}" for gid in lay.step_groups),
                *(f"dap{k}.sum(0)" for k in plan.diags), *(f"dul{j}" for j in plan.below)]
        o.append(f"  return {{{', '.join(rets)}}};")
        o.append("}")
        return self._finish("backward", o)

    # -- CUDA: each loop a kernel ----------------------------------------------------------------
    def _finish(self, fn: str, lines: list[str]) -> list[str]:
        """CPU: ``lines`` as they are. CUDA: each loop placeholder of ``lines`` becomes the
        launch of a kernel ``<fn>_k<i>`` whose arguments are the host variables its rows and
        body read (found by their declarations in ``lines``: pointers, sizes, flags); the
        kernels' definitions come first."""
        if not self.cuda:
            return lines
        decls: dict[str, str] = {}
        for line in lines:
            m = _DECL.match(line)
            if m:
                kind = m.group(1).strip()
                names = (_SIZES.findall(line) if kind == "const int64_t" else [m.group(2)])
                for name in names:
                    decls.setdefault(name, "int64_t" if kind == "const int64_t" else kind)
        kernels: list[str] = []
        launches: dict[str, str] = {}
        for k, (rows, body) in enumerate(self.pending):
            code = [line for line in rows + body if not line.startswith("#pragma")]
            local = {m.group(2) for line in code if (m := _LOCAL.match(line))}
            used = {w for line in code for w in _WORD.findall(line)}
            args = sorted(used & set(decls) - local - {"b", "j", "B", "n"})
            params = ", ".join(["const int64_t B", "const int64_t n",
                                *(f"{_param(decls[a])} {a}" for a in args)])
            name = f"{fn}_k{k}"
            kernels += ["template <typename T>", f"__global__ void {name}({params}) {{",
                        "  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x"
                        " + threadIdx.x;",
                        "  if (idx >= B * n) return;",
                        "  const int64_t b = idx / n;",
                        "  const int64_t j = idx - b * n;"]
            kernels += ["  " + _device(line) for line in code]
            kernels += ["}", ""]
            launches[f"@@launch{k}@@"] = (f"LS_LAUNCH({name}<T>, B * n, "
                                          f"{', '.join(['B', 'n', *args])});")
        self.pending = []
        out = []
        for line in lines:
            key = line.strip()
            out.append(line.replace(key, launches[key]) if key in launches else line)
        return kernels + out


# host declarations a kernel may take as arguments, and the locals of a kernel's own code
_DECL = re.compile(r"^\s*(const T\* |T\* |const int64_t |const bool )(\w+) = ")
_SIZES = re.compile(r"(?:const int64_t |, )(\w+) = ")
_LOCAL = re.compile(r"^\s*(const T\* |T\* |const T |T )(\w+) = ")
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")


def _param(kind: str) -> str:
    return {"const T*": "const T* __restrict__", "T*": "T* __restrict__"}.get(kind, kind)


def _device(line: str) -> str:
    """A loop line as kernel code: the C library's math through CUDA's overloads."""
    return (line.replace("std::log(", "log(").replace("std::sqrt(", "sqrt(")
            .replace("std::fabs(", "fabs("))


def _dispatch(name: str, args: str, dtype: str, call: str) -> list[str]:
    """The operator ``name``: ``call`` (with ``T_``) for float32 or float64 by ``dtype``."""
    return [f"std::vector<at::Tensor> {name}({args}) {{",
            f"  const auto st = {dtype};",
            f"  if (st == at::kFloat) return {call.replace('T_', 'float')};",
            f"  if (st == at::kDouble) return {call.replace('T_', 'double')};",
            '  TORCH_CHECK(false, "the native backend runs float32 and float64, not ", st);',
            "}"]


def native_layout(plan: Plan, target: str = "cpu") -> Layout:
    """The argument and result order of ``plan``'s generated native code: the script
    backend's (:func:`~._codegen.layout`), except what a time-inside plan saves for its
    backward (see :class:`_Gen`)."""
    return _Gen(plan, target).lay


def plan_code(plan: Plan, namespace: str, target: str = "cpu") -> str:
    """The C++ of one layer of ``plan`` in its own C++ namespace ``namespace``, its operators
    registered in the operator namespace of the same name (``forward``, ``forward_save``,
    ``backward``; see the module's docstring), for ``target`` (:data:`TARGETS`).
    :func:`library_source` puts one or more of them after the shared prelude."""
    if not namespace.isidentifier() or not namespace.isascii():
        raise ValueError(f"bad namespace {namespace!r}")
    gen = _Gen(plan, target)
    parts = [f"namespace {namespace} {{", "\n".join(gen.forward(save=False)),
             "\n".join(gen.forward(save=True)), "\n".join(gen.backward())]
    fargs = ("at::Tensor x, std::vector<at::Tensor> s, std::vector<at::Tensor> w, "
             "bool packed")
    parts.append("\n".join(_dispatch("forward", fargs, "x.scalar_type()",
                                     "forward_impl<T_>(x, s, w, packed)")))
    parts.append("\n".join(_dispatch("forward_save", fargs, "x.scalar_type()",
                                     "forward_save_impl<T_>(x, s, w, packed)")))
    bargs = ("at::Tensor dy, std::vector<at::Tensor> ds, std::vector<at::Tensor> sv, "
             "std::vector<at::Tensor> wt, std::vector<at::Tensor> pw, bool packed")
    parts.append("\n".join(_dispatch("backward", bargs, "dy.scalar_type()",
                                     "backward_impl<T_>(dy, ds, sv, wt, pw, packed)")))
    parts.append(f"}}  // namespace {namespace}")
    parts.append(
        f"TORCH_LIBRARY({namespace}, lib) {{\n"
        '  lib.def("forward(Tensor x, Tensor[] s, Tensor[] w, bool packed) -> Tensor[]", '
        f"{namespace}::forward);\n"
        '  lib.def("forward_save(Tensor x, Tensor[] s, Tensor[] w, bool packed) -> Tensor[]", '
        f"{namespace}::forward_save);\n"
        '  lib.def("backward(Tensor dy, Tensor[] ds, Tensor[] sv, Tensor[] wt, Tensor[] pw, '
        f'bool packed) -> Tensor[]", {namespace}::backward);\n}}')
    return "\n\n".join(parts) + "\n"


def library_source(codes: list[str], target: str = "cpu") -> str:
    """One library's C++ (CUDA C++ for the CUDA targets): the prelude, then each layer's
    :func:`plan_code` for the same ``target``."""
    prelude = _PRELUDE if target == "cpu" else _CUDA_PRELUDE
    if target == "cuda-emulated":
        prelude = "#define LS_EMULATE_CUDA 1\n" + prelude
    return "\n\n".join([prelude.rstrip() + "\n\n}  // namespace", *codes])


def native_source(plan: Plan, namespace: str, target: str = "cpu") -> str:
    """The whole source of a library holding one layer of ``plan`` for ``target`` (see
    :func:`plan_code`)."""
    return library_source([plan_code(plan, namespace, target)], target)
