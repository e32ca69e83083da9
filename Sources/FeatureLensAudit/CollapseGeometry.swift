import Foundation
import FeatureLensNumerics

// Collapse geometry of an embedding matrix Z `[n, p]` (docs/REPORT_SCHEMA.md, "Collapse
// geometry"). Every number is computed on the L2-normalized rows ẑ_i = z_i / ‖z_i‖, so it
// depends only on the directions of the rows (the cosine geometry a contrastive loss shapes).
//
// Sums of squares. For a set of rows R with mean μ_R, SS(R) = Σ_{i∈R} ‖ẑ_i − μ_R‖².
//
// 1. Within-group variance share of a label set L (read on the coarse label it is the
//    within-coarse-group variance share of class collapse on real images, "wcv"):
//        share(L) = Σ_c SS(rows of class c of L) / SS(all rows)
//    1 when the class means coincide (L explains none of the spread), 0 when every class of
//    L is a single point. NaN when SS(all rows) = 0 (every row has the same direction).
//
// 2. For a label set L probed within a group label G (subclass within class), in each group g
//    of G whose rows hold at least two classes of L (the test-side half of the qualifying rule
//    of `WithinGroups`):
//    - the Fisher ratio F_g = B_g / W_g, with the between-subclass sum of squares
//      B_g = Σ_c n_c ‖μ_c − μ_g‖² and the within-subclass sum of squares W_g = Σ_c SS(c)
//      (c the classes of L among the rows of g, n_c their counts). B_g + W_g = SS(g), so
//      F_g = (1 − s_g) / s_g with s_g the within-subclass variance share inside g. A group
//      with W_g = 0 (every subclass a single point) has no finite ratio and is left out of
//      the Fisher mean only;
//    - the k-nearest-neighbour purity: for each row i of g, the fraction of its k_g nearest
//      neighbours among the other rows of g (largest cosine ẑ_i·ẑ_j; ties go to the lower row
//      index; k_g = min(k, |g| − 1)) that share its class of L; averaged over the rows of g;
//    - its chance level, the expected purity when the k_g neighbours are drawn uniformly
//      without replacement from the other rows of g: row i expects (n_{c(i)} − 1)/(|g| − 1)
//      (hypergeometric mean, independent of k_g), so the group's chance is
//      Σ_c n_c (n_c − 1) / (|g| (|g| − 1)).
//    Each of the three is a plain mean over the qualifying groups (weight 1 per group), and
//    NaN when no group qualifies.
//
// Rows of zero norm (every entry 0) have no direction: they are left out of every number
// and counted in `zero_rows`.
//
// Numerics: sums of squares are two-pass (mean, then squared deviations) on rows shifted by
// the set's first row, so a set of identical rows gives exactly 0. The kNN search multiplies
// blocks of 256 rows of a group by all rows of that group (the package's GEMM, bit-identical
// for any thread count) and keeps the k_g best of each row with an insertion list: time
// O(Σ_g |g|² (p + k)), memory O(256 · max_g |g|) besides the embeddings (20 MB for a group of
// 10 000 rows). Block sizes depend on the shapes only, and every row's neighbours are found
// by one thread, so the result does not depend on the thread count.

/// The geometry of one label set probed within a group label (`geometry.within[label]`).
/// JSON keys: `group`, `fisher_ratio`, `knn_purity`, `knn_chance`, `k`, `groups`.
public struct SubgroupGeometry: Codable, Sendable, Equatable {
    /// The group label set (e.g. `class` for `subclass`).
    public var group: String
    /// Mean over qualifying groups with W_g > 0 of the Fisher ratio B_g / W_g (between- over
    /// within-subclass sum of squares of the normalized rows); NaN when there is none.
    public var fisherRatio: Double
    /// Mean over qualifying groups of the k-nearest-neighbour subclass purity, in [0, 1]; NaN
    /// when no group qualifies.
    public var knnPurity: Double
    /// The purity expected from random neighbours, averaged over the same groups; NaN when no
    /// group qualifies.
    public var knnChance: Double
    /// The requested number of neighbours (each group uses min(k, its rows − 1)).
    public var k: Int
    /// Number of qualifying groups (at least two subclasses among their rows).
    public var groups: Int

