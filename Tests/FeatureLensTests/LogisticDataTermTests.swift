import Foundation
import Testing
@testable import FeatureLensNumerics

/// The fused pass of the logistic objective (`logisticDataTerm`, one read of X per evaluation)
/// against the two-product reference it replaced: Z = X·W and Xᵀ·dZ as narrow GEMMs (the
/// latter panel by panel), with the per-row softmax or sigmoid in between. Both must agree to
/// the last bit, for any thread count and for panels that cut the 12-row packed blocks.
@Suite struct LogisticDataTermTests {
    /// The reference: the narrow GEMMs and the scalar expressions of the objective.
    static func reference(x: Tensor<Double>, w: [Double], b: [Double], m: Int, y: [Int], panelRows: Int)
        -> (loss: [Double], dz: [Double], gradient: [Double]) {
        let n = x.shape[0], p = x.shape[1]
        var z = Tensor<Double>(zeros: [n, m])
        narrowGEMM(x, Tensor(shape: [p, m], scalars: w), into: &z)
        var dz = [Double](repeating: 0, count: n * m), loss = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var zi = Array(z.scalars[(i * m)..<((i + 1) * m)])
            var di = [Double](repeating: 0, count: m)
            if m == 1 {
                let v = zi[0] + b[0]
                let lse = v > 0 ? v + Foundation.log1p(Foundation.exp(-v)) : Foundation.log1p(Foundation.exp(v))
                loss[i] = lse - (y[i] == 1 ? v : 0)
                let sig = v >= 0 ? 1 / (1 + Foundation.exp(-v)) : Foundation.exp(v) / (1 + Foundation.exp(v))
                di[0] = sig - (y[i] == 1 ? 1 : 0)
            } else {
                var mx = -Double.infinity
                for k in 0..<m { zi[k] += b[k]; mx = max(mx, zi[k]) }
                var sum = 0.0
                for k in 0..<m { let e = Foundation.exp(zi[k] - mx); di[k] = e; sum += e }
                loss[i] = mx + Foundation.log(sum) - zi[y[i]]
                for k in 0..<m { di[k] /= sum }
                di[y[i]] -= 1
            }
            for k in 0..<m { dz[i * m + k] = di[k] }
        }
        let dzt = Tensor<Double>(shape: [n, m], scalars: dz)
        var gw = Tensor<Double>(zeros: [p, m])
        for (q, r0) in stride(from: 0, to: n, by: panelRows).enumerated() {
            let rows = x.rows(r0..<min(n, r0 + panelRows))
            narrowGEMM(rows.transposed(), dzt.rows(r0..<min(n, r0 + panelRows)), beta: q == 0 ? 0 : 1, into: &gw)
        }
        return (loss, dz, gw.scalars)
    }

    @Test(arguments: [(1, 1037, 7, 512), (3, 1037, 128, 512), (4, 600, 33, 100), (10, 1300, 64, 512),
                      (13, 250, 20, 64), (2, 30, 5, 7)])
    func matchesTheTwoProductReferenceBitForBit(m: Int, n: Int, p: Int, panelRows: Int) {
        var g = SeededGenerator(seed: UInt64(m * 1000 + p))
        let x = Tensor<Double>(randomNormal: [n, p], using: &g)
        let w = Tensor<Double>(randomNormal: [p * m], using: &g).scalars.map { $0 * 0.3 }
        let b = Tensor<Double>(randomNormal: [m], using: &g).scalars
        let classes = m == 1 ? 2 : m
        let y = (0..<n).map { _ in g.nextInt(below: classes) }
        let ref = Self.reference(x: x, w: w, b: b, m: m, y: y, panelRows: panelRows)
        let packed = PackedNarrowOperand(x)
        for threads in [1, 2, 3] {
            let got = logisticDataTerm(packed, weights: w, intercept: b, classes: m, labels: y,
                                       panelRows: panelRows, threads: threads)
            #expect(got.loss.map(\.bitPattern) == ref.loss.map(\.bitPattern), "loss, m \(m), threads \(threads)")
            let dz = (0..<n).flatMap { i in got.dz[(i * got.dzStride)..<(i * got.dzStride + m)] }
            #expect(dz.map(\.bitPattern) == ref.dz.map(\.bitPattern), "dZ, m \(m), threads \(threads)")
            #expect(got.dz.enumerated().allSatisfy { $0.offset % got.dzStride < m || $0.element == 0 }, "dZ padding")
            #expect(got.gradient.map(\.bitPattern) == ref.gradient.map(\.bitPattern), "Xᵀ·dZ, m \(m), threads \(threads)")
        }
    }
}

