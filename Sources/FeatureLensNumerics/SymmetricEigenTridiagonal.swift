import Foundation

// Eigensolvers for a symmetric tridiagonal matrix T (diagonal d, off-diagonal e):
//
// * `tridiagonalQL`: implicit QL with Wilkinson shifts (Bowdler, Martin, Reinsch & Wilkinson,
//   "The QR and QL algorithms for symmetric matrices", Numer. Math. 11, 1968; the `tql2`
//   routine of EISPACK), optionally accumulating the rotations into eigenvector rows.
// * `TridiagonalDivideAndConquer`: Cuppen's divide and conquer (Numer. Math. 36, 1981) with
//   the deflation of Dongarra & Sorensen (SIAM J. Sci. Stat. Comput. 8, 1987) and the
//   eigenvector formula of Gu & Eisenstat (SIAM J. Matrix Anal. Appl. 16, 1995), which keeps
//   the computed eigenvectors numerically orthogonal. The work is dominated by one GEMM per
//   merge (`dgemm`), as in LAPACK's `dstedc`.
//
// Eigenvectors are stored as *rows* (`zt[i * ld + j]` is component j of eigenvector i) so
// that every rotation and every gather touches contiguous memory.

/// Implicit QL with Wilkinson shifts on the tridiagonal (`d`: `[n]`, `e`: `[n]` with
/// `e[i] = T[i, i+1]` and `e[n-1]` used as scratch). On return `d` holds the eigenvalues
/// (unsorted). If `zt` is given, its rows `0..<n` (each `vectorLength` long, row stride `ld`)
/// are multiplied by the accumulated rotations: start from the identity to get the
/// eigenvectors of T as rows, in the order of `d`.
/// Throws `LinearAlgebraError.noConvergence` after 60 iterations on one eigenvalue.
func tridiagonalQL(d: UnsafeMutablePointer<Double>, e: UnsafeMutablePointer<Double>, n: Int,
                   zt: UnsafeMutablePointer<Double>?, ld: Int, vectorLength: Int) throws {
    if n <= 1 { return }
    e[n - 1] = 0
    let eps = Double.ulpOfOne
    for l in 0..<n {
        var iter = 0
        while true {
            var m = l
            while m < n - 1 {
                let dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= eps * dd { break }
                m += 1
            }
            if m == l { break }
            iter += 1
            if iter > 60 { throw LinearAlgebraError.noConvergence(iterations: iter) }
            // Wilkinson shift from the leading 2×2 block of the active window.
            var g = (d[l + 1] - d[l]) / (2 * e[l])
            var r = (g * g + 1).squareRoot()
            if !r.isFinite { r = abs(g) }
            g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
            var s = 1.0, c = 1.0, p = 0.0
            var i = m - 1
            var early = false
            while i >= l {
                let f = s * e[i], b = c * e[i]
                r = hypot(f, g)
                e[i + 1] = r
                if r == 0 {
                    d[i + 1] -= p
                    e[m] = 0
                    early = true
                    break
                }
                s = f / r
                c = g / r
                g = d[i + 1] - p
                r = (d[i] - g) * s + 2 * c * b
                p = s * r
                d[i + 1] = g + p
                g = c * r - b
                if let zt = zt {
                    laRotate(zt + (i + 1) * ld, zt + i * ld, vectorLength, c: c, s: s)
                }
                i -= 1
            }
            if early { continue }
            d[l] -= p
            e[l] = g
            e[m] = 0
        }
    }
}

/// Divide and conquer for the eigenvectors of a symmetric tridiagonal matrix.
enum TridiagonalDivideAndConquer {
    /// Blocks of at most this size are solved by `tridiagonalQL`.
    static let leafSize = 32

