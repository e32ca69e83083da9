import FeatureLens
import FeatureLensNumerics

/// Shared helpers for proving hand-written gradients with central finite differences in
/// `Double` (used by the layer tests and usable by the loss tests).
///
///     ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / (2h),   h = 1e-5 by default
///
/// Truncation error is O(h²) and rounding error O(ε·|f|/h) ≈ 1e-11·|f|, well below the 1e-6
/// acceptance threshold for smooth functions away from kinks.
enum GradientCheck {
    /// Central-difference gradient of the scalar function `f` at `x` (same shape as `x`).
    static func numericalGradient(at x: Tensor<Double>, step h: Double = 1e-5,
                                  _ f: (Tensor<Double>) -> Double) -> Tensor<Double> {
        var g = Tensor<Double>(zeros: x.shape)
        var probe = x
        for i in 0..<x.count {
            let original = probe.scalars[i]
            probe.scalars[i] = original + h
            let plus = f(probe)
            probe.scalars[i] = original - h
            let minus = f(probe)
            probe.scalars[i] = original
            g.scalars[i] = (plus - minus) / (2 * h)
        }
        return g
    }

    /// Central-difference gradient with respect to a value held elsewhere (e.g. a layer's
    /// parameter): `set(v)` installs a perturbed value, `f()` evaluates; the original is restored.
    static func numericalGradient(of value: Tensor<Double>, step h: Double = 1e-5,
                                  set: (Tensor<Double>) -> Void, _ f: () -> Double) -> Tensor<Double> {
        let g = numericalGradient(at: value, step: h) { v in set(v); return f() }
        set(value)
        return g
    }

    /// Relative error max_i |a_i − b_i| / max(max_i |a_i|, max_i |b_i|, tiny): the largest
    /// deviation relative to the tensor's scale (0 when both are exactly zero).
    static func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
        precondition(a.shape == b.shape, "relativeError: shapes \(a.shape) and \(b.shape)")
        var diff = 0.0, scale = 0.0
        for i in 0..<a.count {
            diff = max(diff, abs(a.scalars[i] - b.scalars[i]))
            scale = max(scale, abs(a.scalars[i]), abs(b.scalars[i]))
        }
        return diff == 0 ? 0 : diff / max(scale, 1e-300)
    }

    /// Same as `relativeError` for `Float` results against expected values.
    static func relativeError(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
        relativeError(Tensor<Double>(a), Tensor<Double>(b))
    }

    /// I.i.d. N(0, std²) tensor from `seed`.
    static func randomTensor(_ shape: [Int], seed: UInt64, standardDeviation: Double = 1) -> Tensor<Double> {
        var g = SeededGenerator(seed: seed)
        return Tensor(randomNormal: shape, standardDeviation: standardDeviation, using: &g)
    }

    /// Σ_i y_i · w_i: the scalar probe loss whose gradient with respect to y is w.
    static func dot(_ y: Tensor<Double>, _ w: Tensor<Double>) -> Double {
        precondition(y.shape == w.shape, "dot: shapes \(y.shape) and \(w.shape)")
        var s = 0.0
        for i in 0..<y.count { s += y.scalars[i] * w.scalars[i] }
        return s
    }

    /// Result of `check(layer:…)`: the relative error of ∂L/∂x and of each parameter's gradient.
    struct LayerReport: CustomStringConvertible {
        var inputError: Double
        var parameterErrors: [(name: String, error: Double)]
        var maxError: Double { parameterErrors.map(\.error).reduce(inputError, max) }
        var description: String {
            "dx \(inputError); " + parameterErrors.map { "\($0.name) \($0.error)" }.joined(separator: ", ")
        }
    }

    /// Checks `layer.backward` against central differences of L(x, θ) = Σ forward(x) ⊙ W for a
    /// random upstream gradient W, with respect to the input and every parameter.
    static func check(layer: any Layer<Double>, input: Tensor<Double>, training: Bool = true,
                      seed: UInt64 = 99, step: Double = 1e-5) -> LayerReport {
        let y = layer.forward(input, training: training)
        let w = randomTensor(y.shape, seed: seed)
        layer.zeroGradients()
        let dx = layer.backward(w)
        let analytic = layer.parameters.map { ($0.name, $0.gradient) }
        let loss = { (x: Tensor<Double>) -> Double in dot(layer.forward(x, training: training), w) }
        let numericDx = numericalGradient(at: input, step: step, loss)
        var errors: [(String, Double)] = []
        for (p, (name, grad)) in zip(layer.parameters, analytic) {
            let numeric = numericalGradient(of: p.value, step: step, set: { p.value = $0 }) { loss(input) }
            errors.append((name, relativeError(grad, numeric)))
        }
        return LayerReport(inputError: relativeError(dx, numericDx), parameterErrors: errors)
    }
}
