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

    /// The mixed-precision product is, bit for bit, C + Double(chain) where chain is one Float
    /// FMA over k in order from zero of the Float-rounded operands: for every width the AVX2
    /// kernel dispatches on (blocks of 4, remainders 1–3), row counts that are not multiples of
    /// its 24-row block, k = 0 and 1 or 2 threads; and it stays within Float rounding of the
    /// Double product.
    @Test(arguments: [(1, 0), (5, 7), (23, 20), (25, 64), (130, 130), (203, 150)])
    func mixedPrecisionProductIsTheFloatChain(m: Int, k: Int) {
        var g = SeededGenerator(seed: UInt64(m * 7919 + k))
        let a = Tensor<Double>(randomNormal: [m, k], using: &g)
        let packed = PackedNarrowOperandFloat32(a)
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 64] {
            let b = Tensor<Double>(randomNormal: [k, n], using: &g)
            let c0 = Tensor<Double>(randomNormal: [m, n], using: &g)
            var expected = c0
            for i in 0..<m {
                for j in 0..<n {
                    var acc: Float = 0
                    for p in 0..<k { acc = acc.addingProduct(Float(a[i, p]), Float(b[p, j])) }
                    expected[i, j] += Double(acc)
                }
            }
            for threads in [1, 2] {
                var c = c0
                narrowGEMMAccumulatingInFloat(packed, b, into: &c, threads: threads)
                #expect(c == expected, "m \(m) k \(k) n \(n) threads \(threads)")
            }
            var exact = c0
            narrowGEMM(a, b, beta: 1, into: &exact)
            let err = (expected - exact).norm(), scale = max(1, (exact - c0).norm())
            #expect(err <= Double(max(k, 1)) * 1e-7 * scale, "m \(m) k \(k) n \(n): Float error \(err) of \(scale)")
        }
        #expect(["avx2+fma", "generic"].contains(narrowGEMMFloat32KernelName))
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

    /// Every element is one FMA chain over k in order from zero, then fma(β, c, acc): on
    /// both sides of the switch to the plain loop for a tiny inner dimension (k ≤ 16 vs 17),
    /// so which path a product takes never changes its bits. (The portable kernel of CPUs
    /// without AVX2 adds unfused above k = 16; there that side is checked to 1e-12.)
    @Test(arguments: [1, 3, 8, 16, 17, 40])
    func everyPathIsTheSameFMAChain(k: Int) {
        var g = SeededGenerator(seed: UInt64(500 + k))
        let m = 29, n = 11
        let a = Tensor<Double>(randomNormal: [m, k], using: &g)
        let b = Tensor<Double>(randomNormal: [k, n], using: &g)
        let c0 = Tensor<Double>(randomNormal: [m, n], using: &g)
        for beta in [0.0, 1.0, -0.5] {
            var expected = c0
            for i in 0..<m {
                for j in 0..<n {
                    var acc = 0.0
                    for p in 0..<k { acc = acc.addingProduct(a[i, p], b[p, j]) }
                    expected[i, j] = beta == 0 ? acc : acc.addingProduct(beta, c0[i, j])
                }
            }
            var c = c0
            narrowGEMM(a, b, beta: beta, into: &c)
            if k > 16 && narrowGEMMKernelName == "generic" {
                #expect((c - expected).norm() <= 1e-12 * max(1, expected.norm()), "k \(k) β \(beta)")
            } else {
                #expect(c == expected, "k \(k) β \(beta)")
            }
        }
    }

    /// `gramOfColumns` is `narrowGEMM(Zᵀ, Z)` bit for bit (upper triangle computed, mirrored),
    /// for widths on both sides of the tiny-k switch and of the AVX2 kernel's 4 × 8 blocks
    /// (12 and 13: blocks and a remainder strip) and row counts 0, 1, 16, 17, 200.
    @Test(arguments: [1, 2, 3, 5, 8, 12, 13, 16, 17, 64])
    func gramOfColumnsIsBitIdentical(p: Int) {
        var g = SeededGenerator(seed: UInt64(900 + p))
        for rows in [0, 1, 16, 17, 200] {
            let z = Tensor<Double>(randomNormal: [rows, p], using: &g)
            var expected = Tensor<Double>(zeros: [p, p])
            narrowGEMM(z.transposed(), z, into: &expected)
            let gram = gramOfColumns(z.scalars, rows: rows, p: p)
            if narrowGEMMKernelName == "generic" && rows > 16 {
                let err = (Tensor(shape: [p, p], scalars: gram) - expected).norm()
                #expect(err <= 1e-12 * max(1, expected.norm()), "p \(p) rows \(rows)")
            } else {
                #expect(gram == expected.scalars, "p \(p) rows \(rows)")
            }
            for i in 0..<p { for j in 0..<p { #expect(gram[i * p + j] == gram[j * p + i]) } }
        }
    }
}
