import CFeatureLensKernels
import Foundation

// GEMM driver: cache blocking, edge handling and threading in Swift around the register-blocked
// C micro-kernels of CFeatureLensKernels (Float panels are packed by its AVX-512 routines
// `fl_pack_rows_f32` / `fl_pack_transpose_f32`; Double panels in Swift) (Goto & van de Geijn, "Anatomy of
// High-Performance Matrix Multiplication", ACM TOMS 34(3), 2008; the BLIS loop order of
// Van Zee & van de Geijn, ACM TOMS 41(3), 2015).
//
// Loop nest, for C[m, n] += op(A)[m, k] · op(B)[k, n]:
//
//   for jc in 0..<n step NC                      columns of C and B
//     for pc in 0..<k step KC                    the summation, always in this order
//       pack op(A)[:, pc..] into MR-row panels   (all of m; one job per row block)
//       pack op(B)[pc.., jc..] into NR-col panels
//       for each (row block, column block) of C  ← the parallel loop (blocks of C only)
//         for jr over NR panels, for ir over MR panels: micro-kernel (KC FMAs per element)
//
// Every element of C therefore sees the same floating-point operations in the same order
// whatever the thread count; the block grid depends only on the shapes, never on `threads`.

/// General matrix multiply, BLAS convention but row-major:
///
///     C ← α · op(A) · op(B) + β · C,   op(A): [m, k], op(B): [k, n], C: [m, n]
///
/// `a` is `[m, k]` with row stride `lda` (or `[k, m]` when `transposeA`), `b` is `[k, n]`
/// with row stride `ldb` (or `[n, k]` when `transposeB`), `c` is `[m, n]` with row stride
/// `ldc`. When β = 0, C is not read (NaNs in C do not propagate). Work is split over blocks
/// of C only, so results are bit-identical for any `threads`. Problems below about 100³
/// multiply-adds run serially on the caller's thread.
///
/// - Parameters:
///   - threads: upper bound on worker threads (default `Parallel.threadCount`).
///   - kernel: micro-kernel family (default `GEMMKernel.active`); an unsupported family falls
///     back to `.generic`.
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = Parallel.threadCount,
    kernel: GEMMKernel = GEMMKernel.active
) {
    let family = kernel.isSupported ? kernel : .generic
    let info = family.info
    guard let micro = info.sgemm else { preconditionFailure("no sgemm micro-kernel for \(family)") }
    gemmDriver(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
               alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
               threads: threads, mr: info.s_mr, nr: info.s_nr,
               blocking: GEMMBlocking.current(elementSize: 4)) { kc, ap, bp, cp, ldc, al, be, mr, nr in
        micro(kc, ap, bp, cp, ldc, al, be, mr, nr)
    }
}

/// Double-precision GEMM with the same contract as `sgemm`:
/// C ← α · op(A) · op(B) + β · C with op(A): `[m, k]`, op(B): `[k, n]`, C: `[m, n]`, row-major.
public func dgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: Double, a: UnsafePointer<Double>, lda: Int,
    b: UnsafePointer<Double>, ldb: Int,
    beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threads: Int = Parallel.threadCount,
    kernel: GEMMKernel = GEMMKernel.active
) {
    let family = kernel.isSupported ? kernel : .generic
    let info = family.info
    guard let micro = info.dgemm else { preconditionFailure("no dgemm micro-kernel for \(family)") }
    gemmDriver(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
               alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
               threads: threads, mr: info.d_mr, nr: info.d_nr,
               blocking: GEMMBlocking.current(elementSize: 8)) { kc, ap, bp, cp, ldc, al, be, mr, nr in
        micro(kc, ap, bp, cp, ldc, al, be, mr, nr)
    }
}

/// Straightforward triple loop (i, p, j order); the correctness reference for tests.
/// Same contract as `sgemm` (β = 0 does not read C).
public func referenceGEMM<T: BinaryFloatingPoint>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int
) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 {
            for j in 0..<n { row[j] = 0 }
        } else if beta != 1 {
            for j in 0..<n { row[j] *= beta }
        }
        if k == 0 || alpha == 0 { continue }
        for p in 0..<k {
            let aip = alpha * (transposeA ? a[p * lda + i] : a[i * lda + p])
            if transposeB {
                for j in 0..<n { row[j] += aip * b[j * ldb + p] }
            } else {
                let brow = b + p * ldb
                for j in 0..<n { row[j] += aip * brow[j] }
            }
        }
    }
}

// MARK: - Blocking

