import CFeatureLensKernels

/// C ← A·B + β·C for row-major rank-2 `Double` tensors with a **narrow** B (`[k, n]`, n up to
/// a few dozen), without packing: A `[m, k]`, C `[m, n]`.
///
/// Made for the exact Gram-space gradient descent of the synthetic experiments, where the
/// same n×n Gram matrix multiplies an n×p panel (p ≤ 128) tens of thousands of times
/// (SCIENCE.md §4). AVX-512F kernel when the CPU has it, else AVX2 + FMA, else a portable loop. Rows of
/// C are split over `threads` in whole blocks and each element is summed over k in the same
/// order, so results are bit-identical for any thread count. When β = 0, C is not read.
public func narrowGEMM(_ a: Tensor<Double>, _ b: Tensor<Double>, beta: Double = 0, into c: inout Tensor<Double>,
                       threads: Int = 1) {
    precondition(a.rank == 2 && b.rank == 2 && c.rank == 2, "narrowGEMM needs rank-2 tensors")
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    precondition(b.shape[0] == k && c.shape == [m, n],
                 "narrowGEMM shapes: A \(a.shape), B \(b.shape), C \(c.shape)")
    if m == 0 || n == 0 { return }
    a.scalars.withUnsafeBufferPointer { ab in
        b.scalars.withUnsafeBufferPointer { bb in
            c.scalars.withUnsafeMutableBufferPointer { cb in
                guard let cp = cb.baseAddress else { return }
                let ap = ab.baseAddress, bp = bb.baseAddress
                forEachRowChunk(rows: m, multipleOf: 8, threads: threads, c: cp, ldc: n) { r0, r1, cRows in
                    fl_dgemm_narrow(r1 - r0, n, k, ap.map { $0 + r0 * k }, k, bp, n, beta, cRows, n)
                }
            }
        }
    }
}

/// ZᵀZ for a row-major Z `[rows, p]` given as a flat array → flat `[p, p]` (the Gram matrix
/// of the columns). Each entry is one FMA chain over the rows in order, so the result is
/// bit-identical to `narrowGEMM(Zᵀ, Z)`; only the upper triangle is computed (then mirrored)
/// and Z is read once, without a transposed copy.
/// - Precondition: `z.count == rows · p`.
public func gramOfColumns(_ z: [Double], rows: Int, p: Int) -> [Double] {
    precondition(rows >= 0 && p >= 0 && z.count == rows * p, "gramOfColumns: \(z.count) values for [\(rows), \(p)]")
    var out = [Double](repeating: 0, count: p * p)
    if rows == 0 || p == 0 { return out }
    z.withUnsafeBufferPointer { zb in
        out.withUnsafeMutableBufferPointer { ob in
            if let zp = zb.baseAddress, let op = ob.baseAddress {
                fl_dgram_columns(rows, p, zp, p, op)
            }
        }
    }
    return out
}

/// Splits the m rows of C over `threads` in chunks of whole multiples of `multipleOf` rows
/// (at least 64 rows per chunk) and calls `body(r0, r1, C + r0·ldc)` for each, concurrently.
/// The split never changes what a row computes, so results do not depend on `threads`.
private func forEachRowChunk(rows m: Int, multipleOf block: Int, threads: Int, c: UnsafeMutablePointer<Double>, ldc: Int,
                             _ body: (Int, Int, UnsafeMutablePointer<Double>) -> Void) {
    let chunks = threads > 1 ? min(threads, max(1, m / 64)) : 1
    let rowsPerChunk = ((m + chunks - 1) / chunks + block - 1) / block * block
    let cAddress = Int(bitPattern: c)
    Parallel.forEach(chunks: chunks, threads: threads) { chunk in
        let r0 = chunk * rowsPerChunk, r1 = min(m, r0 + rowsPerChunk)
        if r0 >= r1 { return }
        body(r0, r1, UnsafeMutablePointer<Double>(bitPattern: cAddress)! + r0 * ldc)
    }
}