    enum CodingKeys: String, CodingKey {
        case group, fisherRatio = "fisher_ratio", knnPurity = "knn_purity", knnChance = "knn_chance", k, groups
    }

    /// Creates the record.
    public init(group: String, fisherRatio: Double, knnPurity: Double, knnChance: Double, k: Int, groups: Int) {
        self.group = group
        self.fisherRatio = fisherRatio
        self.knnPurity = knnPurity
        self.knnChance = knnChance
        self.k = k
        self.groups = groups
    }
}

/// The collapse geometry of an embedding matrix (`timeline[].geometry` in report.json):
/// within-group variance shares per label set and, per label set probed within a group, the
/// Fisher ratio and the k-nearest-neighbour purity of its classes inside the groups. The
/// formulas are at the top of this file and in docs/REPORT_SCHEMA.md.
///
/// JSON keys: `variance_share` (label → share), `within` (label → `SubgroupGeometry`, omitted
/// when no label set is probed within another), `zero_rows`.
public struct CollapseGeometry: Codable, Sendable, Equatable {
    /// The default number of neighbours of the kNN purity.
    public static let defaultNeighbours = 10
    /// Rows per block of the kNN Gram products.
    static let blockRows = 256

    /// Within-group variance share per label set, in [0, 1]; NaN when every row has the same
    /// direction.
    public var varianceShare: [String: Double]
    /// Per label set probed within a group label: its geometry inside the groups.
    public var within: [String: SubgroupGeometry]?
    /// Rows left out because their norm is 0.
    public var zeroRows: Int

    enum CodingKeys: String, CodingKey {
        case varianceShare = "variance_share", within, zeroRows = "zero_rows"
    }

    /// Creates the record.
    public init(varianceShare: [String: Double], within: [String: SubgroupGeometry]? = nil, zeroRows: Int = 0) {
        self.varianceShare = varianceShare
        self.within = within
        self.zeroRows = zeroRows
    }

    /// Computes the geometry of `embeddings` `[n, p]`.
    /// - Parameters:
    ///   - labels: label-set name → the class code of every row (`[n]` each). The variance
    ///     share is computed for every entry.
    ///   - within: label set → the group label set it is read within (both keys of `labels`).
    ///   - k: neighbours of the kNN purity (≥ 1; capped per group at its rows − 1).
    ///   - threads: upper bound on the threads of the Gram products and the neighbour search
    ///     (the result does not depend on it).
    /// - Throws: `ProbeError.badShape` unless `embeddings` has rank 2, `ProbeError.nonFinite`
    ///   for NaN or ±∞ entries, `ProbeError.labelCount` naming the label set whose code count
    ///   is not n, `ProbeError.invalidParameter` for k < 1, `AuditError.unknownLabel` or
    ///   `.badWithin` for a `within` pair that names a missing label set or a label within itself.
    public init<T: TensorScalar>(embeddings: Tensor<T>, labels: [String: [Int]], within: [String: String] = [:],
                                 k: Int = CollapseGeometry.defaultNeighbours,
                                 threads: Int = Parallel.threadCount) throws {
        guard embeddings.rank == 2 else {
            throw ProbeError.badShape("collapse geometry needs [n, p] embeddings, got \(embeddings.shape)")
        }
        guard k >= 1 else { throw ProbeError.invalidParameter("collapse geometry k must be ≥ 1, got \(k)") }
        let z = asDouble(embeddings)
        let n = z.shape[0], p = z.shape[1]
        guard z.scalars.allSatisfy({ $0.isFinite }) else { throw ProbeError.nonFinite("embeddings of the collapse geometry") }
        for name in labels.keys.sorted() where labels[name]!.count != n {
            throw ProbeError.labelCount(what: "label set '\(name)'", labels: labels[name]!.count, rows: n)
        }
        let names = labels.keys.sorted()
        try EmbeddingAuditor.validateWithin(within, names: names)

        // Keep the rows with a direction and normalize them (scaled by the largest entry
        // first, so tiny rows neither underflow to a zero norm nor lose precision).
        var kept: [Int] = []
        var unit: [Double] = []
        unit.reserveCapacity(n * p)
        z.scalars.withUnsafeBufferPointer { src in
            for i in 0..<n {
                var largest = 0.0
                for j in 0..<p { largest = max(largest, abs(src[i * p + j])) }
                guard largest > 0 else { continue }
                var sq = 0.0
                for j in 0..<p { let v = src[i * p + j] / largest; sq += v * v }
                let r = sq.squareRoot()
                for j in 0..<p { unit.append(src[i * p + j] / largest / r) }
                kept.append(i)
            }
        }
        let m = kept.count
        let zn = Tensor<Double>(shape: [m, p], scalars: unit)
        let codes = labels.mapValues { c in kept.map { c[$0] } }

        let total = Self.sumOfSquares(zn, rows: Array(0..<m))
        var share: [String: Double] = [:]
        for name in names {
            var withinSS = 0.0
            for rows in Self.partition(Array(0..<m), by: codes[name]!) { withinSS += Self.sumOfSquares(zn, rows: rows) }
            share[name] = total > 0 ? withinSS / total : .nan
        }

        var pairs: [String: SubgroupGeometry] = [:]
        for label in within.keys.sorted() {
            let group = within[label]!
            pairs[label] = Self.subgroupGeometry(zn, labels: codes[label]!, groups: codes[group]!, groupName: group,
                                                 k: k, threads: threads)
        }
        self.init(varianceShare: share, within: within.isEmpty ? nil : pairs, zeroRows: n - m)
    }