/// Cache-block sizes in elements: `mc` rows of A per L2 block, `kc` summation steps per
/// panel (the packed B micro-panel `kc × NR` stays in L1), `nc` columns of B per L3 block.
struct GEMMBlocking: Equatable {
    var mc: Int
    var kc: Int
    var nc: Int

    /// Measured on an AVX-512 Xeon (48 KiB L1d, 2 MiB L2 per core): see docs/NUMERICS.md.
    static func defaults(elementSize: Int) -> GEMMBlocking {
        elementSize == 4 ? GEMMBlocking(mc: 144, kc: 256, nc: 4096)
                         : GEMMBlocking(mc: 96, kc: 256, nc: 2048)
    }

    /// Tuning override from `FEATURELENS_GEMM_BLOCKING=mc,kc,nc` (both precisions), if valid.
    static let environmentOverride: GEMMBlocking? = {
        guard let raw = ProcessInfo.processInfo.environment["FEATURELENS_GEMM_BLOCKING"] else { return nil }
        let parts = raw.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }) else {
            FileHandle.standardError.write(Data(
                "warning: FEATURELENS_GEMM_BLOCKING=\"\(raw)\": expected three positive integers mc,kc,nc; ignored\n".utf8))
            return nil
        }
        return GEMMBlocking(mc: parts[0], kc: parts[1], nc: parts[2])
    }()

    static func current(elementSize: Int) -> GEMMBlocking {
        environmentOverride ?? defaults(elementSize: elementSize)
    }
}

/// Problems with fewer multiply-adds than this run on one thread (fork/join costs ~10 µs).
let gemmParallelThreshold = 100 * 100 * 100

// MARK: - Workspace

/// A small pool of 64-byte-aligned scratch buffers for the packed panels, so repeated GEMMs
/// do not pay for fresh pages every call.
enum GEMMWorkspace {
    private static let lock = NSLock()
    private static var free: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private static let maxPooled = 6

    static func acquire(bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int) {
        let wanted = max(bytes, 64)
        lock.lock()
        if let i = free.indices.filter({ free[$0].bytes >= wanted }).min(by: { free[$0].bytes < free[$1].bytes }) {
            let buffer = free.remove(at: i)
            lock.unlock()
            return buffer
        }
        lock.unlock()
        return (UnsafeMutableRawPointer.allocate(byteCount: wanted, alignment: 64), wanted)
    }

    static func release(_ buffer: (pointer: UnsafeMutableRawPointer, bytes: Int)) {
        lock.lock()
        free.append(buffer)
        var evicted: (pointer: UnsafeMutableRawPointer, bytes: Int)?
        if free.count > maxPooled, let i = free.indices.min(by: { free[$0].bytes < free[$1].bytes }) {
            evicted = free.remove(at: i)
        }
        lock.unlock()
        evicted?.pointer.deallocate()
    }
}

/// Runs `job(i)` for every `i` in `0..<count` on up to `threads` threads (`Parallel.forEachJob`:
/// dynamic scheduling; which thread runs a job never changes the job's arithmetic).
@inline(__always)
func runJobs(_ count: Int, threads: Int, _ job: (Int) -> Void) {
    Parallel.forEachJob(count, workers: threads) { i, _ in job(i) }
}

// MARK: - Driver

/// Splits `panels` MR- (or NR-) panels into `blocks` contiguous runs of near-equal length;
/// returns the first panel of block `b` (b in 0...blocks).
@inline(__always)
func blockStart(_ b: Int, panels: Int, blocks: Int) -> Int { b * panels / blocks }

