// The compute of a 2-D convolution layer, im2col + GEMM a chunk of samples at a time (the
// algorithm and its chunking are described at `Conv2D` in FeatureLensNN), or Winograd
// F(2×2, 3×3) for 3×3 stride-1 padding-1 layers (`WinogradConvolution`, to which it hands the
// passes). The layer owns the parameters; this engine owns the scratch memory and the cached
// input, and runs the kernels of LayerKernels.swift and the GEMM micro-kernels on raw storage.

/// How a convolution is computed: im2col + GEMM (any geometry), or Winograd F(2×2, 3×3)
/// (3×3 kernels, stride 1, padding 1; `WinogradConvolution`).
package enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    case im2col, winograd
}

/// Forward and backward passes of `[N, C, H, W]` → `[N, O, H_out, W_out]` convolutions with a
/// fixed geometry (channels, kernel, stride, padding), reusing per-thread workspaces between calls.
/// Results do not depend on the thread count.
package final class ConvolutionEngine<Scalar: TensorScalar> {
    /// C.
    package let inChannels: Int
    /// O.
    package let outChannels: Int
    /// Kernel extent, stride and padding.
    package let spec: ConvSpec
    /// The algorithm of `forward` and `backward`.
    package let algorithm: ConvolutionAlgorithm
    private let winograd: WinogradConvolution<Scalar>?
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
    package struct ChunkPlan {
        package var samples, count, workers, gemmThreads: Int
    }

    /// Columns (positions m·P) a chunk holds at least, when the batch has them: a deep layer with
    /// small planes (ResNet-18's last stage: K = 4 608, P = 16) would otherwise fit 3 samples in
    /// `chunkElements`, giving GEMMs of depth 48 and one O × K weight-gradient partial (9.4 MB)
    /// written and summed per 3 samples. 256 is the GEMM's K block.
    static var minimumChunkColumns: Int { 256 }

    package func chunkPlan(n: Int, k: Int, p: Int) -> ChunkPlan {
        let perSample = Swift.max(1, Swift.max(k, outChannels) * p)
        let bySize = Self.chunkElements / perSample
        let byColumns = (Self.minimumChunkColumns + Swift.max(1, p) - 1) / Swift.max(1, p)
        let samples = Swift.max(1, Swift.min(n, Swift.max(bySize, byColumns)))
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

    /// `body` with the storage of `tensor`, or nil.
    private func withOptionalBuffer<R>(_ tensor: Tensor<Scalar>?, _ body: (UnsafePointer<Scalar>?) -> R) -> R {
        guard let tensor else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
    }

    struct Geometry {
        var n, c, h, w, oh, ow: Int
        var p: Int { oh * ow }
    }

    /// Whether Winograd F(2×2, 3×3) applies: a 3×3 kernel with stride 1 and padding 1.
    package static func supportsWinograd(_ spec: ConvSpec) -> Bool {
        spec.kh == 3 && spec.kw == 3 && spec.sh == 1 && spec.sw == 1 && spec.ph == 1 && spec.pw == 1
    }

    /// Fewest input and output channels for which Winograd is the default: its 16 GEMMs have
    /// depth C (forward) and O (input gradient) and write 16·O values per tile, so with few
    /// channels they are bound by memory, not by multiplications. Measured (forward + backward,
    /// 28×28 planes, batch 256, 2 threads, Winograd time / im2col time): 2.7 for a grey stem
    /// (C = 1, O = 64), 1.03 at C = O = 4, 0.72 at 8, 0.62 at 16, 0.61 at 32, 0.50 at 64.
    package static var winogradMinimumChannels: Int { 8 }

    /// The algorithm chosen when none is given: Winograd for a 3×3 kernel with stride 1 and
    /// padding 1 and at least `winogradMinimumChannels` input and output channels, else im2col.
    package static func defaultAlgorithm(inChannels: Int, outChannels: Int, spec: ConvSpec) -> ConvolutionAlgorithm {
        supportsWinograd(spec) && Swift.min(inChannels, outChannels) >= winogradMinimumChannels ? .winograd : .im2col
    }

    /// An engine for `inChannels` → `outChannels` channels with window `spec`, computing with
    /// `algorithm` (nil: `defaultAlgorithm`). Winograd requires `supportsWinograd(spec)`.
    package init(inChannels: Int, outChannels: Int, spec: ConvSpec, algorithm: ConvolutionAlgorithm? = nil) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.spec = spec
        let chosen = algorithm ?? Self.defaultAlgorithm(inChannels: inChannels, outChannels: outChannels, spec: spec)
        precondition(chosen == .im2col || Self.supportsWinograd(spec),
                     "Winograd F(2×2, 3×3) needs a 3×3 kernel, stride 1 and padding 1; got \(spec)")
        self.algorithm = chosen
        winograd = chosen == .winograd ? WinogradConvolution(inChannels: inChannels, outChannels: outChannels) : nil
    }

    /// y `outputShape` (`[N, O, H_out, W_out]`) of `input` `[N, C, H, W]` with weights W
    /// `[O, C, K_h, K_w]` and bias b `[O]` (nil: none), followed by ReLU when `relu` (applied
    /// as the output is written, the same bits as a separate ReLU); caches `input` for `backward`.
    package func forward(_ input: Tensor<Scalar>, outputShape outShape: [Int], weight: Tensor<Scalar>,
                         bias: Tensor<Scalar>?, relu: Bool = false) -> Tensor<Scalar> {
        if let winograd { return winograd.forward(input, weight: weight, bias: bias, relu: relu) }
        let g = Geometry(n: input.shape[0], c: inChannels, h: input.shape[2], w: input.shape[3],
                         oh: outShape[2], ow: outShape[3])
        cachedGeometry = g
        cachedInput = input
        var y: Tensor<Scalar> = uninitializedTensor(outShape)  // every element written below
        if g.n * g.p == 0 { return y }
        let kk = inChannels * spec.kh * spec.kw
        let plan = chunkPlan(n: g.n, k: kk, p: g.p)
        let o = outChannels, inSample = g.c * g.h * g.w, outSample = o * g.p
        let biasValues = bias?.scalars ?? [Scalar](repeating: 0, count: o)
        input.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                weight.withUnsafeBufferPointer { wb in
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
                                                  batch: m, plane: g.p, toSampleMajor: true, bias: bp, relu: relu)
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Given dy (`[N, O, H_out, W_out]`, the last forward's output shape): adds dW to
    /// `weightGradient` (`[O, C, K_h, K_w]`) and, when `hasBias`, db to `biasGradient` (`[O]`);
    /// returns dx (`[N, C, H, W]`), zeros when `computesInputGradient` is false. With
    /// `reluOutput` (the output of a forward with `relu`), dy is the gradient after the fused
    /// ReLU and its backward (dy where the output > 0, else 0) is applied first.
    package func backward(_ gradOutput: Tensor<Scalar>, weight: Tensor<Scalar>, weightGradient: inout Tensor<Scalar>,
                          biasGradient: inout Tensor<Scalar>, hasBias: Bool, computesInputGradient: Bool,
                          reluOutput: Tensor<Scalar>? = nil) -> Tensor<Scalar> {
        if let winograd {
            return winograd.backward(gradOutput, weight: weight, weightGradient: &weightGradient,
                                     biasGradient: &biasGradient, hasBias: hasBias,
                                     computesInputGradient: computesInputGradient, reluOutput: reluOutput)
        }
        guard let g = cachedGeometry, let x = cachedInput else { preconditionFailure("Conv2D.backward called before forward") }
        let o = outChannels
        let expected = [g.n, o, g.oh, g.ow]
        precondition(gradOutput.shape == expected, "Conv2D.backward: gradient shape \(gradOutput.shape), expected \(expected)")
        let inputShape = [g.n, g.c, g.h, g.w]
        if g.n * g.p == 0 { return zerosTensor(inputShape) }
        let kk = inChannels * spec.kh * spec.kw
        let plan = chunkPlan(n: g.n, k: kk, p: g.p)
        let inSample = g.c * g.h * g.w, outSample = o * g.p
        let needsInput = computesInputGradient
        // Every element of dx is written (per chunk, below) by col2imAssigning.
        var dx: Tensor<Scalar> = needsInput ? uninitializedTensor(inputShape) : zerosTensor(inputShape)
        growUninitialized(&weightGradientChunks, plan.count * o * kk)
        growUninitialized(&biasGradientChunks, plan.count * o)
        if let y = reluOutput {
            precondition(y.shape == expected, "Conv2D.backward: ReLU output shape \(y.shape), expected \(expected)")
        }
        withOptionalBuffer(reluOutput) { yp in
            x.withUnsafeBufferPointer { xb in
                gradOutput.withUnsafeBufferPointer { gb in
                    dx.withUnsafeMutableBufferPointer { dxb in
                        weight.withUnsafeBufferPointer { wb in
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
                                                // dYᵗ[O, m·P] ← dy[n0 ..< n0+m] (· 1[y > 0] with a fused ReLU)
                                                permuteBlocks(from: gp + n0 * outSample, to: tp, samples: 0..<m, channels: o,
                                                              batch: m, plane: g.p, toSampleMajor: false, bias: nil,
                                                              reluOutput: yp.map { $0 + n0 * outSample })
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
                                                if !smallWeightGradient(tp, cp, o: o, k: kk, l: cols, into: dwc + chunk * o * kk) {
                                                    Scalar.gemmKernel(transposeA: false, transposeB: true, m: o, n: kk, k: cols,
                                                                      alpha: 1, a: tp, lda: cols, b: cp, ldb: cols,
                                                                      beta: 0, c: dwc + chunk * o * kk, ldc: kk,
                                                                      threads: plan.gemmThreads)
                                                }
                                                guard needsInput else { return }
                                                // dcol[K, m·P] = W[O, K]ᵀ · dYᵗ[O, m·P];  dx[n0 ..< n0+m] = col2im(dcol)
                                                ws.gradCol.withUnsafeMutableBufferPointer { gcb in
                                                    let gcp = gcb.baseAddress!
                                                    Scalar.gemmKernel(transposeA: true, transposeB: false, m: kk, n: cols, k: o,
                                                                      alpha: 1, a: wp, lda: kk, b: tp, ldb: cols,
                                                                      beta: 0, c: gcp, ldc: cols, threads: plan.gemmThreads)
                                                    withTable(table) { tab in
                                                        col2imAssigning(gcp, dxp + n0 * inSample, samples: 0..<m, batch: m, c: g.c,
                                                                        h: g.h, w: g.w, oh: g.oh, ow: g.ow, spec: spec, table: tab)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    // dW += dW_chunk, db += db_chunk, chunks in order.
                                    weightGradient.withUnsafeMutableBufferPointer { dwb in
                                        accumulateColumnSums(dwc, rows: plan.count, columns: o * kk, into: dwb.baseAddress!)
                                    }
                                    if hasBias {
                                        biasGradient.withUnsafeMutableBufferPointer { dbb in
                                            accumulateColumnSums(dbc, rows: plan.count, columns: o, into: dbb.baseAddress!)
                                        }
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
}
