// The shared engine behind InfoNCE / NT-Xent and SupCon (not a loss of its own).
//
// Both losses are, for V views with unit embeddings uᵢ = zᵢ / max(‖zᵢ‖, ε) and a class id cᵢ
// per view (NT-Xent: the example index, so the only positive is the partner view):
//
//     s_ik = ⟨uᵢ, u_k⟩ / τ
//     lseᵢ = log Σ_{k≠i} exp(s_ik)                       (self excluded)
//     P(i) = { k ≠ i : c_k = cᵢ },  I = { i : |P(i)| ≥ 1 }
//     L    = (1/|I|) Σ_{i∈I} [ lseᵢ − (1/|P(i)|) Σ_{k∈P(i)} s_ik ]
//
// Backward (written by hand):
//     G_ik = ∂L/∂s_ik = wᵢ (softmax_ik − t_ik)  for k ≠ i,  G_ii = 0,
//            wᵢ = 1[i∈I]/|I|,  t_ik = 1[k∈P(i)]/|P(i)|,  softmax_ik = exp(s_ik − lseᵢ)
//     ∂L/∂U = (G + Gᵀ) U / τ                              (s is symmetric in U)
//     ∂L/∂zᵢ = (gᵢ − uᵢ⟨uᵢ, gᵢ⟩) / ‖zᵢ‖   if ‖zᵢ‖ > ε,   gᵢ / ε otherwise (F.normalize's clamp)
//
// Memory: the V × V similarity matrix is never held whole unless V² ≤ `blockBudget`
// (4 Mi entries: 16 MiB in Float, 32 MiB in Double). Otherwise rows are processed in blocks
// of b = ⌊blockBudget / V⌋ rows, in two passes: pass 1 computes each row's lseᵢ and loss
// term, pass 2 recomputes the block's similarities and forms the rows of G + Gᵀ from the
// stored lse values, then multiplies by U. Each block owns its output rows, so blocks can
// run in parallel and the result does not depend on the thread count; at most
// `threads` blocks are alive at once. For 8192 views with p = 128 in Double that is
// 2 × 32 MiB of similarity rows plus O(V·p) for U and the gradient: far below 1 GiB.

import Foundation
import FeatureLensNumerics

enum SoftmaxContrastiveEngine {
    /// Maximum entries of the similarity matrix held per block.
    static let blockBudget = 1 << 22

    /// Rows per block for `views` views (fixed by V alone, never by the thread count).
    static func blockRows(views: Int, requested: Int?) -> Int {
        if let r = requested { return max(1, min(r, views)) }
        return max(1, min(views, blockBudget / max(1, views)))
    }

