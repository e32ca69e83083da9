import CFeatureLensKernels

/// C ← A·B + β·C for row-major rank-2 `Double` tensors with a **narrow** B (`[k, n]`, n up to
/// a few dozen), without packing: A `[m, k]`, C `[m, n]`.
///
/// Made for the exact Gram-space gradient descent of the synthetic experiments, where the
/// same n×n Gram matrix multiplies an n×p panel (p ≤ 128) tens of thousands of times
/// (SCIENCE.md §4). AVX-512F kernel when the CPU has it, else AVX2 + FMA, else a portable loop. Rows of
/// C are split over `threads` in whole blocks and each element is summed over k in the same
/// order, so results are bit-identical for any thread count. When β = 0, C is not read.
public func narrowGEMM(_ a: Tensor<Double>, _ b: Tensor<Double>, beta: Double = 0, into c: inout Tensor<Double>,
                       threads: Int = 1) {
    precondition(a.rank == 2 && b.rank == 2 && c.rank == 2, "narrowGEMM needs rank-2 tensors")
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    precondition(b.shape[0] == k && c.shape == [m, n],
                 "narrowGEMM shapes: A \(a.shape), B \(b.shape), C \(c.shape)")
    if m == 0 || n == 0 { return }
    let chunks = threads > 1 ? min(threads, max(1, m / 64)) : 1
    let rowsPerChunk = ((m + chunks - 1) / chunks + 7) / 8 * 8
    a.scalars.withUnsafeBufferPointer { ab in
        b.scalars.withUnsafeBufferPointer { bb in
            c.scalars.withUnsafeMutableBufferPointer { cb in
                guard let cp = cb.baseAddress else { return }
                let ap = ab.baseAddress, bp = bb.baseAddress
                let cAddress = Int(bitPattern: cp)
                Parallel.forEach(chunks: chunks, threads: threads) { chunk in
                    let r0 = chunk * rowsPerChunk, r1 = min(m, r0 + rowsPerChunk)
                    if r0 >= r1 { return }
                    let cRows = UnsafeMutablePointer<Double>(bitPattern: cAddress)! + r0 * n
                    fl_dgemm_narrow(r1 - r0, n, k, ap.map { $0 + r0 * k }, k, bp, n, beta, cRows, n)
                }
            }
        }
    }
}

/// Name of the kernel `narrowGEMM` uses on this CPU (`avx512f`, `avx2+fma` or `generic`).
public var narrowGEMMKernelName: String { String(cString: fl_dgemm_narrow_kernel()) }