    /// Eigen-decomposes the tridiagonal (`d`: `[n]` overwritten with the eigenvalues,
    /// `e`: `[n-1]` read only). `zt` (`[n, n]`, stride `n`) receives the eigenvectors as rows,
    /// row i belonging to `d[i]`. Eigenvalues are not sorted.
    static func solve(d: UnsafeMutablePointer<Double>, e: UnsafePointer<Double>, n: Int,
                      zt: UnsafeMutablePointer<Double>) throws {
        zt.update(repeating: 0, count: n * n)
        try recurse(d: d, e: e, zt: zt, ld: n, lo: 0, hi: n)
    }

    private static func recurse(d: UnsafeMutablePointer<Double>, e: UnsafePointer<Double>,
                                zt: UnsafeMutablePointer<Double>, ld: Int, lo: Int, hi: Int) throws {
        let size = hi - lo
        if size <= leafSize {
            for i in lo..<hi { zt[i * ld + i] = 1 }
            let ework = LABuffer(size)
            for i in 0..<(size - 1) { ework.p[i] = e[lo + i] }
            try tridiagonalQL(d: d + lo, e: ework.p, n: size, zt: zt + lo * ld + lo, ld: ld,
                              vectorLength: size)
            return
        }
        let mid = lo + size / 2
        let beta = e[mid - 1]
        // T = diag(T1 − |β| e_last e_lastᵀ, T2 − |β| e_1 e_1ᵀ) + |β| v vᵀ, v = (e_last; sign(β) e_1).
        d[mid - 1] -= abs(beta)
        d[mid] -= abs(beta)
        try recurse(d: d, e: e, zt: zt, ld: ld, lo: lo, hi: mid)
        try recurse(d: d, e: e, zt: zt, ld: ld, lo: mid, hi: hi)
        try merge(d: d, zt: zt, ld: ld, lo: lo, mid: mid, hi: hi, beta: beta)
    }