@inline(__always)
func gemmDriver<T: BinaryFloatingPoint & SIMDScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int, threads: Int,
    mr: Int, nr: Int, blocking: GEMMBlocking,
    micro: (Int, UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>, Int, T, T, Int, Int) -> Void
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative size m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    precondition(ldc >= n, "gemm: ldc=\(ldc) < n=\(n)")
    if k == 0 || alpha == 0 {
        // C ← β·C without reading C when β = 0.
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                row.update(repeating: 0, count: n)
            } else if beta != 1 {
                for j in 0..<n { row[j] *= beta }
            }
        }
        return
    }
    precondition(lda >= (transposeA ? m : k) && ldb >= (transposeB ? k : n),
                 "gemm: lda=\(lda) or ldb=\(ldb) smaller than the row length")

    // Block sizes (independent of the thread count).
    let kBlocks = (k + blocking.kc - 1) / blocking.kc
    let kcMax = (k + kBlocks - 1) / kBlocks                       // balanced K blocks
    let ncMax = max(nr, blocking.nc / nr * nr)
    let aPanels = (m + mr - 1) / mr
    let mcPanels = max(1, blocking.mc / mr)
    let mBlocks = (aPanels + mcPanels - 1) / mcPanels

    let workers = m * n * k >= gemmParallelThreshold ? max(1, threads) : 1

    let aSpace = GEMMWorkspace.acquire(bytes: aPanels * mr * kcMax * MemoryLayout<T>.stride)
    let bSpace = GEMMWorkspace.acquire(bytes: ((min(n, ncMax) + nr - 1) / nr) * nr * kcMax * MemoryLayout<T>.stride)
    defer { GEMMWorkspace.release(aSpace); GEMMWorkspace.release(bSpace) }
    let packedA = aSpace.pointer.bindMemory(to: T.self, capacity: aSpace.bytes / MemoryLayout<T>.stride)
    let packedB = bSpace.pointer.bindMemory(to: T.self, capacity: bSpace.bytes / MemoryLayout<T>.stride)

    var jc = 0
    while jc < n {
        let nc = min(ncMax, n - jc)
        let bPanels = (nc + nr - 1) / nr
        // Column sub-blocks so that thin-and-wide problems still give several jobs.
        let nBlocks = min(bPanels, max(1, (8 + mBlocks - 1) / mBlocks))
        let bPackJobs = min(bPanels, max(1, (bPanels + 7) / 8))
        for kb in 0..<kBlocks {
            let pc = kb * k / kBlocks
            let kc = (kb + 1) * k / kBlocks - pc
            let betaBlock: T = kb == 0 ? beta : 1

            // Pack: jobs 0..<mBlocks pack row blocks of A, the rest pack column runs of B.
            runJobs(mBlocks + bPackJobs, threads: workers) { job in
                if job < mBlocks {
                    let q0 = blockStart(job, panels: aPanels, blocks: mBlocks)
                    let q1 = blockStart(job + 1, panels: aPanels, blocks: mBlocks)
                    for q in q0..<q1 {
                        packPanelA(transposed: transposeA, a: a, lda: lda, row: q * mr,
                                   rows: min(mr, m - q * mr), pc: pc, kc: kc, mr: mr,
                                   into: packedA + q * mr * kc)
                    }
                } else {
                    let j = job - mBlocks
                    let s0 = blockStart(j, panels: bPanels, blocks: bPackJobs)
                    let s1 = blockStart(j + 1, panels: bPanels, blocks: bPackJobs)
                    for s in s0..<s1 {
                        packPanelB(transposed: transposeB, b: b, ldb: ldb, column: jc + s * nr,
                                   columns: min(nr, nc - s * nr), pc: pc, kc: kc, nr: nr,
                                   into: packedB + s * nr * kc)
                    }
                }
            }

            // Compute: one job per (row block, column block) of C.
            runJobs(mBlocks * nBlocks, threads: workers) { job in
                let bi = job / nBlocks, bj = job % nBlocks
                let q0 = blockStart(bi, panels: aPanels, blocks: mBlocks)
                let q1 = blockStart(bi + 1, panels: aPanels, blocks: mBlocks)
                let s0 = blockStart(bj, panels: bPanels, blocks: nBlocks)
                let s1 = blockStart(bj + 1, panels: bPanels, blocks: nBlocks)
                for s in s0..<s1 {
                    let bp = UnsafePointer(packedB + s * nr * kc)
                    let cols = min(nr, nc - s * nr)
                    let cColumn = c + jc + s * nr
                    for q in q0..<q1 {
                        micro(kc, UnsafePointer(packedA + q * mr * kc), bp,
                              cColumn + q * mr * ldc, ldc, alpha, betaBlock,
                              min(mr, m - q * mr), cols)
                    }
                }
            }
        }
        jc += nc
    }
}

/// Packs rows `row..<row+rows` of op(A), columns `pc..<pc+kc`, into one MR-row panel:
/// `dst[p·mr + i] = op(A)[row + i, pc + p]`, rows `rows..<mr` zero-filled.
@inline(__always)
func packPanelA<T: BinaryFloatingPoint & SIMDScalar>(
    transposed: Bool, a: UnsafePointer<T>, lda: Int, row: Int, rows: Int,
    pc: Int, kc: Int, mr: Int, into dst: UnsafeMutablePointer<T>
) {
    if T.self == Float.self {
        let af = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
        let df = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self)
        if transposed {
            fl_pack_rows_f32(af + pc * lda + row, lda, rows, kc, mr, df)
        } else {
            fl_pack_transpose_f32(af + row * lda + pc, lda, rows, kc, mr, df)
        }
        return
    }
    if transposed {
        // op(A)[i, p] = a[p·lda + i]: each p gives `rows` contiguous values.
        for p in 0..<kc {
            let src = a + (pc + p) * lda + row
            let d = dst + p * mr
            for i in 0..<rows { d[i] = src[i] }
            for i in rows..<mr { d[i] = 0 }
        }
    } else {
        // op(A)[i, p] = a[i·lda + p]: each row i is contiguous in p.
        packTransposing(a + row * lda + pc, ld: lda, rows: rows, kc: kc, width: mr, into: dst)
    }
}

