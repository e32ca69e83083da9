import FeatureLensNumerics

/// 2-D convolution (cross-correlation, as PyTorch `nn.Conv2d`, groups = 1, dilation = 1) on
/// NCHW images:
///
///     y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·s_h − p_h + u, j·s_w − p_w + v]
///
/// x: `[N, C, H, W]`, W: `[O, C, K_h, K_w]`, b: `[O]`, y: `[N, O, H_out, W_out]` with
/// H_out = ⌊(H + 2p_h − K_h)/s_h⌋ + 1 (likewise W_out); out-of-range x are zeros (padding).
///
/// Implementation: im2col + GEMM, a chunk of samples at a time. With P = H_out·W_out and
/// K = C·K_h·K_w, a chunk of m samples has the column matrix `col` `[K, m·P]` (row (c, u, v),
/// column (n, i, j)), and
///
///     forward:  Yᵗ[O, m·P] = W[O, K] · col[K, m·P],   y[n, o, :] = Yᵗ[o, n·P ..< (n+1)·P] + b[o]
///     backward: dYᵗ[O, m·P] from dy;  dW_chunk[O, K] = dYᵗ · colᵀ;  db_chunk[o] = Σ dYᵗ[o, :]
///               dcol[K, m·P] = Wᵀ · dYᵗ;  dx = col2im(dcol)
///
/// then dW += dW_chunk and db += db_chunk for the chunks in order. The chunk holds about 1 MiB
/// of `col` (`chunkElements`), so the column matrix never leaves the cache: the whole-batch
/// matrix (58 MB for the second ConvNet layer at batch 1024) made every step stream it from
/// memory five times. The backward pass recomputes `col` from the cached input instead of
/// keeping it. Chunks run in parallel, each on one thread with its own workspace; the chunk
/// size depends only on K, P and the batch, so results do not depend on the thread count.
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

    private var workspaces: [ChunkWorkspace] = []
    private var cachedInput: Tensor<Scalar>?
    private var weightGradientChunks: [Scalar] = []  // [chunks, O, K]
    private var biasGradientChunks: [Scalar] = []    // [chunks, O]
    private var cachedGeometry: Geometry?

    /// One worker's scratch: the column matrix, Yᵗ or dYᵗ, and dcol of one chunk.
    final class ChunkWorkspace {
        var col: [Scalar] = []         // [K, m·P]
        var transposed: [Scalar] = []  // [O, m·P]
        var gradCol: [Scalar] = []     // [K, m·P]
        var table: [Int32] = []        // im2col/col2im gather offsets for `tableKey`
        var tableKey: [Int] = []

        /// The gather table for chunks of `samples` samples of geometry `g` (Float with AVX-512
        /// only; otherwise nil), rebuilt only when the chunk shape changes.
        func gatherTable(samples: Int, _ g: Geometry, _ s: ConvSpec) -> [Int32]? {
            guard Scalar.self == Float.self else { return nil }
            let key = [samples, g.c, g.h, g.w, g.oh, g.ow, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw]
            if key == tableKey { return table }
            guard let t = convGatherTable(samples: samples, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, spec: s) else { return nil }
            table = t
            tableKey = key
            return t
        }
    }

    /// Elements of `col` per chunk (1 MiB): with the packed GEMM panels it stays in the 2 MiB L2
    /// (measured: 2 MiB chunks made the epoch ~10 % slower, 256 KiB–1 MiB were alike).
    static var chunkElements: Int { (1 << 20) / MemoryLayout<Scalar>.stride }

    /// How a batch of `n` samples is cut: `samples` per chunk (the last may be shorter), `count`
    /// chunks, `workers` threads over chunks, `gemmThreads` threads inside each chunk's GEMMs
    /// (more than one only when there are fewer chunks than threads).
    struct ChunkPlan {
        var samples, count, workers, gemmThreads: Int
    }

    func chunkPlan(n: Int, k: Int, p: Int) -> ChunkPlan {
        let perSample = Swift.max(1, Swift.max(k, outChannels) * p)
        let samples = Swift.max(1, Swift.min(n, Self.chunkElements / perSample))
        let count = (n + samples - 1) / samples
        let threads = Swift.max(1, Parallel.threadCount)
        let workers = Swift.max(1, Swift.min(threads, count))
        return ChunkPlan(samples: samples, count: count, workers: workers, gemmThreads: Swift.max(1, threads / workers))
    }

    /// Runs `body(chunk, workspace)` for every chunk, on `plan.workers` threads taking chunks in turn.
    private func forEachChunk(_ plan: ChunkPlan, _ body: (Int, ChunkWorkspace) -> Void) {
        while workspaces.count < plan.workers { workspaces.append(ChunkWorkspace()) }
        let ws = workspaces
        Parallel.forEachJob(plan.count, workers: plan.workers) { chunk, worker in body(chunk, ws[worker]) }
    }

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
        cachedInput = input
        var y: Tensor<Scalar> = uninitializedTensor(outShape)  // every element written below
        if g.n * g.p == 0 { return y }
        let kk = inChannels * kernelSize.height * kernelSize.width
        let plan = chunkPlan(n: g.n, k: kk, p: g.p)
        let spec = spec
        let o = outChannels, inSample = g.c * g.h * g.w, outSample = o * g.p
        let biasValues = bias?.value.scalars ?? [Scalar](repeating: 0, count: o)
        input.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                weight.value.withUnsafeBufferPointer { wb in
                    biasValues.withUnsafeBufferPointer { bb in
                        let xp = xb.baseAddress!, yp = yb.baseAddress!, wp = wb.baseAddress!, bp = bb.baseAddress!
                        forEachChunk(plan) { chunk, ws in
                            let n0 = chunk * plan.samples, m = Swift.min(plan.samples, g.n - n0), cols = m * g.p
                            growUninitialized(&ws.col, kk * plan.samples * g.p)
                            growUninitialized(&ws.transposed, o * plan.samples * g.p)
                            let table = ws.gatherTable(samples: m, g, spec)
                            ws.col.withUnsafeMutableBufferPointer { cb in
                                ws.transposed.withUnsafeMutableBufferPointer { tb in
                                    let cp = cb.baseAddress!, tp = tb.baseAddress!
                                    // col[K, m·P] ← im2col(x[n0 ..< n0+m])
                                    withTable(table) { tab in
                                        im2col(xp + n0 * inSample, cp, samples: 0..<m, batch: m, c: g.c, h: g.h, w: g.w,
                                               oh: g.oh, ow: g.ow, spec: spec, table: tab)
                                    }
                                    // Yᵗ[O, m·P] = W[O, K] · col[K, m·P]
                                    Scalar.gemmKernel(transposeA: false, transposeB: false, m: o, n: cols, k: kk,
                                                      alpha: 1, a: wp, lda: kk, b: cp, ldb: cols,
                                                      beta: 0, c: tp, ldc: cols, threads: plan.gemmThreads)
                                    // y[n, o, :] = Yᵗ[o, n·P ..< (n+1)·P] + b[o]
                                    permuteBlocks(from: tp, to: yp + n0 * outSample, samples: 0..<m, channels: o,
                                                  batch: m, plane: g.p, toSampleMajor: true, bias: bp)
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ gradOutput: Tensor<Scalar>) -> Tensor<Scalar> {
        guard let g = cachedGeometry, let x = cachedInput else { preconditionFailure("Conv2D.backward called before forward") }
        let o = outChannels
        let expected = [g.n, o, g.oh, g.ow]
        precondition(gradOutput.shape == expected, "Conv2D.backward: gradient shape \(gradOutput.shape), expected \(expected)")
        let inputShape = [g.n, g.c, g.h, g.w]
        if g.n * g.p == 0 { return zerosTensor(inputShape) }
        let kk = inChannels * kernelSize.height * kernelSize.width
        let plan = chunkPlan(n: g.n, k: kk, p: g.p)
        let spec = spec
        let inSample = g.c * g.h * g.w, outSample = o * g.p
        let needsInput = computesInputGradient, hasBias = bias != nil
        // Every element of dx is zeroed (per chunk, below) before col2im adds into it.
        var dx: Tensor<Scalar> = needsInput ? uninitializedTensor(inputShape) : zerosTensor(inputShape)
        growUninitialized(&weightGradientChunks, plan.count * o * kk)
        growUninitialized(&biasGradientChunks, plan.count * o)
        x.withUnsafeBufferPointer { xb in
            gradOutput.withUnsafeBufferPointer { gb in
                dx.withUnsafeMutableBufferPointer { dxb in
                    weight.value.withUnsafeBufferPointer { wb in
                        weightGradientChunks.withUnsafeMutableBufferPointer { dwcb in
                            biasGradientChunks.withUnsafeMutableBufferPointer { dbcb in
                                let xp = xb.baseAddress!, gp = gb.baseAddress!, wp = wb.baseAddress!
                                let dxp = dxb.baseAddress!, dwc = dwcb.baseAddress!, dbc = dbcb.baseAddress!
                                forEachChunk(plan) { chunk, ws in
                                    let n0 = chunk * plan.samples, m = Swift.min(plan.samples, g.n - n0), cols = m * g.p
                                    growUninitialized(&ws.col, kk * plan.samples * g.p)
                                    growUninitialized(&ws.transposed, o * plan.samples * g.p)
                                    if needsInput { growUninitialized(&ws.gradCol, kk * plan.samples * g.p) }
                                    let table = ws.gatherTable(samples: m, g, spec)
                                    ws.col.withUnsafeMutableBufferPointer { cb in
                                        ws.transposed.withUnsafeMutableBufferPointer { tb in
                                            let cp = cb.baseAddress!, tp = tb.baseAddress!
                                            // dYᵗ[O, m·P] ← dy[n0 ..< n0+m]
                                            permuteBlocks(from: gp + n0 * outSample, to: tp, samples: 0..<m, channels: o,
                                                          batch: m, plane: g.p, toSampleMajor: false, bias: nil)
                                            // db_chunk[o] = Σ dYᵗ[o, :]
                                            if hasBias {
                                                let dbp = dbc + chunk * o
                                                zeroFill(dbp, count: o)
                                                accumulateRowSums(tp, rows: o, columns: cols, into: dbp)
                                            }
                                            // dW_chunk[O, K] = dYᵗ[O, m·P] · col[K, m·P]ᵀ, col recomputed from x
                                            withTable(table) { tab in
                                                im2col(xp + n0 * inSample, cp, samples: 0..<m, batch: m, c: g.c, h: g.h,
                                                       w: g.w, oh: g.oh, ow: g.ow, spec: spec, table: tab)
                                            }
                                            Scalar.gemmKernel(transposeA: false, transposeB: true, m: o, n: kk, k: cols,
                                                              alpha: 1, a: tp, lda: cols, b: cp, ldb: cols,
                                                              beta: 0, c: dwc + chunk * o * kk, ldc: kk,
                                                              threads: plan.gemmThreads)
                                            guard needsInput else { return }
                                            // dcol[K, m·P] = W[O, K]ᵀ · dYᵗ[O, m·P];  dx[n0 ..< n0+m] = col2im(dcol)
                                            ws.gradCol.withUnsafeMutableBufferPointer { gcb in
                                                let gcp = gcb.baseAddress!
                                                Scalar.gemmKernel(transposeA: true, transposeB: false, m: kk, n: cols, k: o,
                                                                  alpha: 1, a: wp, lda: kk, b: tp, ldb: cols,
                                                                  beta: 0, c: gcp, ldc: cols, threads: plan.gemmThreads)
                                                let dxChunk = dxp + n0 * inSample
                                                zeroFill(dxChunk, count: m * inSample)
                                                withTable(table) { tab in
                                                    col2im(gcp, dxChunk, samples: 0..<m, batch: m, c: g.c, h: g.h, w: g.w,
                                                           oh: g.oh, ow: g.ow, spec: spec, table: tab)
                                                }
                                            }
                                        }
                                    }
                                }
                                // dW += dW_chunk, db += db_chunk, chunks in order.
                                weight.gradient.withUnsafeMutableBufferPointer { dwb in
                                    accumulateColumnSums(dwc, rows: plan.count, columns: o * kk, into: dwb.baseAddress!)
                                }
                                if let b = bias {
                                    b.gradient.withUnsafeMutableBufferPointer { dbb in
                                        accumulateColumnSums(dbc, rows: plan.count, columns: o, into: dbb.baseAddress!)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    private var spec: ConvSpec {
        ConvSpec(kh: kernelSize.height, kw: kernelSize.width, sh: stride.height, sw: stride.width,
                 ph: padding.height, pw: padding.width)
    }
}
