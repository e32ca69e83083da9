// SIGINT/SIGTERM handling: a received signal sets the flag (the process keeps running), the
// exit codes are 130 and 143, and cancelling restores the previous disposition. The tests
// send real signals to this process, so they run serialized.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Waits up to 5 s for the monitor to record a signal (Dispatch delivers it on another thread).
private func waitForSignal(_ m: InterruptionMonitor) -> InterruptionSignal? {
    for _ in 0..<500 {
        if let s = m.signal { return s }
        usleep(10_000)
    }
    return nil
}

@Suite(.serialized) struct InterruptionTests {
    @Test func exitCodes() {
        #expect(InterruptionSignal.interrupt.exitCode == 130)
        #expect(InterruptionSignal.terminate.exitCode == 143)
        #expect(InterruptionSignal.interrupt.rawValue == SIGINT && InterruptionSignal.terminate.rawValue == SIGTERM)
        #expect(Interrupted(signal: .terminate, completedSteps: 12).exitCode == 143)
        #expect(Interrupted(signal: .interrupt, completedSteps: 12).description.contains("after step 12"))
    }

    @Test func sigtermSetsTheFlagAndTheProcessSurvives() throws {
        let monitor = InterruptionMonitor(forceExitOnSecondSignal: false)
        defer { monitor.cancel() }
        #expect(monitor.signal == nil)
        try monitor.throwIfInterrupted()
        kill(getpid(), SIGTERM)
        #expect(waitForSignal(monitor) == .terminate)
        #expect(monitor.isInterrupted)
        #expect(throws: Interrupted(signal: .terminate, completedSteps: 5)) { try monitor.throwIfInterrupted(completedSteps: 5) }
        // A later, different signal does not replace the first.
        kill(getpid(), SIGINT)
        usleep(100_000)
        #expect(monitor.signal == .terminate)
    }

    @Test func sigintIsRecorded() {
        let monitor = InterruptionMonitor(signals: [.interrupt], forceExitOnSecondSignal: false)
        defer { monitor.cancel() }
        kill(getpid(), SIGINT)  // process-directed, like Ctrl-C (test threads may block signals, so not raise)
        #expect(waitForSignal(monitor) == .interrupt)
    }

    @Test func cancelRestoresThePreviousDisposition() {
        let sentinel: @convention(c) (Int32) -> Void = { _ in }
        let original = signal(SIGTERM, sentinel)
        defer { signal(SIGTERM, original) }
        let monitor = InterruptionMonitor(signals: [.terminate], forceExitOnSecondSignal: false)
        monitor.cancel()
        monitor.cancel()  // idempotent
        let restored = signal(SIGTERM, original)
        #expect(restored.map { unsafeBitCast($0, to: UInt.self) } == unsafeBitCast(sentinel, to: UInt.self))
    }
}