    /// Merges two solved halves through the rank-one update |β|·v·vᵀ.
    private static func merge(d: UnsafeMutablePointer<Double>, zt: UnsafeMutablePointer<Double>,
                              ld: Int, lo: Int, mid: Int, hi: Int, beta: Double) throws {
        if beta == 0 { return }
        let ns = hi - lo, n1 = mid - lo
        let sign: Double = beta >= 0 ? 1 : -1
        // After normalizing z to unit length the update weight is ρ = 2|β|.
        let rho = 2 * abs(beta)
        let invSqrt2 = 1 / 2.0.squareRoot()
        var z = [Double](repeating: 0, count: ns)
        var dv = [Double](repeating: 0, count: ns)
        for r in 0..<ns {
            let row = zt + (lo + r) * ld + lo
            z[r] = (r < n1 ? row[n1 - 1] : sign * row[n1]) * invSqrt2
            dv[r] = d[lo + r]
        }
        let order = (0..<ns).sorted { dv[$0] < dv[$1] || (dv[$0] == dv[$1] && $0 < $1) }
        var dmax = 0.0, zmax = 0.0
        for r in 0..<ns { dmax = max(dmax, abs(dv[r])); zmax = max(zmax, abs(z[r])) }
        let tol = 8 * Double.ulpOfOne * max(dmax, zmax)
        // Column type: 1 = nonzero only in the top half, 3 = only in the bottom half, 2 = both.
        var type = (0..<ns).map { $0 < n1 ? 1 : 3 }

        // Deflation (Dongarra & Sorensen): drop tiny z components, and rotate pairs of
        // nearly equal d values so that one of them has a zero z component.
        var kept: [Int] = []
        kept.reserveCapacity(ns)
        var previous = -1
        for nj in order {
            if rho * abs(z[nj]) <= tol { continue }  // deflated: d and vector stay as they are
            if previous < 0 { previous = nj; continue }
            let pj = previous
            let tau = hypot(z[pj], z[nj])
            let c = z[nj] / tau, s = -z[pj] / tau
            let t = dv[nj] - dv[pj]
            if abs(t * c * s) <= tol {
                z[nj] = tau
                z[pj] = 0
                laRotate(zt + (lo + pj) * ld + lo, zt + (lo + nj) * ld + lo, ns, c: c, s: s)
                if type[pj] != type[nj] { type[pj] = 2; type[nj] = 2 }
                let dp = dv[pj] * c * c + dv[nj] * s * s
                dv[nj] = dv[pj] * s * s + dv[nj] * c * c
                dv[pj] = dp
                previous = nj  // pj is deflated
            } else {
                kept.append(pj)
                previous = nj
            }
        }
        if previous >= 0 { kept.append(previous) }
        let k = kept.count
        // Deflated eigenvalues keep their rows.
        for r in 0..<ns { d[lo + r] = dv[r] }
        if k == 0 { return }
        if k == 1 {
            let j = kept[0]
            d[lo + j] = dv[j] + rho * z[j] * z[j]
            return
        }

        let dl = kept.map { dv[$0] }
        let zl = kept.map { z[$0] }
        let zsq = zl.map { $0 * $0 }
        let delta = LABuffer(k * k)   // delta[i*k + j] = dl[j] − λ_i, computed accurately
        var lambda = [Double](repeating: 0, count: k)
        dl.withUnsafeBufferPointer { dlp in
            zsq.withUnsafeBufferPointer { zp in
                lambda.withUnsafeMutableBufferPointer { lp in
                    let dlb = dlp.baseAddress!, zb = zp.baseAddress!, lb = lp.baseAddress!
                    let dp = delta.p
                    laParallelBlocks(k, block: 64) { start, end in
                        for i in start..<end {
                            lb[i] = secularRoot(i: i, d: dlb, zsq: zb, rho: rho, k: k, delta: dp + i * k)
                        }
                    }
                }
            }
        }
        // Gu–Eisenstat: recompute z so that the computed λ are the exact eigenvalues of
        // diag(dl) + ρ·ẑẑᵀ; then the vectors ẑ_j / (dl_j − λ_i) are orthogonal to working precision.
        var zhat = [Double](repeating: 0, count: k)
        for j in 0..<k {
            var w = -delta.p[j * k + j] / rho
            for i in 0..<k where i != j {
                w *= delta.p[i * k + j] / (dl[j] - dl[i])
            }
            zhat[j] = (zl[j] >= 0 ? 1 : -1) * max(w, 0).squareRoot()
        }
        // Group kept vectors by type so the product skips the zero blocks (as LAPACK dlaed3).
        var perm: [Int] = []
        perm.reserveCapacity(k)
        for t in [1, 2, 3] { for g in 0..<k where type[kept[g]] == t { perm.append(g) } }
        let c1 = perm.filter { type[kept[$0]] == 1 }.count
        let c3 = perm.filter { type[kept[$0]] == 3 }.count
        let qc = LABuffer(k * ns), ut = LABuffer(k * k), out = LABuffer(k * ns)
        for g in 0..<k {
            (qc.p + g * ns).update(from: zt + (lo + kept[perm[g]]) * ld + lo, count: ns)
        }
        for i in 0..<k {
            let row = ut.p + i * k
            var norm = 0.0
            for g in 0..<k {
                let j = perm[g]
                let v = zhat[j] / delta.p[i * k + j]
                row[g] = v
                norm += v * v
            }
            laScale(1 / norm.squareRoot(), row, k)
        }
        // out = UT · QcT, using that rows of type 1 are zero in the bottom half and type 3 in the top.
        laGemm(transposeA: false, transposeB: false, m: k, n: n1, k: k - c3,
              alpha: 1, a: ut.p, lda: k, b: qc.p, ldb: ns, beta: 0, c: out.p, ldc: ns)
        laGemm(transposeA: false, transposeB: false, m: k, n: ns - n1, k: k - c1,
              alpha: 1, a: ut.p + c1, lda: k, b: qc.p + c1 * ns + n1, ldb: ns,
              beta: 0, c: out.p + n1, ldc: ns)
        for i in 0..<k {
            let j = kept[i]
            (zt + (lo + j) * ld + lo).update(from: out.p + i * ns, count: ns)
            d[lo + j] = lambda[i]
        }
    }

