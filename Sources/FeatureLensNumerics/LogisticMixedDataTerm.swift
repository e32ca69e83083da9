import CFeatureLensKernels

/// Standardized features X `[n, p]` of a logistic fit, rounded to `Float` and packed once for
/// `logisticDataTermMixed`: element (i, j) is `Float((x[i, j] − mean[j]) / scale[j])` (the
/// quotient in `Double`), stored in blocks of 16 rows, feature-major within a block. Standardizing
/// and packing is one pass over the raw rows (no standardized `Double` copy of X is made); it
/// takes 4·n·p bytes, a quarter of a standardized `Double` copy plus its packed form.
public struct PackedLogisticFeatures: Sendable {
    /// Rows n and features p.
    public let rows: Int, columns: Int
    /// The packed floats (`fl_logistic32_packed_size(n, p)` of them).
    let packed: [Float]
    /// Rows per packed block (16).
    public static let blockRows = Int(fl_logistic32_pack_rows())
    /// Rows of one float chain of Xᵀ·dZ (128); panels of `logisticDataTermMixed` are multiples of it.
    public static let chainRows = Int(fl_logistic32_super_rows())

    /// Standardizes raw `x` `[n, p]` by `mean` and `scale` (`[p]` each, scale > 0) and packs it;
    /// the blocks are packed on up to `threads` threads (each block by one thread, so the floats
    /// do not depend on `threads`).
    /// - Precondition: `x` has rank 2, `mean` and `scale` have p values.
    public init(_ x: Tensor<Double>, mean: [Double], scale: [Double], threads: Int = 1) {
        precondition(x.rank == 2 && mean.count == x.shape[1] && scale.count == x.shape[1],
                     "PackedLogisticFeatures: x \(x.shape), mean \(mean.count), scale \(scale.count)")
        let n = x.shape[0], p = x.shape[1]
        rows = n; columns = p
        let blocks = (n + Self.blockRows - 1) / Self.blockRows
        var buffer = [Float](repeating: 0, count: max(1, Int(fl_logistic32_packed_size(n, p))))
        // Jobs of 64 blocks (1024 rows).
        let perJob = 64, jobs = (blocks + perJob - 1) / perJob
        x.scalars.withUnsafeBufferPointer { xb in
            mean.withUnsafeBufferPointer { mb in
                scale.withUnsafeBufferPointer { sb in
                    buffer.withUnsafeMutableBufferPointer { pb in
                        guard let xp = xb.baseAddress, let out = pb.baseAddress, p > 0 else { return }
                        let (mp, sp) = (mb.baseAddress!, sb.baseAddress!)
                        Parallel.forEachJob(jobs, workers: threads) { job, _ in
                            fl_logistic32_pack(job * perJob, min(blocks, (job + 1) * perJob), n, p, xp, p, mp, sp, out)
                        }
                    }
                }
            }
        }
        packed = buffer
    }
}

/// The data term of the multinomial logistic objective (softmax over m ≥ 2 classes, or the
/// binary model for m = 1: one logit v, loss log(1 + eᵛ) − y·v, labels 0 and 1) in mixed
/// precision, one pass over `Float` features packed by `PackedLogisticFeatures`: the per-row
/// cross-entropy, Σᵢ dZ[i, :] and Xᵀ·dZ `[p, m]`, for weights W `[p, m]` (row-major, rounded to
/// `Float` for the products) and intercepts b `[m]`.
///
/// Precision: each logit is a sum in `Double` of `Float` FMA chains over runs of 128 features;
/// the softmax, cross-entropy and dZ are `Double`; each element of Xᵀ·dZ is a sum in `Double`,
/// over chunks of 128 rows in order, of `Float` FMA chains of X[i, j]·Float(dZ[i, k]) over the
/// chunk's rows (for m = 1: 16 chains per chunk, one per row position in the 16-row blocks, over
/// rows c, c + 16, …, added in order of c). So every float rounding error is bounded by a chain of at most 128 terms
/// (relative error of a chain ≲ 128·2⁻²⁴ of the sum of its absolute terms), and none is carried
/// from one evaluation to the next. Rows are cut into panels of `panelRows` (a multiple of
/// 128), run on up to `threads` threads, and the panels' sums are added in order, so the result
/// does not depend on `threads` (nor on the kernel: the portable loop computes the same chains).
/// - Returns: `loss` `[n]`, `dzSum` `[m]` (the intercepts' gradient of the summed loss) and
///   `gradient` = Xᵀ·dZ `[p, m]` row-major.
/// - Precondition: m ≥ 1, `weights.count == p·m`, `intercept.count == m`, `labels.count == n`
///   with labels in 0..<m, `panelRows` a positive multiple of `PackedLogisticFeatures.chainRows`.
public func logisticDataTermMixed(_ x: PackedLogisticFeatures, weights: [Double], intercept: [Double], classes m: Int,
                                  labels: [Int], panelRows: Int, threads: Int)
    -> (loss: [Double], dzSum: [Double], gradient: [Double]) {
    let n = x.rows, p = x.columns
    precondition(m >= 1 && weights.count == p * m && intercept.count == m && labels.count == n
                 && panelRows > 0 && panelRows % PackedLogisticFeatures.chainRows == 0,
                 "logisticDataTermMixed: W \(weights.count) for [\(p), \(m)], b \(intercept.count), labels \(labels.count) for \(n) rows, panel \(panelRows)")
    let mp = (m + 7) / 8 * 8
    let panels = (n + panelRows - 1) / panelRows
    let wf = weights.map { Float($0) }
    var loss = [Double](repeating: 0, count: n)
    var partial = [Double](repeating: 0, count: max(1, panels) * p * mp)
    var sums = [Double](repeating: 0, count: max(1, panels) * m)
    x.packed.withUnsafeBufferPointer { pk in
        wf.withUnsafeBufferPointer { wp in
            intercept.withUnsafeBufferPointer { bp in
                labels.withUnsafeBufferPointer { yp in
                    loss.withUnsafeMutableBufferPointer { lp in
                        sums.withUnsafeMutableBufferPointer { sp in
                            partial.withUnsafeMutableBufferPointer { ap in
                                let (pk, wp, bp, yp) = (pk.baseAddress!, wp.baseAddress, bp.baseAddress!, yp.baseAddress)
                                let (lp, sp, ap) = (lp.baseAddress, sp.baseAddress!, ap.baseAddress!)
                                Parallel.forEachJob(panels, workers: threads) { q, _ in
                                    fl_logistic32_rows(q * panelRows, min(n, (q + 1) * panelRows), p, m, pk, wp, bp, yp,
                                                       lp, sp + q * m, ap + q * p * mp)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var gradient = [Double](repeating: 0, count: p * m)
    var dzSum = [Double](repeating: 0, count: m)
    for q in 0..<panels {
        let base = q * p * mp
        for j in 0..<p {
            for k in 0..<m {
                let v = partial[base + j * mp + k]
                gradient[j * m + k] = q == 0 ? v : gradient[j * m + k] + v
            }
        }
        for k in 0..<m { dzSum[k] = q == 0 ? sums[q * m + k] : dzSum[k] + sums[q * m + k] }
    }
    return (loss, dzSum, gradient)
}

/// Name of the kernel `logisticDataTermMixed` uses on this CPU (`avx2+fma` or `generic`).
public var logisticMixedKernelName: String { String(cString: fl_logistic32_kernel()) }
