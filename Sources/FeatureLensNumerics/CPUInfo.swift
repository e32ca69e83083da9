import CFeatureLensKernels
import Dispatch
import Foundation

/// Facts about the CPU the process runs on: its name and its measured floating-point peak.
public enum CPUInfo {
    /// The CPU's model name: the CPUID brand string on x86-64, else the first "model name"
    /// (or "Model"/"Hardware") line of `/proc/cpuinfo`, else the machine architecture.
    public static let name: String = {
        var buffer = [CChar](repeating: 0, count: 64)
        fl_cpu_brand(&buffer, buffer.count)
        let brand = String(cString: buffer).trimmingCharacters(in: .whitespaces)
        if !brand.isEmpty { return brand }
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for key in ["model name", "Model", "Hardware"] {
                for line in text.split(separator: "\n") where line.hasPrefix(key) {
                    if let colon = line.firstIndex(of: ":") {
                        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                        if !value.isEmpty { return value }
                    }
                }
            }
        }
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return machine.isEmpty ? "unknown" : machine
    }()

    /// Measures the single-precision fused-multiply-add peak in GFLOP/s (10⁹ floating-point
    /// operations per second; one FMA counts as 2 per lane) of `threads` threads running at
    /// once.
    ///
    /// Each thread runs a loop of independent vector FMAs on registers only (no loads or
    /// stores), with the widest vectors of `kernel` (`.avx512`: 16 lanes, `.avx2`: 8 lanes,
    /// `.generic`: 4-lane multiply + add). The best of `repeats` timed runs of about
    /// `seconds` each is returned, so other load on the machine lowers the figure only if it
    /// lasts through every run. This is the ceiling a GEMM micro-kernel can approach.
    public static func measureFMAPeak(threads: Int = 1, kernel: GEMMKernel = .best,
                                      seconds: Double = 0.1, repeats: Int = 5) -> Double {
        let t = max(1, threads)
        let id = (kernel.isSupported ? kernel : .generic).cID
        // Calibrate the iteration count on one thread.
        var sink: Float = 0
        var iterations = 1 << 16
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = fl_fma_peak_loop(id, iterations, &sink)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if elapsed > 0.02 || iterations > (1 << 40) {
                iterations = max(1, Int(Double(iterations) * seconds / max(elapsed, 1e-9)))
                break
            }
            iterations *= 4
        }
        var best = 0.0
        for _ in 0..<max(1, repeats) {
            let flopsPerThread = UnsafeMutablePointer<Double>.allocate(capacity: t)
            defer { flopsPerThread.deallocate() }
            let start = DispatchTime.now().uptimeNanoseconds
            Parallel.forEach(chunks: t, threads: t) { worker in
                var s: Float = 0
                flopsPerThread[worker] = fl_fma_peak_loop(id, iterations, &s)
            }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            var flops = 0.0
            for w in 0..<t { flops += flopsPerThread[w] }
            best = max(best, flops / elapsed * 1e-9)
        }
        return best
    }
}
