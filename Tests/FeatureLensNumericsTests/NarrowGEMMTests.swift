import Testing
@testable import FeatureLensNumerics

/// `narrowGEMM` (the Gram-space engine's kernel) against the reference triple loop.
@Suite struct NarrowGEMMTests {
    @Test(arguments: [(1, 1, 1), (7, 3, 5), (13, 8, 17), (9, 9, 4), (23, 16, 31), (17, 31, 8), (20, 40, 12), (11, 64, 30), (5, 70, 3), (3, 5, 0)])
    func matchesReference(m: Int, n: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 1000 + n * 10 + k))
        let a = Tensor<Double>(randomNormal: [m, k], using: &g)
        let b = Tensor<Double>(randomNormal: [k, n], using: &g)
        let c0 = Tensor<Double>(randomNormal: [m, n], using: &g)
        for beta in [0.0, 1.0, -0.5] {
            var expected = c0
            expected.withUnsafeMutableBufferPointer { cp in
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        let dummy = UnsafeMutablePointer<Double>.allocate(capacity: 1)
                        defer { dummy.deallocate() }
                        referenceGEMM(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1,
                                      a: ap.baseAddress ?? UnsafePointer(dummy), lda: max(1, k),
                                      b: bp.baseAddress ?? UnsafePointer(dummy), ldb: n,
                                      beta: beta, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            var c = c0
            narrowGEMM(a, b, beta: beta, into: &c)
            let err = (c - expected).norm(), scale = max(1, expected.norm())
            #expect(err <= 1e-12 * scale, "m \(m) n \(n) k \(k) β \(beta): error \(err)")
        }
    }

    @Test func betaZeroIgnoresNaNAndThreadsAreBitIdentical() {
        var g = SeededGenerator(seed: 3)
        let a = Tensor<Double>(randomNormal: [203, 150], using: &g)
        let b = Tensor<Double>(randomNormal: [150, 11], using: &g)
        var c1 = Tensor<Double>(repeating: .nan, shape: [203, 11])
        var c2 = c1
        narrowGEMM(a, b, into: &c1, threads: 1)
        narrowGEMM(a, b, into: &c2, threads: 2)
        #expect(c1.scalars.allSatisfy { $0.isFinite })
        #expect(c1 == c2)
        #expect(["avx512f", "avx2+fma", "generic"].contains(narrowGEMMKernelName))
    }

    /// The packed operand gives the plain kernel's result bit for bit, for every width the
    /// kernel dispatches on (1–9, 12, 16, 64), row counts that are not multiples of the
    /// packed block, k = 0, every β and 1 or 2 threads.
    @Test(arguments: [(1, 0), (5, 7), (13, 20), (25, 64), (130, 130), (203, 150)])
    func packedOperandIsBitIdentical(m: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 1000 + k))
        let a = Tensor<Double>(randomNormal: [m, k], using: &g)
        let packed = PackedNarrowOperand(a)
        for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 64] {
            let b = Tensor<Double>(randomNormal: [k, n], using: &g)
            let c0 = Tensor<Double>(randomNormal: [m, n], using: &g)
            for beta in [0.0, 1.0, -0.5] {
                var plain = c0
                narrowGEMM(a, b, beta: beta, into: &plain)
                for threads in [1, 2] {
                    var c = c0
                    narrowGEMM(packed, b, beta: beta, into: &c, threads: threads)
                    #expect(c == plain, "m \(m) n \(n) k \(k) β \(beta) threads \(threads)")
                }
            }
        }
    }
}