/// The mixed-precision data term (`logisticDataTermMixed`: `Float` features and products, chains
/// of at most 128 terms summed in `Double`) against (1) the chains it documents, written out in
/// Swift, to the last bit and for any thread count, and (2) the `Double` data term, to the
/// relative tolerances the solver relies on.
@Suite struct LogisticMixedDataTermTests {
    /// The documented computation: logits as `Double` sums of `Float` FMA chains over runs of 128
    /// features; the softmax row in `Double`; Xᵀ·dZ per panel as `Double` sums of `Float` FMA
    /// chains over runs of 128 rows; panels added in order.
    static func reference(x: Tensor<Double>, w: [Double], b: [Double], m: Int, y: [Int], panelRows: Int)
        -> (loss: [Double], dzSum: [Double], gradient: [Double]) {
        let n = x.shape[0], p = x.shape[1]
        let xf = x.scalars.map { Float($0) }, wf = w.map { Float($0) }
        var loss = [Double](repeating: 0, count: n), dzf = [Float](repeating: 0, count: n * m)
        var rowDz = [Double](repeating: 0, count: n * m)
        for i in 0..<n {
            var z = [Double](repeating: 0, count: m)
            for k in 0..<m {
                for j0 in stride(from: 0, to: p, by: 128) {
                    var a: Float = 0
                    for j in j0..<min(p, j0 + 128) { a = a.addingProduct(xf[i * p + j], wf[j * m + k]) }
                    z[k] += Double(a)
                }
            }
            var d = [Double](repeating: 0, count: m)
            if m == 1 {
                // The binary model: one logit, log(1 + eᵛ) − y·v, d = σ(v) − y.
                let v = z[0] + b[0]
                let lse = v > 0 ? v + Foundation.log1p(Foundation.exp(-v)) : Foundation.log1p(Foundation.exp(v))
                let sig = v >= 0 ? 1 / (1 + Foundation.exp(-v)) : Foundation.exp(v) / (1 + Foundation.exp(v))
                d[0] = sig - (y[i] == 1 ? 1 : 0)
                loss[i] = lse - (y[i] == 1 ? v : 0)
            } else {
                var mx = -Double.infinity
                for k in 0..<m { z[k] += b[k]; mx = z[k] >= mx ? z[k] : mx }
                var sum = 0.0
                for k in 0..<m { let e = Foundation.exp(z[k] - mx); d[k] = e; sum += e }
                loss[i] = mx + Foundation.log(sum) - z[y[i]]
                for k in 0..<m { d[k] /= sum }
                d[y[i]] -= 1
            }
            for k in 0..<m { rowDz[i * m + k] = d[k]; dzf[i * m + k] = Float(d[k]) }
        }
        var gradient = [Double](repeating: 0, count: p * m), dzSum = [Double](repeating: 0, count: m)
        for (q, r0) in stride(from: 0, to: n, by: panelRows).enumerated() {
            let r1 = min(n, r0 + panelRows)
            var acc = [Double](repeating: 0, count: p * m), sums = [Double](repeating: 0, count: m)
            for i in r0..<r1 { for k in 0..<m { sums[k] += rowDz[i * m + k] } }
            for s0 in stride(from: r0, to: r1, by: 128) {
                if m == 1 {
                    // One chain per row position c of the 16-row blocks, added in order of c.
                    for j in 0..<p {
                        for c in 0..<16 {
                            var a: Float = 0
                            for i in stride(from: s0 + c, to: min(r1, s0 + 128), by: 16) { a = a.addingProduct(xf[i * p + j], dzf[i]) }
                            acc[j] += Double(a)
                        }
                    }
                    continue
                }
                for j in 0..<p {
                    for k in 0..<m {
                        var a: Float = 0
                        for i in s0..<min(r1, s0 + 128) { a = a.addingProduct(xf[i * p + j], dzf[i * m + k]) }
                        acc[j * m + k] += Double(a)
                    }
                }
            }
            for e in 0..<(p * m) { gradient[e] = q == 0 ? acc[e] : gradient[e] + acc[e] }
            for k in 0..<m { dzSum[k] = q == 0 ? sums[k] : dzSum[k] + sums[k] }
        }
        return (loss, dzSum, gradient)
    }

    static func problem(n: Int, p: Int, m: Int, seed: UInt64) -> (x: Tensor<Double>, w: [Double], b: [Double], y: [Int]) {
        var g = SeededGenerator(seed: seed)
        let x = Tensor<Double>(randomNormal: [n, p], using: &g)
        let w = Tensor<Double>(randomNormal: [p * m], using: &g).scalars.map { $0 * 0.5 / Double(p).squareRoot() }
        let b = Tensor<Double>(randomNormal: [m], using: &g).scalars
        let y = (0..<n).map { _ in g.nextInt(below: max(m, 2)) }  // m = 1: the binary model's 0/1
        return (x, w, b, y)
    }

