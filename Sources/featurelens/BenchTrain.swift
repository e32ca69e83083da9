import ArgumentParser
import Dispatch
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench train`: training steps per second of a linear encoder with NT-Xent,
/// next to PyTorch doing the same work.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training steps per second (linear encoder, NT-Xent), next to PyTorch.",
        discussion: helpDiscussion("""
        The workload: a linear encoder z = Wx (d = 512, p = 64, no bias) trained with NT-Xent \
        (τ = 0.5) on shuffled batches of 512 examples from 4096 standard-normal inputs; the two \
        views of a batch add independent N(0, 0.1²) noise; plain SGD with learning rate 0.1. \
        It runs through the library's Trainer, Linear, InfoNCELoss and SGD. \
        Benchmarks/pytorch_train_bench.py does the same work in PyTorch; when torch imports in \
        the --python interpreter, both run interleaved (--rounds rounds of --seconds each) and \
        the medians and their ratio are printed.
        """, examples: [
            HelpExample("FeatureLens alone (when torch does not import in python3)", "featurelens bench train"),
            HelpExample("Next to PyTorch in a virtual environment, 1 s rounds",
                        "featurelens bench train --python venv/bin/python --seconds 1"),
            HelpExample("One thread, one JSON object", "featurelens bench train --threads 1 --json"),
        ])
    )

    @Flag(name: .long, help: "Print one JSON object: {\"train\": {\"featurelens_steps_per_s\", \"pytorch_steps_per_s\", \"ratio\"}}.")
    var json = false

    @Option(name: .long, help: "Python interpreter for the PyTorch reference (skipped when torch does not import).")
    var python: String = "python3"

    @Option(name: .long, help: "Threads for FeatureLens and PyTorch (default: all cores).")
    var threads: Int = Parallel.availableCores

    @Option(name: .long, help: "Seconds per timed round and side.")
    var seconds: Double = 2

    @Option(name: .long, help: "Interleaved rounds (the median is reported).")
    var rounds: Int = 3

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be > 0, got \(seconds)") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
    }

    static let d = 512, p = 64, examples = 4096, batch = 512
    static let temperature = 0.5, noise = 0.1, learningRate = 0.1

    /// The benchmark's trainer, built exactly as described in the discussion.
    static func makeTrainer(seed: UInt64 = 0) throws -> Trainer {
        var g = SeededGenerator(seed: seed)
        let x = Tensor<Float>(shape: [examples, d], scalars: NormalSampler.draw(examples * d, using: &g))
        let linear = try Linear<Float>(inFeatures: d, outFeatures: p, bias: false, using: &g)
        let encoder = Encoder<Float>(backbone: linear)
        let sgd = try SGD<Float>(parameters: encoder.parameters, learningRate: learningRate)
        return try Trainer(encoder: encoder, loss: try InfoNCELoss(temperature: temperature), optimizer: sgd,
                           inputs: x, viewMaker: try GaussianNoiseViews(standardDeviation: noise),
                           configuration: TrainerConfiguration(batchSize: batch, seed: seed))
    }

    func run() throws {
        Parallel.threadCount = threads
        let trainer = try Self.makeTrainer()
        let progress = !json && isatty(fileno(stderr)) != 0

        // Warm-up (page faults, workspace allocation).
        _ = try timeSteps(trainer, seconds: 0.5)

        var reference: PythonReference?
        do {
            reference = try PythonReference(
                python: python, script: try BenchScripts.path("pytorch_train_bench.py"),
                arguments: ["--threads", "\(threads)", "--examples", "\(Self.examples)", "--batch", "\(Self.batch)",
                            "--d", "\(Self.d)", "--p", "\(Self.p)", "--tau", "\(Self.temperature)",
                            "--sigma", "\(Self.noise)", "--lr", "\(Self.learningRate)"])
        } catch {
            BenchScripts.warn("PyTorch reference skipped: \(error)")
        }
        defer { reference?.close() }

        var ours: [Double] = [], theirs: [Double] = []
        for r in 0..<rounds {
            if progress { BenchScripts.status("round \(r + 1)/\(rounds): FeatureLens…") }
            ours.append(try timeSteps(trainer, seconds: seconds))
            if let ref = reference {
                if progress { BenchScripts.status("round \(r + 1)/\(rounds): PyTorch…") }
                do {
                    let reply = try ref.request("run \(seconds)")
                    guard let rate = reply["steps_per_s"] as? Double else {
                        throw BenchFailure("the PyTorch script replied \(reply)")
                    }
                    theirs.append(rate)
                } catch {
                    BenchScripts.warn("PyTorch reference failed: \(error)")
                    reference?.close()
                    reference = nil
                    theirs = []
                }
            }
        }
        if progress { BenchScripts.status(nil) }

        let fl = BenchScripts.median(ours)
        let pt = theirs.isEmpty ? nil : BenchScripts.median(theirs)
        let ratio = pt.map { fl / $0 }
        if json {
            print("{\"train\": {\"featurelens_steps_per_s\": \(BenchScripts.number(fl)), "
                  + "\"pytorch_steps_per_s\": \(BenchScripts.number(pt)), \"ratio\": \(BenchScripts.number(ratio))}}")
        } else {
            print("Workload: linear encoder \(Self.d) → \(Self.p) (no bias), NT-Xent τ = \(Self.temperature), "
                  + "batch \(Self.batch) (\(2 * Self.batch) views), noise σ = \(Self.noise), SGD lr \(Self.learningRate), "
                  + "\(threads) thread(s)")
            print("FeatureLens: \(String(format: "%.1f", fl)) steps/s (median of \(rounds) × \(seconds) s; "
                  + "rounds \(ours.map { String(format: "%.1f", $0) }.joined(separator: ", ")))")
            if let pt, let ratio {
                print("PyTorch:     \(String(format: "%.1f", pt)) steps/s "
                      + "(rounds \(theirs.map { String(format: "%.1f", $0) }.joined(separator: ", ")))")
                print("Ratio:       \(String(format: "%.2f", ratio))× (FeatureLens / PyTorch; target ≥ 2)")
            } else {
                print("PyTorch:     not measured (torch does not import in \(python))")
            }
        }
    }

    /// Steps per second over at least `seconds` of whole steps.
    private func timeSteps(_ trainer: Trainer, seconds: Double) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        var steps = 0
        var elapsed = 0.0
        repeat {
            try trainer.run(untilStep: trainer.step + 1)
            steps += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        } while elapsed < seconds
        return Double(steps) / elapsed
    }
}

// MARK: - Shared by the training benchmarks

/// A benchmark failure with a message.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Helpers for `bench train` and `bench conv`.
enum BenchScripts {
    /// Path of a script in the repository's `Benchmarks/` folder (found from this source file's
    /// location, then from the current directory).
    static func path(_ name: String) throws -> String {
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks").appendingPathComponent(name).path
        let fromCwd = FileManager.default.currentDirectoryPath + "/Benchmarks/" + name
        for candidate in [fromSource, fromCwd] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw BenchFailure("benchmark script \(name) not found at \(fromSource) or \(fromCwd)")
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// A JSON number with 4 significant decimals, or `null`.
    static func number(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "null" }
        return String(format: "%.4g", x)
    }

    static func warn(_ message: String) {
        writeError("featurelens bench: \(message)\n")
    }

    /// One-line status on a terminal's standard error (nil clears it), under the same lock as
    /// the log lines (`TerminalStatusLine`).
    static func status(_ message: String?) {
        if let message { TerminalStatusLine.standardError.show(message) } else { TerminalStatusLine.standardError.clear() }
    }
}

/// A PyTorch benchmark script running in `--serve` mode: one JSON object per request line.
final class PythonReference {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    private var buffer = Data()
    /// The torch version the script reported.
    private(set) var torchVersion = ""

    /// Starts `python script --serve arguments…` and waits for its `{"ready": true}` line.
    /// - Throws: `BenchFailure` if the interpreter cannot start, torch does not import (exit
    ///   status 2) or the script fails.
    init(python: String, script: String, arguments: [String]) throws {
        if python.contains("/") {
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, "--serve"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, script, "--serve"] + arguments
        }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw BenchFailure("cannot run \(python): \(error.localizedDescription)")
        }
        let hello: [String: Any]
        do { hello = try readObject() } catch {
            process.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if process.terminationStatus == 2 { throw BenchFailure("torch does not import in \(python) (\(message))") }
            throw BenchFailure("\(script) failed with status \(process.terminationStatus): \(message)")
        }
        guard hello["ready"] as? Bool == true else { throw BenchFailure("\(script) did not report ready: \(hello)") }
        torchVersion = hello["torch"] as? String ?? "?"
    }

    /// Sends one request line and returns the JSON object of the reply.
    func request(_ line: String) throws -> [String: Any] {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
        return try readObject()
    }

    private func readObject() throws -> [String: Any] {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[(nl + 1)...])
                guard let obj = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw BenchFailure("not a JSON object: \(String(decoding: line, as: UTF8.self))")
                }
                return obj
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw BenchFailure("the PyTorch script closed its output") }
            buffer.append(chunk)
        }
    }

    /// Asks the script to quit and waits for it.
    func close() {
        guard process.isRunning else { return }
        input.fileHandleForWriting.write(Data("quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
