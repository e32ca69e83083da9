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
