/// General matrix multiply, BLAS convention but row-major:
///
///     C ← α · op(A) · op(B) + β · C,   op(A): [m, k], op(B): [k, n], C: [m, n]
///
/// `a` is `[m, k]` with row stride `lda` (or `[k, m]` when `transposeA`), `b` is `[k, n]`
/// with row stride `ldb` (or `[n, k]` when `transposeB`), `c` is `[m, n]` with row stride
/// `ldc`. When β = 0, C is not read (NaNs in C do not propagate). Work is split over blocks
/// of C only, so results are bit-identical for any `threads`.
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threadCount
) {
    referenceGEMM(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                  alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// Double-precision GEMM with the same contract as `sgemm`.
public func dgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Double, a: UnsafePointer<Double>, lda: Int,
    b: UnsafePointer<Double>, ldb: Int,
    beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threads: Int = Parallel.threadCount
) {
    referenceGEMM(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                  alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// Straightforward triple loop (i, p, j order); the correctness reference for tests.
public func referenceGEMM<T: BinaryFloatingPoint>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int
) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 {
            for j in 0..<n { row[j] = 0 }
        } else if beta != 1 {
            for j in 0..<n { row[j] *= beta }
        }
        if k == 0 || alpha == 0 { continue }
        for p in 0..<k {
            let aip = alpha * (transposeA ? a[p * lda + i] : a[i * lda + p])
            if transposeB {
                for j in 0..<n { row[j] += aip * b[j * ldb + p] }
            } else {
                let brow = b + p * ldb
                for j in 0..<n { row[j] += aip * brow[j] }
            }
        }
    }
}
