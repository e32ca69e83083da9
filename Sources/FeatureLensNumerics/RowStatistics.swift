import Foundation

// Column statistics over the rows of a `[n, p]` matrix, for the probes and metrics in the
// targets above (they pass tensors and hold no pointers). Each sum runs over the rows in order,
// so the results are those of the plain double loop, bit for bit.

/// Per-group column sums of `x` (`[n, p]`): result[g·p + j] = Σ_{i : groups[i] = g} x[i, j].
/// - Parameters:
///   - groups: n group indices in `0..<groupCount`.
///   - groupCount: number of groups.
/// - Returns: `groupCount · p` values, group-major.
package func groupedColumnSums(_ x: Tensor<Double>, groups: [Int], groupCount: Int) -> [Double] {
    precondition(x.rank == 2 && groups.count == x.shape[0], "groupedColumnSums: needs [n, p] and n groups, got \(x.shape), \(groups.count)")
    let n = x.shape[0], p = x.shape[1]
    var out = [Double](repeating: 0, count: groupCount * p)
    x.withUnsafeBufferPointer { s in
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<n {
                let g = groups[i]
                precondition(g >= 0 && g < groupCount, "groupedColumnSums: group \(g) outside 0..<\(groupCount)")
                for j in 0..<p { o[g * p + j] += s[i * p + j] }
            }
        }
    }
    return out
}

/// Σᵢ (x[i, j] − center[j])² for each column j of `x` (`[n, p]`); `center` has p values.
package func squaredDeviationSums(_ x: Tensor<Double>, from center: [Double]) -> [Double] {
    precondition(x.rank == 2 && center.count == x.shape[1], "squaredDeviationSums: needs [n, p] and p centers, got \(x.shape), \(center.count)")
    let n = x.shape[0], p = x.shape[1]
    var out = [Double](repeating: 0, count: p)
    x.withUnsafeBufferPointer { s in
        for i in 0..<n { for j in 0..<p { let d = s[i * p + j] - center[j]; out[j] += d * d } }
    }
    return out
}

/// The column means of `x` (`[n, p]`, n ≥ 1) and the sums of squared deviations from them, on up
/// to `threads` threads split over the columns: the same bits as `x.meanOverRows()` followed by
/// `squaredDeviationSums(x, from:)` (each column's sums still run over the rows in order).
package func columnMeansAndSquaredDeviations(_ x: Tensor<Double>, threads: Int) -> (mean: [Double], squaredDeviations: [Double]) {
    precondition(x.rank == 2, "columnMeansAndSquaredDeviations: needs [n, p], got \(x.shape)")
    let n = x.shape[0], p = x.shape[1]
    var mean = [Double](repeating: 0, count: p), ssd = [Double](repeating: 0, count: p)
    // One contiguous range of columns per thread (narrower ranges read a few hundred bytes of
    // every row and defeat the hardware prefetcher).
    let width = max(8, (p + max(1, threads) - 1) / max(1, threads)), jobs = (p + width - 1) / width
    x.withUnsafeBufferPointer { s in
        mean.withUnsafeMutableBufferPointer { mb in
            ssd.withUnsafeMutableBufferPointer { db in
                guard let sp = s.baseAddress, let m = mb.baseAddress, let d = db.baseAddress else { return }
                Parallel.forEachJob(jobs, workers: threads) { job, _ in
                    let j0 = job * width, j1 = min(p, j0 + width)
                    for i in 0..<n { for j in j0..<j1 { m[j] += sp[i * p + j] } }
                    for j in j0..<j1 { m[j] /= Double(max(1, n)) }
                    for i in 0..<n { for j in j0..<j1 { let v = sp[i * p + j] - m[j]; d[j] += v * v } }
                }
            }
        }
    }
    return (mean, ssd)
}

