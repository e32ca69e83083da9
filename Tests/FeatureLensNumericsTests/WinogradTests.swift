import CFeatureLensKernels
import Testing
import FeatureLensNumerics

/// Winograd F(2×2, 3×3) (`WinogradConvolution`) against the im2col engine: forward, input
/// gradient, weight and bias gradients, with bias and with a fused ReLU, on odd and even planes
/// (down to 1×1), several batch sizes and channel counts and batches of several chunks; in Double
/// to rounding (1e-12 relative to the largest reference value), in Float against the Double
/// reference within the tolerance docs/NUMERICS.md states; 1 and 2 threads bit for bit; the AVX2
/// transforms against the portable ones bit for bit.
@Suite struct WinogradTests {
    struct Shape: Sendable, CustomStringConvertible {
        var n, c, o, h, w: Int
        var description: String { "N\(n) C\(c)→O\(o) \(h)×\(w)" }
    }

    /// Odd planes (7, 5, 3, 1), even ones (4, 28), rectangles, one sample, and a batch of several
    /// chunks with two partial sums (70 samples of 16 + 16 channels on 8×8: chunks of 32, 32, 6
    /// in Double, 64, 6 in Float).
    static let shapes = [
        Shape(n: 3, c: 5, o: 4, h: 7, w: 7), Shape(n: 2, c: 3, o: 6, h: 5, w: 5), Shape(n: 4, c: 2, o: 3, h: 4, w: 4),
        Shape(n: 3, c: 2, o: 2, h: 1, w: 1), Shape(n: 2, c: 3, o: 2, h: 6, w: 3), Shape(n: 1, c: 1, o: 1, h: 2, w: 9),
        Shape(n: 2, c: 4, o: 3, h: 3, w: 3), Shape(n: 1, c: 2, o: 2, h: 28, w: 28), Shape(n: 70, c: 16, o: 16, h: 8, w: 8),
    ]

    struct Result<T: TensorScalar> {
        var y, dx, dw, db: Tensor<T>
    }

    static func run<T: TensorScalar>(_ algorithm: ConvolutionAlgorithm, _ s: Shape, x: Tensor<T>, weight: Tensor<T>,
                                     bias: Tensor<T>?, dy: Tensor<T>, relu: Bool, threads: Int = 2) -> Result<T> {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        let engine = ConvolutionEngine<T>(inChannels: s.c, outChannels: s.o,
                                          spec: ConvSpec(kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1), algorithm: algorithm)
        let y = engine.forward(x, outputShape: [s.n, s.o, s.h, s.w], weight: weight, bias: bias, relu: relu)
        var dw = Tensor<T>(shape: weight.shape, scalars: [T](repeating: 0, count: weight.scalars.count))
        var db = Tensor<T>(shape: [s.o], scalars: [T](repeating: 0, count: s.o))
        let dx = engine.backward(dy, weight: weight, weightGradient: &dw, biasGradient: &db, hasBias: bias != nil,
                                 computesInputGradient: true, reluOutput: relu ? y : nil)
        return Result(y: y, dx: dx, dw: dw, db: db)
    }

    /// max |a − b| / max |b|.
    static func relativeError<T: TensorScalar>(_ a: Tensor<T>, _ b: Tensor<Double>) -> Double {
        let scale = b.scalars.map(abs).max() ?? 0
        let diff = zip(a.scalars, b.scalars).map { abs($0.doubleValue - $1) }.max() ?? 0
        return scale == 0 ? diff : diff / scale
    }

    static func inputs(_ s: Shape, seed: UInt64) -> (x: Tensor<Double>, w: Tensor<Double>, b: Tensor<Double>, dy: Tensor<Double>) {
        var g = SeededGenerator(seed: seed)
        return (Tensor(randomNormal: [s.n, s.c, s.h, s.w], using: &g), Tensor(randomNormal: [s.o, s.c, 3, 3], using: &g),
                Tensor(randomNormal: [s.o], using: &g), Tensor(randomNormal: [s.n, s.o, s.h, s.w], using: &g))
    }

    static func float(_ t: Tensor<Double>) -> Tensor<Float> { Tensor(shape: t.shape, scalars: t.scalars.map(Float.init)) }

