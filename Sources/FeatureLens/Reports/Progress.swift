import Foundation

/// A one-line progress display for long work: step, loss, rate and time left, redrawn in
/// place on a terminal. Silent when standard error is not a terminal or when `enabled` is
/// false (`--quiet`), so logs and pipes stay clean.
public final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    /// - Parameters: `total`: number of units (steps) expected; `enabled`: false silences it.
    public init(label: String, total: Int, enabled: Bool = true) {
        self.label = label
        self.total = max(1, total)
        self.enabled = enabled && isatty(STDERR_FILENO) != 0
    }

    /// Whether anything will be drawn.
    public var isActive: Bool { enabled }

    /// Reports that `done` units are complete; `loss` is shown when given. Redraws at most
    /// 10 times per second.
    public func update(_ done: Int, loss: Double? = nil) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) > 0.1 || done >= total else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        var line = "\r\(label): step \(done)/\(total)"
        if let l = loss { line += String(format: "  loss %.5g", l) }
        line += String(format: "  %.0f steps/s  %@ left", rate, Self.duration(left))
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    /// Clears the progress line.
    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func duration(_ s: Double) -> String {
        if !s.isFinite { return "?" }
        if s < 60 { return String(format: "%.0fs", s) }
        return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }
}