    /// Loss value and ∂L/∂Z for embeddings `z` `[V, p]` and one class id per view
    /// (`viewClasses`, dense ids 0..<C). `temperature` > 0 is checked by the callers.
    static func evaluate<S: TensorScalar>(
        _ z: Tensor<S>, viewClasses: [Int], classCount: Int, temperature: Double,
        rowBlockSize: Int?, threads: Int
    ) -> (S, Tensor<S>) {
        let v = z.shape[0], p = z.shape[1]
        precondition(viewClasses.count == v, "one class id per view")

        // Positives per anchor and the anchor weights wᵢ.
        var members = [[Int]](repeating: [], count: classCount)
        for (i, c) in viewClasses.enumerated() { members[c].append(i) }
        var invPositives = [S](repeating: 0, count: v)
        var weight = [S](repeating: 0, count: v)
        var included = 0
        for i in 0..<v where members[viewClasses[i]].count > 1 {
            invPositives[i] = 1 / S(Double(members[viewClasses[i]].count - 1))
            included += 1
        }
        if included == 0 {  // No anchor has a positive: the loss is 0 and has no gradient.
            return (0, Tensor(zeros: z.shape))
        }
        let w = 1 / S(Double(included))
        for i in 0..<v where invPositives[i] != 0 { weight[i] = w }

        // Row-normalize.
        let eps = S(1e-12)
        var norms = [S](repeating: 0, count: v)
        var u = Tensor<S>(zeros: [v, p])
        z.withUnsafeBufferPointer { zb in
            u.withUnsafeMutableBufferPointer { ub in
                for i in 0..<v {
                    var acc: S = 0
                    for j in 0..<p { let x = zb[i * p + j]; acc += x * x }
                    let r = S.sqrt(acc)
                    norms[i] = r
                    let inv = 1 / Swift.max(r, eps)
                    for j in 0..<p { ub[i * p + j] = zb[i * p + j] * inv }
                }
            }
        }

        let invTau = S(1 / temperature)
        let b = blockRows(views: v, requested: rowBlockSize)
        var rowLoss = [Double](repeating: 0, count: v)
        var gradU = Tensor<S>(zeros: [v, p])

        u.withUnsafeBufferPointer { ubuf in
            gradU.withUnsafeMutableBufferPointer { gbuf in
                rowLoss.withUnsafeMutableBufferPointer { lossBuf in
                    let up = ubuf.baseAddress!, gp = gbuf.baseAddress!, lp = lossBuf.baseAddress!
                    if b >= v && S.self == Float.self {
                        singleBlockFloat(u: UnsafeRawPointer(up).assumingMemoryBound(to: Float.self), v: v, p: p,
                                         invTau: Float(1 / temperature), classes: viewClasses,
                                         classCount: classCount, members: members,
                                         invPositives: invPositives.map { Float($0.doubleValue) },
                                         weight: weight.map { Float($0.doubleValue) }, rowLoss: lp,
                                         gradU: UnsafeMutableRawPointer(gp).assumingMemoryBound(to: Float.self),
                                         threads: threads)
                    } else if b >= v {
                        singleBlock(u: up, v: v, p: p, invTau: invTau, classes: viewClasses,
                                    members: members, invPositives: invPositives, weight: weight,
                                    rowLoss: lp, gradU: gp, threads: threads)
                    } else {
                        multiBlock(u: up, v: v, p: p, blockRows: b, invTau: invTau,
                                   classes: viewClasses, members: members,
                                   invPositives: invPositives, weight: weight,
                                   rowLoss: lp, gradU: gp, threads: threads)
                    }
                }
            }
        }

        // Backward through the L2 normalization.
        var grad = Tensor<S>(zeros: [v, p])
        u.withUnsafeBufferPointer { ub in
            gradU.withUnsafeBufferPointer { gub in
                grad.withUnsafeMutableBufferPointer { gb in
                    for i in 0..<v {
                        let r = norms[i]
                        if r > eps {
                            var dot: S = 0
                            for j in 0..<p { dot += ub[i * p + j] * gub[i * p + j] }
                            let inv = 1 / r
                            for j in 0..<p { gb[i * p + j] = (gub[i * p + j] - ub[i * p + j] * dot) * inv }
                        } else {
                            let inv = 1 / eps
                            for j in 0..<p { gb[i * p + j] = gub[i * p + j] * inv }
                        }
                    }
                }
            }
        }

        var total = 0.0
        for x in rowLoss { total += x }  // Fixed order: independent of blocks and threads.
        return (S(total), grad)
    }

    // MARK: Row statistics

    /// Max over k ≠ i of `row[k]`, and Σ over the positives of `row[k]`.
    @inline(__always)
    private static func maxAndPositiveSum<S: TensorScalar>(
        _ row: UnsafeMutablePointer<S>, i: Int, v: Int, positives: [Int]
    ) -> (S, S) {
        var m = -S.infinity
        for k in 0..<i { m = Swift.max(m, row[k]) }
        for k in (i + 1)..<Swift.max(i + 1, v) { m = Swift.max(m, row[k]) }
        var pos: S = 0
        for k in positives where k != i { pos += row[k] }
        return (m, pos)
    }

    // MARK: Whole matrix (V² ≤ blockBudget)

