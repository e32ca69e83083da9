import Testing
@testable import FeatureLensNumerics

@Suite("Tensor")
struct TensorTests {
    @Test func transposeAndReshape() {
        let t = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let tt = t.transposed()
        #expect(tt.shape == [3, 2])
        #expect(tt.scalars == [1, 4, 2, 5, 3, 6])
        #expect(tt.transposed() == t)
        #expect(t.reshaped([3, -1]).shape == [3, 2])
    }

    @Test func valueSemantics() {
        let a = Tensor<Float>(zeros: [2, 2])
        var b = a
        b[0, 0] = 5
        #expect(a[0, 0] == 0)
        #expect(b[0, 0] == 5)
    }

    @Test func rowsAndGather() {
        let t = Tensor<Double>(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        #expect(t.rows(1..<3).scalars == [3, 4, 5, 6])
        #expect(t.gatherRows([2, 0, 2]).scalars == [5, 6, 1, 2, 5, 6])
        #expect(t.sumOverRows() == [9, 12])
        #expect(t.sumOverColumns() == [3, 7, 11])
    }

    @Test func logSumExpIsStable() {
        let t = Tensor<Float>(shape: [2, 3], scalars: [1000, 1000, 1000, -1000, 0, -1000])
        let lse = t.logSumExpRows()
        #expect(abs(lse[0] - (1000 + Float.log(3))) < 1e-3)
        #expect(abs(lse[1]) < 1e-6)
        let sm = t.softmaxRows()
        #expect(sm.scalars.allSatisfy { $0.isFinite })
        #expect(abs(sm[0, 0] - 1.0 / 3.0) < 1e-6)
        #expect(abs(sm[1, 1] - 1) < 1e-6)
    }

    @Test func l2Normalization() {
        let t = Tensor<Double>(shape: [2, 2], scalars: [3, 4, 0, 0])
        let n = t.l2NormalizedRows()
        let expected: [Double] = [0.6, 0.8, 0, 0]
        for (x, e) in Swift.zip(n.scalars, expected) { #expect(abs(x - e) < 1e-15) }
    }

    @Test func matmulMatchesHandComputed() {
        let a = Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor<Float>(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        #expect(a.matmul(b).scalars == [58, 64, 139, 154])
        #expect(a.matmul(a, transposeOther: true).scalars == [14, 32, 32, 77])
        #expect(a.matmul(a, transposeSelf: true).shape == [3, 3])
    }
}

@Suite("SeededGenerator")
struct RandomTests {
    @Test func sameSeedSameStream() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        var c = SeededGenerator(seed: 43)
        #expect(SeededGenerator(seed: 42).stateWords != c.stateWords)
        _ = c.next()
    }

    @Test func normalMoments() {
        var g = SeededGenerator(seed: 1)
        let n = 200_000
        var s = 0.0, s2 = 0.0
        for _ in 0..<n { let x = g.nextNormal(); s += x; s2 += x * x }
        #expect(abs(s / Double(n)) < 0.01)
        #expect(abs(s2 / Double(n) - 1) < 0.02)
    }

    @Test func permutationAndSampling() {
        var g = SeededGenerator(seed: 7)
        let p = g.permutation(50)
        #expect(p.sorted() == Array(0..<50))
        let s = g.sampleWithoutReplacement(20, from: 30)
        #expect(Set(s).count == 20 && s.allSatisfy { $0 >= 0 && $0 < 30 })
        var plus = 0
        for _ in 0..<10_000 where g.nextRademacher() > 0 { plus += 1 }
        #expect(abs(plus - 5000) < 300)
    }
}
