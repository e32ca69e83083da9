import Testing
import FeatureLensNumerics

/// Correctness of `sgemm`/`dgemm`: every transpose combination, odd shapes and strides,
/// random α and β, against a Double reference; β = 0 never reads C; the m×n window of C is
/// the only memory written; bit-identical results for 1, 2 and 3 threads; every micro-kernel
/// family this CPU supports.
@Suite("GEMM")
struct GEMMTests {
    /// Sizes drawn for m, n and k: 0, 1, primes, powers of two and their neighbours, up to 300.
    static let sizePool = [0, 1, 2, 3, 5, 7, 11, 12, 13, 16, 17, 31, 32, 33, 47, 64, 97, 101,
                           127, 128, 131, 199, 251, 256, 257, 293, 300]

    struct Case: CustomStringConvertible {
        var transposeA: Bool, transposeB: Bool
        var m: Int, n: Int, k: Int
        var alpha: Double, beta: Double
        var lda: Int, ldb: Int, ldc: Int
        var description: String {
            "op(A)=\(transposeA ? "Aᵀ" : "A") op(B)=\(transposeB ? "Bᵀ" : "B") m=\(m) n=\(n) k=\(k) "
                + "α=\(alpha) β=\(beta) lda=\(lda) ldb=\(ldb) ldc=\(ldc)"
        }
        var aRows: Int { transposeA ? k : m }
        var aCols: Int { transposeA ? m : k }
        var bRows: Int { transposeB ? n : k }
        var bCols: Int { transposeB ? k : n }
    }

    /// A random case with m·n·k ≤ `maxWork` (keeps the debug-build reference fast).
    static func randomCase(_ g: inout SeededGenerator, maxWork: Int, betaZero: Bool? = nil) -> Case {
        var dims = (0..<3).map { _ in sizePool[g.nextInt(below: sizePool.count)] }
        while dims[0] * dims[1] * dims[2] > maxWork {
            dims[g.nextInt(below: 3)] = sizePool[g.nextInt(below: sizePool.count)]
        }
        let (m, n, k) = (dims[0], dims[1], dims[2])
        let ta = g.nextInt(below: 2) == 1, tb = g.nextInt(below: 2) == 1
        let alpha = g.nextInt(below: 8) == 0 ? 1.0 : 4 * g.nextUniform() - 2
        let beta: Double
        switch betaZero {
        case .some(true): beta = 0
        case .some(false): beta = 4 * g.nextUniform() - 2
        case .none:
            let r = g.nextInt(below: 4)
            beta = r == 0 ? 0 : (r == 1 ? 1 : 4 * g.nextUniform() - 2)
        }
        let aCols = ta ? m : k, bCols = tb ? k : n
        return Case(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, beta: beta,
                    lda: max(1, aCols + g.nextInt(below: 4)), ldb: max(1, bCols + g.nextInt(below: 4)),
                    ldc: max(1, n + g.nextInt(below: 4)))
    }

    /// Operands of a case: A and B uniform in [−1, 1) with NaN in the stride padding (so a read
    /// outside op(A) or op(B) would show up), C uniform (or all NaN when `poisonC`).
    struct Operands {
        var a: [Double], b: [Double], c: [Double]
    }

    static func operands(_ t: Case, _ g: inout SeededGenerator, poisonC: Bool) -> Operands {
        func matrix(rows: Int, cols: Int, ld: Int) -> [Double] {
            var x = [Double](repeating: .nan, count: max(1, rows * ld))
            for i in 0..<rows { for j in 0..<cols { x[i * ld + j] = 2 * g.nextUniform() - 1 } }
            return x
        }
        let a = matrix(rows: t.aRows, cols: t.aCols, ld: t.lda)
        let b = matrix(rows: t.bRows, cols: t.bCols, ld: t.ldb)
        var c = [Double](repeating: .nan, count: max(1, t.m * t.ldc))
        if !poisonC {
            for i in 0..<t.m { for j in 0..<t.n { c[i * t.ldc + j] = 2 * g.nextUniform() - 1 } }
        }
        return Operands(a: a, b: b, c: c)
    }

