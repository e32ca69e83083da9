import Foundation

/// Eigendecomposition A = V·diag(λ)·Vᵀ of a real symmetric matrix.
///
/// Algorithm (as LAPACK `dsyevd`): the matrix is scaled by its largest entry, reduced to
/// tridiagonal form T = QᵀAQ by blocked Householder reflections (panels of 32 columns as
/// LAPACK `dsytrd`/`dlatrd`; the trailing rank-2k update is one `dgemm` per panel), T is
/// diagonalized by divide and conquer (Cuppen 1981; Gu & Eisenstat 1995) or, for n ≤ 32,
/// by implicit QL with Wilkinson shifts, and the eigenvectors are mapped back by the
/// reflectors in blocked (compact WY, Schreiber & Van Loan 1989) form with `dgemm`.
/// Cost: about 4/3·n³ flops for the reduction, at most 8/3·n³ for the tridiagonal
/// eigenvectors (much less when deflation occurs) and 2·n²·k for k back-transformed vectors.
/// Backward stable: ‖AV − VΛ‖ and ‖VᵀV − I‖ are a small multiple of ε·‖A‖ and ε.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues sorted in **descending** order: `[n]` (or `[k]` with `topK: k`).
    public var values: [Double]
    /// Eigenvectors as **columns**, in the order of `values`: `[n, n]` (or `[n, k]`), orthonormal.
    public var vectors: Tensor<Double>

    /// Decomposes the symmetric matrix `a` (`[n, n]`). Only the lower triangle is read (the
    /// upper triangle is taken as its mirror image).
    ///
    /// - Parameter topK: when given, only the `topK` largest eigenvalues and their vectors are
    ///   returned (`values`: `[topK]`, `vectors`: `[n, topK]`); this saves the back-transform
    ///   of the other vectors (the reduction and the tridiagonal solve are still done in full).
    /// - Throws: `LinearAlgebraError.notSquare` unless `a` is `[n, n]`;
    ///   `.nonFinite` if the lower triangle holds NaN or ±∞; `.invalidArgument` if `topK` is
    ///   outside `0...n`; `.noConvergence` if the QL iteration fails (not observed in practice).
    public init(_ a: Tensor<Double>, topK: Int? = nil) throws {
        guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
        let n = a.shape[0]
        let k = topK ?? n
        guard k >= 0, k <= n else {
            throw LinearAlgebraError.invalidArgument("topK must be in 0...\(n), got \(k)")
        }
        (values, vectors) = try symmetricEigenDecompose(a, topK: k, wantVectors: true)
    }

    /// The eigenvalues of the symmetric matrix `a` (`[n, n]`, lower triangle read), in
    /// descending order, without eigenvectors (Householder reduction + implicit QL:
    /// about 4/3·n³ flops). Throws as `init(_:topK:)`.
    public static func eigenvalues(of a: Tensor<Double>) throws -> [Double] {
        guard a.rank == 2, a.shape[0] == a.shape[1] else { throw LinearAlgebraError.notSquare(shape: a.shape) }
        return try symmetricEigenDecompose(a, topK: a.shape[0], wantVectors: false).0
    }
}

