import Foundation
import Testing
import FeatureLensNumerics

@Suite struct VectorMathTests {
    @Test func expShiftedSumMatchesFoundation() {
        // 1003 values (not a multiple of 16: exercises the masked tail), shift 1.5.
        var x = (0..<1003).map { Float(-80 + 160 * Double($0) / 1002) }
        let original = x
        let sum = x.withUnsafeMutableBufferPointer { VectorMath.expShiftedSum($0.baseAddress!, count: $0.count, shift: 1.5) }
        var reference = 0.0, worst = 0.0
        for (i, v) in original.enumerated() {
            let e = Foundation.exp(Double(v - 1.5))  // the same rounded argument
            reference += e
            worst = max(worst, abs(Double(x[i]) - e) / e)
        }
        #expect(worst < 3e-7, "largest relative error \(worst)")
        #expect(abs(Double(sum) - reference) / reference < 1e-6)
        var special: [Float] = [-.infinity, -200, .nan, 0]
        let s = special.withUnsafeMutableBufferPointer { VectorMath.expShiftedSum($0.baseAddress!, count: 4, shift: 0) }
        #expect(special[0] == 0 && special[1] == 0 && special[2].isNaN && special[3] == 1 && s.isNaN)
        #expect(x.withUnsafeBufferPointer { VectorMath.maximum($0.baseAddress!, count: 1003) } == x.max())
    }

    @Test func normalSamplerMoments() {
        var g = SeededGenerator(seed: 3)
        let z = NormalSampler.draw(400_001, using: &g).map(Double.init)  // odd count: last pair truncated
        let n = Double(z.count)
        let mean = z.reduce(0, +) / n
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
        let kurtosis = z.map { pow($0 - mean, 4) }.reduce(0, +) / n / (variance * variance)
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.01 && abs(kurtosis - 3) < 0.05,
                "mean \(mean), variance \(variance), kurtosis \(kurtosis)")
        #expect(z.allSatisfy { abs($0) <= 5.8 })
        // Same seed, same draws.
        var g2 = SeededGenerator(seed: 3)
        #expect(NormalSampler.draw(1000, using: &g2) == Array(z.prefix(1000)).map(Float.init))
    }

    /// Whichever implementation runs (AVX-512F, AVX2 or scalar) against the header's formulas in
    /// Double, value by value: every pair count from 0 to 40 (the vector blocks and the scalar
    /// remainder), exp down to the subnormal range, and scaleAdd on every tail length.
    @Test("vector math follows its formulas value by value (the AVX-512F, AVX2 or scalar path this CPU runs)")
    func vectorPathsFollowTheirFormulas() {
        var g = SeededGenerator(seed: 11)
        for pairs in 0...40 {
            var copy = g  // the words `fill` will read, one per pair
            let words = (0..<pairs).map { _ in copy.next() }
            var out = [Float](repeating: .nan, count: 2 * pairs + 1)
            out.withUnsafeMutableBufferPointer { NormalSampler.fill($0.baseAddress!, count: 2 * pairs, using: &g) }
            for (k, word) in words.enumerated() {
                let u1 = Double((word >> 40) + 1) * 0x1p-24, u2 = Double((word & 0xFFFF_FFFF) >> 8) * 0x1p-24
                let r = (-2 * Foundation.log(u1)).squareRoot()
                #expect(abs(Double(out[2 * k]) - r * Foundation.cos(2 * .pi * u2)) < 4e-6, "pairs \(pairs), k \(k)")
                #expect(abs(Double(out[2 * k + 1]) - r * Foundation.sin(2 * .pi * u2)) < 4e-6, "pairs \(pairs), k \(k)")
            }
            #expect(out[2 * pairs].isNaN, "wrote past \(pairs) pairs")
        }
        // exp over [−104, 88.7]: relative error in the normal range, absolute below it.
        var x = (0..<4099).map { Float(-104 + (88.7 + 104) * Double($0) / 4098) }
        let arguments = x
        _ = x.withUnsafeMutableBufferPointer { VectorMath.expShiftedSum($0.baseAddress!, count: $0.count, shift: 0) }
        for (v, e) in zip(arguments, x) {
            let reference = Foundation.exp(Double(v))
            if reference >= Double(Float.leastNormalMagnitude) {
                #expect(abs(Double(e) - reference) / reference < 3e-7, "exp(\(v))")
            } else {
                #expect(abs(Double(e) - reference) <= Double(Float.leastNonzeroMagnitude), "exp(\(v)) subnormal")
            }
        }
        for n in 0...19 {
            var o = (0..<(n + 1)).map { Float($0) * 0.25 - 1 }
            let before = o
            let y = (0..<n).map { Float($0) * 0.5 + 3 }
            y.withUnsafeBufferPointer { yb in
                o.withUnsafeMutableBufferPointer { VectorMath.scaleAdd($0.baseAddress!, scale: 0.75, adding: yb.baseAddress!, count: n) }
            }
            for i in 0..<n { #expect(abs(o[i] - (y[i] + 0.75 * before[i])) <= 1e-6 * abs(y[i] + 0.75 * before[i]) + 1e-7) }
            #expect(o[n] == before[n], "scaleAdd wrote past \(n) values")
        }
    }
}
