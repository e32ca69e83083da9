import CFeatureLensKernels

// Winograd F(2×2, 3×3) convolution for 3×3 kernels with stride 1 and padding 1 (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, section 4): the forward pass,
// its exact adjoint for dx and the weight gradient, a chunk of samples at a time. The
// algorithm, the chunking and the measured error are described in docs/NUMERICS.md
// ("Winograd convolution").

/// The 1-D transforms of F(2, 3), with the matrices
///
///     Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///     Aᵀ = [1 1 1 0; 0 1 −1 −1],
///
/// applied to 4×4 tiles along rows and then columns (the input adjoint: columns, then rows).
/// The portable versions of the AVX2 kernels of `winograd.c` perform the same operations in the
/// same order, so both give the same bits.
package enum WinogradTransforms {
    /// Tiles per plane: ⌈h/2⌉ × ⌈w/2⌉.
    @inlinable package static func tiles(h: Int, w: Int) -> (th: Int, tw: Int) { ((h + 1) / 2, (w + 1) / 2) }

    /// u[ξ, o, c] = (G g Gᵀ)[ξ] for every filter g = weight[o, c] (`[O, C, 3, 3]`; u: `[16, O, C]`).
    @inline(__always)
    package static func filters<T: TensorScalar>(_ weight: UnsafePointer<T>, o: Int, c: Int, into u: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            filtersKernel(weight.reinterpreted(Float.self), o: o, c: c, into: u.reinterpreted(Float.self))
        } else if T.self == Double.self {
            filtersKernel(weight.reinterpreted(Double.self), o: o, c: c, into: u.reinterpreted(Double.self))
        } else {
            filtersKernel(weight, o: o, c: c, into: u)
        }
    }

    private static func filtersKernel<T: TensorScalar>(_ weight: UnsafePointer<T>, o: Int, c: Int, into u: UnsafeMutablePointer<T>) {
        let half = T(0.5), stride = o * c
        var t = [T](repeating: 0, count: 12)  // G g: [4, 3]
        for oc in 0..<o {
            for ci in 0..<c {
                let g = weight + (oc * c + ci) * 9
                for v in 0..<3 {
                    let g0 = g[v], g1 = g[3 + v], g2 = g[6 + v]
                    t[v] = g0
                    t[3 + v] = ((g0 + g1) + g2) * half
                    t[6 + v] = ((g0 - g1) + g2) * half
                    t[9 + v] = g2
                }
                let out = u + oc * c + ci
                for i in 0..<4 {
                    let t0 = t[3 * i], t1 = t[3 * i + 1], t2 = t[3 * i + 2]
                    out[(4 * i) * stride] = t0
                    out[(4 * i + 1) * stride] = ((t0 + t1) + t2) * half
                    out[(4 * i + 2) * stride] = ((t0 - t1) + t2) * half
                    out[(4 * i + 3) * stride] = t2
                }
            }
        }
    }

    /// weightGradient[o, c] += Gᵀ du[·, o, c] G (du: `[16, O, C]`, weightGradient: `[O, C, 3, 3]`):
    /// the adjoint of `filters`.
    @inline(__always)
    package static func addFilterAdjoint<T: TensorScalar>(_ du: UnsafePointer<T>, o: Int, c: Int,
                                                          into weightGradient: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            addFilterAdjointKernel(du.reinterpreted(Float.self), o: o, c: c, into: weightGradient.reinterpreted(Float.self))
        } else if T.self == Double.self {
            addFilterAdjointKernel(du.reinterpreted(Double.self), o: o, c: c, into: weightGradient.reinterpreted(Double.self))
        } else {
            addFilterAdjointKernel(du, o: o, c: c, into: weightGradient)
        }
    }

    private static func addFilterAdjointKernel<T: TensorScalar>(_ du: UnsafePointer<T>, o: Int, c: Int,
                                                                into weightGradient: UnsafeMutablePointer<T>) {
        let half = T(0.5), stride = o * c
        var e = [T](repeating: 0, count: 12)  // Gᵀ dU: [3, 4]
        for oc in 0..<o {
            for ci in 0..<c {
                let src = du + oc * c + ci
                for j in 0..<4 {
                    let d0 = src[j * stride], d1 = src[(4 + j) * stride], d2 = src[(8 + j) * stride], d3 = src[(12 + j) * stride]
                    e[j] = d0 + (d1 + d2) * half
                    e[4 + j] = (d1 - d2) * half
                    e[8 + j] = (d1 + d2) * half + d3
                }
                let dw = weightGradient + (oc * c + ci) * 9
                for u in 0..<3 {
                    let e0 = e[4 * u], e1 = e[4 * u + 1], e2 = e[4 * u + 2], e3 = e[4 * u + 3]
                    dw[3 * u] += e0 + (e1 + e2) * half
                    dw[3 * u + 1] += (e1 - e2) * half
                    dw[3 * u + 2] += (e1 + e2) * half + e3
                }
            }
        }
    }

    /// v[ξ, ci, t] = (Bᵀ d B)[ξ] of the 4×4 input window of tile t (x: `[m, c, h, w]`; v: `[16, c, T]`,
    /// T = m·th·tw; see FeatureLensWinograd.h for the tile geometry).
    package static func input<T: TensorScalar>(_ x: UnsafePointer<T>, m: Int, c: Int, h: Int, w: Int,
                                               into v: UnsafeMutablePointer<T>) {
        if T.self == Float.self,
           fl_winograd_input_f32(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), m, c, h, w,
                                 UnsafeMutableRawPointer(v).assumingMemoryBound(to: Float.self)) == 1 { return }
        inputPortable(x, m: m, c: c, h: h, w: w, into: v)
    }

    /// The portable version of `input`.
    package static func inputPortable<T: TensorScalar>(_ x: UnsafePointer<T>, m: Int, c: Int, h: Int, w: Int,
                                                       into v: UnsafeMutablePointer<T>) {
        let (th, tw) = tiles(h: h, w: w), perSample = th * tw, total = m * perSample, xs = c * total
        var d = [T](repeating: 0, count: 16), t = [T](repeating: 0, count: 16)
        for n in 0..<m {
            for ci in 0..<c {
                let plane = x + (n * c + ci) * h * w
                for ty in 0..<th {
                    for tx in 0..<tw {
                        for i in 0..<4 {
                            let r = 2 * ty - 1 + i
                            for k in 0..<4 {
                                let col = 2 * tx - 1 + k
                                d[4 * i + k] = r >= 0 && r < h && col >= 0 && col < w ? plane[r * w + col] : 0
                            }
                        }
                        for k in 0..<4 {
                            t[k] = d[k] - d[8 + k]
                            t[4 + k] = d[4 + k] + d[8 + k]
                            t[8 + k] = d[8 + k] - d[4 + k]
                            t[12 + k] = d[4 + k] - d[12 + k]
                        }
                        let out = v + ci * total + n * perSample + ty * tw + tx
                        for i in 0..<4 {
                            out[(4 * i) * xs] = t[4 * i] - t[4 * i + 2]
                            out[(4 * i + 1) * xs] = t[4 * i + 1] + t[4 * i + 2]
                            out[(4 * i + 2) * xs] = t[4 * i + 2] - t[4 * i + 1]
                            out[(4 * i + 3) * xs] = t[4 * i + 1] - t[4 * i + 3]
                        }
                    }
                }
            }
        }
    }

    /// y[n, o] = Aᵀ M A per tile (mm: `[16, o, T]`, y: `[m, o, h, w]`), + bias[o] (nil: none),
    /// then ReLU (x if x > 0 or NaN, else +0) when `relu`.
    package static func output<T: TensorScalar>(_ mm: UnsafePointer<T>, m: Int, o: Int, h: Int, w: Int,
                                                bias: UnsafePointer<T>?, relu: Bool, into y: UnsafeMutablePointer<T>) {
        if T.self == Float.self,
           fl_winograd_output_f32(UnsafeRawPointer(mm).assumingMemoryBound(to: Float.self), m, o, h, w,
                                  bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }, relu ? 1 : 0,
                                  UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)) == 1 { return }
        outputPortable(mm, m: m, o: o, h: h, w: w, bias: bias, relu: relu, into: y)
    }

    /// The portable version of `output`.
    package static func outputPortable<T: TensorScalar>(_ mm: UnsafePointer<T>, m: Int, o: Int, h: Int, w: Int,
                                                        bias: UnsafePointer<T>?, relu: Bool, into y: UnsafeMutablePointer<T>) {
        let (th, tw) = tiles(h: h, w: w), perSample = th * tw, total = m * perSample, xs = o * total
        var s = [T](repeating: 0, count: 8)
        for n in 0..<m {
            for oc in 0..<o {
                let plane = y + (n * o + oc) * h * w
                for ty in 0..<th {
                    for tx in 0..<tw {
                        let src = mm + oc * total + n * perSample + ty * tw + tx
                        for j in 0..<4 {
                            let q0 = src[j * xs], q1 = src[(4 + j) * xs], q2 = src[(8 + j) * xs], q3 = src[(12 + j) * xs]
                            s[j] = (q0 + q1) + q2
                            s[4 + j] = (q1 - q2) - q3
                        }
                        for r in 0..<2 where 2 * ty + r < h {
                            var pair = ((s[4 * r] + s[4 * r + 1]) + s[4 * r + 2], (s[4 * r + 1] - s[4 * r + 2]) - s[4 * r + 3])
                            if let bias {
                                pair.0 = pair.0 + bias[oc]
                                pair.1 = pair.1 + bias[oc]
                            }
                            if relu {
                                if !(pair.0 > 0 || pair.0.isNaN) { pair.0 = 0 }
                                if !(pair.1 > 0 || pair.1.isNaN) { pair.1 = 0 }
                            }
                            let row = plane + (2 * ty + r) * w
                            row[2 * tx] = pair.0
                            if 2 * tx + 1 < w { row[2 * tx + 1] = pair.1 }
                        }
                    }
                }
            }
        }
    }

    /// dm[ξ, o, t] = (A g Aᵀ)[ξ] of each 2×2 output tile g of dy (`[m, o, h, w]`, zeros outside
    /// the plane; g = dy where yRelu > 0, else 0, when yRelu is given); dm: `[16, o, T]`.
    package static func outputAdjoint<T: TensorScalar>(_ dy: UnsafePointer<T>, yRelu: UnsafePointer<T>?, m: Int, o: Int,
                                                       h: Int, w: Int, into dm: UnsafeMutablePointer<T>) {
        if T.self == Float.self,
           fl_winograd_output_adjoint_f32(UnsafeRawPointer(dy).assumingMemoryBound(to: Float.self),
                                          yRelu.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }, m, o, h, w,
                                          UnsafeMutableRawPointer(dm).assumingMemoryBound(to: Float.self)) == 1 { return }
        outputAdjointPortable(dy, yRelu: yRelu, m: m, o: o, h: h, w: w, into: dm)
    }

    /// The portable version of `outputAdjoint`.
    package static func outputAdjointPortable<T: TensorScalar>(_ dy: UnsafePointer<T>, yRelu: UnsafePointer<T>?, m: Int,
                                                               o: Int, h: Int, w: Int, into dm: UnsafeMutablePointer<T>) {
        let (th, tw) = tiles(h: h, w: w), perSample = th * tw, total = m * perSample, xs = o * total
        var g = [T](repeating: 0, count: 4), e = [T](repeating: 0, count: 8)
        for n in 0..<m {
            for oc in 0..<o {
                let offset = (n * o + oc) * h * w
                for ty in 0..<th {
                    for tx in 0..<tw {
                        for r in 0..<2 {
                            for p in 0..<2 {
                                let row = 2 * ty + r, col = 2 * tx + p
                                var value: T = 0
                                if row < h && col < w {
                                    let index = offset + row * w + col
                                    value = dy[index]
                                    if let yRelu, !(yRelu[index] > 0) { value = 0 }
                                }
                                g[2 * r + p] = value
                            }
                        }
                        for p in 0..<2 {
                            e[p] = g[p]
                            e[2 + p] = g[p] + g[2 + p]
                            e[4 + p] = g[p] - g[2 + p]
                            e[6 + p] = -g[2 + p]
                        }
                        let out = dm + oc * total + n * perSample + ty * tw + tx
                        for i in 0..<4 {
                            let e0 = e[2 * i], e1 = e[2 * i + 1]
                            out[(4 * i) * xs] = e0
                            out[(4 * i + 1) * xs] = e0 + e1
                            out[(4 * i + 2) * xs] = e0 - e1
                            out[(4 * i + 3) * xs] = -e1
                        }
                    }
                }
            }
        }
    }

    /// dx[n, ci] (overwritten, `[m, c, h, w]`) = Σ over the tiles whose window covers a pixel of
    /// (B dV Bᵀ) at that pixel (dv: `[16, c, T]`); per pixel, along a row the left tile's term
    /// comes first, down a column the upper tile row's. The adjoint of `input`.
    package static func inputAdjoint<T: TensorScalar>(_ dv: UnsafePointer<T>, m: Int, c: Int, h: Int, w: Int,
                                                      into dx: UnsafeMutablePointer<T>) {
        if T.self == Float.self,
           fl_winograd_input_adjoint_f32(UnsafeRawPointer(dv).assumingMemoryBound(to: Float.self), m, c, h, w,
                                         UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Float.self)) == 1 { return }
        inputAdjointPortable(dv, m: m, c: c, h: h, w: w, into: dx)
    }

    /// The portable version of `inputAdjoint`.
    package static func inputAdjointPortable<T: TensorScalar>(_ dv: UnsafePointer<T>, m: Int, c: Int, h: Int, w: Int,
                                                              into dx: UnsafeMutablePointer<T>) {
        let (th, tw) = tiles(h: h, w: w), perSample = th * tw, total = m * perSample, xs = c * total
        let hl = tw + 2, cols = 2 * tw + 2
        // hb[k, i, s + 1]: B along the columns of tile s's row i (zeros at s = −1 and s = tw);
        // g: the tile row's strip after B along its rows, [4, cols]; carry: rows 2, 3 of the
        // tile row above.
        var hb = [T](repeating: 0, count: 16 * hl)
        var g = [T](repeating: 0, count: 4 * cols), carry = [T](repeating: 0, count: 2 * cols)
        var st = [T](repeating: 0, count: 4)
        for n in 0..<m {
            for ci in 0..<c {
                let src = dv + ci * total + n * perSample
                let plane = dx + (n * c + ci) * h * w
                for index in carry.indices { carry[index] = 0 }
                for ty in 0...th {
                    if ty < th {
                        for tx in 0..<tw {
                            for i in 0..<4 {
                                let q0 = src[(4 * i) * xs + ty * tw + tx], q1 = src[(4 * i + 1) * xs + ty * tw + tx]
                                let q2 = src[(4 * i + 2) * xs + ty * tw + tx], q3 = src[(4 * i + 3) * xs + ty * tw + tx]
                                hb[(0 * 4 + i) * hl + 1 + tx] = q0
                                hb[(1 * 4 + i) * hl + 1 + tx] = (q1 - q2) + q3
                                hb[(2 * 4 + i) * hl + 1 + tx] = (q1 + q2) - q0
                                hb[(3 * 4 + i) * hl + 1 + tx] = -q3
                            }
                        }
                        for s in 0...tw {
                            for p in 0..<2 {
                                for i in 0..<4 { st[i] = hb[((2 + p) * 4 + i) * hl + s] + hb[(p * 4 + i) * hl + s + 1] }
                                let q = 2 * s + p
                                g[q] = st[0]
                                g[cols + q] = (st[1] - st[2]) + st[3]
                                g[2 * cols + q] = (st[1] + st[2]) - st[0]
                                g[3 * cols + q] = -st[3]
                            }
                        }
                    } else {
                        for index in g.indices { g[index] = 0 }
                    }
                    for r in 0..<2 {
                        let ih = 2 * ty + r - 1
                        for q in 0..<cols {
                            let value = carry[r * cols + q] + g[r * cols + q]
                            carry[r * cols + q] = g[(r + 2) * cols + q]
                            if ih >= 0 && ih < h && q >= 1 && q <= w { plane[ih * w + q - 1] = value }
                        }
                    }
                }
            }
        }
    }
}

