import CFeatureLensKernels
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// The AVX-512 and AVX2 im2col/col2im and the elementwise kernels (conv.c) against the portable
/// Swift versions, bit for bit, and the chunked Conv2D against direct loops. A path this CPU
/// cannot run is reported as skipped, with the reason; the elementwise kernels run their scalar
/// versions there.
@Suite struct ConvKernelTests {
    /// True when fl_im2col_f32 / fl_col2im_f32 take their AVX-512 gather path on this CPU.
    static let hasAVX512Path = fl_conv_path() == FL_CONV_PATH_AVX512
    /// True when this CPU can run the AVX2 path (fl_im2col_f32_avx2 / fl_col2im_f32_avx2); it is
    /// the dispatched path when AVX-512F is absent.
    static let hasAVX2Path = fl_conv_path_available(FL_CONV_PATH_AVX2) == 1

    struct Geometry: CustomStringConvertible {
        var n, c, h, w, kh, kw, sh, sw, ph, pw: Int
        var oh: Int { (h + 2 * ph - kh) / sh + 1 }
        var ow: Int { (w + 2 * pw - kw) / sw + 1 }
        var spec: ConvSpec { ConvSpec(kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw) }
        var description: String { "n\(n) c\(c) \(h)×\(w) k\(kh)×\(kw) s\(sh),\(sw) p\(ph),\(pw)" }
    }