/// The shared driver of `SymmetricEigen`. Returns the top-k eigenvalues (descending) and
/// their vectors as columns (`[n, k]`), or as rows (`[k, n]`) when `vectorsAsRows`.
func symmetricEigenDecompose(_ a: Tensor<Double>, topK k: Int, wantVectors: Bool,
                             vectorsAsRows: Bool = false) throws -> ([Double], Tensor<Double>) {
    let n = a.shape[0]
    if n == 0 { return ([], Tensor(zeros: [0, k])) }
    // Symmetrize from the lower triangle, check finiteness, and scale by the largest entry.
    let work = LABuffer(n * n)
    let w = work.p
    var scale = 0.0
    try a.scalars.withUnsafeBufferPointer { src in
        for i in 0..<n {
            for j in 0...i {
                let v = src[i * n + j]
                guard v.isFinite else {
                    throw LinearAlgebraError.nonFinite("SymmetricEigen: matrix entry [\(i), \(j)] is \(v)")
                }
                w[i * n + j] = v
                w[j * n + i] = v
                scale = max(scale, abs(v))
            }
        }
    }
    if scale == 0 {
        var vecs = Tensor<Double>(zeros: [n, wantVectors ? k : 0])
        if wantVectors { for i in 0..<k { vecs.scalars[i * k + i] = 1 } }
        return ([Double](repeating: 0, count: wantVectors ? k : n), vecs)
    }
    laScale(1 / scale, w, n * n)

    var d = [Double](repeating: 0, count: n)
    var e = [Double](repeating: 0, count: n)
    var tau = [Double](repeating: 0, count: n)
    householderTridiagonalize(w, n: n, d: &d, e: &e, tau: &tau)

    if !wantVectors {
        try d.withUnsafeMutableBufferPointer { dp in
            try e.withUnsafeMutableBufferPointer { ep in
                try tridiagonalQL(d: dp.baseAddress!, e: ep.baseAddress!, n: n, zt: nil, ld: 0, vectorLength: 0)
            }
        }
        return (d.sorted(by: >).map { $0 * scale }, Tensor(zeros: [n, 0]))
    }

    // Eigenvectors of T as rows of zt.
    let zt = LABuffer(n * n)
    try d.withUnsafeMutableBufferPointer { dp in
        try e.withUnsafeMutableBufferPointer { ep in
            if n <= TridiagonalDivideAndConquer.leafSize {
                for i in 0..<n { zt.p[i * n + i] = 1 }
                try tridiagonalQL(d: dp.baseAddress!, e: ep.baseAddress!, n: n, zt: zt.p, ld: n, vectorLength: n)
            } else {
                try TridiagonalDivideAndConquer.solve(d: dp.baseAddress!, e: ep.baseAddress!, n: n, zt: zt.p)
            }
        }
    }
    // Descending order; ties keep their index order.
    let order = (0..<n).sorted { d[$0] > d[$1] || (d[$0] == d[$1] && $0 < $1) }
    let vt = LABuffer(k * n)
    for r in 0..<k { (vt.p + r * n).update(from: zt.p + order[r] * n, count: n) }
    applyTridiagonalizationBack(reflectors: w, n: n, tau: tau, rows: vt.p, rowCount: k)
    let values = (0..<k).map { d[order[$0]] * scale }
    if vectorsAsRows {
        return (values, Tensor(shape: [k, n], scalars: Array(UnsafeBufferPointer(start: vt.p, count: k * n))))
    }
    // Transpose the eigenvector rows into columns.
    var vs = [Double](repeating: 0, count: n * k)
    vs.withUnsafeMutableBufferPointer { out in
        let o = out.baseAddress!
        let bs = 32
        var r0 = 0
        while r0 < k {
            let r1 = min(k, r0 + bs)
            var c0 = 0
            while c0 < n {
                let c1 = min(n, c0 + bs)
                for r in r0..<r1 { for c in c0..<c1 { o[c * k + r] = vt.p[r * n + c] } }
                c0 = c1
            }
            r0 = r1
        }
    }
    return (values, Tensor(shape: [n, k], scalars: vs))
}

/// Panel width of the blocked Householder reduction and back-transform.
let householderPanel = 32

