// Tensor-level entry point of the Gaussian-noise view fill: the view makers in FeatureLensNN
// pass a batch tensor and a generator and hold no pointers.

/// Two noisy copies of `batch` stacked along the first axis, `[x + σξ₁; x + σξ₂]`, with
/// ξ ~ N(0, I) drawn in blocks of `blockValues` values, block k from the k-th
/// `generator.split()`: the values do not depend on the thread count.
/// - Parameters:
///   - batch: x, shape `[n, …]`.
///   - standardDeviation: σ ≥ 0.
///   - blockValues: values per generator block, a positive multiple of 2 (Box–Muller pairs never
///     straddle blocks).
///   - generator: split once per block (advanced).
/// - Returns: shape `[2n, …]`.
package func stackedGaussianNoiseViews(of batch: Tensor<Float>, standardDeviation sigma: Float, blockValues: Int,
                                       using generator: inout SeededGenerator) -> Tensor<Float> {
    precondition(blockValues > 0 && blockValues % 2 == 0, "stackedGaussianNoiseViews: blockValues must be a positive even number")
    let count = batch.count
    var shape = batch.shape
    shape[0] *= 2
    let total = 2 * count
    let blocks = (total + blockValues - 1) / blockValues
    var generators: [SeededGenerator] = []
    generators.reserveCapacity(blocks)
    for _ in 0..<blocks { generators.append(generator.split()) }
    var out = [Float](unsafeUninitializedCapacity: total) { _, n in n = total }
    batch.withUnsafeBufferPointer { xb in
        out.withUnsafeMutableBufferPointer { ob in
            generators.withUnsafeMutableBufferPointer { gens in
                guard let x = xb.baseAddress, let o = ob.baseAddress else { return }
                // Block k covers values [k·B, (k+1)·B) of the stacked [view 1; view 2] output.
                Parallel.forEach(chunks: blocks) { k in
                    let lo = k * blockValues, hi = min(total, lo + blockValues)
                    NormalSampler.fill(o + lo, count: hi - lo, using: &gens[k])
                    // o[j] = x[j mod count] + σ·o[j], split where the second view begins.
                    var j = lo
                    while j < hi {
                        let src = j < count ? j : j - count
                        let run = min(hi, j < count ? count : total) - j
                        VectorMath.scaleAdd(o + j, scale: sigma, adding: x + src, count: run)
                        j += run
                    }
                }
            }
        }
    }
    return Tensor(shape: shape, scalars: out)
}
