import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// `n` points uniform on the unit sphere S^(dim−1) (normalized Gaussians).
func uniformSphere(n: Int, dim: Int, seed: UInt64) -> Tensor<Double> {
    var g = SeededGenerator(seed: seed)
    return Tensor<Double>(randomNormal: [n, dim], using: &g).l2NormalizedRows()
}

/// Orthonormal columns `[rows, k]` by Gram–Schmidt on a Gaussian matrix.
func orthonormalColumns(rows: Int, k: Int, seed: UInt64) -> Tensor<Double> {
    var g = SeededGenerator(seed: seed)
    let a = Tensor<Double>(randomNormal: [k, rows], using: &g)
    var q: [[Double]] = []
    for c in 0..<k {
        var v = a.row(c)
        for u in q { let d = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }; for i in 0..<rows { v[i] -= d * u[i] } }
        let nrm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        q.append(v.map { $0 / nrm })
    }
    return Tensor<Double>(rows: q).transposed()
}

@Suite struct AuditMetricsTests {
    @Test func uniformityOfUniformCircleAndSphereMatchesTheAnalyticValues() throws {
        // e^{-4} I0(4) → −1.575 on S¹; e^{-4} sinh(4)/4 → −2.080 on S² (10 000 points, sampled pairs).
        let s1 = try EmbeddingMetrics.uniformity(uniformSphere(n: 10_000, dim: 2, seed: 1))
        let s2 = try EmbeddingMetrics.uniformity(uniformSphere(n: 10_000, dim: 3, seed: 2))
        #expect(abs(s1 - -1.575) <= 0.02, "S¹: \(s1)")
        #expect(abs(s2 - -2.080) <= 0.02, "S²: \(s2)")
        // The exact all-pairs path agrees.
        let exact = try EmbeddingMetrics.uniformity(uniformSphere(n: 1500, dim: 3, seed: 3))
        #expect(abs(exact - -2.080) <= 0.03, "S² exact: \(exact)")
        // Deterministic: the same embeddings give the same number.
        #expect(s1 == (try EmbeddingMetrics.uniformity(uniformSphere(n: 10_000, dim: 2, seed: 1))))
    }

    @Test func totalCollapseGivesZeroUniformityAndZeroStd() throws {
        let row: [Double] = [0.3, -1.2, 0.5, 2.0]
        let z = Tensor<Double>(rows: Array(repeating: row, count: 3000))
        #expect(try EmbeddingMetrics.uniformity(z) == 0)
        #expect(try EmbeddingMetrics.uniformity(z.rows(0..<100)) == 0)
        #expect(EmbeddingMetrics.collapseStd(z) == 0)
        let m = try RepresentationMetrics(embeddings: z)
        #expect(m.uniformity == 0 && m.collapseStd == 0)
        #expect(abs(m.effectiveRank - 1) < 1e-9)
    }

    @Test func rankMeOfARankKMatrixWithEqualSingularValuesIsK() throws {
        for (k, p) in [(1, 16), (4, 16), (7, 32)] {
            let u = orthonormalColumns(rows: 60, k: k, seed: UInt64(k)), v = orthonormalColumns(rows: p, k: k, seed: UInt64(100 + k))
            let z = u.matmul(v, transposeOther: true) * 2.5     // [60, p], k singular values of 2.5
            let sv = try EmbeddingMetrics.singularValues(z)
            #expect(abs(sv[0] - 2.5) < 1e-9 && abs(sv[k - 1] - 2.5) < 1e-9)
            #expect(abs(try EmbeddingMetrics.rankMe(z) - Double(k)) < 1e-3, "k=\(k)")
            #expect(abs(try EmbeddingMetrics.effectiveRank(z) - Double(k)) < 1e-6, "k=\(k)")
        }
        // ε is what separates the two: (p − k) zero singular values add ≈ (p − k)·ε·|log ε| entropy.
        let rm = EmbeddingMetrics.rankMe(singularValues: [1, 1] + Array(repeating: 0, count: 1000))
        #expect(rm > 2.003 && rm < 2.005)
        #expect(EmbeddingMetrics.effectiveRank(singularValues: [1, 1] + Array(repeating: 0, count: 1000)) == 2)
        #expect(EmbeddingMetrics.rankMe(singularValues: [0, 0]) == 0)
    }

    @Test func collapseStdOfIsotropicGaussianIsOneOverRootP() throws {
        var g = SeededGenerator(seed: 5)
        let z = Tensor<Double>(randomNormal: [4000, 128], using: &g)
        let s = EmbeddingMetrics.collapseStd(z)
        #expect(abs(s - 1 / 128.0.squareRoot()) <= 0.05 / 128.0.squareRoot(), "\(s)")
    }

    @Test func alignmentAndSpectrum() throws {
        let z = uniformSphere(n: 200, dim: 5, seed: 8)
        #expect(try EmbeddingMetrics.alignment(z, z) == 0)
        #expect(abs(try EmbeddingMetrics.alignment(z, z * -3.0) - 4) < 1e-12)
        #expect(throws: ProbeError.self) { try EmbeddingMetrics.alignment(z, z.rows(0..<10)) }
        let spec = try EmbeddingMetrics.normalizedCovarianceSpectrum(z * 7.0)
        #expect(spec.count == 5 && zip(spec, spec.dropFirst()).allSatisfy { $0 >= $1 })
        // Trace of the covariance of unit vectors = 1 − ‖mean‖².
        let mean = z.meanOverRows()
        let trace = 1 - mean.reduce(0) { $0 + $1 * $1 }
        #expect(abs(spec.reduce(0, +) - trace) < 1e-9)
        // Embeddings in a 2-D subspace of 5 dims: 3 (numerically) zero values; p > n pads with zeros.
        let flat = Tensor<Double>(rows: (0..<50).map { i in [cos(Double(i)), sin(Double(i)), 0, 0, 0] })
        let fs = try EmbeddingMetrics.normalizedCovarianceSpectrum(flat)
        #expect(fs[2...].allSatisfy { abs($0) < 1e-12 } && fs[1] > 0.1)
        #expect(try EmbeddingMetrics.normalizedCovarianceSpectrum(z.rows(0..<3)).count == 5)
    }
}