/// Reduces the symmetric `[n, n]` matrix `a` (full storage, row-major, overwritten) to
/// tridiagonal form T = QᵀAQ, Q = H_0·H_1⋯H_{n−2}, H_j = I − τ_j·v_j·v_jᵀ.
/// On return `d` (`[n]`) and `e` (`[n]`, `e[i] = T[i, i+1]`) hold T, `tau` the τ_j, and row j
/// of `a` holds v_j in columns j+1..<n (v_j[j+1] = 1). Blocked as LAPACK `dlatrd` (lower):
/// within a panel only the current row is brought up to date; the rest of the trailing
/// matrix gets one rank-2·nb `dgemm` update per panel.
func householderTridiagonalize(_ a: UnsafeMutablePointer<Double>, n: Int,
                               d: inout [Double], e: inout [Double], tau: inout [Double]) {
    if n == 1 { d[0] = a[0]; return }
    let nb = householderPanel
    let vBuf = LABuffer(2 * nb * n)   // rows 0..<nb: V, rows nb..<2nb: W
    let pkBuf = LABuffer(2 * nb * n), wvBuf = LABuffer(2 * nb * n)
    let y = LABuffer(n), y2 = LABuffer(2 * n)
    var k = 0
    while k < n - 1 {
        let kend = min(k + nb, n - 1)
        let pw = kend - k
        vBuf.zero()
        let vp = vBuf.p, wp = vBuf.p + nb * n
        for j in k..<kend {
            let p = j - k
            let row = a + j * n
            // Bring row j (= column j) up to date with the earlier reflectors of this panel.
            for q in 0..<p {
                laAxpy(-vp[q * n + j], wp + q * n + j, row + j, n - j)
                laAxpy(-wp[q * n + j], vp + q * n + j, row + j, n - j)
            }
            d[j] = row[j]
            // Householder reflector annihilating row[j+2..<n] (LAPACK dlarfg).
            let m = n - j - 1
            let x = row + j + 1
            let alpha = x[0]
            let xnorm = m > 1 ? laDot(x + 1, x + 1, m - 1).squareRoot() : 0
            var t = 0.0
            if xnorm == 0 {
                e[j] = alpha
                x[0] = 1
            } else {
                let beta = -(alpha >= 0 ? 1 : -1) * hypot(alpha, xnorm)
                t = (beta - alpha) / beta
                laScale(1 / (alpha - beta), x + 1, m - 1)
                x[0] = 1
                e[j] = beta
            }
            tau[j] = t
            let v = vp + p * n
            (v + j + 1).update(from: x, count: m)
            let w = wp + p * n
            if t == 0 { continue }
            // y = S·v for the stale trailing block S = A[j+1..<n, j+1..<n], reading its lower
            // triangle only (half the memory traffic of a full product).
            let yv = y.p + j + 1
            let start = j + 1
            symmetricLowerGemv(a + start * n + start, ld: n, m: m, x: v + start, y: yv, scratch: y2.p)
            // Subtract the panel's pending update: y −= V·(Wᵀv) + W·(Vᵀv).
            for q in 0..<p {
                let wv = laDot(wp + q * n + start, v + start, m)
                let vv = laDot(vp + q * n + start, v + start, m)
                laAxpy(-wv, vp + q * n + start, yv, m)
                laAxpy(-vv, wp + q * n + start, yv, m)
            }
            laScale(t, yv, m)
            let corr = -0.5 * t * laDot(yv, v + start, m)
            laAxpy(corr, v + start, yv, m)
            (w + start).update(from: yv, count: m)
        }
        // Trailing update A[kend.., kend..] −= V·Wᵀ + W·Vᵀ as one GEMM with inner size 2·pw:
        // packed P = [V; W] and Q = [W; V] (`[2pw, n]` each), A −= Pᵀ·Q.
        let pk = pkBuf.p, wvp = wvBuf.p
        (pk).update(from: vp, count: pw * n)
        (pk + pw * n).update(from: wp, count: pw * n)
        (wvp).update(from: wp, count: pw * n)
        (wvp + pw * n).update(from: vp, count: pw * n)
        let mt = n - kend
        laGemm(transposeA: true, transposeB: false, m: mt, n: mt, k: 2 * pw,
              alpha: -1, a: pk + kend, lda: n, b: wvp + kend, ldb: n,
              beta: 1, c: a + kend * n + kend, ldc: n)
        k = kend
    }
    d[n - 1] = a[(n - 1) * n + (n - 1)]
}

