import Foundation

/// What the runner reports about a run's progress, in optimizer steps
/// (`ExperimentRunner.onProgress`). Settings are numbered in setting order.
public enum RunProgressEvent: Sendable, Equatable {
    /// Before training: the steps of every setting, in setting order.
    case planned(steps: [Int])
    /// Setting `setting` starts with `done` of its steps already done (restored from a
    /// checkpoint; 0 otherwise). Those steps count as done but not towards the rate.
    case started(setting: Int, done: Int)
    /// Setting `setting` has done `done` of its steps (a running count, not an increment);
    /// `loss` is the training loss of the last step, when known.
    case stepped(setting: Int, done: Int, loss: Double?)
    /// Setting `setting` ended after `done` steps (finished, stopped or diverged); steps it did
    /// not do leave the total.
    case finished(setting: Int, done: Int)
}

/// The progress of one run over all its settings: steps done out of the total (the sum of
/// every setting's steps, whether they run one after another or at the same time), a rate
/// averaged over a sliding window of time, and the time left for the whole run.
///
/// A value driven by events and the times they happen (seconds on any monotonic clock), so it
/// is tested with injected times. The rate is (steps done in this process since the anchor) /
/// (time since the anchor), where the anchor is the last sample taken at or before `window`
/// seconds ago (the first sample while the run is younger than that); it is nil until the
/// anchor is `minimumSpan` seconds old and a step was done, and so is the time left. Audits,
/// checkpoints and the theory of a synthetic setting take time without steps, so the rate
/// is of steps per second of wall time, which is what the time left needs.
public struct RunProgress: Sendable, Equatable {
    /// Seconds of history the rate averages over.
    public let window: Double
    /// Seconds of history needed before a rate is given.
    public let minimumSpan: Double
    /// Steps per setting (a finished setting's is the steps it did).
    public private(set) var settingSteps: [Int] = []
    /// Steps done per setting.
    public private(set) var settingDone: [Int] = []
    /// Settings that have ended.
    public private(set) var settingsFinished = 0
    /// The loss of the last step that reported one.
    public private(set) var loss: Double?
    /// Time of the last event.
    public private(set) var time: Double?
    /// Steps done since `planned`, not counting steps restored from checkpoints.
    private var counted = 0
    /// (time, counted) samples, at least `sampleSpacing` apart; the first is the rate's anchor.
    private var samples: [Sample] = []
    private struct Sample: Sendable, Equatable { var time: Double; var counted: Int }
    /// Samples closer than this are not kept (bounds the history to window / spacing samples).
    static let sampleSpacing = 0.25

    /// - Parameters: `window`: seconds the rate averages over (> 0); `minimumSpan`: seconds of
    ///   history before a rate is shown (≤ `window`).
    public init(window: Double = 15, minimumSpan: Double = 3) {
        self.window = max(window, 1e-9)
        self.minimumSpan = min(max(minimumSpan, 0), self.window)
    }

    /// Total steps of the run (sum over settings).
    public var totalSteps: Int { settingSteps.reduce(0, +) }
    /// Steps done (sum over settings, restored ones included).
    public var doneSteps: Int { settingDone.reduce(0, +) }
    /// Number of settings.
    public var settingCount: Int { settingSteps.count }

    /// Steps per second over the window ending at the last event; nil until the history spans
    /// `minimumSpan` seconds and a step was done in it.
    public var rate: Double? {
        guard let now = time, let anchor = samples.first else { return nil }
        let span = now - anchor.time
        let steps = counted - anchor.counted
        guard span >= minimumSpan, span > 0, steps > 0 else { return nil }
        return Double(steps) / span
    }

    /// Seconds until every setting is done at the current rate; nil without a rate.
    public var secondsLeft: Double? {
        guard let r = rate else { return nil }
        return Double(max(0, totalSteps - doneSteps)) / r
    }