/// Column sums of d and d² for d = x[i, j] − x[0, j] (deviations from the first row, so identical
/// rows give exactly 0 with no rounding in a mean) of `x` (`[n, p]`, n ≥ 1).
/// - Returns: (Σᵢ d, Σᵢ d²), p values each.
package func firstRowShiftedMoments(_ x: Tensor<Double>) -> (sum: [Double], sumSquares: [Double]) {
    precondition(x.rank == 2 && x.shape[0] >= 1, "firstRowShiftedMoments: needs [n ≥ 1, p], got \(x.shape)")
    let n = x.shape[0], p = x.shape[1]
    var sum = [Double](repeating: 0, count: p), ss = sum
    x.withUnsafeBufferPointer { s in
        for i in 0..<n { for j in 0..<p { let d = s[i * p + j] - s[j]; sum[j] += d; ss[j] += d * d } }
    }
    return (sum, ss)
}

/// Σ_{i<j} exp(−t · max(0, ‖zᵢ‖² + ‖zⱼ‖² − 2 G[i, j])) over the strict upper triangle of the
/// Gram matrix `gram` (`[n, n]`, G = ZZᵀ) with `squaredNorms` ‖zᵢ‖² (n values): the Gaussian
/// potential of all pairs, summed row by row.
package func gaussianPotentialSum(gram: Tensor<Double>, squaredNorms sq: [Double], t: Double) -> Double {
    let n = gram.shape[0]
    precondition(gram.rank == 2 && gram.shape[1] == n && sq.count == n,
                 "gaussianPotentialSum: needs [n, n] and n norms, got \(gram.shape), \(sq.count)")
    var total = 0.0
    gram.withUnsafeBufferPointer { g in
        for i in 0..<n {
            var rowSum = 0.0
            for j in (i + 1)..<n {
                rowSum += Foundation.exp(-t * max(0, sq[i] + sq[j] - 2 * g[i * n + j]))
            }
            total += rowSum
        }
    }
    return total
}

/// ‖x[i] − x[j]‖² between rows i and j of `x` (`[n, p]`).
package func squaredRowDistance(_ x: Tensor<Double>, _ i: Int, _ j: Int) -> Double {
    precondition(x.rank == 2 && i >= 0 && i < x.shape[0] && j >= 0 && j < x.shape[0],
                 "squaredRowDistance: rows \(i), \(j) of \(x.shape)")
    let p = x.shape[1]
    var d2 = 0.0
    x.withUnsafeBufferPointer { s in
        for k in 0..<p { let d = s[i * p + k] - s[j * p + k]; d2 += d * d }
    }
    return d2
}

/// The `k` largest entries of row `row` of `x` (`[m, n]`), descending, with their column indices;
/// ties keep the earlier column first; slots beyond n hold (−∞, −1).
package func topKColumns(_ x: Tensor<Double>, row: Int, k: Int) -> (values: [Double], indices: [Int]) {
    precondition(x.rank == 2 && row >= 0 && row < x.shape[0] && k >= 1, "topKColumns: row \(row), k \(k) of \(x.shape)")
    let n = x.shape[1]
    // A small sorted insertion buffer (k is small).
    var topS = [Double](repeating: -.infinity, count: k)
    var topI = [Int](repeating: -1, count: k)
    x.withUnsafeBufferPointer { s in
        let base = s.baseAddress! + row * n
        for i in 0..<n {
            let v = base[i]
            if v <= topS[k - 1] { continue }
            var pos = k - 1
            while pos > 0 && topS[pos - 1] < v {
                topS[pos] = topS[pos - 1]; topI[pos] = topI[pos - 1]; pos -= 1
            }
            topS[pos] = v; topI[pos] = i
        }
    }
    return (topS, topI)
}

extension Parallel {
    /// `body(i)` for i in `0..<count`, in parallel chunks (as `forEach(chunks:)`), results in index order.
    package static func map<R>(count: Int, _ body: (Int) -> R) -> [R] {
        var out = [R?](repeating: nil, count: count)
        out.withUnsafeMutableBufferPointer { o in
            Parallel.forEach(chunks: count) { i in o[i] = body(i) }
        }
        return out.map { $0! }
    }
}