    /// Root i (0-based) of the secular equation f(λ) = 1 + ρ Σ_j z_j² / (d_j − λ) with
    /// d ascending, ρ > 0: d_i < λ_i < d_{i+1} (λ_{k−1} > d_{k−1}). Writes d_j − λ_i to
    /// `delta[j]` computed relative to the nearer pole, and returns λ_i.
    /// Iteration: the two-pole rational model of Bunch, Nielsen & Sorensen (Numer. Math. 31,
    /// 1978) with a bisection safeguard on a bracket.
    static func secularRoot(i: Int, d: UnsafePointer<Double>, zsq: UnsafePointer<Double>,
                            rho: Double, k: Int, delta: UnsafeMutablePointer<Double>) -> Double {
        let eps = Double.ulpOfOne
        let last = i == k - 1
        var origin = i
        var lo = 0.0, hi = 0.0
        if last {
            var s = 0.0
            for j in 0..<k { s += zsq[j] }
            hi = rho * s
            // Guard against rounding: make sure f(hi) ≥ 0 by widening if needed.
            var f = 1.0
            for j in 0..<k { f += rho * zsq[j] / ((d[j] - d[i]) - hi) }
            var widen = 0
            while f < 0 && widen < 60 {
                hi *= 2
                f = 1.0
                for j in 0..<k { f += rho * zsq[j] / ((d[j] - d[i]) - hi) }
                widen += 1
            }
        } else {
            let gap = d[i + 1] - d[i]
            let midpoint = gap / 2
            var f = 1.0
            for j in 0..<k { f += rho * zsq[j] / ((d[j] - d[i]) - midpoint) }
            if f >= 0 {
                origin = i; lo = 0; hi = midpoint
            } else {
                origin = i + 1; lo = (d[i] - d[i + 1]) / 2; hi = 0
            }
        }
        let d0 = d[origin]
        for j in 0..<k { delta[j] = d[j] - d0 }
        let a = delta[i]                       // pole on the left
        let b = last ? Double.infinity : delta[i + 1]  // pole on the right
        var tau = (lo + hi) / 2
        for _ in 0..<200 {
            var psi = 0.0, dpsi = 0.0, phi = 0.0, dphi = 0.0
            for j in 0...i {
                let t = delta[j] - tau
                let term = rho * zsq[j] / t
                psi += term
                dpsi += term / t
            }
            if !last {
                for j in (i + 1)..<k {
                    let t = delta[j] - tau
                    let term = rho * zsq[j] / t
                    phi += term
                    dphi += term / t
                }
            }
            let f = 1 + psi + phi
            if f == 0 { break }
            if f < 0 { lo = tau } else { hi = tau }
            if abs(f) <= 4 * eps * (1 + abs(psi) + abs(phi)) * Double(min(k, 8)) { break }
            if hi - lo <= 2 * eps * max(abs(lo), abs(hi)) { break }
            // Two-pole model: ψ ≈ A1 + B1/(a − t), φ ≈ A2 + B2/(b − t), matched at τ.
            let da = a - tau
            var eta: Double
            if last {
                let c = 1 + psi - dpsi * da
                eta = c > 0 ? da * f / c : .nan
            } else {
                let db = b - tau
                let b1 = dpsi * da * da, b2 = dphi * db * db
                let c = 1 + (psi - dpsi * da) + (phi - dphi * db)
                let bq = c * (da + db) + b1 + b2
                let cc = da * db * f
                if c == 0 {
                    eta = cc / bq
                } else {
                    let disc = bq * bq - 4 * c * cc
                    if disc < 0 {
                        eta = .nan
                    } else {
                        let q = bq + (bq >= 0 ? 1 : -1) * disc.squareRoot()
                        let r1 = q / (2 * c), r2 = 2 * cc / q
                        eta = (r2 > da && r2 < db) ? r2 : r1
                    }
                }
            }
            var next = tau + eta
            if !(next > lo && next < hi) { next = (lo + hi) / 2 }
            if next == tau { break }
            tau = next
        }
        for j in 0..<k { delta[j] -= tau }
        return d0 + tau
    }
}