/// A left operand A `[m, k]` of `narrowGEMM` packed once for many products A·B: the Gram
/// matrix of a Gram-space run multiplies a new `[m, p]` panel at every step. Packing costs
/// one copy of A (O(m·k)); on AVX2 CPUs without AVX-512 the packed kernel is 1.1–5× faster
/// than the unpacked one at most widths (`featurelens bench linear`), and its results are
/// bit-identical to `narrowGEMM` on the plain matrix.
public struct PackedNarrowOperand: Sendable {
    /// A itself, `[m, k]` (kernels that prefer the plain layout read it).
    public let matrix: Tensor<Double>
    /// A in blocks of `packRows` rows, each stored k-major, the last block zero-padded.
    let packed: [Double]
    /// Rows per packed block.
    static let packRows = Int(fl_dgemm_narrow_pack_rows())

    /// Packs `matrix` (rank 2).
    public init(_ matrix: Tensor<Double>) {
        precondition(matrix.rank == 2, "PackedNarrowOperand needs a rank-2 tensor, got \(matrix.shape)")
        self.matrix = matrix
        let m = matrix.shape[0], k = matrix.shape[1]
        var buffer = [Double](repeating: 0, count: max(1, Int(fl_dgemm_narrow_packed_size(m, k))))
        matrix.scalars.withUnsafeBufferPointer { ap in
            buffer.withUnsafeMutableBufferPointer { pp in
                if let a = ap.baseAddress, let out = pp.baseAddress { fl_dgemm_narrow_pack(m, k, a, max(1, k), out) }
            }
        }
        packed = buffer
    }
}

/// C ← A·B + β·C with A packed by `PackedNarrowOperand`: the same result, bit for bit, as
/// `narrowGEMM(a.matrix, b, beta:, into:, threads:)`; rows of C split over `threads` at
/// multiples of the packed block, so results do not depend on the thread count.
public func narrowGEMM(_ a: PackedNarrowOperand, _ b: Tensor<Double>, beta: Double = 0, into c: inout Tensor<Double>,
                       threads: Int = 1) {
    precondition(b.rank == 2 && c.rank == 2, "narrowGEMM needs rank-2 tensors")
    let m = a.matrix.shape[0], k = a.matrix.shape[1], n = b.shape[1]
    precondition(b.shape[0] == k && c.shape == [m, n],
                 "narrowGEMM shapes: A \(a.matrix.shape), B \(b.shape), C \(c.shape)")
    if m == 0 || n == 0 { return }
    let block = PackedNarrowOperand.packRows
    a.matrix.scalars.withUnsafeBufferPointer { ab in
        a.packed.withUnsafeBufferPointer { pb in
            b.scalars.withUnsafeBufferPointer { bb in
                c.scalars.withUnsafeMutableBufferPointer { cb in
                    guard let cp = cb.baseAddress, let pp = pb.baseAddress else { return }
                    let ap = ab.baseAddress, bp = bb.baseAddress
                    forEachRowChunk(rows: m, multipleOf: block, threads: threads, c: cp, ldc: n) { r0, r1, cRows in
                        fl_dgemm_narrow_packed(r1 - r0, n, k, pp + (r0 / block) * block * k, ap.map { $0 + r0 * k },
                                               max(1, k), bp, n, beta, cRows, n)
                    }
                }
            }
        }
    }
}

/// A left operand A `[m, k]` rounded to `Float` and packed once for many mixed-precision
/// products C ← C + A·B (`narrowGEMMAccumulatingInFloat`): the Gram matrix of a Gram-space
/// run at `step_precision = mixed`. Packing costs one pass over A (O(m·k)).
public struct PackedNarrowOperandFloat32: Sendable {
    /// Rows m of A.
    public let rows: Int
    /// Columns k of A.
    public let columns: Int
    /// A in blocks of `packRows` rows, each stored k-major, the last block zero-padded.
    let packed: [Float]
    /// Rows per packed block.
    static let packRows = Int(fl_sgemm_narrow_pack_rows())

    /// Rounds `matrix` (rank 2) to `Float` and packs it.
    public init(_ matrix: Tensor<Double>) {
        precondition(matrix.rank == 2, "PackedNarrowOperandFloat32 needs a rank-2 tensor, got \(matrix.shape)")
        let m = matrix.shape[0], k = matrix.shape[1]
        rows = m; columns = k
        var buffer = [Float](repeating: 0, count: max(1, Int(fl_sgemm_narrow_packed_size(m, k))))
        matrix.scalars.withUnsafeBufferPointer { ap in
            buffer.withUnsafeMutableBufferPointer { pp in
                if let a = ap.baseAddress, let out = pp.baseAddress { fl_sgemm_narrow_pack(m, k, a, max(1, k), out) }
            }
        }
        packed = buffer
    }
}

