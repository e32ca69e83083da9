import FeatureLensNumerics

/// 2-D convolution (cross-correlation, as PyTorch `nn.Conv2d`, groups = 1, dilation = 1) on
/// NCHW images:
///
///     y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s_h − p_h + u, j·s_w − p_w + v]
///
/// x: `[N, C, H, W]`, W: `[O, C, K_h, K_w]`, b: `[O]`, y: `[N, O, H_out, W_out]` with
/// H_out = ⌊(H + 2p_h − K_h)/s_h⌋ + 1 (likewise W_out); out-of-range x are zeros (padding).
///
/// Implementation: im2col + one GEMM for the whole batch. With P = H_out·W_out and
/// K = C·K_h·K_w, the column matrix `col` is `[K, N·P]` (row (c, u, v), column (n, i, j)), so
///
///     forward:  Yᵗ[O, N·P] = W[O, K] · col[K, N·P],   y[n, o, :] = Yᵗ[o, n·P ..< (n+1)·P] + b[o]
///     backward: dYᵗ[O, N·P] from dy;  dW[O, K] += dYᵗ · colᵀ;  db[o] += Σ dYᵗ[o, :]
///               dcol[K, N·P] = Wᵀ · dYᵗ;  dx = col2im(dcol)
///
/// The layout makes the NCHW ↔ Yᵗ permutations copies of contiguous runs of P values.
/// im2col, col2im and the permutations run in parallel over samples (disjoint outputs, so the
/// results do not depend on the thread count); the GEMMs split their outputs in blocks.
/// Workspaces are kept between calls and reused when the batch shape repeats.
public final class Conv2D<Scalar: TensorScalar>: Layer {
    /// C.
    public let inChannels: Int
    /// O.
    public let outChannels: Int
    /// (K_h, K_w).
    public let kernelSize: (height: Int, width: Int)
    /// (s_h, s_w).
    public let stride: (height: Int, width: Int)
    /// (p_h, p_w): zero padding on each side.
    public let padding: (height: Int, width: Int)
    /// W: `[O, C, K_h, K_w]`.
    public let weight: Parameter<Scalar>
    /// b: `[O]`, or nil.
    public let bias: Parameter<Scalar>?

    /// Whether `backward` computes ∂L/∂x. Set it to false on a first layer whose input
    /// gradient nobody reads (the `Trainer` does, during `run`): `backward` then skips
    /// Wᵀ·dYᵗ and col2im and returns zeros of the input's shape. Parameter gradients are unaffected.
    public var computesInputGradient = true

    private var col: [Scalar] = []        // [K, N·P]
    private var transposedOut: [Scalar] = []  // [O, N·P], Yᵗ then dYᵗ
    private var gradCol: [Scalar] = []    // [K, N·P]
    private var cachedGeometry: Geometry?

    struct Geometry {
        var n, c, h, w, oh, ow: Int
        var p: Int { oh * ow }
    }