    /// The Fisher ratio, kNN purity and chance of `labels` inside the groups of `groups`
    /// (codes of the rows of `zn`, whose rows are unit vectors).
    static func subgroupGeometry(_ zn: Tensor<Double>, labels: [Int], groups: [Int], groupName: String,
                                 k: Int, threads: Int) -> SubgroupGeometry {
        var fisherSum = 0.0, fisherCount = 0, puritySum = 0.0, chanceSum = 0.0, used = 0
        for rows in partition(Array(0..<zn.shape[0]), by: groups) {
            let classes = partition(rows, by: labels)
            guard classes.count >= 2 else { continue }
            used += 1
            // Fisher ratio B/W (skipped when W = 0).
            var w = 0.0
            for c in classes { w += sumOfSquares(zn, rows: c) }
            if w > 0 {
                fisherSum += betweenSumOfSquares(zn, classes: classes) / w
                fisherCount += 1
            }
            // kNN purity and its chance.
            let size = Double(rows.count)
            chanceSum += classes.reduce(0.0) { $0 + Double($1.count) * Double($1.count - 1) } / (size * (size - 1))
            puritySum += knnPurity(zn.gatherRows(rows), classes: rows.map { labels[$0] }, k: k, threads: threads)
        }
        guard used > 0 else {
            return SubgroupGeometry(group: groupName, fisherRatio: .nan, knnPurity: .nan, knnChance: .nan, k: k, groups: 0)
        }
        return SubgroupGeometry(group: groupName, fisherRatio: fisherCount > 0 ? fisherSum / Double(fisherCount) : .nan,
                                knnPurity: puritySum / Double(used), knnChance: chanceSum / Double(used), k: k, groups: used)
    }

    /// Mean over the rows of `x` (`[m, p]`, unit rows, m ≥ 2) of the fraction of each row's
    /// min(k, m − 1) nearest rows (largest inner product, ties to the lower index, itself
    /// excluded) whose class equals its own.
    static func knnPurity(_ x: Tensor<Double>, classes: [Int], k: Int, threads: Int) -> Double {
        let m = x.shape[0]
        let kk = min(k, m - 1)
        guard kk >= 1 else { return .nan }
        var hits = [Int](repeating: 0, count: m)
        var start = 0
        while start < m {
            let b = min(blockRows, m - start)
            let sims = x.rows(start..<(start + b)).matmul(x, transposeOther: true, threads: threads)
            sims.scalars.withUnsafeBufferPointer { s in
                hits.withUnsafeMutableBufferPointer { h in
                    let hp = h.baseAddress!
                    Parallel.forEach(chunks: b, threads: threads) { r in
                        let i = start + r
                        withUnsafeTemporaryAllocation(of: Int.self, capacity: kk) { best in
                            best.initialize(repeating: 0)
                            selectNearest(s.baseAddress! + r * m, count: m, excluding: i, k: kk, into: best.baseAddress!)
                            var same = 0
                            for t in 0..<kk where classes[best[t]] == classes[i] { same += 1 }
                            hp[i] = same
                        }
                    }
                }
            }
            start += b
        }
        var total = 0.0
        for i in 0..<m { total += Double(hits[i]) / Double(kk) }
        return total / Double(m)
    }

