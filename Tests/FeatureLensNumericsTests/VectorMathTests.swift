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
}