/// C ← C + A·B in mixed precision, for C and B `Double` and A packed in `Float`: B `[k, n]`
/// is rounded to `Float`, each element of A·B is one `Float` FMA chain over k in order from
/// zero, converted to `Double` and added to C `[m, n]`.
///
/// Twice the arithmetic rate of `narrowGEMM` on AVX2 (eight `Float` lanes per FMA against
/// four `Double`); each product element carries a relative rounding error of order
/// k·2⁻²⁴·(Σ|a||b|)/|Σ a b| that is not accumulated from call to call when, as in the
/// Gram-space step, C is recomputed from an exact `Double` state every time. Rows of C are
/// split over `threads` at multiples of the packed block, so results are bit-identical for
/// any thread count (and to the portable kernel).
public func narrowGEMMAccumulatingInFloat(_ a: PackedNarrowOperandFloat32, _ b: Tensor<Double>, into c: inout Tensor<Double>,
                                          threads: Int = 1) {
    precondition(b.rank == 2 && c.rank == 2, "narrowGEMMAccumulatingInFloat needs rank-2 tensors")
    let m = a.rows, k = a.columns, n = b.shape[1]
    precondition(b.shape[0] == k && c.shape == [m, n],
                 "narrowGEMMAccumulatingInFloat shapes: A [\(m), \(k)], B \(b.shape), C \(c.shape)")
    if m == 0 || n == 0 { return }
    let bf = b.scalars.map { Float($0) }
    let block = PackedNarrowOperandFloat32.packRows
    a.packed.withUnsafeBufferPointer { pb in
        bf.withUnsafeBufferPointer { bb in
            c.scalars.withUnsafeMutableBufferPointer { cb in
                guard let cp = cb.baseAddress, let pp = pb.baseAddress else { return }
                let bp = bb.baseAddress
                forEachRowChunk(rows: m, multipleOf: block, threads: threads, c: cp, ldc: n) { r0, r1, cRows in
                    fl_sgemm_narrow_packed_accumulate(r1 - r0, n, k, pp + (r0 / block) * block * k, bp, n, cRows, n)
                }
            }
        }
    }
}

/// Name of the kernel `narrowGEMMAccumulatingInFloat` uses on this CPU (`avx2+fma` or `generic`).
public var narrowGEMMFloat32KernelName: String { String(cString: fl_sgemm_narrow_kernel()) }

/// The spectral contrastive loss in its pairing form (HaoChen et al., NeurIPS 2021; SCIENCE.md
/// §3) and its gradient, fused in one pass for the Gram-space step:
///
///     L = −2·⟨Z₁, P Z₂⟩_F + tr((Z₁ᵀZ₁)(Z₂ᵀZ₂))/n²,   ∂L/∂Z₁ = (2/n²)·Z₁(Z₂ᵀZ₂) − 2·P Z₂,
///
/// ∂L/∂Z₂ likewise, with P = (1−β)/n·I + β/S·[yᵢ = yⱼ], S = Σ_c n_c².
/// - Parameters:
///   - zs: the stacked embeddings, row-major: [Z₁; Z₂] `[2n, p]` (views = 2) or Z `[n, p]`
///     (views = 1, both branches see Z; the gradient is then ∂L/∂Z₁ + ∂L/∂Z₂).
///   - classes: class index of each of the n points, in 0..<classCount.
///   - beta, sameClassPairs: β and S of P.
/// - Returns: L and the gradient, shaped like `zs`. Single-threaded; every sum runs in index
///   order, so the result is deterministic.
/// - Precondition: `zs.count == views·n·p`, views ∈ {1, 2}, `classes.count == n`.
public func spectralPairingLossAndGradient(_ zs: [Double], n: Int, p: Int, views: Int, classes: [Int], classCount: Int,
                                           beta: Double, sameClassPairs: Double) -> (value: Double, gradient: [Double]) {
    precondition((views == 1 || views == 2) && zs.count == views * n * p && classes.count == n,
                 "spectralPairingLossAndGradient: \(zs.count) values, \(classes.count) classes for \(views) × [\(n), \(p)]")
    precondition(classes.allSatisfy { $0 >= 0 && $0 < classCount }, "spectralPairingLossAndGradient: class out of 0..<\(classCount)")
    var gradient = [Double](repeating: 0, count: zs.count)
    if n == 0 || p == 0 { return (0, gradient) }
    let value = zs.withUnsafeBufferPointer { zp in
        classes.withUnsafeBufferPointer { cp in
            gradient.withUnsafeMutableBufferPointer { gp in
                fl_spectral_pairing(n, p, views, zp.baseAddress, cp.baseAddress, classCount, beta, sameClassPairs, gp.baseAddress)
            }
        }
    }
    return (value, gradient)
}

