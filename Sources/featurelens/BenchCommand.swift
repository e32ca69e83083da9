import ArgumentParser
import FeatureLens
import Dispatch
import Foundation
import FeatureLensNumerics

/// `featurelens bench`: speed measurements of the numerics core.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed on this machine: GEMM against the FMA peak, training steps and a ConvNet and ResNet-18 epoch against PyTorch, the Gram-space step, a logistic-probe fit and the default audit against scikit-learn, image decoding against Pillow.",
        discussion: helpDiscussion("", examples: [
            HelpExample("GEMM throughput against this machine's FMA peak", "featurelens bench gemm"),
            HelpExample("Training steps per second next to PyTorch (when torch imports)",
                        "featurelens bench train --python venv/bin/python"),
            HelpExample("A logistic-probe fit on 2000 rows", "featurelens bench probe --rows 2000"),
        ]),
        subcommands: [BenchGEMMCommand.self, BenchTrain.self, BenchConv.self, BenchLinear.self, BenchProbe.self, BenchAudit.self, BenchDecode.self]
    )
}

/// `featurelens bench gemm`: single-precision GEMM throughput next to the measured FMA peak.
struct BenchGEMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GEMM throughput (GFLOP/s) against this machine's measured FMA peak.",
        discussion: helpDiscussion("""
        Times C = A·B for square Float matrices (row-major, no transposes, β = 0) at each size, \
        on 1 thread and on --threads threads: the median GFLOP/s (2·m·n·k / seconds / 10⁹) of \
        repeated runs after a warm-up. Next to it: the peak of a register-only FMA loop with \
        the same number of threads, and the micro-kernel family in use (override with \
        FEATURELENS_KERNEL=generic|avx2|avx512).
        """, examples: [
            HelpExample("Sizes 256 to 2048 on 1 thread and on all cores", "featurelens bench gemm"),
            HelpExample("Two sizes, 1 and 2 threads", "featurelens bench gemm --sizes 512 1024 --threads 2"),
            HelpExample("Double precision, one JSON object", "featurelens bench gemm --double --json"),
        ])
    )

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    /// `--threads N` (the largest thread count measured: 1 and N; default all cores), `--quiet`.
    @OptionGroup var global: GlobalOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Square sizes to time.")
    var sizes: [Int] = [256, 512, 1024, 2048]

    @Option(name: .long, help: "Minimum timed runs per size (after one warm-up run).")
    var repeats: Int = 5

    @Flag(name: .long, help: "Time dgemm (Double) instead of sgemm; the peak shown is then half the Float FMA peak.")
    var double = false

    @Flag(name: .long, help: ArgumentHelp(
        "Divide by process CPU time instead of wall time (threads × per-thread rate; for tuning on a busy machine).",
        visibility: .hidden))
    var cpuClock = false

    @Option(name: .long, help: "Python with torch: also time torch.matmul (Benchmarks/torch_matmul.py).")
    var python: String?

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 && $0 <= 16384 }) else {
            throw ValidationError("--sizes must be integers in 1...16384, got \(sizes)")
        }
    }

    func run() throws {
        _ = global.apply()
        let kernel = try GEMMKernel.fromEnvironment() ?? GEMMKernel.active
        let threads = global.threads ?? Parallel.availableCores
        let threadCounts = threads == 1 ? [1] : [1, threads]
        let progress = !json && !global.quiet && isatty(fileno(stderr)) != 0

        var peaks: [Int: Double] = [:]
        for t in threadCounts {
            peaks[t] = CPUInfo.measureFMAPeak(threads: t, kernel: GEMMKernel.best) / (double ? 2 : 1)
        }

        var results: [GEMMBenchResult] = []
        for size in sizes {
            for t in threadCounts {
                if progress {
                    TerminalStatusLine.standardError.show("  timing \(size)³ on \(t) thread(s)…")
                }
                results.append(double
                    ? timeGEMM(Double.self, size: size, threads: t, kernel: kernel, repeats: repeats)
                    : timeGEMM(Float.self, size: size, threads: t, kernel: kernel, repeats: repeats))
            }
        }
        if progress { TerminalStatusLine.standardError.clear() }

        var torch: [GEMMBenchResult] = []
        if let python {
            torch = try TorchReference.run(python: python, sizes: sizes, threadCounts: threadCounts,
                                           repeats: repeats)
        }

        if json {
            print(jsonReport(kernel: kernel, peaks: peaks, threadCounts: threadCounts,
                             results: results, torch: torch))
        } else {
            print(textReport(kernel: kernel, peaks: peaks, threadCounts: threadCounts,
                             results: results, torch: torch))
        }
    }

    // MARK: Timing

    private func timeGEMM<T: TensorScalar>(_: T.Type, size: Int, threads: Int, kernel: GEMMKernel,
                                           repeats: Int) -> GEMMBenchResult {
        var generator = SeededGenerator(seed: UInt64(size))
        let a = Tensor<T>(randomUniform: [size, size], low: -1, high: 1, using: &generator)
        let b = Tensor<T>(randomUniform: [size, size], low: -1, high: 1, using: &generator)
        var c = [T](repeating: 0, count: size * size)
        let flops = 2.0 * Double(size) * Double(size) * Double(size)
        var rates: [Double] = []
        a.scalars.withUnsafeBufferPointer { ap in
            b.scalars.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    func once() -> Double {
                        let start = cpuClock ? processCPUSeconds() : wallSeconds()
                        if T.self == Float.self {
                            sgemm(transposeA: false, transposeB: false, m: size, n: size, k: size, alpha: 1,
                                  a: UnsafeRawPointer(ap.baseAddress!).assumingMemoryBound(to: Float.self), lda: size,
                                  b: UnsafeRawPointer(bp.baseAddress!).assumingMemoryBound(to: Float.self), ldb: size,
                                  beta: 0, c: UnsafeMutableRawPointer(cp.baseAddress!).assumingMemoryBound(to: Float.self),
                                  ldc: size, threads: threads, kernel: kernel)
                        } else {
                            dgemm(transposeA: false, transposeB: false, m: size, n: size, k: size, alpha: 1,
                                  a: UnsafeRawPointer(ap.baseAddress!).assumingMemoryBound(to: Double.self), lda: size,
                                  b: UnsafeRawPointer(bp.baseAddress!).assumingMemoryBound(to: Double.self), ldb: size,
                                  beta: 0, c: UnsafeMutableRawPointer(cp.baseAddress!).assumingMemoryBound(to: Double.self),
                                  ldc: size, threads: threads, kernel: kernel)
                        }
                        if cpuClock { return (processCPUSeconds() - start) / Double(threads) }
                        return wallSeconds() - start
                    }
                    // Warm-up: at least one run and about 0.1 s.
                    var warm = 0.0
                    repeat { warm += once() } while warm < 0.1
                    // Timed runs: at least `repeats`, and at least 0.5 s in total (max 200 runs).
                    var total = 0.0
                    while rates.count < repeats || (total < 0.5 && rates.count < 200) {
                        let seconds = once()
                        total += seconds
                        rates.append(flops / seconds * 1e-9)
                    }
                }
            }
        }
        return GEMMBenchResult(m: size, n: size, k: size, threads: threads, gflops: median(rates))
    }

    // MARK: Reports

    private func jsonReport(kernel: GEMMKernel, peaks: [Int: Double], threadCounts: [Int],
                            results: [GEMMBenchResult], torch: [GEMMBenchResult]) -> String {
        let peakFields = threadCounts.map { "\"\($0)\": \(rounded(peaks[$0] ?? 0))" }.joined(separator: ", ")
        func list(_ rows: [GEMMBenchResult]) -> String {
            rows.map { r in
                "{\"m\": \(r.m), \"n\": \(r.n), \"k\": \(r.k), \"threads\": \(r.threads), \"gflops\": \(rounded(r.gflops))}"
            }.joined(separator: ", ")
        }
        var out = "{\"cpu\": \(jsonString(CPUInfo.name)), \"kernel\": \(jsonString(kernel.rawValue)), "
        out += "\"peak_gflops\": {\(peakFields)}, \"gemm\": [\(list(results))]"
        if !torch.isEmpty { out += ", \"torch\": [\(list(torch))]" }
        return out + "}"
    }

    private func textReport(kernel: GEMMKernel, peaks: [Int: Double], threadCounts: [Int],
                            results: [GEMMBenchResult], torch: [GEMMBenchResult]) -> String {
        var lines: [String] = []
        lines.append("CPU:    \(CPUInfo.name)")
        lines.append("Kernel: \(kernel) (best this CPU supports: \(GEMMKernel.best); override with \(GEMMKernel.environmentVariable))")
        let peakKind = double ? "double-precision FMA peak (half the measured single-precision"
                              : "single-precision FMA peak (measured with a"
        lines.append("Peak:   \(peakKind) register-only loop, \(GEMMKernel.best)): "
                     + threadCounts.map { "\(fmt(peaks[$0] ?? 0)) GFLOP/s on \($0) thread\($0 == 1 ? "" : "s")" }.joined(separator: ", "))
        lines.append("")
        lines.append("\(double ? "dgemm" : "sgemm") C = A·B, square \(double ? "Double" : "Float") matrices; median GFLOP/s (10⁹ flop/s, 2·n³ per product) after warm-up,")
        lines.append("against the machine's measured FMA peak for the same thread count:")
        lines.append("")
        var header = "   size  threads    GFLOP/s   % of peak"
        if !torch.isEmpty { header += "   torch.matmul" }
        lines.append(header)
        for r in results {
            let peak = peaks[r.threads] ?? 0
            let percent: String = peak > 0 ? String(format: "%.0f%%", 100 * r.gflops / peak) : "-"
            var line: String = pad(String(r.m), 7)
            line += pad(String(r.threads), 9)
            line += pad(fmt(r.gflops), 11)
            line += pad(percent, 12)
            if let t = torch.first(where: { $0.m == r.m && $0.threads == r.threads }) {
                line += pad(fmt(t.gflops), 15)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// One timed GEMM configuration.
struct GEMMBenchResult {
    var m: Int, n: Int, k: Int, threads: Int, gflops: Double
}

/// Runs Benchmarks/torch_matmul.py with a user-given Python and parses its JSON.
enum TorchReference {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func scriptPath() -> String {
        // Sources/featurelens/BenchCommand.swift → package root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("Benchmarks/torch_matmul.py").path
    }

    static func run(python: String, sizes: [Int], threadCounts: [Int], repeats: Int) throws -> [GEMMBenchResult] {
        let script = scriptPath()
        guard FileManager.default.fileExists(atPath: script) else {
            throw Failure(description: "--python: benchmark script not found at \(script)")
        }
        var arguments: [String] = [script, "--sizes"]
        arguments += sizes.map { String($0) }
        arguments.append("--threads")
        arguments += threadCounts.map { String($0) }
        arguments += ["--repeats", String(repeats)]
        let result: (status: Int32, stdout: String, stderr: String)
        do { result = try ChildProcess.run(python, arguments) } catch {
            throw Failure(description: "--python \(python): cannot run it (\(error.localizedDescription))")
        }
        guard result.status == 0 else {
            let message = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
            throw Failure(description: "--python \(python): \(script) failed (status \(result.status)): \(message)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let rows = object["gemm"] as? [[String: Any]] else {
            throw Failure(description: "--python \(python): \(script) printed no JSON object with a \"gemm\" list")
        }
        return rows.compactMap { row in
            guard let m = row["m"] as? Int, let n = row["n"] as? Int, let k = row["k"] as? Int,
                  let t = row["threads"] as? Int, let g = (row["gflops"] as? NSNumber)?.doubleValue else { return nil }
            return GEMMBenchResult(m: m, n: n, k: k, threads: t, gflops: g)
        }
    }
}

private func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

private func rounded(_ x: Double) -> String { String(format: "%.1f", x) }
private func fmt(_ x: Double) -> String { String(format: "%.1f", x) }
private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

private func jsonString(_ s: String) -> String { jsonStringLiteral(s) }

private func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
