// Small level-1 kernels on contiguous `Double` rows, shared by the linear-algebra routines.
//
// Every routine here reads and writes contiguous memory only, so the callers keep their data
// in the layout that makes the hot loops contiguous (eigenvectors and Householder vectors as
// rows). Reductions use a fixed accumulation order that depends only on the length, never on
// the thread count, so results are bit-identical with 1 or 2 threads.

/// x·y over `n` contiguous elements (fixed order: two SIMD4 accumulators, then a scalar tail).
@inline(__always)
func laDot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> Double {
    var a0 = SIMD4<Double>(repeating: 0), a1 = SIMD4<Double>(repeating: 0)
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    var i = 0
    while i &+ 8 <= n {
        let o = i &* 8
        a0 += rx.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
            * ry.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
        a1 += rx.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD4<Double>.self)
            * ry.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD4<Double>.self)
        i &+= 8
    }
    var s = (a0 + a1).sum()
    while i < n { s += x[i] * y[i]; i &+= 1 }
    return s
}

/// (x·x, y·y, x·y) in one pass over `n` contiguous elements.
@inline(__always)
func laDot3(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ n: Int) -> (Double, Double, Double) {
    var xx = SIMD4<Double>(repeating: 0), yy = xx, xy = xx
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    var i = 0
    while i &+ 4 <= n {
        let o = i &* 8
        let a = rx.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
        let b = ry.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
        xx += a * a; yy += b * b; xy += a * b
        i &+= 4
    }
    var sxx = xx.sum(), syy = yy.sum(), sxy = xy.sum()
    while i < n { sxx += x[i] * x[i]; syy += y[i] * y[i]; sxy += x[i] * y[i]; i &+= 1 }
    return (sxx, syy, sxy)
}

/// y ← y + a·x over `n` contiguous elements.
@inline(__always)
func laAxpy(_ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int) {
    if a == 0 { return }
    var i = 0
    while i < n { y[i] += a * x[i]; i &+= 1 }
}

/// x ← a·x over `n` contiguous elements.
@inline(__always)
func laScale(_ a: Double, _ x: UnsafeMutablePointer<Double>, _ n: Int) {
    var i = 0
    while i < n { x[i] *= a; i &+= 1 }
}

/// Plane rotation in LAPACK `drot` convention: x ← c·x + s·y, y ← c·y − s·x.
@inline(__always)
func laRotate(_ x: UnsafeMutablePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int,
              c: Double, s: Double) {
    var i = 0
    while i < n {
        let xi = x[i], yi = y[i]
        x[i] = c * xi + s * yi
        y[i] = c * yi - s * xi
        i &+= 1
    }
}

/// Runs `body(start, end)` over `0..<count` split into fixed blocks of `block` items, on up to
/// `threads` threads. The split depends on `count` and `block` only, never on the thread count.
@inline(__always)
func laParallelBlocks(_ count: Int, block: Int, threads: Int = Parallel.threadCount,
                      _ body: (Int, Int) -> Void) {
    if count <= 0 { return }
    let chunks = (count + block - 1) / block
    if chunks == 1 || threads <= 1 {
        body(0, count)
        return
    }
    Parallel.forEach(chunks: chunks, threads: threads) { c in
        body(c * block, min(count, (c + 1) * block))
    }
}

/// A pointer-backed scratch buffer of `Double`s (zero-initialized), freed on deinit.
final class LABuffer {
    let count: Int
    let p: UnsafeMutablePointer<Double>
    init(_ count: Int) {
        self.count = count
        p = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { p.deallocate() }
    func zero() { p.update(repeating: 0, count: max(count, 1)) }
}

/// `dgemm` behind a non-inlined call, so that profiles of the linear algebra show the GEMM
/// share as one symbol.
@inline(never)
func laGemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
            alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
    dgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
