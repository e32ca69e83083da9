import CFeatureLensKernels

/// Vectorized single-precision elementwise math for training hot loops (AVX-512F when the CPU
/// has it, else a scalar version of the same formulas; see `vectormath.c`). Results depend
/// only on the inputs, never on threads.
public enum VectorMath {
    /// The implementation in use: `"avx512f"` or `"scalar"`.
    public static var implementationName: String { String(cString: fl_vector_math_name()) }

    /// x[i] ← exp(x[i] − shift) for i < count; returns the sum of the new values (fixed order).
    /// Entries below shift − 104 (including −∞) become exactly 0; NaN propagates.
    /// Accuracy: ≤ 2 ulp relative over the normal range (Cephes expf polynomial).
    @inlinable
    public static func expShiftedSum(_ x: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        fl_exp_shifted_sum_f32(x, count, shift)
    }

    /// The largest of x[0..<count] (−∞ when count = 0); NaN entries may be ignored.
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        fl_max_f32(x, count)
    }

    /// o[i] ← x[i] + scale·o[i] for i < count.
    @inlinable
    public static func scaleAdd(_ o: UnsafeMutablePointer<Float>, scale: Float, adding x: UnsafePointer<Float>,
                                count: Int) {
        fl_scale_add_f32(o, scale, x, count)
    }
}

/// Fast N(0, 1) draws in `Float` from a `SeededGenerator`: one 64-bit word per pair, turned
/// into two normals by the single-precision Box–Muller transform of `fl_normal_pairs_f32`
/// (u₁ = (⌊hi/2⁸⌋ + 1)·2⁻²⁴, u₂ = ⌊lo/2⁸⌋·2⁻²⁴, (r cos 2πu₂, r sin 2πu₂), r = √(−2 ln u₁);
/// |z| ≤ 5.77). Absolute error against the exact transform of the same uniforms ≤ 1e-6.
public enum NormalSampler {
    /// Words converted per call of the C kernel (keeps the word buffer on the stack-sized scale).
    static let wordsPerChunk = 1024

    /// Writes `count` N(0, 1) draws to `out`, consuming ⌈count/2⌉ words of `generator`
    /// (for odd `count` the last pair's second value is dropped).
    public static func fill(_ out: UnsafeMutablePointer<Float>, count: Int, using generator: inout SeededGenerator) {
        guard count > 0 else { return }
        let pairs = count / 2
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: wordsPerChunk) { words in
            let w = words.baseAddress!
            var done = 0
            while done < pairs {
                let m = Swift.min(wordsPerChunk, pairs - done)
                for i in 0..<m { w[i] = generator.next() }
                fl_normal_pairs_f32(w, out + 2 * done, m)
                done += m
            }
            if count % 2 == 1 {
                w[0] = generator.next()
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { pair in
                    fl_normal_pairs_f32(w, pair.baseAddress!, 1)
                    out[count - 1] = pair[0]
                }
            }
        }
    }

    /// `count` N(0, 1) draws as an array (see `fill`).
    public static func draw(_ count: Int, using generator: inout SeededGenerator) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { b, n in
            if count > 0 { fill(b.baseAddress!, count: count, using: &generator) }
            n = count
        }
    }
}