/// Name of the kernel `narrowGEMM` uses on this CPU (`avx512f`, `avx2+fma` or `generic`).
public var narrowGEMMKernelName: String { String(cString: fl_dgemm_narrow_kernel()) }

/// The data term of the multinomial logistic objective in one pass over the features: the
/// per-row cross-entropy, its logit gradient dZ and Xᵀ·dZ, for standardized features X
/// `[n, p]` (packed), weights W `[p, m]` (row-major) and intercepts b `[m]` (m = 1: the
/// binary model with the sigmoid and labels in {0, 1}; m ≥ 2: the softmax over m classes,
/// labels in 0..<m).
///
/// The rows are cut into panels of `panelRows`; each panel's Xᵀ·dZ is one FMA chain per
/// element over its rows in order, and the panels are added in order (the first copied), so
/// the result does not depend on `threads` (panels run on up to `threads` threads).
/// - Returns: `loss` `[n]` (CE of each row), `dz` `[n, dzStride]` (columns m..<dzStride zero),
///   and `gradient` = Xᵀ·dZ `[p, m]` row-major.
/// - Precondition: `weights.count == p·m`, `intercept.count == m`, `labels.count == n`,
///   `panelRows > 0`.
public func logisticDataTerm(_ x: PackedNarrowOperand, weights: [Double], intercept: [Double], classes m: Int,
                             labels: [Int], panelRows: Int, threads: Int)
    -> (loss: [Double], dz: [Double], dzStride: Int, gradient: [Double]) {
    let n = x.matrix.shape[0], p = x.matrix.shape[1]
    precondition(m >= 1 && weights.count == p * m && intercept.count == m && labels.count == n && panelRows > 0,
                 "logisticDataTerm: W \(weights.count) for [\(p), \(m)], b \(intercept.count), labels \(labels.count) for \(n) rows")
    let mp = (m + 3) / 4 * 4
    let panels = (n + panelRows - 1) / panelRows
    var loss = [Double](repeating: 0, count: n)
    var dz = [Double](repeating: 0, count: n * mp)
    var partial = [Double](repeating: 0, count: max(1, panels) * p * mp)
    x.packed.withUnsafeBufferPointer { pk in
        weights.withUnsafeBufferPointer { wp in
            intercept.withUnsafeBufferPointer { bp in
                labels.withUnsafeBufferPointer { yp in
                    loss.withUnsafeMutableBufferPointer { lp in
                        dz.withUnsafeMutableBufferPointer { dp in
                            partial.withUnsafeMutableBufferPointer { ap in
                                let (pk, wp, bp, yp) = (pk.baseAddress!, wp.baseAddress, bp.baseAddress!, yp.baseAddress)
                                let (lp, dp, ap) = (lp.baseAddress, dp.baseAddress, ap.baseAddress!)
                                Parallel.forEachJob(panels, workers: threads) { q, _ in
                                    fl_logistic_rows(q * panelRows, min(n, (q + 1) * panelRows), p, m, pk, wp, bp, yp,
                                                     dp, mp, lp, ap + q * p * mp)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var gradient = [Double](repeating: 0, count: p * m)
    for q in 0..<panels {
        let base = q * p * mp
        for j in 0..<p {
            for k in 0..<m {
                let v = partial[base + j * mp + k]
                gradient[j * m + k] = q == 0 ? v : gradient[j * m + k] + v
            }
        }
    }
    return (loss, dz, mp, gradient)
}