    /// Writes to `best` the indices of the `k` largest of `row[0..<m]`, leaving out index
    /// `excluding`, largest first, an equal value going to the lower index (k ≤ m − 1; the
    /// values are finite). An insertion list: O(m) comparisons against the current k-th
    /// value, O(k) work per insertion.
    static func selectNearest(_ row: UnsafePointer<Double>, count m: Int, excluding: Int, k: Int,
                              into best: UnsafeMutablePointer<Int>) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { sims in
            let v = sims.baseAddress!
            v.initialize(repeating: -.infinity, count: k)
            var threshold = -Double.infinity
            var j = 0
            while j < m {
                let x = row[j]
                // j ascends, so a value equal to the k-th never displaces an earlier index.
                if x > threshold && j != excluding {
                    var pos = k - 1
                    while pos > 0 && x > v[pos - 1] {
                        v[pos] = v[pos - 1]; best[pos] = best[pos - 1]
                        pos -= 1
                    }
                    v[pos] = x; best[pos] = j
                    threshold = v[k - 1]
                }
                j += 1
            }
        }
    }

    /// Row indices grouped by code, groups in ascending code order, rows ascending.
    static func partition(_ rows: [Int], by codes: [Int]) -> [[Int]] {
        var byCode: [Int: [Int]] = [:]
        for i in rows { byCode[codes[i], default: []].append(i) }
        return byCode.keys.sorted().map { byCode[$0]! }
    }

    /// SS(R) = Σ_{i∈R} ‖x_i − μ_R‖², two-pass on rows shifted by the first row of R (exactly 0
    /// for identical rows; 0 for fewer than two rows).
    static func sumOfSquares(_ x: Tensor<Double>, rows: [Int]) -> Double {
        guard rows.count >= 2 else { return 0 }
        let p = x.shape[1]
        return x.scalars.withUnsafeBufferPointer { s -> Double in
            let r0 = rows[0] * p
            var mean = [Double](repeating: 0, count: p)
            for i in rows { for j in 0..<p { mean[j] += s[i * p + j] - s[r0 + j] } }
            let inv = 1 / Double(rows.count)
            for j in 0..<p { mean[j] *= inv }
            var ss = 0.0
            for i in rows {
                for j in 0..<p { let d = s[i * p + j] - s[r0 + j] - mean[j]; ss += d * d }
            }
            return ss
        }
    }

    /// B = Σ_c n_c ‖μ_c − μ‖² for the classes `classes` (row sets) of one group, μ the group
    /// mean; means of rows shifted by the group's first row.
    static func betweenSumOfSquares(_ x: Tensor<Double>, classes: [[Int]]) -> Double {
        let p = x.shape[1]
        return x.scalars.withUnsafeBufferPointer { s -> Double in
            let r0 = classes[0][0] * p
            var means: [[Double]] = []
            var mean = [Double](repeating: 0, count: p)
            var count = 0
            for c in classes {
                var mc = [Double](repeating: 0, count: p)
                for i in c { for j in 0..<p { mc[j] += s[i * p + j] - s[r0 + j] } }
                for j in 0..<p { mean[j] += mc[j]; mc[j] /= Double(c.count) }
                count += c.count
                means.append(mc)
            }
            for j in 0..<p { mean[j] /= Double(count) }
            var b = 0.0
            for (c, mc) in zip(classes, means) {
                var d2 = 0.0
                for j in 0..<p { let d = mc[j] - mean[j]; d2 += d * d }
                b += Double(c.count) * d2
            }
            return b
        }
    }
}