    /// Bit for bit the documented chains, with 1, 2 and 3 threads, for class counts that use
    /// one, two, three and four vectors of classes, features not a multiple of the kernels'
    /// groups, and panels whose last chunk is short.
    @Test(arguments: [(3, 1037, 7, 512), (10, 1300, 200, 512), (17, 700, 33, 256), (26, 300, 130, 128), (8, 40, 5, 128),
                      (1, 1037, 7, 512), (1, 700, 200, 256), (1, 45, 13, 128)])
    func matchesTheDocumentedChainsBitForBit(m: Int, n: Int, p: Int, panelRows: Int) {
        let (x, w, b, y) = Self.problem(n: n, p: p, m: m, seed: UInt64(m * 1000 + p))
        let ref = Self.reference(x: x, w: w, b: b, m: m, y: y, panelRows: panelRows)
        let packed = PackedLogisticFeatures(x, mean: [Double](repeating: 0, count: p), scale: [Double](repeating: 1, count: p))
        for threads in [1, 2, 3] {
            let got = logisticDataTermMixed(packed, weights: w, intercept: b, classes: m, labels: y,
                                            panelRows: panelRows, threads: threads)
            #expect(got.loss.map(\.bitPattern) == ref.loss.map(\.bitPattern), "loss, m \(m), threads \(threads)")
            #expect(got.dzSum.map(\.bitPattern) == ref.dzSum.map(\.bitPattern), "Σ dZ, m \(m), threads \(threads)")
            #expect(got.gradient.map(\.bitPattern) == ref.gradient.map(\.bitPattern), "Xᵀ·dZ, m \(m), threads \(threads)")
        }
    }

    /// Packing standardizes: the packed features of raw x with (mean, scale) equal those of the
    /// standardized x packed with (0, 1), with any thread count.
    @Test func packingStandardizesInOnePass() {
        var g = SeededGenerator(seed: 5)
        let x = Tensor<Double>(randomNormal: [1100, 9], using: &g) * 3 + 1
        let mean = x.meanOverRows(), scale = (0..<9).map { 1.5 + Double($0) / 10 }
        var s = x.scalars
        for i in 0..<1100 { for j in 0..<9 { s[i * 9 + j] = (s[i * 9 + j] - mean[j]) / scale[j] } }
        let standardized = Tensor<Double>(shape: [1100, 9], scalars: s)
        let reference = PackedLogisticFeatures(standardized, mean: [Double](repeating: 0, count: 9), scale: [Double](repeating: 1, count: 9))
        for threads in [1, 2] {
            #expect(PackedLogisticFeatures(x, mean: mean, scale: scale, threads: threads).packed == reference.packed)
        }
    }

    /// The probe's standardization statistics, split over columns and threads, are the bits of
    /// the plain row-order loops.
    @Test func columnStatisticsMatchThePlainLoops() {
        var g = SeededGenerator(seed: 9)
        let x = Tensor<Double>(randomNormal: [333, 150], using: &g) * 2 + 0.5
        let mean = x.meanOverRows(), deviations = squaredDeviationSums(x, from: mean)
        for threads in [1, 2, 3] {
            let got = columnMeansAndSquaredDeviations(x, threads: threads)
            #expect(got.mean.map(\.bitPattern) == mean.map(\.bitPattern), "mean, threads \(threads)")
            #expect(got.squaredDeviations.map(\.bitPattern) == deviations.map(\.bitPattern), "deviations, threads \(threads)")
        }
    }

    /// Against the `Double` data term at p = 512, for 10 classes and the binary model, with weights of a fitted model's
    /// size: the summed loss within 1e-8 (relative), Σ dZ within 1e-8 per row, and every element of
    /// Xᵀ·dZ within 5e-6 of the largest element (measured: about 1e-9, 1e-9 and 3e-7; the solver
    /// stops at a gradient of 1e-4 of the objective's scale).
    @Test(arguments: [10, 1]) func agreesWithTheFloat64DataTerm(m: Int) {
        let (n, p) = (2000, 512)
        let (x, w, b, y) = Self.problem(n: n, p: p, m: m, seed: 77)
        let mixed = logisticDataTermMixed(PackedLogisticFeatures(x, mean: [Double](repeating: 0, count: p),
                                                                 scale: [Double](repeating: 1, count: p)),
                                          weights: w, intercept: b, classes: m, labels: y, panelRows: 512, threads: 2)
        let exact = logisticDataTerm(PackedNarrowOperand(x), weights: w, intercept: b, classes: m, labels: y,
                                     panelRows: 512, threads: 2)
        let lossMixed = mixed.loss.reduce(0, +), lossExact = exact.loss.reduce(0, +)
        let lossError = abs(lossMixed - lossExact) / lossExact
        var sums = [Double](repeating: 0, count: m)
        for i in 0..<n { for k in 0..<m { sums[k] += exact.dz[i * exact.dzStride + k] } }
        let sumError = zip(mixed.dzSum, sums).map { abs($0 - $1) }.max()! / Double(n)
        let scale = exact.gradient.map(abs).max()!
        let gradientError = zip(mixed.gradient, exact.gradient).map { abs($0 - $1) }.max()! / scale
        print("mixed vs float64 data term: loss \(lossError), Σ dZ \(sumError), Xᵀ·dZ \(gradientError) (relative)")
        #expect(lossError <= 1e-8, "loss: relative error \(lossError)")
        #expect(sumError <= 1e-8, "Σ dZ: error \(sumError)")
        #expect(gradientError <= 5e-6, "Xᵀ·dZ: error \(gradientError) of the largest element")
    }
}