    /// Applies an event that happened at `time` (seconds, non-decreasing). Events of a setting
    /// outside the plan are ignored.
    public mutating func apply(_ event: RunProgressEvent, at now: Double) {
        switch event {
        case let .planned(steps):
            settingSteps = steps.map { max(0, $0) }
            settingDone = Array(repeating: 0, count: steps.count)
            settingsFinished = 0
            counted = 0
            samples = []
        case let .started(i, done):
            guard settingDone.indices.contains(i) else { return }
            settingDone[i] = max(0, done)
        case let .stepped(i, done, stepLoss):
            guard settingDone.indices.contains(i) else { return }
            advance(i, to: done)
            if let stepLoss { loss = stepLoss }
        case let .finished(i, done):
            guard settingDone.indices.contains(i) else { return }
            advance(i, to: done)
            settingSteps[i] = settingDone[i]
            settingsFinished += 1
        }
        record(at: now)
    }

    private mutating func advance(_ i: Int, to done: Int) {
        if done > settingDone[i] { counted += done - settingDone[i] }
        settingDone[i] = max(settingDone[i], done)
    }

    private mutating func record(at now: Double) {
        let t = max(now, time ?? now)
        time = t
        // Drop samples that a later sample at or before the window's start makes redundant.
        while samples.count >= 2 && samples[1].time <= t - window { samples.removeFirst() }
        if let last = samples.last, t - last.time < Self.sampleSpacing { return }
        samples.append(Sample(time: t, counted: counted))
    }

    /// The progress line, e.g. "class-collapse: 12400/40000 steps (31 %), 1/2 settings done,
    /// 4120 steps/s, 7s left" (rate and time left only once known; settings only when there
    /// are several; the loss when the steps report one).
    public func line(label: String, unit: String = "steps") -> String {
        let total = totalSteps, done = doneSteps
        let percent = total > 0 ? Int((100 * Double(done) / Double(total)).rounded(.down)) : 0
        var parts = ["\(done)/\(total) \(unit) (\(percent) %)"]
        if settingCount > 1 { parts.append("\(settingsFinished)/\(settingCount) settings done") }
        if let l = loss { parts.append(String(format: "loss %.4g", l)) }
        if let r = rate, let left = secondsLeft {
            parts.append("\(Self.rateText(r)) \(unit)/s")
            parts.append("\(Self.duration(left)) left")
        }
        return "\(label): " + parts.joined(separator: ", ")
    }

    static func rateText(_ r: Double) -> String {
        if r >= 100 { return String(format: "%.0f", r) }
        if r >= 1 { return String(format: "%.1f", r) }
        return String(format: "%.2g", r)
    }

    static func duration(_ s: Double) -> String {
        if !s.isFinite { return "?" }
        if s < 60 { return String(format: "%.0fs", s) }
        if s < 3600 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
        return String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60)
    }
}

/// The one status line at the bottom of standard error on a terminal, and the lines written
/// above it: `write` clears the status line (`\r` then erase-to-end-of-line, `ESC [ K`), writes
/// the text and draws the status line again, so log lines and progress do not run into each
/// other. Every write goes through one lock, so a log record from one thread and a redraw from
/// another never interleave. The status line is cut to the terminal's width less one column
/// (ending in `…`): a line that wrapped would leave its first rows behind when `\r` returns to
/// the start of the last one. Off a terminal, `show` does nothing and `write` writes the text
/// as is.
public final class TerminalStatusLine: @unchecked Sendable {
    /// The process's status line on standard error (active when standard error is a terminal;
    /// width from the terminal, read at each draw so a resized window is followed).
    public static let standardError = TerminalStatusLine(
        isTerminal: isatty(STDERR_FILENO) != 0, output: { FileHandle.standardError.write(Data($0.utf8)) },
        columns: { terminalColumns(STDERR_FILENO) })

    /// Whether the status line is drawn.
    public let isTerminal: Bool
    private let output: @Sendable (String) -> Void
    private let columns: @Sendable () -> Int?
    private var status: String?
    private let lock = NSLock()