/// Packs columns `column..<column+columns` of op(B), rows `pc..<pc+kc`, into one NR-column
/// panel: `dst[p·nr + j] = op(B)[pc + p, column + j]`, columns `columns..<nr` zero-filled.
@inline(__always)
func packPanelB<T: BinaryFloatingPoint & SIMDScalar>(
    transposed: Bool, b: UnsafePointer<T>, ldb: Int, column: Int, columns: Int,
    pc: Int, kc: Int, nr: Int, into dst: UnsafeMutablePointer<T>
) {
    if T.self == Float.self {
        let bf = UnsafeRawPointer(b).assumingMemoryBound(to: Float.self)
        let df = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self)
        if transposed {
            fl_pack_transpose_f32(bf + column * ldb + pc, ldb, columns, kc, nr, df)
        } else {
            fl_pack_rows_f32(bf + pc * ldb + column, ldb, columns, kc, nr, df)
        }
        return
    }
    if transposed {
        // op(B)[p, j] = b[j·ldb + p]: each column j is contiguous in p.
        packTransposing(b + column * ldb + pc, ld: ldb, rows: columns, kc: kc, width: nr, into: dst)
    } else {
        // op(B)[p, j] = b[p·ldb + j]: each p gives `columns` contiguous values.
        for p in 0..<kc {
            let src = b + (pc + p) * ldb + column
            let d = dst + p * nr
            for j in 0..<columns { d[j] = src[j] }
            for j in columns..<nr { d[j] = 0 }
        }
    }
}

/// Transposing copy: `dst[p·width + i] = src[i·ld + p]` for `i < rows`, `p < kc`, and zeros
/// for `rows ≤ i < width`. Works on 4×4 blocks (four vector loads, four vector stores) so that
/// the strided side costs vector rather than scalar stores.
@inline(__always)
func packTransposing<T: BinaryFloatingPoint & SIMDScalar>(
    _ src: UnsafePointer<T>, ld: Int, rows: Int, kc: Int, width: Int,
    into dst: UnsafeMutablePointer<T>
) {
    let raw = UnsafeMutableRawPointer(dst)
    let stride = MemoryLayout<T>.stride
    var i = 0
    while i + 4 <= rows {
        let s0 = src + i * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld
        var p = 0
        while p + 4 <= kc {
            let r0 = UnsafeRawPointer(s0 + p).loadUnaligned(as: SIMD4<T>.self)
            let r1 = UnsafeRawPointer(s1 + p).loadUnaligned(as: SIMD4<T>.self)
            let r2 = UnsafeRawPointer(s2 + p).loadUnaligned(as: SIMD4<T>.self)
            let r3 = UnsafeRawPointer(s3 + p).loadUnaligned(as: SIMD4<T>.self)
            let base = (p * width + i) * stride
            let step = width * stride
            raw.storeBytes(of: SIMD4(r0[0], r1[0], r2[0], r3[0]), toByteOffset: base, as: SIMD4<T>.self)
            raw.storeBytes(of: SIMD4(r0[1], r1[1], r2[1], r3[1]), toByteOffset: base + step, as: SIMD4<T>.self)
            raw.storeBytes(of: SIMD4(r0[2], r1[2], r2[2], r3[2]), toByteOffset: base + 2 * step, as: SIMD4<T>.self)
            raw.storeBytes(of: SIMD4(r0[3], r1[3], r2[3], r3[3]), toByteOffset: base + 3 * step, as: SIMD4<T>.self)
            p += 4
        }
        while p < kc {
            let d = dst + p * width + i
            d[0] = s0[p]; d[1] = s1[p]; d[2] = s2[p]; d[3] = s3[p]
            p += 1
        }
        i += 4
    }
    while i < rows {
        var s = src + i * ld
        var d = dst + i
        for _ in 0..<kc {
            d.pointee = s.pointee
            s += 1
            d += width
        }
        i += 1
    }
    if rows < width {
        for p in 0..<kc { for r in rows..<width { dst[p * width + r] = 0 } }
    }
}