    @Test(arguments: shapes, [false, true])
    func matchesIm2colInDouble(_ s: Shape, relu: Bool) {
        let (x, w, b, dy) = Self.inputs(s, seed: UInt64(s.n * 1000 + s.h * 10 + s.c))
        for bias in [nil, b] {
            let ref = Self.run(.im2col, s, x: x, weight: w, bias: bias, dy: dy, relu: relu)
            let win = Self.run(.winograd, s, x: x, weight: w, bias: bias, dy: dy, relu: relu)
            let label = "\(s) relu \(relu) bias \(bias != nil)"
            #expect(Self.relativeError(win.y, ref.y) < 1e-12, "y \(label)")
            #expect(Self.relativeError(win.dx, ref.dx) < 1e-12, "dx \(label)")
            #expect(Self.relativeError(win.dw, ref.dw) < 1e-12, "dW \(label)")
            if bias != nil { #expect(Self.relativeError(win.db, ref.db) < 1e-12, "db \(label)") }
        }
    }

    /// Float Winograd and Float im2col against the Double result: within 1e-5 of the largest
    /// value (both are about 1e-7 to 1e-6 here).
    @Test(arguments: shapes)
    func floatMatchesDoubleReference(_ s: Shape) {
        let (x, w, b, dy) = Self.inputs(s, seed: UInt64(7 + s.n * 31 + s.h))
        let ref = Self.run(.im2col, s, x: x, weight: w, bias: b, dy: dy, relu: false)
        let win = Self.run(.winograd, s, x: Self.float(x), weight: Self.float(w), bias: Self.float(b), dy: Self.float(dy),
                           relu: false)
        #expect(Self.relativeError(win.y, ref.y) < 1e-5, "y \(s)")
        #expect(Self.relativeError(win.dx, ref.dx) < 1e-5, "dx \(s)")
        #expect(Self.relativeError(win.dw, ref.dw) < 1e-5, "dW \(s)")
        #expect(Self.relativeError(win.db, ref.db) < 1e-5, "db \(s)")
    }

    @Test func oneAndTwoThreadsGiveTheSameBits() {
        for s in [Self.shapes[0], Self.shapes[8], Shape(n: 500, c: 16, o: 24, h: 4, w: 4)] {
            let (x, w, b, dy) = Self.inputs(s, seed: 5)
            let (xf, wf, bf, dyf) = (Self.float(x), Self.float(w), Self.float(b), Self.float(dy))
            let one = Self.run(.winograd, s, x: xf, weight: wf, bias: bf, dy: dyf, relu: true, threads: 1)
            let two = Self.run(.winograd, s, x: xf, weight: wf, bias: bf, dy: dyf, relu: true, threads: 2)
            #expect(one.y == two.y && one.dx == two.dx && one.dw == two.dw && one.db == two.db, "\(s)")
        }
    }

    @Test func chunkPlanKeepsWholeSamplesAndEnoughTiles() {
        let deep = WinogradConvolution<Float>(inChannels: 512, outChannels: 512)
        // 4×4 planes have 4 tiles: at least 256 tiles per chunk.
        #expect(deep.chunkPlan(n: 256, h: 4, w: 4).samples == 64)
        #expect(deep.chunkPlan(n: 10, h: 4, w: 4).samples == 10)
        let wide = WinogradConvolution<Float>(inChannels: 64, outChannels: 64)
        // 28×28: 196 tiles and 16·128·196 elements of V and M per sample.
        #expect(wide.chunkPlan(n: 256, h: 28, w: 28).samples == 2)
    }

    /// The AVX2 kernels of winograd.c against the portable Swift transforms, bit for bit.
    @Test(.enabled(if: fl_conv_path_available(FL_CONV_PATH_AVX2) == 1, "this CPU has no AVX2 and FMA"))
    func avx2TransformsMatchPortable() {
        for (m, c, h, w) in [(2, 3, 7, 7), (1, 2, 28, 28), (3, 2, 1, 1), (2, 1, 4, 4), (1, 2, 5, 18), (2, 2, 33, 35)] {
            var g = SeededGenerator(seed: UInt64(h * 100 + w))
            let (th, tw) = WinogradTransforms.tiles(h: h, w: w)
            let t = m * th * tw
            let x = Tensor<Float>(randomNormal: [m, c, h, w], using: &g)
            let y = Tensor<Float>(randomNormal: [m, c, h, w], using: &g)
            let mm = Tensor<Float>(randomNormal: [16, c, t], using: &g)
            let bias = Tensor<Float>(randomNormal: [c], using: &g)
            let label = "m\(m) c\(c) \(h)×\(w)"
            // The AVX2 result (the kernel must report that it ran) and the portable one, same bits.
            func same(_ count: Int, _ body: (UnsafeMutablePointer<Float>, Bool) -> Int32) -> Bool {
                var fast = [Float](repeating: .nan, count: count), slow = fast
                let ran = fast.withUnsafeMutableBufferPointer { body($0.baseAddress!, true) }
                _ = slow.withUnsafeMutableBufferPointer { body($0.baseAddress!, false) }
                return ran == 1 && zip(fast, slow).allSatisfy { $0.bitPattern == $1.bitPattern }
            }
            let xp = x.scalars, yp = y.scalars, mp = mm.scalars, bp = bias.scalars
            let input = same(16 * c * t) { out, fast in
                if fast { return fl_winograd_input_f32(xp, m, c, h, w, out) }
                WinogradTransforms.inputPortable(xp, m: m, c: c, h: h, w: w, into: out)
                return 0
            }
            #expect(input, "input \(label)")
            for relu in [false, true] {
                let output = bp.withUnsafeBufferPointer { bb in
                    let b = relu ? bb.baseAddress : nil
                    return same(m * c * h * w) { out, fast in
                        if fast { return fl_winograd_output_f32(mp, m, c, h, w, b, relu ? 1 : 0, out) }
                        WinogradTransforms.outputPortable(mp, m: m, o: c, h: h, w: w, bias: b, relu: relu, into: out)
                        return 0
                    }
                }
                #expect(output, "output \(label) bias and ReLU \(relu)")
            }
            for masked in [false, true] {
                let adjoint = yp.withUnsafeBufferPointer { yb in
                    let mask = masked ? yb.baseAddress : nil
                    return same(16 * c * t) { out, fast in
                        if fast { return fl_winograd_output_adjoint_f32(xp, mask, m, c, h, w, out) }
                        WinogradTransforms.outputAdjointPortable(xp, yRelu: mask, m: m, o: c, h: h, w: w, into: out)
                        return 0
                    }
                }
                #expect(adjoint, "output adjoint \(label) masked \(masked)")
            }
            let inputAdjoint = same(m * c * h * w) { out, fast in
                if fast { return fl_winograd_input_adjoint_f32(mp, m, c, h, w, out) }
                WinogradTransforms.inputAdjointPortable(mp, m: m, c: c, h: h, w: w, into: out)
                return 0
            }
            #expect(inputAdjoint, "input adjoint \(label)")
        }
    }
}