    /// - Parameters: square or rectangular kernel, stride (default 1) and padding (default 0);
    ///   weights by `weightInit` (default PyTorch's Kaiming-uniform a = √5, fan_in = C·K_h·K_w),
    ///   bias by `biasInit`, drawn weight then bias from `generator`.
    /// - Throws: `LayerError.invalidConfiguration` if a channel count, kernel extent or stride
    ///   is not positive or a padding is negative.
    public init(inChannels: Int, outChannels: Int, kernelSize: (height: Int, width: Int),
                stride: (height: Int, width: Int) = (1, 1), padding: (height: Int, width: Int) = (0, 0),
                bias: Bool = true, weightInit: WeightInitialization = .pytorchDefault,
                biasInit: BiasInitialization = .pytorchDefault, using generator: inout SeededGenerator) throws {
        try requirePositive(inChannels, "inChannels", in: "Conv2D")
        try requirePositive(outChannels, "outChannels", in: "Conv2D")
        try requirePositive(kernelSize.height, "kernelSize.height", in: "Conv2D")
        try requirePositive(kernelSize.width, "kernelSize.width", in: "Conv2D")
        try requirePositive(stride.height, "stride.height", in: "Conv2D")
        try requirePositive(stride.width, "stride.width", in: "Conv2D")
        guard padding.height >= 0, padding.width >= 0 else {
            throw LayerError.invalidConfiguration(layer: "Conv2D", field: "padding", expected: "≥ 0",
                                                  got: "\(padding)")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        let shape = [outChannels, inChannels, kernelSize.height, kernelSize.width]
        let w: Tensor<Scalar> = try weightInit.makeTensor(shape: shape, using: &generator)
        weight = Parameter(name: "weight", value: w)
        if bias {
            let b: Tensor<Scalar> = try Initializers.bias(count: outChannels, fanIn: inChannels * kernelSize.height * kernelSize.width,
                                                          rule: biasInit, using: &generator)
            self.bias = Parameter(name: "bias", value: b)
        } else {
            self.bias = nil
        }
    }

    /// Square kernel, stride and padding.
    /// - Throws: as the general initializer.
    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true, weightInit: WeightInitialization = .pytorchDefault,
                            biasInit: BiasInitialization = .pytorchDefault, using generator: inout SeededGenerator) throws {
        try self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: (kernelSize, kernelSize),
                      stride: (stride, stride), padding: (padding, padding), bias: bias, weightInit: weightInit,
                      biasInit: biasInit, using: &generator)
    }

    public var parameters: [Parameter<Scalar>] { bias.map { [weight, $0] } ?? [weight] }

    /// `[N, C, H, W]` → `[N, O, H_out, W_out]`.
    /// - Throws: `LayerError.shapeMismatch` if the rank or C differs or the padded image is
    ///   smaller than the kernel.
    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape.count == 4, inputShape[1] == inChannels,
              inputShape[2] + 2 * padding.height >= kernelSize.height,
              inputShape[3] + 2 * padding.width >= kernelSize.width else {
            throw LayerError.shapeMismatch(
                layer: "Conv2D", expected: "[N, \(inChannels), H, W] with H + 2·\(padding.height) ≥ \(kernelSize.height) and W + 2·\(padding.width) ≥ \(kernelSize.width)",
                got: inputShape)
        }
        return [inputShape[0], outChannels,
                (inputShape[2] + 2 * padding.height - kernelSize.height) / stride.height + 1,
                (inputShape[3] + 2 * padding.width - kernelSize.width) / stride.width + 1]
    }

    public func forward(_ input: Tensor<Scalar>, training: Bool) -> Tensor<Scalar> {
        let outShape: [Int]
        do { outShape = try outputShape(for: input.shape) } catch { preconditionFailure("\(error)") }
        let g = Geometry(n: input.shape[0], c: inChannels, h: input.shape[2], w: input.shape[3],
                         oh: outShape[2], ow: outShape[3])
        cachedGeometry = g
        let kk = inChannels * kernelSize.height * kernelSize.width
        let np = g.n * g.p
        resizeUninitialized(&col, kk * np)
        resizeUninitialized(&transposedOut, outChannels * np)
        var y: Tensor<Scalar> = uninitializedTensor(outShape)  // every element written below
        if np == 0 { return y }
        let spec = ConvSpec(kh: kernelSize.height, kw: kernelSize.width, sh: stride.height, sw: stride.width,
                            ph: padding.height, pw: padding.width)
        input.withUnsafeBufferPointer { xb in
            col.withUnsafeMutableBufferPointer { cb in
                let xp = xb.baseAddress!, cp = cb.baseAddress!
                // col[K, N·P] ← im2col(x), parallel over samples
                forEachSampleChunk(g.n) { range in
                    im2col(xp, cp, samples: range, batch: g.n, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, spec: spec)
                }
            }
        }
        // Yᵗ[O, N·P] = W[O, K] · col[K, N·P]
        weight.value.withUnsafeBufferPointer { wb in
            col.withUnsafeBufferPointer { cb in
                transposedOut.withUnsafeMutableBufferPointer { tb in
                    Scalar.gemmKernel(transposeA: false, transposeB: false, m: outChannels, n: np, k: kk,
                                      alpha: 1, a: wb.baseAddress!, lda: kk, b: cb.baseAddress!, ldb: np,
                                      beta: 0, c: tb.baseAddress!, ldc: np, threads: Parallel.threadCount)
                }
            }
        }
        // y[n, o, :] = Yᵗ[o, n·P ..< (n+1)·P] + b[o]
        let biasValues = bias?.value.scalars ?? [Scalar](repeating: 0, count: outChannels)
        transposedOut.withUnsafeBufferPointer { tb in
            y.withUnsafeMutableBufferPointer { yb in
                biasValues.withUnsafeBufferPointer { bb in
                    let tp = tb.baseAddress!, yp = yb.baseAddress!, bp = bb.baseAddress!
                    forEachSampleChunk(g.n) { range in
                        permuteBlocks(from: tp, to: yp, samples: range, channels: outChannels, batch: g.n, plane: g.p,
                                      toSampleMajor: true, bias: bp)
                    }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let g = cachedGeometry else { preconditionFailure("Conv2D.backward called before forward") }
        let expected = [g.n, outChannels, g.oh, g.ow]
        precondition(gradOutput.shape == expected, "Conv2D.backward: gradient shape \(gradOutput.shape), expected \(expected)")
        let kk = inChannels * kernelSize.height * kernelSize.width
        let np = g.n * g.p
        var dx: Tensor<Scalar> = zerosTensor([g.n, g.c, g.h, g.w])
        if np == 0 { return dx }
        // dYᵗ[O, N·P] ← dy[N, O, P]
        gradOutput.withUnsafeBufferPointer { gb in
            transposedOut.withUnsafeMutableBufferPointer { tb in
                let gp = gb.baseAddress!, tp = tb.baseAddress!
                forEachSampleChunk(g.n) { range in
                    permuteBlocks(from: gp, to: tp, samples: range, channels: outChannels, batch: g.n, plane: g.p,
                                  toSampleMajor: false, bias: nil)
                }
            }
        }
        transposedOut.withUnsafeBufferPointer { tb in
            let tp = tb.baseAddress!
            // db[o] += Σ_{n,p} dYᵗ[o, (n, p)]
            if let b = bias {
                b.gradient.withUnsafeMutableBufferPointer { db in
                    accumulateRowSums(tp, rows: outChannels, columns: np, into: db.baseAddress!)
                }
            }
            // dW[O, K] += dYᵗ[O, N·P] · col[K, N·P]ᵀ
            col.withUnsafeBufferPointer { cb in
                weight.gradient.withUnsafeMutableBufferPointer { dwb in
                    Scalar.gemmKernel(transposeA: false, transposeB: true, m: outChannels, n: kk, k: np,
                                      alpha: 1, a: tp, lda: np, b: cb.baseAddress!, ldb: np,
                                      beta: 1, c: dwb.baseAddress!, ldc: kk, threads: Parallel.threadCount)
                }
            }
            if !computesInputGradient { return }
            // dcol[K, N·P] = W[O, K]ᵀ · dYᵗ[O, N·P]
            resizeUninitialized(&gradCol, kk * np)
            weight.value.withUnsafeBufferPointer { wb in
                gradCol.withUnsafeMutableBufferPointer { gcb in
                    Scalar.gemmKernel(transposeA: true, transposeB: false, m: kk, n: np, k: outChannels,
                                      alpha: 1, a: wb.baseAddress!, lda: kk, b: tp, ldb: np,
                                      beta: 0, c: gcb.baseAddress!, ldc: np, threads: Parallel.threadCount)
                }
            }
        }
        if !computesInputGradient { return dx }
        // dx ← col2im(dcol), parallel over samples
        let spec = ConvSpec(kh: kernelSize.height, kw: kernelSize.width, sh: stride.height, sw: stride.width,
                            ph: padding.height, pw: padding.width)
        gradCol.withUnsafeBufferPointer { gcb in
            dx.withUnsafeMutableBufferPointer { dxb in
                let gp = gcb.baseAddress!, dp = dxb.baseAddress!
                forEachSampleChunk(g.n) { range in
                    col2im(gp, dp, samples: range, batch: g.n, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, spec: spec)
                }
            }
        }
        return dx
    }
}

// MARK: - Kernels

struct ConvSpec { var kh, kw, sh, sw, ph, pw: Int }

/// Makes `a.count == count` without initializing new storage when it must grow.
func resizeUninitialized<T: TensorScalar>(_ a: inout [T], _ count: Int) {
    if a.count == count { return }
    a = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
}

/// Runs `body` over contiguous sample ranges covering 0..<n, in parallel. Callers only write
/// per-sample outputs, so the result does not depend on the split.
func forEachSampleChunk(_ n: Int, _ body: (Range<Int>) -> Void) {
    let threads = Parallel.threadCount
    let chunks = min(n, threads == 1 ? 1 : threads * 4)
    guard chunks > 0 else { return }
    Parallel.forEach(chunks: chunks, threads: threads) { i in
        body((i * n / chunks)..<((i + 1) * n / chunks))
    }
}

/// The output columns j ∈ [lo, hi) whose input column j·s − p + v lies in [0, w).
@inline(__always)
func validRange(out: Int, stride s: Int, pad p: Int, offset v: Int, extent w: Int) -> (Int, Int) {
    // j·s − p + v ≥ 0  ⇔  j ≥ ⌈(p − v)/s⌉;   j·s − p + v ≤ w − 1  ⇔  j ≤ ⌊(w − 1 + p − v)/s⌋
    let a = p - v
    let lo = a <= 0 ? 0 : (a + s - 1) / s
    let b = w - 1 + p - v
    let hi = b < 0 ? 0 : Swift.min(out, b / s + 1)
    return (Swift.min(lo, hi), hi)
}

/// Samples handled together by im2col/col2im: for each column-matrix row, the block's runs are
/// contiguous in `col` while its input planes stay in cache.
let im2colSampleBlock = 8

/// col[(c, u, v), n·P + i·OW + j] = x[n, c, i·s_h − p_h + u, j·s_w − p_w + v] (0 outside), for n in
/// `samples`; col has row stride N·P (`batch` = N).
@inline(never)
func im2colKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int,
                             c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    let p = oh * ow, rowStride = batch * p, sw = spec.sw
    var n0 = samples.lowerBound
    while n0 < samples.upperBound {
        let n1 = Swift.min(n0 + im2colSampleBlock, samples.upperBound)
        for ci in 0..<c {
            for u in 0..<spec.kh {
                for v in 0..<spec.kw {
                    let r = (ci * spec.kh + u) * spec.kw + v
                    let (jlo, jhi) = validRange(out: ow, stride: sw, pad: spec.pw, offset: v, extent: w)
                    for n in n0..<n1 {
                        let plane = x + (n * c + ci) * h * w
                        let dst = col + r * rowStride + n * p
                        for i in 0..<oh {
                            let d = dst + i * ow
                            let ih = i * spec.sh - spec.ph + u
                            if ih < 0 || ih >= h {
                                for j in 0..<ow { d[j] = 0 }
                                continue
                            }
                            let src = plane + (ih * w - spec.pw + v)
                            for j in 0..<jlo { d[j] = 0 }
                            if sw == 1 {
                                for j in jlo..<jhi { d[j] = src[j] }
                            } else {
                                for j in jlo..<jhi { d[j] = src[j &* sw] }
                            }
                            for j in jhi..<ow { d[j] = 0 }
                        }
                    }
                }
            }
        }
        n0 = n1
    }
}

/// dx[n, c, ih, iw] = Σ over (u, v, i, j) mapping to (ih, iw) of dcol[(c, u, v), n·P + i·OW + j], for n in
/// `samples` (dx must be zero on entry; each element sums its terms in a fixed order).
@inline(never)
func col2imKernel<T: TensorScalar>(_ col: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, samples: Range<Int>, batch: Int,
                             c: Int, h: Int, w: Int, oh: Int, ow: Int, spec: ConvSpec) {
    let p = oh * ow, rowStride = batch * p, sw = spec.sw
    var n0 = samples.lowerBound
    while n0 < samples.upperBound {
        let n1 = Swift.min(n0 + im2colSampleBlock, samples.upperBound)
        for ci in 0..<c {
            for u in 0..<spec.kh {
                for v in 0..<spec.kw {
                    let r = (ci * spec.kh + u) * spec.kw + v
                    let (jlo, jhi) = validRange(out: ow, stride: sw, pad: spec.pw, offset: v, extent: w)
                    if jlo >= jhi { continue }
                    for n in n0..<n1 {
                        let plane = dx + (n * c + ci) * h * w
                        let srcRow = col + r * rowStride + n * p
                        for i in 0..<oh {
                            let ih = i * spec.sh - spec.ph + u
                            if ih < 0 || ih >= h { continue }
                            let s = srcRow + i * ow
                            let d = plane + (ih * w - spec.pw + v)
                            if sw == 1 {
                                for j in jlo..<jhi { d[j] += s[j] }
                            } else {
                                for j in jlo..<jhi { d[j &* sw] += s[j] }
                            }
                        }
                    }
                }
            }
        }
        n0 = n1
    }
}

/// Moves contiguous runs of `plane` values between the sample-major layout [N, O, P] and the
/// channel-major layout [O, N·P] for the samples in `samples`. With `toSampleMajor`, `from` is
/// [O, N·P], `to` is [N, O, P] and `bias[o]` (if any) is added.
@inline(never)
func permuteBlocksKernel<T: TensorScalar>(from: UnsafePointer<T>, to: UnsafeMutablePointer<T>, samples: Range<Int>,
                                    channels: Int, batch: Int, plane: Int, toSampleMajor: Bool,
                                    bias: UnsafePointer<T>?) {
    for n in samples {
        for o in 0..<channels {
            let channelMajor = o * batch * plane + n * plane
            let sampleMajor = (n * channels + o) * plane
            if toSampleMajor {
                let s = from + channelMajor, d = to + sampleMajor
                if let b = bias {
                    let bo = b[o]
                    for k in 0..<plane { d[k] = s[k] + bo }
                } else {
                    for k in 0..<plane { d[k] = s[k] }
                }
            } else {
                let s = from + sampleMajor, d = to + channelMajor
                for k in 0..<plane { d[k] = s[k] }
            }
        }
    }
}

/// out[r] += Σ_j src[r, j] for a `[rows, columns]` matrix.
@inline(never)
func accumulateRowSumsKernel<T: TensorScalar>(_ src: UnsafePointer<T>, rows: Int, columns: Int, into out: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        let s = src + r * columns
        var acc: T = 0
        for j in 0..<columns { acc += s[j] }
        out[r] += acc
    }
}