    /// Double reference C_ref = α·op(A)·op(B) + β·C and the elementwise scale
    /// |α|·(|op(A)|·|op(B)|) + |β|·|C| that bounds the rounding error of any summation order.
    static func reference(_ t: Case, _ x: Operands) -> (value: [Double], scale: [Double]) {
        var value = [Double](repeating: 0, count: t.m * t.n)
        var scale = [Double](repeating: 0, count: t.m * t.n)
        for i in 0..<t.m {
            for j in 0..<t.n {
                var s = 0.0, s2 = 0.0
                for p in 0..<t.k {
                    let aip = t.transposeA ? x.a[p * t.lda + i] : x.a[i * t.lda + p]
                    let bpj = t.transposeB ? x.b[j * t.ldb + p] : x.b[p * t.ldb + j]
                    s += aip * bpj
                    s2 += abs(aip * bpj)
                }
                let c0 = t.beta == 0 ? 0 : x.c[i * t.ldc + j]
                value[i * t.n + j] = t.alpha * s + t.beta * c0
                scale[i * t.n + j] = abs(t.alpha) * s2 + abs(t.beta) * abs(c0)
            }
        }
        return (value, scale)
    }

    static func runFloat(_ t: Case, _ x: Operands, kernel: GEMMKernel, threads: Int) -> [Float] {
        let a = x.a.map { Float($0) }, b = x.b.map { Float($0) }
        var c = x.c.map { Float($0) }
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    sgemm(transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k,
                          alpha: Float(t.alpha), a: ap.baseAddress!, lda: t.lda, b: bp.baseAddress!,
                          ldb: t.ldb, beta: Float(t.beta), c: cp.baseAddress!, ldc: t.ldc,
                          threads: threads, kernel: kernel)
                }
            }
        }
        return c
    }

    static func runDouble(_ t: Case, _ x: Operands, kernel: GEMMKernel, threads: Int) -> [Double] {
        var c = x.c
        x.a.withUnsafeBufferPointer { ap in
            x.b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    dgemm(transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k,
                          alpha: t.alpha, a: ap.baseAddress!, lda: t.lda, b: bp.baseAddress!,
                          ldb: t.ldb, beta: t.beta, c: cp.baseAddress!, ldc: t.ldc,
                          threads: threads, kernel: kernel)
                }
            }
        }
        return c
    }

    /// Checks the m×n window against the reference (|C − C_ref| ≤ tol·scale + tiny) and that
    /// the stride padding of C (columns n..<ldc) still holds its initial value. Returns the
    /// number of bad elements (0 when the case passes).
    static func check(_ t: Case, _ x: Operands, result: [Double], tolerance: Double) -> Int {
        let ref = reference(t, x)
        var bad = 0
        for i in 0..<t.m {
            for j in 0..<t.ldc {
                let got = result[i * t.ldc + j]
                if j < t.n {
                    let want = ref.value[i * t.n + j]
                    let bound = tolerance * ref.scale[i * t.n + j] + 1e-300
                    if !(abs(got - want) <= bound) { bad += 1 }
                } else {
                    let initial = x.c[i * t.ldc + j]
                    if !(got == initial || (got.isNaN && initial.isNaN)) { bad += 1 }
                }
            }
        }
        return bad
    }

    // MARK: Tests

    @Test("sgemm matches a Double reference on 200 random cases (default kernel)")
    func sgemmRandomCases() {
        var g = SeededGenerator(seed: 20230701)
        var seen = Set<String>()
        for index in 0..<200 {
            let t = Self.randomCase(&g, maxWork: 120_000)
            seen.insert("\(t.transposeA)\(t.transposeB)")
            let x = Self.operands(t, &g, poisonC: t.beta == 0)
            let c = Self.runFloat(t, x, kernel: .active, threads: 2).map { Double($0) }
            let bad = Self.check(t, x, result: c, tolerance: 1e-5)
            #expect(bad == 0, "case \(index): \(t): \(bad) wrong elements")
        }
        #expect(seen.count == 4, "all four transpose combinations drawn")
    }

    @Test("dgemm matches a Double reference on 100 random cases (default kernel)")
    func dgemmRandomCases() {
        var g = SeededGenerator(seed: 77)
        for index in 0..<100 {
            let t = Self.randomCase(&g, maxWork: 120_000)
            let x = Self.operands(t, &g, poisonC: t.beta == 0)
            let c = Self.runDouble(t, x, kernel: .active, threads: 2)
            let bad = Self.check(t, x, result: c, tolerance: 1e-13)
            #expect(bad == 0, "case \(index): \(t): \(bad) wrong elements")
        }
    }

    @Test("every supported kernel family is correct (Float and Double)",
          arguments: GEMMKernel.supported)
    func eachKernel(kernel: GEMMKernel) {
        var g = SeededGenerator(seed: 1000 + UInt64(GEMMKernel.allCases.firstIndex(of: kernel)!))
        for index in 0..<40 {
            let t = Self.randomCase(&g, maxWork: 80_000)
            let x = Self.operands(t, &g, poisonC: t.beta == 0)
            let cf = Self.runFloat(t, x, kernel: kernel, threads: 1).map { Double($0) }
            #expect(Self.check(t, x, result: cf, tolerance: 1e-5) == 0, "\(kernel) sgemm case \(index): \(t)")
            let cd = Self.runDouble(t, x, kernel: kernel, threads: 1)
            #expect(Self.check(t, x, result: cd, tolerance: 1e-13) == 0, "\(kernel) dgemm case \(index): \(t)")
        }
    }

    @Test("β = 0 overwrites a NaN-poisoned C completely and writes nothing outside m×n",
          arguments: GEMMKernel.supported)
    func betaZeroIgnoresNaN(kernel: GEMMKernel) {
        var g = SeededGenerator(seed: 4242)
        // Edge shapes first (one row, one column, k = 0, α = 0), then random ones.
        var cases = [
            Case(transposeA: false, transposeB: false, m: 1, n: 1, k: 1, alpha: 1, beta: 0, lda: 1, ldb: 1, ldc: 1),
            Case(transposeA: true, transposeB: true, m: 13, n: 37, k: 0, alpha: 1, beta: 0, lda: 14, ldb: 1, ldc: 40),
            Case(transposeA: false, transposeB: true, m: 29, n: 3, k: 7, alpha: 0, beta: 0, lda: 7, ldb: 7, ldc: 5),
            Case(transposeA: true, transposeB: false, m: 67, n: 65, k: 129, alpha: -0.5, beta: 0, lda: 67, ldb: 66, ldc: 66),
        ]
        for _ in 0..<30 { cases.append(Self.randomCase(&g, maxWork: 100_000, betaZero: true)) }
        for t in cases {
            let x = Self.operands(t, &g, poisonC: true)
            let cf = Self.runFloat(t, x, kernel: kernel, threads: 2).map { Double($0) }
            let cd = Self.runDouble(t, x, kernel: kernel, threads: 2)
            for i in 0..<t.m {
                for j in 0..<t.n {
                    if !cf[i * t.ldc + j].isFinite || !cd[i * t.ldc + j].isFinite {
                        Issue.record("\(kernel): element (\(i), \(j)) not written: \(t)")
                        return
                    }
                }
            }
            #expect(Self.check(t, x, result: cf, tolerance: 1e-5) == 0, "\(kernel) sgemm \(t)")
            #expect(Self.check(t, x, result: cd, tolerance: 1e-13) == 0, "\(kernel) dgemm \(t)")
        }
    }

    @Test("results are bit-identical with 1, 2 and 3 threads")
    func threadCountInvariance() {
        var g = SeededGenerator(seed: 99)
        for _ in 0..<5 {
            // Large enough to take the parallel path (≥ 100³ multiply-adds).
            let m = 97 + g.nextInt(below: 200), n = 97 + g.nextInt(below: 200)
            let k = max(1, 1_100_000 / (m * n)) + g.nextInt(below: 300)
            let t = Case(transposeA: g.nextInt(below: 2) == 1, transposeB: g.nextInt(below: 2) == 1,
                         m: m, n: n, k: k, alpha: 0.7, beta: g.nextInt(below: 2) == 0 ? 0 : -1.3,
                         lda: 0, ldb: 0, ldc: n + 1)
            var tt = t
            tt.lda = t.aCols
            tt.ldb = t.bCols
            let x = Self.operands(tt, &g, poisonC: false)
            let f1 = Self.runFloat(tt, x, kernel: .active, threads: 1).map { $0.bitPattern }
            let f2 = Self.runFloat(tt, x, kernel: .active, threads: 2).map { $0.bitPattern }
            let f3 = Self.runFloat(tt, x, kernel: .active, threads: 3).map { $0.bitPattern }
            let floatSame = f1 == f2 && f1 == f3
            #expect(floatSame, "sgemm differs across thread counts: \(tt)")
            let d1 = Self.runDouble(tt, x, kernel: .active, threads: 1).map { $0.bitPattern }
            let d2 = Self.runDouble(tt, x, kernel: .active, threads: 2).map { $0.bitPattern }
            let doubleSame = d1 == d2
            #expect(doubleSame, "dgemm differs across thread counts: \(tt)")
        }
    }

    @Test("β = 1 accumulates, α = 0 only scales C, empty shapes leave C alone")
    func specialScalars() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [1, 0, 0, 1]
        // C ← 1·A·I + 1·C = A + C
        sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2,
              b: b, ldb: 2, beta: 1, c: &c, ldc: 2)
        #expect(c == [2, 4, 6, 8])
        // α = 0: C ← 0.5·C, A and B ignored (even NaN).
        let nan: [Float] = [.nan, .nan, .nan, .nan]
        sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 0, a: nan, lda: 2,
              b: nan, ldb: 2, beta: 0.5, c: &c, ldc: 2)
        #expect(c == [1, 2, 3, 4])
        // m = 0 or n = 0: nothing is touched.
        sgemm(transposeA: false, transposeB: false, m: 0, n: 2, k: 2, alpha: 1, a: a, lda: 2,
              b: b, ldb: 2, beta: 0, c: &c, ldc: 2)
        sgemm(transposeA: true, transposeB: true, m: 2, n: 0, k: 2, alpha: 1, a: a, lda: 2,
              b: b, ldb: 2, beta: 0, c: &c, ldc: 2)
        #expect(c == [1, 2, 3, 4])
    }

    @Test("FEATURELENS_KERNEL override is parsed and validated")
    func kernelOverride() throws {
        #expect(try GEMMKernel.fromEnvironment([:]) == nil)
        #expect(try GEMMKernel.fromEnvironment(["FEATURELENS_KERNEL": ""]) == nil)
        #expect(try GEMMKernel.fromEnvironment(["FEATURELENS_KERNEL": "Generic"]) == .generic)
        #expect(throws: GEMMKernelError.unknownKernel("avx9")) {
            try GEMMKernel.fromEnvironment(["FEATURELENS_KERNEL": "avx9"])
        }
        for kernel in GEMMKernel.allCases {
            if kernel.isSupported {
                #expect(try GEMMKernel.fromEnvironment(["FEATURELENS_KERNEL": kernel.rawValue]) == kernel)
            } else {
                #expect(throws: GEMMKernelError.unsupportedKernel(kernel, best: GEMMKernel.best)) {
                    try GEMMKernel.fromEnvironment(["FEATURELENS_KERNEL": kernel.rawValue])
                }
            }
        }
        #expect(GEMMKernel.supported.contains(.generic))
        #expect(GEMMKernel.best.isSupported)
    }
}
