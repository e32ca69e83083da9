// Graceful interruption: SIGINT (Ctrl-C) and SIGTERM (e.g. `kill`, a job scheduler) set a
// flag instead of killing the process, so the training loop can finish the current step,
// write a checkpoint and the partial report, and exit with the conventional code 128 + signal:
// 130 for SIGINT, 143 for SIGTERM. A second signal while the first is still being handled exits
// at once with the same code (for a run stuck in a long step); the checkpoint file is then
// still complete, because it is only ever replaced by an atomic rename.
//
// Usage (trainer / CLI):
//
//     let interruption = InterruptionMonitor()          // installs the handlers
//     defer { interruption.cancel() }                   // restores the previous ones
//     for step in … {
//         trainOneStep()
//         if let signal = interruption.signal {         // checked between steps
//             try Checkpoint.save(…); try writePartialReport()
//             throw Interrupted(signal: signal)         // the CLI exits with signal.exitCode
//         }
//     }
//
// Implementation: the signals' default action is replaced by SIG_IGN and a Dispatch signal
// source on a private queue records the first signal under a lock; no Swift code runs inside
// an asynchronous signal handler.
import Dispatch
import Foundation

/// A signal that asks a run to stop gracefully.
public enum InterruptionSignal: Int32, CaseIterable, Sendable, CustomStringConvertible {
    /// SIGINT (2): Ctrl-C on a terminal.
    case interrupt = 2
    /// SIGTERM (15): `kill`, job schedulers, container shutdown.
    case terminate = 15

    /// The process exit code after a graceful stop, 128 + signal number (shell convention):
    /// 130 for SIGINT, 143 for SIGTERM.
    public var exitCode: Int32 { 128 + rawValue }

    /// "SIGINT" or "SIGTERM".
    public var description: String { self == .interrupt ? "SIGINT" : "SIGTERM" }
}

/// Thrown by a training loop that stopped early because of a signal, after it saved a
/// checkpoint and the partial report. The CLI exits with `exitCode`.
public struct Interrupted: Error, CustomStringConvertible, Equatable, Sendable {
    /// The signal that stopped the run.
    public var signal: InterruptionSignal
    /// Steps completed (and saved in the checkpoint) when the run stopped, if known.
    public var completedSteps: Int?

    /// - Parameters: see the properties.
    public init(signal: InterruptionSignal, completedSteps: Int? = nil) {
        self.signal = signal
        self.completedSteps = completedSteps
    }

    /// 130 for SIGINT, 143 for SIGTERM.
    public var exitCode: Int32 { signal.exitCode }

    public var description: String {
        let steps = completedSteps.map { " after step \($0)" } ?? ""
        return "interrupted by \(signal)\(steps); checkpoint and partial report saved (exit code \(exitCode))"
    }
}

/// Watches for SIGINT and SIGTERM from creation until `cancel()` (or deinit), recording the
/// first one received. Thread-safe; at most one monitor should be active at a time (signal
/// dispositions are process-wide).
public final class InterruptionMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var received: InterruptionSignal?
    private var sources: [DispatchSourceSignal] = []
    private var previousHandlers: [(Int32, sig_t?)] = []
    private let queue = DispatchQueue(label: "featurelens.interruption")
    private let forceExitOnSecondSignal: Bool

    /// Installs handlers for `signals`.
    /// - Parameters:
    ///   - signals: the signals to watch (default SIGINT and SIGTERM).
    ///   - forceExitOnSecondSignal: when true (default), a second watched signal received
    ///     after the first exits the process immediately with the second signal's exit code.
    public init(signals: [InterruptionSignal] = InterruptionSignal.allCases, forceExitOnSecondSignal: Bool = true) {
        self.forceExitOnSecondSignal = forceExitOnSecondSignal
        for s in signals {
            // Dispatch sources see the signal only when its default action (terminate) is off.
            previousHandlers.append((s.rawValue, Foundation.signal(s.rawValue, SIG_IGN)))
            let source = DispatchSource.makeSignalSource(signal: s.rawValue, queue: queue)
            source.setEventHandler { [weak self] in self?.record(s) }
            source.resume()
            sources.append(source)
        }
    }

    deinit { cancel() }

    private func record(_ s: InterruptionSignal) {
        lock.lock()
        let first = received == nil
        if first { received = s }
        lock.unlock()
        if !first && forceExitOnSecondSignal {
            FileHandle.standardError.write(Data("\(s) received again: stopping now without saving\n".utf8))
            _exit(s.exitCode)
        }
    }

    /// The first signal received, or nil. Check it between training steps.
    public var signal: InterruptionSignal? {
        lock.lock(); defer { lock.unlock() }
        return received
    }

    /// True once a watched signal has been received.
    public var isInterrupted: Bool { signal != nil }

    /// Throws `Interrupted` if a signal has been received (for loops that have nothing to
    /// save, or after saving).
    /// - Throws: `Interrupted(signal:completedSteps:)`.
    public func throwIfInterrupted(completedSteps: Int? = nil) throws {
        if let s = signal { throw Interrupted(signal: s, completedSteps: completedSteps) }
    }

    /// Stops watching and restores the previous signal dispositions (idempotent). A signal
    /// already recorded stays readable through `signal`.
    public func cancel() {
        lock.lock()
        let toCancel = sources, toRestore = previousHandlers
        sources = []; previousHandlers = []
        lock.unlock()
        for s in toCancel { s.cancel() }
        for (sig, handler) in toRestore { _ = Foundation.signal(sig, handler) }
    }
}
