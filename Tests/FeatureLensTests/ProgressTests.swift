import Foundation
import Synchronization
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The run progress model (totals over settings, windowed rate, time left), the status line
/// that keeps log lines apart from it, and the steps the synthetic engine reports.
@Suite struct ProgressTests {
    /// Totals add every setting's steps (settings running at the same time included); no rate
    /// or time left before `minimumSpan` seconds of history; then the rate of the last window
    /// (not the average since the start) and the time left of the whole run.
    @Test func windowedRateAndTimeLeftOverAllSettings() {
        var p = RunProgress(window: 10, minimumSpan: 3)
        p.apply(.planned(steps: [4000, 4000, 2000]), at: 100)
        #expect(p.totalSteps == 10_000 && p.doneSteps == 0 && p.settingCount == 3)
        #expect(p.rate == nil && p.secondsLeft == nil)
        p.apply(.started(setting: 0, done: 0), at: 100)
        p.apply(.started(setting: 1, done: 0), at: 100)
        // Two settings at the same time, each 100 steps per 0.5 s (setting 1 a quarter second
        // after setting 0): 400 steps/s together.
        var t = 100.0, done = 0
        func tick() {
            done += 100
            p.apply(.stepped(setting: 0, done: done, loss: nil), at: t + 0.25)
            p.apply(.stepped(setting: 1, done: done, loss: nil), at: t + 0.5)
            t += 0.5
        }
        while t < 102 { tick() }
        #expect(p.doneSteps == 800)
        #expect(p.rate == nil, "only 2 s of history")
        #expect(!p.line(label: "x").contains("steps/s") && !p.line(label: "x").contains("left"))
        while t < 120 { tick() }
        #expect(p.doneSteps == 2 * 4000)
        #expect(abs(p.rate! - 400) < 1e-9, "rate \(p.rate!)")
        p.apply(.finished(setting: 0, done: 4000), at: t)
        p.apply(.finished(setting: 1, done: 4000), at: t)
        // The third setting alone, 50 steps per 0.5 s = 100 steps/s: after a full window the
        // rate is the new one (the average since the start would be about 280).
        p.apply(.started(setting: 2, done: 0), at: t)
        var done2 = 0
        for _ in 0..<24 {  // 12 s
            t += 0.5; done2 += 50
            p.apply(.stepped(setting: 2, done: done2, loss: 0.25), at: t)
        }
        #expect(abs(p.rate! - 100) < 1e-9, "rate \(p.rate!)")
        #expect(abs(p.secondsLeft! - Double(2000 - 1200) / 100) < 1e-9)
        #expect(p.settingsFinished == 2)
        let line = p.line(label: "fs-a")
        #expect(line.hasPrefix("fs-a: 9200/10000 steps (92 %), 2/3 settings done, loss 0.25, 100 steps/s, 8s left"), "\(line)")
    }

    /// Steps restored from a checkpoint count as done but not towards the rate; a setting that
    /// ends early (stopped, diverged) takes its remaining steps out of the total.
    @Test func restoredStepsAndEarlyEnds() {
        var p = RunProgress(window: 10, minimumSpan: 2)
        p.apply(.planned(steps: [1000, 1000]), at: 0)
        p.apply(.started(setting: 0, done: 600), at: 0)
        #expect(p.doneSteps == 600 && p.rate == nil)
        p.apply(.stepped(setting: 0, done: 700, loss: nil), at: 4)
        #expect(abs(p.rate! - 25) < 1e-9, "100 steps in 4 s, not 700")
        #expect(abs(p.secondsLeft! - 1300.0 / 25) < 1e-9)
        p.apply(.finished(setting: 0, done: 800), at: 8)
        #expect(p.totalSteps == 1800 && p.doneSteps == 800)
        p.apply(.stepped(setting: 5, done: 10, loss: nil), at: 9)  // not in the plan: ignored
        #expect(p.doneSteps == 800)
    }