    static let geometries: [Geometry] = [
        Geometry(n: 5, c: 1, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),   // ConvNet layer 1
        Geometry(n: 3, c: 4, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),     // layer 3 shape
        Geometry(n: 2, c: 3, h: 11, w: 10, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1),
        Geometry(n: 2, c: 2, h: 40, w: 37, kh: 5, kw: 3, sh: 1, sw: 3, ph: 2, pw: 0),   // ow > 16, odd stride
        Geometry(n: 4, c: 2, h: 9, w: 13, kh: 1, kw: 1, sh: 2, sw: 1, ph: 0, pw: 0),
        Geometry(n: 1, c: 3, h: 4, w: 4, kh: 3, kw: 3, sh: 1, sw: 1, ph: 3, pw: 3),     // padding beyond the kernel
        Geometry(n: 3, c: 2, h: 6, w: 35, kh: 2, kw: 4, sh: 3, sw: 2, ph: 1, pw: 2),
    ]

    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(Int(g.next() % 20001) - 10000) / 997 }
    }

    @Test(.enabled(if: ConvKernelTests.hasAVX512Path, "this CPU has no AVX-512F (the portable im2col runs instead)"),
          arguments: geometries)
    func im2colMatchesPortableVersion(_ g: Geometry) throws {
        let x = values(g.n * g.c * g.h * g.w, seed: 1)
        let rows = g.c * g.kh * g.kw, p = g.oh * g.ow
        var fast = [Float](repeating: .nan, count: rows * g.n * p)
        var portable = [Float](repeating: .nan, count: rows * g.n * p)
        let did = x.withUnsafeBufferPointer { xb in
            fast.withUnsafeMutableBufferPointer { fb in
                // two sample ranges, as two threads would split them
                fl_im2col_f32(xb.baseAddress!, fb.baseAddress!, 0, 2 % (g.n + 1), g.n, g.c, g.h, g.w, g.oh, g.ow,
                              g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, nil)
                + fl_im2col_f32(xb.baseAddress!, fb.baseAddress!, 2 % (g.n + 1), g.n, g.n, g.c, g.h, g.w, g.oh, g.ow,
                                g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, nil)
        } }
        try #require(did == 2, "both ranges ran the AVX-512 im2col")
        x.withUnsafeBufferPointer { xb in portable.withUnsafeMutableBufferPointer { pb in
            im2colKernel(xb.baseAddress!, pb.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                         oh: g.oh, ow: g.ow, spec: g.spec)
        } }
        #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern), "\(g)")
        // Definition, for a few entries: col[(c,u,v), n·P + i·ow + j] = x[n, c, i·sh − ph + u, j·sw − pw + v].
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<50 {
            let n = Int(rng.next() % UInt64(g.n)), c = Int(rng.next() % UInt64(g.c))
            let u = Int(rng.next() % UInt64(g.kh)), v = Int(rng.next() % UInt64(g.kw))
            let i = Int(rng.next() % UInt64(g.oh)), j = Int(rng.next() % UInt64(g.ow))
            let ih = i * g.sh - g.ph + u, iw = j * g.sw - g.pw + v
            let expected: Float = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[((n * g.c + c) * g.h + ih) * g.w + iw] : 0
            #expect(fast[((c * g.kh + u) * g.kw + v) * g.n * p + n * p + i * g.ow + j] == expected)
        }
    }

    @Test(.enabled(if: ConvKernelTests.hasAVX512Path, "this CPU has no AVX-512F (the portable col2im runs instead)"),
          arguments: geometries)
    func col2imMatchesPortableVersion(_ g: Geometry) throws {
        let rows = g.c * g.kh * g.kw, p = g.oh * g.ow
        let col = values(rows * g.n * p, seed: 2)
        let start = values(g.n * g.c * g.h * g.w, seed: 3)  // col2im adds into dx
        var fast = start, portable = start
        let did = col.withUnsafeBufferPointer { cb in
            fast.withUnsafeMutableBufferPointer { fb in
                fl_col2im_f32(cb.baseAddress!, fb.baseAddress!, 0, g.n, g.n, g.c, g.h, g.w, g.oh, g.ow,
                              g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, nil)
        } }
        try #require(did == 1, "the AVX-512 col2im ran")
        col.withUnsafeBufferPointer { cb in portable.withUnsafeMutableBufferPointer { pb in
            col2imKernel(cb.baseAddress!, pb.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                         oh: g.oh, ow: g.ow, spec: g.spec)
        } }
        #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern), "\(g)")
        #expect(fast != start || col.allSatisfy { $0 == 0 })
    }

    /// Every combination of kernel 1×1/3×3/5×5, stride 1/2/3 and padding 0/1/2 on images from
    /// 1×1 to 28×28 (odd, even, wide, tall), with c = 1, 3 or 32, plus rectangular windows with
    /// different strides and paddings per axis and the three ConvNet layers.
    static let avx2Geometries: [Geometry] = {
        var list: [Geometry] = []
        let sizes = [(1, 1), (2, 3), (7, 7), (8, 6), (14, 14), (28, 28), (5, 19), (3, 37)]
        var index = 0
        for k in [1, 3, 5] { for s in [1, 2, 3] { for pad in [0, 1, 2] { for (h, w) in sizes {
            guard h + 2 * pad >= k, w + 2 * pad >= k else { continue }
            let c = [1, 3, 32][index % 3]
            index += 1
            if c == 32 && h * w > 100 { continue }  // keeps the debug-build portable reference quick
            list.append(Geometry(n: 4, c: c, h: h, w: w, kh: k, kw: k, sh: s, sw: s, ph: pad, pw: pad))
        } } } }
        list += [
            Geometry(n: 5, c: 3, h: 9, w: 21, kh: 3, kw: 5, sh: 2, sw: 1, ph: 1, pw: 2),
            Geometry(n: 4, c: 2, h: 12, w: 17, kh: 5, kw: 3, sh: 1, sw: 2, ph: 2, pw: 0),
            Geometry(n: 3, c: 3, h: 6, w: 35, kh: 2, kw: 4, sh: 3, sw: 2, ph: 1, pw: 2),
            Geometry(n: 4, c: 1, h: 3, w: 70, kh: 1, kw: 3, sh: 1, sw: 2, ph: 0, pw: 1),  // ow = 35: five groups of 8
            Geometry(n: 3, c: 2, h: 4, w: 600, kh: 1, kw: 3, sh: 1, sw: 2, ph: 0, pw: 1), // ow = 300: more groups than the kept masks
            Geometry(n: 3, c: 2, h: 2, w: 300, kh: 1, kw: 3, sh: 1, sw: 1, ph: 0, pw: 1),
            Geometry(n: 6, c: 1, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),   // ConvNet layer 1
            Geometry(n: 4, c: 32, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),  // layer 2
            Geometry(n: 4, c: 64, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),    // layer 3
        ]
        return list
    }()

    /// Values with signed zeros and, with `nans`, NaNs of two payloads and signs, which a copy or
    /// an untouched pixel must keep bit for bit. (Only one operand of an addition may be a NaN:
    /// which of two NaN payloads a sum keeps depends on the operand order the compiler picked.)
    private func valuesWithSpecials(_ count: Int, seed: UInt64, nans: Bool = true) -> [Float] {
        var v = values(count, seed: seed)
        let specials: [Float] = nans ? [-0.0, 0.0, Float(bitPattern: 0x7FC0_0001), -Float.nan] : [-0.0, 0.0]
        for i in Swift.stride(from: 3, to: count, by: 11) { v[i] = specials[i % specials.count] }
        return v
    }

    /// The sample ranges each comparison runs: the whole batch in one call, the batch split
    /// in two calls (as two threads would), and samples 1 ..< n − 1 alone (n ≥ 3), whose
    /// outputs outside the range must stay untouched.
    private static func ranges(_ n: Int) -> [[Range<Int>]] {
        var r: [[Range<Int>]] = [[0..<n], [0..<(n / 2), (n / 2)..<n]]
        if n >= 3 { r.append([1..<(n - 1)]) }
        return r
    }

    @Test(.enabled(if: ConvKernelTests.hasAVX2Path, "this CPU has no AVX2 and FMA (the AVX2 im2col cannot run)"),
          arguments: avx2Geometries)
    func avx2Im2colMatchesPortableVersion(_ g: Geometry) throws {
        let x = valuesWithSpecials(g.n * g.c * g.h * g.w, seed: 11)
        let count = g.c * g.kh * g.kw * g.n * g.oh * g.ow
        let untouched = Float(bitPattern: 0x7FC0_BEEF)  // a NaN no input holds
        for calls in Self.ranges(g.n) {
            var fast = [Float](repeating: untouched, count: count), portable = fast
            x.withUnsafeBufferPointer { xb in
                fast.withUnsafeMutableBufferPointer { fb in
                    portable.withUnsafeMutableBufferPointer { pb in
                        for r in calls {
                            #expect(fl_im2col_f32_avx2(xb.baseAddress!, fb.baseAddress!, r.lowerBound, r.upperBound, g.n,
                                                       g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == 1)
                            im2colKernel(xb.baseAddress!, pb.baseAddress!, samples: r, batch: g.n, c: g.c, h: g.h, w: g.w,
                                         oh: g.oh, ow: g.ow, spec: g.spec)
                        }
                    }
                }
            }
            #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern), "\(g), calls \(calls)")
            // Outside the calls' samples nothing was written (the portable kernel writes only inside).
            let written = Set(calls.flatMap { Array($0) })
            let p = g.oh * g.ow
            let outside = (0..<count).filter { !written.contains(($0 % (g.n * p)) / p) }
            #expect(outside.allSatisfy { fast[$0].bitPattern == untouched.bitPattern }, "\(g), calls \(calls)")
        }
    }

    @Test(.enabled(if: ConvKernelTests.hasAVX2Path, "this CPU has no AVX2 and FMA (the AVX2 col2im cannot run)"),
          arguments: avx2Geometries)
    func avx2Col2imMatchesPortableVersion(_ g: Geometry) throws {
        let col = valuesWithSpecials(g.c * g.kh * g.kw * g.n * g.oh * g.ow, seed: 12, nans: false)
        let start = valuesWithSpecials(g.n * g.c * g.h * g.w, seed: 13)  // col2im adds into dx
        let inSample = g.c * g.h * g.w
        for calls in Self.ranges(g.n) {
            var fast = start, portable = start
            col.withUnsafeBufferPointer { cb in
                fast.withUnsafeMutableBufferPointer { fb in
                    portable.withUnsafeMutableBufferPointer { pb in
                        for r in calls {
                            #expect(fl_col2im_f32_avx2(cb.baseAddress!, fb.baseAddress!, r.lowerBound, r.upperBound, g.n,
                                                       g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == 1)
                            col2imKernel(cb.baseAddress!, pb.baseAddress!, samples: r, batch: g.n, c: g.c, h: g.h, w: g.w,
                                         oh: g.oh, ow: g.ow, spec: g.spec)
                        }
                    }
                }
            }
            #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern), "\(g), calls \(calls)")
            let written = Set(calls.flatMap { Array($0) })
            let outside = (0..<start.count).filter { !written.contains($0 / inSample) }
            #expect(outside.allSatisfy { fast[$0].bitPattern == start[$0].bitPattern }, "\(g), calls \(calls)")
            // The comparison has something to compare: when some window position covers a pixel
            // (not so for, e.g., a 1×1 kernel at stride 2 with padding 1 on a 1×1 image), some
            // pixel of the calls' samples changed.
            let coversRow = (0..<g.oh).contains { i in (0..<g.kh).contains { (0..<g.h).contains(i * g.sh - g.ph + $0) } }
            let coversColumn = (0..<g.ow).contains { j in (0..<g.kw).contains { (0..<g.w).contains(j * g.sw - g.pw + $0) } }
            let changed = (0..<start.count).contains { written.contains($0 / inSample) && fast[$0].bitPattern != start[$0].bitPattern }
            #expect(changed == (coversRow && coversColumn), "\(g), calls \(calls)")
        }
    }

    /// The assigning col2im (what Conv2D's backward pass calls): on this CPU's SIMD path
    /// (stride-2 rows of at most 16 pixels take the AVX2 kernel that writes each row once from
    /// even- and odd-column accumulators) it gives the bits of zeroing the samples and running
    /// the portable col2im; dx starts as a NaN no result holds, so a pixel it leaves unwritten
    /// shows, and samples outside the calls keep it.
    @Test(.enabled(if: fl_conv_path() != FL_CONV_PATH_PORTABLE, "this CPU has no SIMD col2im (the portable one runs instead)"),
          arguments: avx2Geometries + [
              Geometry(n: 5, c: 2, h: 16, w: 16, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1),   // w = 16: two full vectors
              Geometry(n: 4, c: 3, h: 9, w: 15, kh: 4, kw: 4, sh: 3, sw: 2, ph: 2, pw: 2),    // row stride 3, even kernel
              Geometry(n: 3, c: 2, h: 17, w: 11, kh: 5, kw: 2, sh: 2, sw: 2, ph: 0, pw: 1),
          ])
    func col2imAssigningMatchesZeroedPortableVersion(_ g: Geometry) throws {
        let col = valuesWithSpecials(g.c * g.kh * g.kw * g.n * g.oh * g.ow, seed: 14, nans: false)
        let marker = Float(bitPattern: 0x7FC0_BEEF)
        let inSample = g.c * g.h * g.w
        for calls in Self.ranges(g.n) {
            var fast = [Float](repeating: marker, count: g.n * inSample), portable = fast
            col.withUnsafeBufferPointer { cb in
                fast.withUnsafeMutableBufferPointer { fb in
                    portable.withUnsafeMutableBufferPointer { pb in
                        for r in calls {
                            #expect(fl_col2im_assign_f32(cb.baseAddress!, fb.baseAddress!, r.lowerBound, r.upperBound, g.n,
                                                         g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, nil) == 1)
                            zeroFill(pb.baseAddress! + r.lowerBound * inSample, count: r.count * inSample)
                            col2imKernel(cb.baseAddress!, pb.baseAddress!, samples: r, batch: g.n, c: g.c, h: g.h, w: g.w,
                                         oh: g.oh, ow: g.ow, spec: g.spec)
                        }
                    }
                }
            }
            #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern), "\(g), calls \(calls)")
            let written = Set(calls.flatMap { Array($0) })
            #expect((0..<fast.count).allSatisfy { written.contains($0 / inSample) || fast[$0].bitPattern == marker.bitPattern },
                    "\(g), calls \(calls)")
            #expect((0..<fast.count).allSatisfy { !written.contains($0 / inSample) || fast[$0].bitPattern != marker.bitPattern },
                    "\(g), calls \(calls)")
        }
    }

    /// What Conv2D calls on this CPU, whatever its path: the im2col/col2im dispatchers (with the
    /// gather table, which exists on the AVX-512 path only) give the portable kernels' bits, and
    /// the C entry points do the work exactly when fl_conv_path() names a SIMD path.
    @Test(arguments: avx2Geometries.suffix(3))
    func dispatchedKernelsMatchPortableVersions(_ g: Geometry) {
        let hasSIMDPath = fl_conv_path() != FL_CONV_PATH_PORTABLE
        #expect(fl_conv_path_available(fl_conv_path()) == 1)
        let x = valuesWithSpecials(g.n * g.c * g.h * g.w, seed: 21)
        let col = valuesWithSpecials(g.c * g.kh * g.kw * g.n * g.oh * g.ow, seed: 22, nans: false)
        let table = convGatherTable(samples: g.n, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, spec: g.spec)
        #expect((table != nil) == Self.hasAVX512Path)
        var im = [Float](repeating: 1, count: col.count), imPortable = im
        var dx = x, dxPortable = x
        var assigned = x, assignedPortable = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xb in col.withUnsafeBufferPointer { cb in
            im.withUnsafeMutableBufferPointer { ib in dx.withUnsafeMutableBufferPointer { db in withTable(table) { t in
                im2col(xb.baseAddress!, ib.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                       oh: g.oh, ow: g.ow, spec: g.spec, table: t)
                col2im(cb.baseAddress!, db.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                       oh: g.oh, ow: g.ow, spec: g.spec, table: t)
                assigned.withUnsafeMutableBufferPointer { ab in
                    col2imAssigning(cb.baseAddress!, ab.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                                    oh: g.oh, ow: g.ow, spec: g.spec, table: t)
                }
                var probe = [Float](repeating: 0, count: ib.count)
                #expect((fl_im2col_f32(xb.baseAddress!, &probe, 0, g.n, g.n, g.c, g.h, g.w, g.oh, g.ow, g.kh, g.kw,
                                       g.sh, g.sw, g.ph, g.pw, t) == 1) == hasSIMDPath)
            } } }
            imPortable.withUnsafeMutableBufferPointer { ib in dxPortable.withUnsafeMutableBufferPointer { db in
                im2colKernel(xb.baseAddress!, ib.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                             oh: g.oh, ow: g.ow, spec: g.spec)
                col2imKernel(cb.baseAddress!, db.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                             oh: g.oh, ow: g.ow, spec: g.spec)
            } }
            assignedPortable.withUnsafeMutableBufferPointer { ab in
                col2imKernel(cb.baseAddress!, ab.baseAddress!, samples: 0..<g.n, batch: g.n, c: g.c, h: g.h, w: g.w,
                             oh: g.oh, ow: g.ow, spec: g.spec)
            }
        } }
        #expect(im.map(\.bitPattern) == imPortable.map(\.bitPattern), "\(g)")
        #expect(dx.map(\.bitPattern) == dxPortable.map(\.bitPattern), "\(g)")
        #expect(assigned.map(\.bitPattern) == assignedPortable.map(\.bitPattern), "\(g)")
    }

    @Test func elementwiseKernelsMatchTheirDefinitions() {
        for n in [0, 1, 15, 16, 17, 100, 1000] {
            var x = values(n, seed: UInt64(n) + 5)
            if n > 3 { x[1] = .nan; x[2] = -0.0; x[3] = 0 }
            var y = [Float](repeating: 7, count: n)
            fl_relu_forward_f32(x, &y, n)
            for i in 0..<n {
                let want: Float = x[i] > 0 || x[i].isNaN ? x[i] : 0
                #expect(y[i].bitPattern == want.bitPattern || (y[i].isNaN && want.isNaN), "relu n=\(n) i=\(i)")
            }
            let dy = values(n, seed: 77)
            var dx = [Float](repeating: 7, count: n)
            fl_relu_backward_f32(y, dy, &dx, n)
            for i in 0..<n { #expect(dx[i] == (y[i] > 0 ? dy[i] : 0)) }
            var d = [Float](repeating: 7, count: n)
            fl_copy_add_scalar_f32(x, &d, n, 0.25)
            for i in 0..<n { #expect(d[i].bitPattern == (x[i] + 0.25).bitPattern || x[i].isNaN) }
            var r = [Float](repeating: 7, count: n)
            fl_copy_add_relu_f32(x, &r, n, -0.25)
            for i in 0..<n {
                let v = x[i] + -0.25, want: Float = v > 0 || v.isNaN ? v : 0
                #expect(r[i].bitPattern == want.bitPattern || (r[i].isNaN && want.isNaN), "add+relu n=\(n) i=\(i)")
            }
            // The documented order: 16 lane sums, then the halving tree.
            let finite = values(n, seed: 99)
            var lanes = [Float](repeating: 0, count: 16)
            for (i, v) in finite.enumerated() { lanes[i % 16] += v }
            if n % 16 != 0 { for l in (n % 16)..<16 where n > 0 { lanes[l] += 0 } }
            var w = 8
            while w >= 1 { for l in 0..<w { lanes[l] += lanes[l + w] }; w /= 2 }
            #expect(fl_sum_f32(finite, n).bitPattern == lanes[0].bitPattern, "sum n=\(n)")
        }
    }

    /// A Conv2D followed by a ReLU in a `Sequential` (fused: the ReLU is applied as the
    /// convolution writes its output) gives the bits of the same two layers called one after
    /// the other (unfused), forward and backward, in Float and Double, with inputs that put
    /// outputs at exactly 0 and below.
    @Test func fusedConvReLUMatchesSeparateLayers() throws {
        try checkFusedConvReLU(Float.self)
        try checkFusedConvReLU(Double.self)
    }

    private func checkFusedConvReLU<T: TensorScalar>(_: T.Type) throws {
        func layers() throws -> (Conv2D<T>, ReLU<T>) {
            var gen = SeededGenerator(seed: 5)
            return (try Conv2D<T>(inChannels: 3, outChannels: 5, kernelSize: 3, stride: 2, padding: 1, using: &gen), ReLU<T>())
        }
        var gen = SeededGenerator(seed: 8)
        var x = Tensor<T>(randomNormal: [7, 3, 9, 10], using: &gen)
        for i in Swift.stride(from: 0, to: x.count, by: 13) { x.scalars[i] = 0 }
        let (conv, relu) = try layers()
        conv.bias!.value = Tensor(shape: [5], scalars: [0, -0.5, 0.25, 0, 1].map { T($0) })
        let (fusedConv, fusedReLU) = try layers()
        fusedConv.bias!.value = conv.bias!.value
        let sequential = Sequential<T>([fusedConv, fusedReLU])
        #expect(fusedConv.fusesReLU && fusedReLU.isFusedIntoPreviousLayer)
        #expect(!conv.fusesReLU && !relu.isFusedIntoPreviousLayer)

        let y = relu.forward(conv.forward(x, training: true), training: true)
        let yFused = sequential.forward(x, training: true)
        #expect(y.scalars.map(\.bitPatternForTests) == yFused.scalars.map(\.bitPatternForTests), "\(T.self) forward")
        #expect(y.scalars.contains(0) && y.scalars.contains { $0 > 0 })
        let dy = Tensor<T>(randomNormal: y.shape, using: &gen)
        let dx = conv.backward(relu.backward(dy))
        let dxFused = sequential.backward(dy)
        #expect(dx.scalars.map(\.bitPatternForTests) == dxFused.scalars.map(\.bitPatternForTests), "\(T.self) dx")
        #expect(conv.weight.gradient.scalars.map(\.bitPatternForTests)
                == fusedConv.weight.gradient.scalars.map(\.bitPatternForTests), "\(T.self) dW")
        #expect(conv.bias!.gradient.scalars.map(\.bitPatternForTests)
                == fusedConv.bias!.gradient.scalars.map(\.bitPatternForTests), "\(T.self) db")
    }

    /// The weight gradient of a layer with K = C·K_h·K_w < 16 (a first layer on grey images) skips
    /// the GEMM: the kernel against its definition for every K from 1 to 15 and lengths around the
    /// 8-wide blocks, then a whole C = 1 layer's dW against direct loops, with 1 and 2 threads.
    @Test func smallWeightGradientMatchesDefinition() throws {
        var gen = SeededGenerator(seed: 43)
        for k in 1...15 {
            for l in [0, 1, 7, 8, 9, 23, 64] {
                let o = 3
                let dy = (0..<(o * l)).map { _ in Float(Int(gen.next() % 201)) / 100 - 1 }
                let col = (0..<(k * l)).map { _ in Float(Int(gen.next() % 201)) / 100 - 1 }
                var dw = [Float](repeating: .nan, count: o * k + 1)
                fl_weight_gradient_small_f32(dy, col, o, k, l, &dw)
                for i in 0..<o { for r in 0..<k {
                    let exact = (0..<l).reduce(0.0) { $0 + Double(dy[i * l + $1]) * Double(col[r * l + $1]) }
                    #expect(abs(Double(dw[i * k + r]) - exact) <= 1e-5 * max(1, abs(exact)), "k \(k), l \(l)")
                } }
                #expect(dw[o * k].isNaN, "wrote past dw for k \(k)")
            }
        }
        let conv = try Conv2D<Float>(inChannels: 1, outChannels: 5, kernelSize: 3, stride: 2, padding: 1, using: &gen)
        let (n, h, w, o) = (7, 13, 11, 5), (oh, ow) = (7, 6)
        let x = Tensor<Float>(randomNormal: [n, 1, h, w], using: &gen)
        let dy = Tensor<Float>(randomNormal: [n, o, oh, ow], using: &gen)
        func dW(threads: Int) -> Tensor<Float> {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            conv.zeroGradients()
            _ = conv.forward(x, training: true)
            _ = conv.backward(dy)
            return conv.weight.gradient
        }
        let one = dW(threads: 1)
        #expect(one == dW(threads: 2))
        var reference = [Double](repeating: 0, count: o * 9)
        for s in 0..<n { for oc in 0..<o { for i in 0..<oh { for j in 0..<ow { for u in 0..<3 { for v in 0..<3 {
            let ih = 2 * i - 1 + u, iw = 2 * j - 1 + v
            guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
            reference[oc * 9 + u * 3 + v] += Double(dy.scalars[((s * o + oc) * oh + i) * ow + j]) * Double(x.scalars[(s * h + ih) * w + iw])
        } } } } } }
        let scale = reference.map(abs).max()!
        #expect(zip(one.scalars, reference).allSatisfy { abs(Double($0) - $1) <= 1e-5 * scale })
    }

    /// Several chunks (K·P = 72·256 per sample, so 14 samples per 1 MiB chunk: 60 samples make 5),
    /// against direct loops in Double, and the same bits with 1, 2 and 3 threads.
    @Test func chunkedConvMatchesDirectLoops() throws {
        var gen = SeededGenerator(seed: 41)
        let conv = try Conv2D<Float>(inChannels: 8, outChannels: 4, kernelSize: 3, stride: 1, padding: 1, using: &gen)
        let (n, c, h, w, o) = (60, 8, 16, 16, 4)
        #expect(conv.chunkPlan(n: n, k: 72, p: 256).count == 5)
        // A deep layer with small planes (ResNet-18's last stage, K = 4 608, P = 16) still gets
        // 256 columns per chunk, not the 3 samples that fit 1 MiB; a short batch is one chunk.
        #expect(conv.chunkPlan(n: 256, k: 4608, p: 16).samples == 16)
        #expect(conv.chunkPlan(n: 5, k: 4608, p: 16).samples == 5)
        let x = Tensor<Float>(randomNormal: [n, c, h, w], using: &gen)
        let dy = Tensor<Float>(randomNormal: [n, o, h, w], using: &gen)
        func run(threads: Int) -> (y: Tensor<Float>, dx: Tensor<Float>, dw: Tensor<Float>, db: Tensor<Float>) {
            let saved = Parallel.threadCount
            Parallel.threadCount = threads
            defer { Parallel.threadCount = saved }
            conv.zeroGradients()
            let y = conv.forward(x, training: true)
            let dx = conv.backward(dy)
            return (y, dx, conv.weight.gradient, conv.bias!.gradient)
        }
        let one = run(threads: 1), two = run(threads: 2), three = run(threads: 3)
        #expect(one.y == two.y && one.dx == two.dx && one.dw == two.dw && one.db == two.db)
        #expect(one.y == three.y && one.dx == three.dx && one.dw == three.dw && one.db == three.db)

        let wt = conv.weight.value.scalars.map(Double.init), xs = x.scalars.map(Double.init)
        let dys = dy.scalars.map(Double.init), b = conv.bias!.value.scalars.map(Double.init)
        var y = [Double](repeating: 0, count: n * o * h * w), dx = [Double](repeating: 0, count: n * c * h * w)
        var dw = [Double](repeating: 0, count: o * c * 9), db = [Double](repeating: 0, count: o)
        for s in 0..<n { for oc in 0..<o { for i in 0..<h { for j in 0..<w {
            let yi = ((s * o + oc) * h + i) * w + j
            var acc = b[oc]
            db[oc] += dys[yi]
            for ci in 0..<c { for u in 0..<3 { for v in 0..<3 {
                let ih = i - 1 + u, iw = j - 1 + v
                guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                let wi = ((oc * c + ci) * 3 + u) * 3 + v, xi = ((s * c + ci) * h + ih) * w + iw
                acc += wt[wi] * xs[xi]
                dw[wi] += dys[yi] * xs[xi]
                dx[xi] += dys[yi] * wt[wi]
            } } }
            y[yi] = acc
        } } } }
        func maxRelative(_ a: Tensor<Float>, _ ref: [Double]) -> Double {
            let scale = ref.map(abs).max() ?? 1
            return zip(a.scalars, ref).map { abs(Double($0) - $1) }.max()! / scale
        }
        #expect(maxRelative(one.y, y) < 1e-5)
        #expect(maxRelative(one.dx, dx) < 1e-5)
        #expect(maxRelative(one.dw, dw) < 1e-5)
        #expect(maxRelative(one.db, db) < 1e-5)
    }
}

