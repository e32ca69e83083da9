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
// Implementation: `sigaction` handlers that only touch lock-free atomics (async-signal-safe).
// (Dispatch signal sources were tried first: on Linux libdispatch installs its own handler once
// per signal, so restoring the previous disposition after a run silently disables every later
// source for that signal.)
import Foundation
import Synchronization

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

/// Process-wide signal state written by the asynchronous signal handler (lock-free atomics
/// are async-signal-safe; nothing else runs inside the handler except `write` and `_exit`).
@available(macOS 15.0, *)
private enum SignalState {
    /// The first signal received since the monitor was created, or 0.
    static let pending = Atomic<Int32>(0)
    /// Whether a second signal exits at once.
    static let forceExit = Atomic<Bool>(true)
}

@available(macOS 15.0, *)
private func handleSignal(_ sig: Int32) {
    let (first, _) = SignalState.pending.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent)
    if !first && SignalState.forceExit.load(ordering: .sequentiallyConsistent) {
        let message: StaticString = "featurelens: second signal received, stopping now without saving\n"
        _ = message.withUTF8Buffer { write(2, $0.baseAddress, $0.count) }
        _exit(128 + sig)
    }
}

/// Watches for SIGINT and SIGTERM from creation until `cancel()` (or deinit), recording the
/// first one received. Thread-safe. Signal dispositions are process-wide, so at most one
/// monitor may be active at a time; creating one clears any signal recorded before.
@available(macOS 15.0, *)
public final class InterruptionMonitor: @unchecked Sendable {
    private let lock = NSLock()
    private var previous: [(Int32, sigaction)] = []

    /// Installs handlers for `signals` (with `SA_RESTART`, so interrupted system calls resume).
    /// - Parameters:
    ///   - signals: the signals to watch (default SIGINT and SIGTERM).
    ///   - forceExitOnSecondSignal: when true (default), a second watched signal received
    ///     after the first exits the process immediately with code 128 + that signal.
    public init(signals: [InterruptionSignal] = InterruptionSignal.allCases, forceExitOnSecondSignal: Bool = true) {
        SignalState.pending.store(0, ordering: .sequentiallyConsistent)
        SignalState.forceExit.store(forceExitOnSecondSignal, ordering: .sequentiallyConsistent)
        for s in signals {
            var action = sigaction()
            #if os(Linux)
            action.__sigaction_handler.sa_handler = { handleSignal($0) }
            #else
            action.__sigaction_u.__sa_handler = { handleSignal($0) }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            var old = sigaction()
            sigaction(s.rawValue, &action, &old)
            previous.append((s.rawValue, old))
        }
    }

    deinit { cancel() }

    /// The first signal received, or nil. Check it between training steps.
    public var signal: InterruptionSignal? {
        InterruptionSignal(rawValue: SignalState.pending.load(ordering: .sequentiallyConsistent))
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
    /// already recorded stays readable through `signal` until the next monitor is created.
    public func cancel() {
        lock.lock()
        let toRestore = previous
        previous = []
        lock.unlock()
        for (sig, old) in toRestore {
            var o = old
            sigaction(sig, &o, nil)
        }
    }
}