    /// With a progress line shown, a log record is written on a cleared line and the progress
    /// line is drawn again after it; without one (or off a terminal), the text goes as is.
    @Test func logLinesAreWrittenAboveTheProgressLine() {
        let out = Mutex<String>("")
        let line = TerminalStatusLine(isTerminal: true, output: { s in out.withLock { $0 += s } })
        line.write("first log\n")
        #expect(out.withLock { $0 } == "first log\n")
        line.show("run: 10/100 steps")
        line.write("second log\n")
        line.clear()
        #expect(out.withLock { $0 } == "first log\n" + "\rrun: 10/100 steps\u{1B}[K"
                + "\r\u{1B}[Ksecond log\n\rrun: 10/100 steps\u{1B}[K" + "\r\u{1B}[K")
        let pipe = Mutex<String>("")
        let off = TerminalStatusLine(isTerminal: false, output: { s in pipe.withLock { $0 += s } })
        off.show("progress")
        off.write("log\n")
        off.clear()
        #expect(pipe.withLock { $0 } == "log\n")
    }

    /// Gradient descent calls its step observer every `stepObserverInterval` updates and after
    /// the last, with absolute counts when resumed, and the observer does not change W.
    @Test func gradientDescentReportsItsSteps() throws {
        let (problem, w0) = try fsAUnsupervisedProblem(d: 80, n: 16, dataSeed: 2, p: 2, initSeed: 4, scale: 0.01)
        for method in [LinearStepMethod.gram, .direct] {
            let plain = try LinearGradientDescent(learningRate: 0.05, steps: 25, auditSteps: []).train(problem, initial: w0, method: method) { _ in }
            let seen = Mutex<[Int]>([])
            var gd = LinearGradientDescent(learningRate: 0.05, steps: 25, auditSteps: [])
            gd.stepObserver = { n in seen.withLock { $0.append(n) } }
            gd.stepObserverInterval = 10
            var saved: LinearTrainingState? = nil
            let observed = try gd.train(problem, initial: w0, method: method, checkpointEvery: 12, checkpoint: { if $0.step == 12 { saved = $0 } }) { _ in }
            #expect(seen.withLock { $0 } == [10, 20, 25], "\(method)")
            #expect(observed == plain, "\(method): the observer changed W")
            seen.withLock { $0 = [] }
            guard let state = saved else { Issue.record("\(method): no checkpoint at step 12"); continue }
            _ = try gd.train(problem, initial: w0, method: method, resumeFrom: state) { _ in }
            #expect(seen.withLock { $0 } == [20, 25], "\(method) resumed at 12")
        }
    }

    /// A thread budget that changes from step to step (as the runner lends idle cores) gives
    /// the same W, bit for bit, as one thread throughout.
    @Test func threadBudgetDoesNotChangeTheWeights() throws {
        let (problem, w0) = try fsAUnsupervisedProblem(d: 200, n: 96, dataSeed: 3, p: 3, initSeed: 5, scale: 0.01)
        let plain = try LinearGradientDescent(learningRate: 0.05, steps: 40, auditSteps: []).train(problem, initial: w0, method: .gram) { _ in }
        let calls = Mutex(0)
        var gd = LinearGradientDescent(learningRate: 0.05, steps: 40, auditSteps: [])
        gd.threadBudget = { calls.withLock { $0 += 1; return $0 % 3 == 0 ? 1 : 2 } }  // m = 192 rows: 2 threads split them
        let lent = try gd.train(problem, initial: w0, method: .gram) { _ in }
        #expect(calls.withLock { $0 } == 40, "read before every Gram-space product")
        #expect(lent == plain)
    }

    /// The runner lends a setting the slots the finished ones left, only once none is waiting.
    @Test func jobLoadLendsIdleSlotsToTheLastSettings() {
        let load = JobLoad(jobs: 3, slots: 2)
        load.started(); load.started()          // two run, one waits
        #expect(load.spareThreads() == 1)
        load.finished(); load.started()         // the third starts: none waits, two run
        #expect(load.spareThreads() == 1)
        load.finished()                         // one runs alone
        #expect(load.spareThreads() == 2)
        load.finished()
        #expect(load.spareThreads() == 1)
    }

    /// A synthetic run reports a plan of every setting's steps, then for each setting its start,
    /// increasing step counts ending at its steps, and its end; the events add up to the total.
    @Test func syntheticRunReportsStepsSummingToItsTotal() throws {
        var preset = SyntheticPreset.suppressionEmbeddingSize
        preset.settings = Array(preset.settings.prefix(3))
        let tiny = try preset.applying(set: [("d", "120"), ("n", "20"), ("n_test", "40"), ("K", "2"), ("steps", "250"),
                                             ("audit_steps", "0,250")], grid: [])
        let events = Mutex<[RunProgressEvent]>([])
        var runner = ExperimentRunner(concurrency: 2)
        runner.onProgress = { e in events.withLock { $0.append(e) } }
        let result = try runner.run(.synthetic(tiny))
        #expect(result.runs.count == 3)
        let all = events.withLock { $0 }
        #expect(all.first == .planned(steps: [250, 250, 250]))
        var progress = RunProgress()
        for (k, e) in all.enumerated() { progress.apply(e, at: Double(k)) }
        #expect(progress.totalSteps == 750 && progress.doneSteps == 750 && progress.settingsFinished == 3)
        for i in 0..<3 {
            let counts = all.compactMap { e -> Int? in
                if case let .stepped(s, done, _) = e, s == i { return done }
                return nil
            }
            #expect(counts == [100, 200, 250], "setting \(i): \(counts)")
            #expect(all.contains(.started(setting: i, done: 0)) && all.contains(.finished(setting: i, done: 250)))
        }
    }
}