    private static func singleBlock<S: TensorScalar>(
        u: UnsafePointer<S>, v: Int, p: Int, invTau: S, classes: [Int], members: [[Int]],
        invPositives: [S], weight: [S], rowLoss: UnsafeMutablePointer<Double>,
        gradU: UnsafeMutablePointer<S>, threads: Int
    ) {
        let sim = UnsafeMutablePointer<S>.allocate(capacity: v * v)
        defer { sim.deallocate() }
        // S = U Uᵀ / τ
        S.gemmKernel(transposeA: false, transposeB: true, m: v, n: v, k: p, alpha: invTau,
                     a: u, lda: p, b: u, ldb: p, beta: 0, c: sim, ldc: v, threads: threads)
        // Each row: loss term, then overwrite with G_i· = wᵢ (softmax_i· − t_i·).
        let chunkRows = 64
        Parallel.forEach(chunks: (v + chunkRows - 1) / chunkRows, threads: threads) { chunk in
            for i in (chunk * chunkRows)..<Swift.min(v, (chunk + 1) * chunkRows) {
                let row = sim + i * v
                let wi = weight[i]
                if wi == 0 {  // Excluded anchor: contributes nothing.
                    for k in 0..<v { row[k] = 0 }
                    continue
                }
                let positives = members[classes[i]]
                let (m, pos) = maxAndPositiveSum(row, i: i, v: v, positives: positives)
                var sum: S = 0
                for k in 0..<i { let e = S.exp(row[k] - m); row[k] = e; sum += e }
                row[i] = 0  // Self excluded (never exponentiated: s_ii − m can overflow).
                for k in (i + 1)..<v { let e = S.exp(row[k] - m); row[k] = e; sum += e }
                let lse = m + S.log(sum)
                rowLoss[i] = wi.doubleValue * (lse.doubleValue - (pos * invPositives[i]).doubleValue)
                let scale = wi / sum
                for k in 0..<v { row[k] *= scale }
                row[i] = 0
                let t = wi * invPositives[i]
                for k in positives where k != i { row[k] -= t }
            }
        }
        // M = G + Gᵀ, in place, by 16 × 16 tiles (one cache line per tile row; small TLB
        // footprint). Each entry pair is written by exactly one tile, so tile rows can run in
        // parallel without changing any result.
        let tile = 16
        let tiles = (v + tile - 1) / tile
        Parallel.forEach(chunks: tiles, threads: threads) { ti in
            let i0 = ti * tile, i1 = Swift.min(v, i0 + tile)
            for tk in ti..<tiles {
                let k0 = tk * tile, k1 = Swift.min(v, k0 + tile)
                for i in i0..<i1 {
                    let rowI = sim + i * v
                    var k = Swift.max(k0, i + 1)
                    while k < k1 {
                        let sum = rowI[k] + sim[k * v + i]
                        rowI[k] = sum
                        sim[k * v + i] = sum
                        k += 1
                    }
                }
            }
        }
        // ∂L/∂U = M U / τ
        S.gemmKernel(transposeA: false, transposeB: false, m: v, n: p, k: v, alpha: invTau,
                     a: sim, lda: v, b: u, ldb: p, beta: 0, c: gradU, ldc: p, threads: threads)
    }

    // MARK: Whole matrix, Float (vectorized exp; no G + Gᵀ pass)