/// Forward and backward passes of a convolution with a 3×3 kernel, stride 1 and padding 1,
/// `[N, C, H, W]` → `[N, O, H, W]`, by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray,
/// CVPR 2016). With U = G g Gᵀ per filter (`[16, O, C]`), V = Bᵀ d B per input tile and channel
/// (`[16, C, T]`), a chunk of samples with T tiles computes
///
///     forward:  M[ξ] = U[ξ] · V[ξ]  (16 GEMMs [O, C]·[C, T]),  y tile = Aᵀ M A (2×2, clipped)
///     backward: dM = A dy Aᵀ per output tile;  dU_chunk[ξ] = dM[ξ] · V[ξ]ᵀ;
///               dV[ξ] = U[ξ]ᵀ · dM[ξ];  dx = Σ_tiles B dV Bᵀ (overlapping windows, clipped)
///
/// and dW += Gᵀ (Σ_chunks dU_chunk) G. The backward pass is the exact adjoint of the forward
/// one; it recomputes V from the cached input. Weight-gradient chunks are summed into two
/// partial sums (chunks 0, 2, 4, … and 1, 3, 5, …, each in order), added at the end, and the
/// chunk size depends only on the shapes, so results do not depend on the thread count.
package final class WinogradConvolution<Scalar: TensorScalar> {
    /// C.
    package let inChannels: Int
    /// O.
    package let outChannels: Int
    private var workspaces: [Workspace] = []
    private var cachedInput: Tensor<Scalar>?
    private var transformedWeight: [Scalar] = []    // U [16, O, C]
    private var weightGradientParts: [Scalar] = []  // [partialSums, 16, O, C]
    private var biasGradientParts: [Scalar] = []    // [partialSums, O]
    private var weightGradientSum: [Scalar] = []    // dU [16, O, C]

    /// One worker's scratch: V (or dV) and M (or dM) of one chunk.
    final class Workspace {
        var v: [Scalar] = []  // [16, C, T]
        var m: [Scalar] = []  // [16, O, T]
    }

    /// The partial sums the weight gradient's chunks are split into (chunk j goes to j mod 2):
    /// one per worker on this two-core design, fixed so the bits do not depend on the thread count.
    static var partialSums: Int { 2 }

    /// Elements of V and M per chunk (16·(C + O)·T; 2 MiB of Float).
    static var chunkElements: Int { (1 << 21) / MemoryLayout<Scalar>.stride }

    /// Tiles a chunk holds at least, when the batch has them (deep layers with small planes:
    /// GEMMs of depth T in the weight gradient).
    static var minimumChunkTiles: Int { 256 }

    /// An engine for `inChannels` → `outChannels` channels.
    package init(inChannels: Int, outChannels: Int) {
        self.inChannels = inChannels
        self.outChannels = outChannels
    }

    /// How a batch of `n` samples with `h × w` planes is cut into chunks of whole samples.
    package func chunkPlan(n: Int, h: Int, w: Int) -> ConvolutionEngine<Scalar>.ChunkPlan {
        let (th, tw) = WinogradTransforms.tiles(h: h, w: w)
        let perSample = Swift.max(1, 16 * (inChannels + outChannels) * th * tw)
        let bySize = Self.chunkElements / perSample
        let byTiles = (Self.minimumChunkTiles + th * tw - 1) / Swift.max(1, th * tw)
        let samples = Swift.max(1, Swift.min(n, Swift.max(bySize, byTiles)))
        let count = (n + samples - 1) / samples
        let threads = Swift.max(1, Parallel.threadCount)
        let workers = Swift.max(1, Swift.min(threads, count))
        return .init(samples: samples, count: count, workers: workers, gemmThreads: Swift.max(1, threads / workers))
    }

    private func workspace(_ count: Int) -> [Workspace] {
        while workspaces.count < count { workspaces.append(Workspace()) }
        return workspaces
    }

    private func transformWeight(_ weight: Tensor<Scalar>) {
        let o = outChannels, c = inChannels
        growUninitialized(&transformedWeight, 16 * o * c)
        weight.withUnsafeBufferPointer { wb in
            transformedWeight.withUnsafeMutableBufferPointer { ub in
                WinogradTransforms.filters(wb.baseAddress!, o: o, c: c, into: ub.baseAddress!)
            }
        }
    }

    /// y (`[N, O, H, W]`) of `input` `[N, C, H, W]` with weights `[O, C, 3, 3]` and bias `[O]`
    /// (nil: none), followed by ReLU when `relu`; caches `input` for `backward`.
    package func forward(_ input: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>?,
                         relu: Bool = false) -> Tensor<Scalar> {
        let n = input.shape[0], c = inChannels, h = input.shape[2], w = input.shape[3], o = outChannels
        cachedInput = input
        var y: Tensor<Scalar> = uninitializedTensor([n, o, h, w])  // every element written below
        if n * h * w == 0 { return y }
        transformWeight(weight)
        let plan = chunkPlan(n: n, h: h, w: w)
        let (th, tw) = WinogradTransforms.tiles(h: h, w: w), perSample = th * tw
        let ws = workspace(plan.workers)
        input.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                transformedWeight.withUnsafeBufferPointer { ub in
                    withOptionalBuffer(bias) { bp in
                        let xp = xb.baseAddress!, yp = yb.baseAddress!, up = ub.baseAddress!
                        Parallel.forEachJob(plan.count, workers: plan.workers) { chunk, worker in
                            let space = ws[worker]
                            let n0 = chunk * plan.samples, m = Swift.min(plan.samples, n - n0), tiles = m * perSample
                            growUninitialized(&space.v, 16 * c * plan.samples * perSample)
                            growUninitialized(&space.m, 16 * o * plan.samples * perSample)
                            space.v.withUnsafeMutableBufferPointer { vb in
                                space.m.withUnsafeMutableBufferPointer { mb in
                                    let vp = vb.baseAddress!, mp = mb.baseAddress!
                                    WinogradTransforms.input(xp + n0 * c * h * w, m: m, c: c, h: h, w: w, into: vp)
                                    for xi in 0..<16 {  // M[ξ][O, T] = U[ξ][O, C] · V[ξ][C, T]
                                        Scalar.gemmKernel(transposeA: false, transposeB: false, m: o, n: tiles, k: c,
                                                          alpha: 1, a: up + xi * o * c, lda: c, b: vp + xi * c * tiles,
                                                          ldb: tiles, beta: 0, c: mp + xi * o * tiles, ldc: tiles,
                                                          threads: plan.gemmThreads)
                                    }
                                    WinogradTransforms.output(mp, m: m, o: o, h: h, w: w, bias: bp, relu: relu,
                                                              into: yp + n0 * o * h * w)
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Given dy (`[N, O, H, W]`): adds dW to `weightGradient` (`[O, C, 3, 3]`) and, when
    /// `hasBias`, db to `biasGradient` (`[O]`); returns dx (`[N, C, H, W]`), zeros when
    /// `computesInputGradient` is false. With `reluOutput` (the output of a forward with `relu`),
    /// dy is masked by 1[y > 0] first.
    package func backward(_ gradOutput: Tensor<Scalar>, weight: Tensor<Scalar>, weightGradient: inout Tensor<Scalar>,
                          biasGradient: inout Tensor<Scalar>, hasBias: Bool, computesInputGradient: Bool,
                          reluOutput: Tensor<Scalar>? = nil) -> Tensor<Scalar> {
        guard let x = cachedInput else { preconditionFailure("Conv2D.backward called before forward") }
        let n = x.shape[0], c = inChannels, h = x.shape[2], w = x.shape[3], o = outChannels
        let expected = [n, o, h, w]
        precondition(gradOutput.shape == expected, "Conv2D.backward: gradient shape \(gradOutput.shape), expected \(expected)")
        if let y = reluOutput {
            precondition(y.shape == expected, "Conv2D.backward: ReLU output shape \(y.shape), expected \(expected)")
        }
        let inputShape = [n, c, h, w]
        if n * h * w == 0 { return zerosTensor(inputShape) }
        let needsInput = computesInputGradient
        if needsInput { transformWeight(weight) }
        let plan = chunkPlan(n: n, h: h, w: w)
        let (th, tw) = WinogradTransforms.tiles(h: h, w: w), perSample = th * tw
        let parts = Swift.min(Self.partialSums, plan.count)
        let workers = Swift.min(parts, Swift.max(1, Parallel.threadCount))
        let gemmThreads = Swift.max(1, Parallel.threadCount / workers)
        let ws = workspace(workers)
        var dx: Tensor<Scalar> = needsInput ? uninitializedTensor(inputShape) : zerosTensor(inputShape)
        growUninitialized(&weightGradientParts, parts * 16 * o * c)
        growUninitialized(&biasGradientParts, parts * o)
        withOptionalBuffer(reluOutput) { yrp in
            x.withUnsafeBufferPointer { xb in
                gradOutput.withUnsafeBufferPointer { gb in
                    dx.withUnsafeMutableBufferPointer { dxb in
                        transformedWeight.withUnsafeBufferPointer { ub in
                            weightGradientParts.withUnsafeMutableBufferPointer { dub in
                                biasGradientParts.withUnsafeMutableBufferPointer { dbb in
                                    let xp = xb.baseAddress!, gp = gb.baseAddress!, dxp = dxb.baseAddress!
                                    let up = ub.baseAddress, dup = dub.baseAddress!, dbp = dbb.baseAddress!
                                    // Part `part` sums chunks part, part + parts, … in order.
                                    Parallel.forEachJob(parts, workers: workers) { part, worker in
                                        let space = ws[worker]
                                        let du = dup + part * 16 * o * c, db = dbp + part * o
                                        growUninitialized(&space.v, 16 * c * plan.samples * perSample)
                                        growUninitialized(&space.m, 16 * o * plan.samples * perSample)
                                        if hasBias { zeroFill(db, count: o) }
                                        for chunk in stride(from: part, to: plan.count, by: parts) {
                                            let first = chunk == part
                                            let n0 = chunk * plan.samples, m = Swift.min(plan.samples, n - n0)
                                            let tiles = m * perSample
                                            space.v.withUnsafeMutableBufferPointer { vb in
                                                space.m.withUnsafeMutableBufferPointer { mb in
                                                    let vp = vb.baseAddress!, mp = mb.baseAddress!
                                                    let dyChunk = gp + n0 * o * h * w
                                                    let yChunk = yrp.map { $0 + n0 * o * h * w }
                                                    WinogradTransforms.outputAdjoint(dyChunk, yRelu: yChunk, m: m, o: o,
                                                                                     h: h, w: w, into: mp)
                                                    if hasBias { Self.addMaskedSums(dyChunk, yChunk, m: m, o: o, plane: h * w, into: db) }
                                                    WinogradTransforms.input(xp + n0 * c * h * w, m: m, c: c, h: h, w: w, into: vp)
                                                    for xi in 0..<16 {
                                                        // dU[ξ][O, C] (+)= dM[ξ][O, T] · V[ξ][C, T]ᵀ
                                                        Scalar.gemmKernel(transposeA: false, transposeB: true, m: o, n: c, k: tiles,
                                                                          alpha: 1, a: mp + xi * o * tiles, lda: tiles,
                                                                          b: vp + xi * c * tiles, ldb: tiles, beta: first ? 0 : 1,
                                                                          c: du + xi * o * c, ldc: c, threads: gemmThreads)
                                                        guard needsInput else { continue }
                                                        // dV[ξ][C, T] = U[ξ][O, C]ᵀ · dM[ξ][O, T], over V[ξ]
                                                        Scalar.gemmKernel(transposeA: true, transposeB: false, m: c, n: tiles, k: o,
                                                                          alpha: 1, a: up! + xi * o * c, lda: c,
                                                                          b: mp + xi * o * tiles, ldb: tiles, beta: 0,
                                                                          c: vp + xi * c * tiles, ldc: tiles, threads: gemmThreads)
                                                    }
                                                    if needsInput {
                                                        WinogradTransforms.inputAdjoint(vp, m: m, c: c, h: h, w: w,
                                                                                        into: dxp + n0 * c * h * w)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                    // dU = Σ parts (in order); dW += Gᵀ dU G; db += Σ parts.
                                    growUninitialized(&weightGradientSum, 16 * o * c)
                                    weightGradientSum.withUnsafeMutableBufferPointer { sb in
                                        zeroFill(sb.baseAddress!, count: 16 * o * c)
                                        accumulateColumnSums(dup, rows: parts, columns: 16 * o * c, into: sb.baseAddress!)
                                        weightGradient.withUnsafeMutableBufferPointer { dwb in
                                            WinogradTransforms.addFilterAdjoint(sb.baseAddress!, o: o, c: c, into: dwb.baseAddress!)
                                        }
                                    }
                                    if hasBias {
                                        biasGradient.withUnsafeMutableBufferPointer { bgb in
                                            accumulateColumnSums(dbp, rows: parts, columns: o, into: bgb.baseAddress!)
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

    /// db[o] += Σ_{n, p} dy[n, o, p] (· 1[y > 0] when `y` is given), n < m, p < plane, in order.
    private static func addMaskedSums(_ dy: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>?, m: Int, o: Int, plane: Int,
                                      into db: UnsafeMutablePointer<Scalar>) {
        for oc in 0..<o {
            var sum: Scalar = 0
            for n in 0..<m {
                let base = (n * o + oc) * plane
                for p in 0..<plane where y.map({ $0[base + p] > 0 }) ?? true { sum += dy[base + p] }
            }
            db[oc] += sum
        }
    }

    /// `body` with the storage of `tensor`, or nil.
    private func withOptionalBuffer<R>(_ tensor: Tensor<Scalar>?, _ body: (UnsafePointer<Scalar>?) -> R) -> R {
        guard let tensor else { return body(nil) }
        return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
