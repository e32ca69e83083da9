// The optimizers' element-wise update loops (SGD with momentum/Nesterov/weight decay, Adam and
// AdamW with PyTorch's bias correction and ε placement), with tensor-level entry points: the
// optimizers in FeatureLensNN pass their parameter tensors and state arrays and hold no pointers.
// Each entry point calls the loop with a concrete `Float`/`Double` type, so the loop is
// specialized even when the caller is generic in the scalar.

/// One SGD update of `value` in place (PyTorch `torch.optim.SGD`):
/// d = g + λθ; b = first ? d : μb + (1 − τ)d; d = nesterov ? d + μb : b; θ ← θ − ηd.
/// Without momentum (μ = 0) `buffer` is neither read nor written (θ ← θ − η(g + λθ)).
/// - Parameters:
///   - value: θ, any shape; updated in place.
///   - gradient: g, `value.count` elements.
///   - buffer: the momentum buffer b, `value.count` elements when `momentum != 0`.
///   - first: true on the buffer's first update (b starts as a copy of d).
///   - learningRate: η; `momentum`: μ; `dampening`: τ; `weightDecay`: λ; `nesterov`: Nesterov's variant.
package func sgdUpdate<T: TensorScalar>(
    _ value: inout Tensor<T>, gradient: Tensor<T>, buffer: inout [T], first: Bool,
    learningRate: Double, momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool
) {
    let count = value.count
    precondition(gradient.count == count, "sgdUpdate: gradient has \(gradient.count) elements, value \(count)")
    precondition(momentum == 0 || buffer.count == count, "sgdUpdate: buffer has \(buffer.count) elements, value \(count)")
    if count == 0 { return }
    value.withUnsafeMutableBufferPointer { vb in
        gradient.withUnsafeBufferPointer { gb in
            buffer.withUnsafeMutableBufferPointer { bb in
                let v = vb.baseAddress!, g = gb.baseAddress!, b = momentum != 0 ? bb.baseAddress : nil
                if T.self == Float.self {
                    OptimizerKernels.sgd(v.cast(Float.self), g.cast(Float.self), b?.cast(Float.self),
                                         count: count, first: first, learningRate: learningRate, momentum: momentum,
                                         dampening: dampening, weightDecay: weightDecay, nesterov: nesterov)
                } else if T.self == Double.self {
                    OptimizerKernels.sgd(v.cast(Double.self), g.cast(Double.self), b?.cast(Double.self),
                                         count: count, first: first, learningRate: learningRate, momentum: momentum,
                                         dampening: dampening, weightDecay: weightDecay, nesterov: nesterov)
                } else {
                    OptimizerKernels.sgd(v, g, b, count: count, first: first, learningRate: learningRate,
                                         momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                                         nesterov: nesterov)
                }
            }
        }
    }
}