    /// The single-block computation for `Float`, rearranged so the V × V matrix is touched only
    /// by one max pass, one exp pass and two GEMMs. With E_ik = exp(s_ik − mᵢ) (E_ii = 0),
    /// dᵢ = wᵢ / Σ_k E_ik and T_ik = aᵢ·1[k ∈ P(i)], aᵢ = wᵢ/|P(i)|, the rows of G are
    /// dᵢE_i· − T_i·, so
    ///
    ///     τ ∂L/∂U = D (E U) + Eᵀ (D U) − (T + Tᵀ) U,
    ///     [(T + Tᵀ) U]ᵢ = aᵢ (Σ_{c_k = cᵢ} u_k − uᵢ) + (Σ_{c_k = cᵢ} a_k u_k − aᵢ uᵢ)
    ///
    /// (class sums: O(V·p) even when classes are large, as in SupCon). The exp and max run
    /// through `VectorMath` (AVX-512 when available). Rows are independent, and the class
    /// sums run serially, so the result does not depend on the thread count.
    private static func singleBlockFloat(
        u: UnsafePointer<Float>, v: Int, p: Int, invTau: Float, classes: [Int], classCount: Int,
        members: [[Int]], invPositives: [Float], weight: [Float], rowLoss: UnsafeMutablePointer<Double>,
        gradU: UnsafeMutablePointer<Float>, threads: Int
    ) {
        let e = UnsafeMutablePointer<Float>.allocate(capacity: v * v)
        defer { e.deallocate() }
        let scaledU = UnsafeMutablePointer<Float>.allocate(capacity: v * p)
        defer { scaledU.deallocate() }
        var d = [Float](repeating: 0, count: v)
        // S = U Uᵀ / τ
        sgemm(transposeA: false, transposeB: true, m: v, n: v, k: p, alpha: invTau,
              a: u, lda: p, b: u, ldb: p, beta: 0, c: e, ldc: v, threads: threads)
        let chunkRows = 32
        d.withUnsafeMutableBufferPointer { db in
            let dp = db.baseAddress!
            Parallel.forEach(chunks: (v + chunkRows - 1) / chunkRows, threads: threads) { chunk in
                for i in (chunk * chunkRows)..<Swift.min(v, (chunk + 1) * chunkRows) {
                    let row = e + i * v
                    let wi = weight[i]
                    if wi == 0 {  // Excluded anchor: its row of G is zero.
                        row.initialize(repeating: 0, count: v)
                        dp[i] = 0
                        continue
                    }
                    var pos: Float = 0
                    for k in members[classes[i]] where k != i { pos += row[k] }
                    row[i] = -.infinity  // Self excluded: exp gives exactly 0.
                    let m = VectorMath.maximum(row, count: v)
                    let sum = VectorMath.expShiftedSum(row, count: v, shift: m)
                    let lse = m + Foundation.log(sum)
                    rowLoss[i] = Double(wi) * (Double(lse) - Double(pos * invPositives[i]))
                    dp[i] = wi / sum
                }
            }
            // D U (for Eᵀ (D U)), with 1/τ folded in.
            for i in 0..<v {
                let s = dp[i] * invTau
                let src = u + i * p, dst = scaledU + i * p
                for j in 0..<p { dst[j] = src[j] * s }
            }
            // gradU = E U, then rows scaled by dᵢ/τ, then += Eᵀ (D U / τ).
            sgemm(transposeA: false, transposeB: false, m: v, n: p, k: v, alpha: 1,
                  a: e, lda: v, b: u, ldb: p, beta: 0, c: gradU, ldc: p, threads: threads)
            for i in 0..<v {
                let s = dp[i] * invTau
                let g = gradU + i * p
                for j in 0..<p { g[j] *= s }
            }
            sgemm(transposeA: true, transposeB: false, m: v, n: p, k: v, alpha: 1,
                  a: e, lda: v, b: scaledU, ldb: p, beta: 1, c: gradU, ldc: p, threads: threads)
        }
        // − (T + Tᵀ) U / τ: [(T + Tᵀ)U]ᵢ = Σ_{k ∈ P(i)} (aᵢ + a_k) u_k. Small classes sum their
        // members directly (exact cancellation where G is exactly 0, e.g. a batch of one
        // pair); large ones (SupCon) use per-class sums of u_k and a_k u_k: O(V·p).
        let directLimit = 32
        var ta = [Float](repeating: 0, count: v)
        for i in 0..<v { ta[i] = weight[i] * invPositives[i] * invTau }
        var classSum: [Float] = [], weightedSum: [Float] = []
        var summed = [Bool](repeating: false, count: classCount)
        for c in 0..<classCount where members[c].count > directLimit {
            if classSum.isEmpty {
                classSum = [Float](repeating: 0, count: classCount * p)
                weightedSum = [Float](repeating: 0, count: classCount * p)
            }
            summed[c] = true
            for k in members[c] {
                let uk = u + k * p
                for j in 0..<p { classSum[c * p + j] += uk[j]; weightedSum[c * p + j] += ta[k] * uk[j] }
            }
        }
        for i in 0..<v where members[classes[i]].count > 1 {
            let c = classes[i], ui = u + i * p, ti = ta[i], g = gradU + i * p
            if summed[c] {
                for j in 0..<p {
                    g[j] -= ti * (classSum[c * p + j] - ui[j]) + (weightedSum[c * p + j] - ta[i] * ui[j])
                }
            } else {
                for k in members[c] where k != i {
                    let uk = u + k * p, tk = ta[k]
                    for j in 0..<p { g[j] -= ti * uk[j] + tk * uk[j] }
                }
            }
        }
    }