    /// - Parameters: `isTerminal`: whether to draw the status line; `output`: where text goes;
    ///   `columns`: the terminal's width in columns (nil: unknown, the line is not cut).
    public init(isTerminal: Bool, output: @escaping @Sendable (String) -> Void,
                columns: @escaping @Sendable () -> Int? = { nil }) {
        self.isTerminal = isTerminal
        self.output = output
        self.columns = columns
    }

    /// Draws `text` as the status line (replacing the previous one), cut to the width.
    public func show(_ text: String) {
        guard isTerminal else { return }
        lock.lock(); defer { lock.unlock() }
        let fitted = Self.fit(text, columns: columns())
        status = fitted
        output("\r" + fitted + "\u{1B}[K")
    }

    /// Clears the status line.
    public func clear() {
        guard isTerminal else { return }
        lock.lock(); defer { lock.unlock() }
        if status != nil { output("\r\u{1B}[K") }
        status = nil
    }

    /// Writes `text` (whole lines, e.g. a log record) above the status line.
    public func write(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        guard isTerminal, let s = status else { output(text); return }
        output("\r\u{1B}[K" + text + "\r" + s + "\u{1B}[K")
    }

    /// `text` cut to `columns - 1` characters, the last one `…`, when longer (one character per
    /// column: the status lines are ASCII but for `…`); as is when `columns` is nil or below 2.
    static func fit(_ text: String, columns: Int?) -> String {
        guard let c = columns, c >= 2, text.count > c - 1 else { return text }
        return String(text.prefix(c - 2)) + "…"
    }

    /// The width of the terminal on `fd` (`TIOCGWINSZ`), else `COLUMNS` from the environment,
    /// else nil.
    static func terminalColumns(_ fd: Int32) -> Int? {
        var size = winsize()
        #if os(Linux)
        let request = UInt(TIOCGWINSZ)
        #else
        let request = TIOCGWINSZ
        #endif
        if ioctl(fd, request, &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
    }
}

/// Shows a run's progress (`RunProgress`) as a status line on a terminal, redrawn at most 10
/// times per second (`TerminalStatusLine`). Silent when standard error is not a terminal or
/// `enabled` is false (`--quiet`), so logs and pipes stay clean.
public final class ProgressDisplay: @unchecked Sendable {
    private let label: String
    private let unit: String
    private let statusLine: TerminalStatusLine
    private let clock: @Sendable () -> Double
    private var progress: RunProgress
    private var lastDraw = -Double.infinity
    private let lock = NSLock()

    /// - Parameters:
    ///   - label: what the line is about (the experiment's name), at most 40 characters shown.
    ///   - unit: what is counted (`steps`, `runs`).
    ///   - enabled: false silences it.
    ///   - statusLine: where it is drawn (default: standard error's).
    ///   - clock: seconds on a monotonic clock (default: the system's uptime).
    public init(label: String, unit: String = "steps", enabled: Bool = true,
                statusLine: TerminalStatusLine = .standardError, progress: RunProgress = RunProgress(),
                clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.label = label.count > 40 ? String(label.prefix(39)) + "…" : label
        self.unit = unit
        self.statusLine = enabled ? statusLine : TerminalStatusLine(isTerminal: false, output: { _ in })
        self.clock = clock
        self.progress = progress
    }

    /// Whether anything will be drawn.
    public var isActive: Bool { statusLine.isTerminal }

    /// Applies an event and redraws (at most every 0.1 s, and always when a setting ends).
    public func handle(_ event: RunProgressEvent) {
        lock.lock(); defer { lock.unlock() }
        let now = clock()
        progress.apply(event, at: now)
        var force = false
        if case .finished = event { force = true }
        if case .planned = event { force = true }
        guard force || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        statusLine.show(progress.line(label: label, unit: unit))
    }

    /// The progress so far.
    public var current: RunProgress {
        lock.lock(); defer { lock.unlock() }
        return progress
    }

    /// Clears the progress line.
    public func finish() {
        statusLine.clear()
    }
}
