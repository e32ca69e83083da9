#ifndef FEATURELENS_KERNELS_H
#define FEATURELENS_KERNELS_H

// Register-blocked GEMM micro-kernels and an FMA-peak probe.
//
// Every SIMD function carries its own `__attribute__((target(...)))`, so the package builds
// with plain `swift build` (no CPU flags) on any x86-64 or arm64 machine; the Swift driver
// (FeatureLensNumerics/GEMM.swift) picks one family once at run time with
// `fl_kernel_supported`. Packing, blocking, edge handling and threading live in Swift.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel families. Values are stable (the Swift enum mirrors them).
enum {
    FL_KERNEL_GENERIC = 0, ///< portable C, auto-vectorized for the baseline ISA (SSE2 / NEON)
    FL_KERNEL_AVX2 = 1,    ///< x86-64 AVX2 + FMA3 (256-bit)
    FL_KERNEL_AVX512 = 2   ///< x86-64 AVX-512F (512-bit)
};

/// Single-precision micro-kernel: computes the `mr × nr` top-left part of the register tile
///
///     T = Σ_p  a[p·MR + i] · b[p·NR + j],  p < kc,  i < MR, j < NR
///
/// from a packed A micro-panel `a` (`kc × MR`, column of MR per p) and a packed B micro-panel
/// `b` (`kc × NR`, row of NR per p), then writes `C[i·ldc + j] ← α·T + β·C` for `i < mr`,
/// `j < nr`. When β = 0, C is not read. `mr ≤ MR`, `nr ≤ NR`; padding lanes of the packed
/// panels must be zero-filled (or at least finite). Each element of C gets the same sequence
/// of floating-point operations whether the tile is full or partial.
typedef void (*fl_sgemm_ukernel)(long kc, const float *a, const float *b, float *c, long ldc,
                                 float alpha, float beta, long mr, long nr);
/// Double-precision micro-kernel with the same contract as `fl_sgemm_ukernel`.
typedef void (*fl_dgemm_ukernel)(long kc, const double *a, const double *b, double *c,
                                 long ldc, double alpha, double beta, long mr, long nr);

/// One kernel family: its name, register-tile shapes and entry points.
typedef struct {
    int id;             ///< FL_KERNEL_*
    const char *name;   ///< "generic", "avx2" or "avx512"
    long s_mr, s_nr;    ///< single-precision register tile (rows of A × columns of B)
    fl_sgemm_ukernel sgemm;
    long d_mr, d_nr;    ///< double-precision register tile
    fl_dgemm_ukernel dgemm;
} fl_kernel_info;

/// 1 when the CPU (and OS) can run kernel family `id`, else 0.
int fl_kernel_supported(int id);

/// Fills `*out` with family `id` and returns 1; returns 0 (leaving `*out` alone) when the
/// family is unknown or not compiled for this architecture.
int fl_kernel_get(int id, fl_kernel_info *out);

/// The best family this CPU supports (AVX-512 > AVX2 > generic).
int fl_kernel_best(void);

/// Register-only fused-multiply-add loop in single precision with the widest vectors of
/// family `id` (no memory traffic). Runs `iterations` rounds of independent FMAs and returns
/// the number of floating-point operations performed (2 per lane per FMA). `sink` receives a
/// value that depends on every accumulator, so the loop cannot be optimized away.
double fl_fma_peak_loop(int id, long iterations, float *sink);

/// GEMM packing, row copy: dst[p·width + j] = src[p·ld + j] for j < columns, 0 for
/// columns ≤ j < width, p < kc (AVX-512F when the CPU has it).
void fl_pack_rows_f32(const float *src, long ld, long columns, long kc, long width, float *dst);

/// GEMM packing, transposing copy: dst[p·width + i] = src[i·ld + p] for i < rows, 0 for
/// rows ≤ i < width, p < kc (AVX-512F 16 × 16 register transposes when the CPU has it).
void fl_pack_transpose_f32(const float *src, long ld, long rows, long kc, long width, float *dst);

/// The CPU brand string from CPUID (x86-64), or "" where unavailable. `buf` gets at most
/// `len` bytes including the terminating NUL.
void fl_cpu_brand(char *buf, size_t len);

/// glibc only: serve every allocation from the heap (no mmap) and never trim it, so the large
/// tensors a training step frees are reused by the next step instead of being unmapped and
/// mapped again as zero-filled pages. Returns 1 when both settings took effect, 0 otherwise
/// (other C libraries: nothing changes). Call before the first large allocation.
int fl_keep_freed_memory(void);

#ifdef __cplusplus
}
#endif

#endif