    // MARK: Row blocks (V² > blockBudget, or a requested block size)

    private static func multiBlock<S: TensorScalar>(
        u: UnsafePointer<S>, v: Int, p: Int, blockRows b: Int, invTau: S, classes: [Int],
        members: [[Int]], invPositives: [S], weight: [S], rowLoss: UnsafeMutablePointer<Double>,
        gradU: UnsafeMutablePointer<S>, threads: Int
    ) {
        let blocks = (v + b - 1) / b
        let concurrent = Swift.min(threads, blocks) > 1
        let gemmThreads = concurrent ? 1 : threads
        let lse = UnsafeMutablePointer<S>.allocate(capacity: v)
        defer { lse.deallocate() }

        // Pass 1: lseᵢ and the loss term of every row.
        Parallel.forEach(chunks: blocks, threads: threads) { blk in
            let r0 = blk * b, rows = Swift.min(b, v - r0)
            let sim = UnsafeMutablePointer<S>.allocate(capacity: rows * v)
            defer { sim.deallocate() }
            S.gemmKernel(transposeA: false, transposeB: true, m: rows, n: v, k: p, alpha: invTau,
                         a: u + r0 * p, lda: p, b: u, ldb: p, beta: 0, c: sim, ldc: v,
                         threads: gemmThreads)
            for r in 0..<rows {
                let i = r0 + r
                let row = sim + r * v
                let (m, pos) = maxAndPositiveSum(row, i: i, v: v, positives: members[classes[i]])
                if m == -S.infinity { lse[i] = 0; continue }  // A single view: no other entry.
                var sum: S = 0
                for k in 0..<i { sum += S.exp(row[k] - m) }
                for k in (i + 1)..<v { sum += S.exp(row[k] - m) }
                let l = m + S.log(sum)
                lse[i] = l
                if weight[i] != 0 {
                    rowLoss[i] = weight[i].doubleValue * (l.doubleValue - (pos * invPositives[i]).doubleValue)
                }
            }
        }

        // Pass 2: rows of M = G + Gᵀ for the block, then ∂L/∂U rows = M_block U / τ.
        Parallel.forEach(chunks: blocks, threads: threads) { blk in
            let r0 = blk * b, rows = Swift.min(b, v - r0)
            let sim = UnsafeMutablePointer<S>.allocate(capacity: rows * v)
            defer { sim.deallocate() }
            S.gemmKernel(transposeA: false, transposeB: true, m: rows, n: v, k: p, alpha: invTau,
                         a: u + r0 * p, lda: p, b: u, ldb: p, beta: 0, c: sim, ldc: v,
                         threads: gemmThreads)
            for r in 0..<rows {
                let i = r0 + r
                let row = sim + r * v
                let wi = weight[i], li = lse[i]
                // For k ≠ i, s_ik ≤ lse_i and s_ik ≤ lse_k (up to rounding), so no exp overflows
                // and an excluded anchor (weight 0) never gives 0·∞. The diagonal is skipped.
                for k in 0..<i { let s = row[k]; row[k] = wi * S.exp(s - li) + weight[k] * S.exp(s - lse[k]) }
                row[i] = 0
                for k in (i + 1)..<v { let s = row[k]; row[k] = wi * S.exp(s - li) + weight[k] * S.exp(s - lse[k]) }
                for k in members[classes[i]] where k != i {
                    row[k] -= wi * invPositives[i] + weight[k] * invPositives[k]
                }
            }
            S.gemmKernel(transposeA: false, transposeB: false, m: rows, n: p, k: v, alpha: invTau,
                         a: sim, lda: v, b: u, ldb: p, beta: 0, c: gradU + r0 * p, ldc: p,
                         threads: gemmThreads)
        }
    }
}