/// The GEMM packing routines (AVX-512 or AVX2, whichever the machine runs) against their
/// definitions (the random GEMM tests cover them through sgemm too; these pin every edge: the
/// panel widths 6 and 16 of the AVX2 kernel and 12 and 32 of the AVX-512 one, ragged rows and
/// kc, and nothing written past the panel).
@Suite struct GEMMPackTests {
    @Test func packRowsAndTransposeMatchDefinitions() {
        var g = SeededGenerator(seed: 5)
        let guardValues = 9
        for (width, kcs) in [(6, [1, 7, 8, 9, 17]), (12, [1, 7, 16, 17, 40]), (16, [1, 5, 8, 15, 16, 17, 40]),
                             (32, [1, 15, 16, 33])] {
            for rows in Set([1, width / 2, width - 1, width]) where rows > 0 {
                for kc in kcs {
                    let ld = max(rows, kc) + 3
                    let src = (0..<(max(rows, kc) * ld)).map { _ in Float(Int(g.next() % 1000)) - 500 }
                    var packed = [Float](repeating: .nan, count: kc * width + guardValues)
                    fl_pack_rows_f32(src, ld, rows, kc, width, &packed)
                    for p in 0..<kc { for j in 0..<width {
                        #expect(packed[p * width + j] == (j < rows ? src[p * ld + j] : 0), "rows w\(width) r\(rows) kc\(kc)")
                    } }
                    #expect(packed[(kc * width)...].allSatisfy { $0.isNaN }, "rows w\(width) r\(rows) kc\(kc) wrote past the panel")
                    packed = [Float](repeating: .nan, count: kc * width + guardValues)
                    fl_pack_transpose_f32(src, ld, rows, kc, width, &packed)
                    for p in 0..<kc { for i in 0..<width {
                        #expect(packed[p * width + i] == (i < rows ? src[i * ld + p] : 0), "transpose w\(width) r\(rows) kc\(kc)")
                    } }
                    #expect(packed[(kc * width)...].allSatisfy { $0.isNaN }, "transpose w\(width) r\(rows) kc\(kc) wrote past the panel")
                }
            }
        }
    }
}

extension TensorScalar {
    /// The value's bits as an integer, for bit-for-bit comparisons of Float and Double.
    var bitPatternForTests: UInt64 {
        if let f = self as? Float { return UInt64(f.bitPattern) }
        if let d = self as? Double { return d.bitPattern }
        return 0
    }
}