/// One Adam/AdamW update of `value` in place (PyTorch `torch.optim.Adam`/`AdamW`):
/// g ← g + λθ (coupled) or θ ← θ(1 − ηλ) (decoupled); m ← m + (1 − β₁)(g − m);
/// v ← β₂v + (1 − β₂)g²; θ ← θ − stepSize · m / (√v / bc2Sqrt + ε).
/// - Parameters:
///   - value: θ, any shape; updated in place.
///   - gradient: g, `value.count` elements.
///   - firstMoment: m (`exp_avg`), `value.count` elements; updated.
///   - secondMoment: v (`exp_avg_sq`), `value.count` elements; updated.
///   - stepSize: η / (1 − β₁ᵗ); `bc2Sqrt`: √(1 − β₂ᵗ).
///   - decoupled: AdamW's decoupled weight decay instead of Adam's coupled L2 term.
package func adamUpdate<T: TensorScalar>(
    _ value: inout Tensor<T>, gradient: Tensor<T>, firstMoment: inout [T], secondMoment: inout [T],
    stepSize: Double, bc2Sqrt: Double, learningRate: Double, beta1: Double, beta2: Double,
    epsilon: Double, weightDecay: Double, decoupled: Bool
) {
    let count = value.count
    precondition(gradient.count == count && firstMoment.count == count && secondMoment.count == count,
                 "adamUpdate: gradient/moments must have \(count) elements")
    if count == 0 { return }
    value.withUnsafeMutableBufferPointer { pb in
        gradient.withUnsafeBufferPointer { gb in
            firstMoment.withUnsafeMutableBufferPointer { mb in
                secondMoment.withUnsafeMutableBufferPointer { vb in
                    let p = pb.baseAddress!, g = gb.baseAddress!, mp = mb.baseAddress!, vp = vb.baseAddress!
                    if T.self == Float.self {
                        OptimizerKernels.adam(p.cast(Float.self), g.cast(Float.self),
                                              mp.cast(Float.self), vp.cast(Float.self),
                                              count: count, stepSize: stepSize, bc2Sqrt: bc2Sqrt,
                                              learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                              weightDecay: weightDecay, decoupled: decoupled)
                    } else if T.self == Double.self {
                        OptimizerKernels.adam(p.cast(Double.self), g.cast(Double.self),
                                              mp.cast(Double.self), vp.cast(Double.self),
                                              count: count, stepSize: stepSize, bc2Sqrt: bc2Sqrt,
                                              learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                              weightDecay: weightDecay, decoupled: decoupled)
                    } else {
                        OptimizerKernels.adam(p, g, mp, vp, count: count, stepSize: stepSize, bc2Sqrt: bc2Sqrt,
                                              learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                              weightDecay: weightDecay, decoupled: decoupled)
                    }
                }
            }
        }
    }
}

extension UnsafeMutablePointer {
    /// The same address typed as `T` (callers guarantee `Pointee == T`).
    @inline(__always) fileprivate func cast<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: T.self)
    }
}

extension UnsafePointer {
    /// The same address typed as `T` (callers guarantee `Pointee == T`).
    @inline(__always) fileprivate func cast<T>(_: T.Type) -> UnsafePointer<T> {
        UnsafeRawPointer(self).assumingMemoryBound(to: T.self)
    }
}

/// The element-wise update loops, as static functions generic only in the scalar, so that
/// calls with `Float`/`Double` pointers are fully specialized.
enum OptimizerKernels {
    static func sgd<T: TensorScalar>(
        _ v: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ b: UnsafeMutablePointer<T>?,
        count: Int, first: Bool, learningRate: Double, momentum: Double, dampening: Double,
        weightDecay: Double, nesterov: Bool
    ) {
        let lr = T(learningRate), wd = T(weightDecay), mu = T(momentum), damp = T(1 - dampening)
        let useWD = weightDecay != 0
        guard let b else {
            if useWD {
                for i in 0..<count { v[i] -= lr * (g[i] + wd * v[i]) }
            } else {
                for i in 0..<count { v[i] -= lr * g[i] }
            }
            return
        }
        for i in 0..<count {
            var d = g[i]
            if useWD { d += wd * v[i] }
            let bi = first ? d : mu * b[i] + damp * d
            b[i] = bi
            d = nesterov ? d + mu * bi : bi
            v[i] -= lr * d
        }
    }

    static func adam<T: TensorScalar>(
        _ p: UnsafeMutablePointer<T>, _ g: UnsafePointer<T>, _ m: UnsafeMutablePointer<T>,
        _ v: UnsafeMutablePointer<T>, count: Int, stepSize: Double, bc2Sqrt: Double,
        learningRate: Double, beta1: Double, beta2: Double, epsilon: Double,
        weightDecay: Double, decoupled: Bool
    ) {
        let b1c = T(1 - beta1), b2 = T(beta2), b2c = T(1 - beta2), eps = T(epsilon)
        let size = T(stepSize), bcs = T(bc2Sqrt)
        let coupledWD = !decoupled && weightDecay != 0
        let decoupledWD = decoupled && weightDecay != 0
        let wd = T(weightDecay), shrink = T(1 - learningRate * weightDecay)
        for i in 0..<count {
            var gi = g[i]
            if coupledWD { gi += wd * p[i] }
            if decoupledWD { p[i] *= shrink }
            m[i] += b1c * (gi - m[i])
            v[i] = b2 * v[i] + b2c * gi * gi
            let denom = T.sqrt(v[i]) / bcs + eps
            p[i] -= size * (m[i] / denom)
        }
    }
}
