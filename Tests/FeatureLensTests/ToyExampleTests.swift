import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The toy of SCIENCE.md §1 (Xue et al., ICML 2023, authors' page): two training points of one
/// class with different subclass features, a linear 1-d encoder w and target output 0.5.
@Suite struct ToyExampleTests {
    static let x1: [Double] = [1, 1, 0.4, 0, 0, 0, 0, 0]
    static let x2: [Double] = [1, -1, 0, 0.4, 0, 0, 0, 0]
    static let t1: [Double] = [1, 1, 0, 0, 0.4, 0, 0, 0]
    static let t2: [Double] = [1, -1, 0, 0, 0, 0.4, 0, 0]

    private func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func givenWeightCollapsesTrainButNotTest() {
        let w: [Double] = [0.5, 1, -2.5, 2.5, 0, 0, 0, 0]
        #expect(abs(dot(w, Self.x1) - 0.5) <= 1e-12)
        #expect(abs(dot(w, Self.x2) - 0.5) <= 1e-12)
        #expect(abs(dot(w, Self.t1) - 1.5) <= 1e-12)
        #expect(abs(dot(w, Self.t2) + 0.5) <= 1e-12)
    }

    @Test func minimumNormFitCollapsesTest() throws {
        let x = Tensor<Double>(rows: [Self.x1, Self.x2])       // [2, 8]
        let y = Tensor<Double>(shape: [2, 1], scalars: [0.5, 0.5])
        let w = try pseudoInverse(x).matmul(y).scalars           // [8]
        // Subclass weight (coordinate 1) vanishes.
        #expect(abs(w[1]) <= 1e-12)
        // w* = (0.5 / 2.16)(x₁ + x₂).
        for j in 0..<8 { #expect(abs(w[j] - 0.5 / 2.16 * (Self.x1[j] + Self.x2[j])) <= 1e-12) }
        // Fits the training points and gives 0.463 on both test points.
        #expect(abs(dot(w, Self.x1) - 0.5) <= 1e-12 && abs(dot(w, Self.x2) - 0.5) <= 1e-12)
        for t in [Self.t1, Self.t2] {
            #expect(abs(dot(w, t) - 1 / 2.16) <= 1e-12)
            #expect(abs(dot(w, t) - 0.463) <= 5e-4)
        }
        // Its norm is below the given w's: the minimum-norm fit is the collapsed one.
        #expect(dot(w, w) < dot([0.5, 1, -2.5, 2.5, 0, 0, 0, 0], [0.5, 1, -2.5, 2.5, 0, 0, 0, 0]))
    }

    @Test func gradientDescentFromZeroFindsTheMinimumNormFit() throws {
        // GD on ½‖Xw − y‖² from w = 0 stays in the row space of X, so it converges to w*.
        let x = Tensor<Double>(rows: [Self.x1, Self.x2])
        let y = Tensor<Double>(shape: [2, 1], scalars: [0.5, 0.5])
        let p = Parameter(name: "w", value: Tensor<Double>(zeros: [8, 1]))
        let sgd = try SGD(parameters: [p], learningRate: 0.3)
        for _ in 0..<500 {
            p.gradient = x.matmul(x.matmul(p.value) - y, transposeSelf: true)
            sgd.step()
        }
        let wStar = try pseudoInverse(x).matmul(y)
        #expect((p.value - wStar).norm() <= 1e-10)
        #expect(abs(p.value[1, 0]) <= 1e-12)
    }
}