/// Multiplies the rows of `rows` (`[rowCount, n]`) from the right by Qᵀ, Q = H_0⋯H_{n−2}
/// from `householderTridiagonalize`: if row r holds z (an eigenvector of T), it then holds
/// Q·z (an eigenvector of A). Blocked in compact WY form, I − Y·T·Yᵀ per panel
/// (LAPACK `dlarft`, forward, columnwise), two `dgemm` calls per panel.
func applyTridiagonalizationBack(reflectors a: UnsafePointer<Double>, n: Int, tau: [Double],
                                 rows: UnsafeMutablePointer<Double>, rowCount: Int) {
    if n <= 1 || rowCount == 0 { return }
    let nb = householderPanel
    let panels = stride(from: 0, to: n - 1, by: nb).map { $0 }
    let yr = LABuffer(nb * n), yc = LABuffer(n * nb), tm = LABuffer(nb * nb)
    let mbuf = LABuffer(rowCount * nb), m2 = LABuffer(rowCount * nb)
    for k in panels.reversed() {
        let kend = min(k + nb, n - 1)
        let pw = kend - k
        let m = n - k - 1           // the panel acts on indices k+1..<n
        // Y as rows (yr: [pw, m]) and as columns (yc: [m, pw]).
        yr.zero()
        for p in 0..<pw {
            let j = k + p
            let dst = yr.p + p * m + (j - k)   // index j+1 ↦ column j+1−(k+1)
            (dst).update(from: a + j * n + j + 1, count: n - j - 1)
        }
        for r in 0..<m { for p in 0..<pw { yc.p[r * pw + p] = yr.p[p * m + r] } }
        // T (upper triangular): T[i][i] = τ_i, T[0..<i, i] = −τ_i · T[0..<i, 0..<i] · Yᵀy_i.
        tm.zero()
        for i in 0..<pw {
            let ti = tau[k + i]
            tm.p[i * nb + i] = ti
            if i == 0 || ti == 0 { continue }
            var g = [Double](repeating: 0, count: i)
            for r in 0..<i { g[r] = laDot(yr.p + r * m, yr.p + i * m, m) }
            for r in 0..<i {
                var s = 0.0
                for q in r..<i { s += tm.p[r * nb + q] * g[q] }
                tm.p[r * nb + i] = -ti * s
            }
        }
        // M = X·Y, X = rows[:, k+1..<n].
        laGemm(transposeA: false, transposeB: false, m: rowCount, n: pw, k: m,
              alpha: 1, a: rows + k + 1, lda: n, b: yc.p, ldb: pw, beta: 0, c: mbuf.p, ldc: pw)
        // M2 = M·Tᵀ.
        for r in 0..<rowCount {
            let src = mbuf.p + r * pw, dst = m2.p + r * pw
            for i in 0..<pw {
                var s = 0.0
                for q in i..<pw { s += src[q] * tm.p[i * nb + q] }
                dst[i] = s
            }
        }
        // X −= M2·Yᵀ.
        laGemm(transposeA: false, transposeB: false, m: rowCount, n: m, k: pw,
              alpha: -1, a: m2.p, lda: pw, b: yr.p, ldb: m, beta: 1, c: rows + k + 1, ldc: n)
    }
}

/// y = S·x for the symmetric `[m, m]` matrix S given by its lower triangle (row stride `ld`).
/// Each row r is read once: its dot product with x gives y[r], and the same entries,
/// scaled by x[r], are added to y[0..<r] (the mirrored upper triangle).
/// Large problems are split into two fixed row ranges of equal area, each with its own
/// partial y (in `scratch`, `[2m]`), added in a fixed order: the result depends on m only,
/// never on the thread count.
func symmetricLowerGemv(_ s: UnsafePointer<Double>, ld: Int, m: Int, x: UnsafePointer<Double>,
                        y: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
    func rows(_ r0: Int, _ r1: Int, _ out: UnsafeMutablePointer<Double>) {
        out.update(repeating: 0, count: m)
        for r in r0..<r1 {
            let row = s + r * ld
            let xr = x[r]
            // Fused: dot(row[0..<r], x) and out[0..<r] += xr·row[0..<r].
            var acc0 = SIMD4<Double>(repeating: 0), acc1 = SIMD4<Double>(repeating: 0)
            let xs = SIMD4<Double>(repeating: xr)
            let rrow = UnsafeRawPointer(row), rx = UnsafeRawPointer(x)
            let ro = UnsafeMutableRawPointer(out)
            var c = 0
            while c &+ 8 <= r {
                let o = c &* 8
                let a0 = rrow.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                let a1 = rrow.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD4<Double>.self)
                acc0 += a0 * rx.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self)
                acc1 += a1 * rx.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD4<Double>.self)
                let y0 = ro.loadUnaligned(fromByteOffset: o, as: SIMD4<Double>.self) + a0 * xs
                let y1 = ro.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD4<Double>.self) + a1 * xs
                ro.storeBytes(of: y0, toByteOffset: o, as: SIMD4<Double>.self)
                ro.storeBytes(of: y1, toByteOffset: o &+ 32, as: SIMD4<Double>.self)
                c &+= 8
            }
            var dot = (acc0 + acc1).sum()
            while c < r {
                dot += row[c] * x[c]
                out[c] += row[c] * xr
                c &+= 1
            }
            out[r] += dot + row[r] * xr
        }
    }
    if m < 256 {
        rows(0, m, y)
        return
    }
    // Split so that both parts hold about half of the triangle's m²/2 entries.
    let split = Int((Double(m) / 2.0.squareRoot()).rounded())
    let bounds = [(0, split), (split, m)]
    Parallel.forEach(chunks: 2) { part in
        rows(bounds[part].0, bounds[part].1, scratch + part * m)
    }
    for i in 0..<m { y[i] = scratch[i] + scratch[m + i] }
}
