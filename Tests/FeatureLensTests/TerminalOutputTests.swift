import Foundation
import Logging
import Synchronization
import Testing
@testable import FeatureLens

/// A terminal in memory: applies what a status line writes (`\r`, `ESC [ K`, `\n`, text) to a
/// screen, so a test sees the lines a person would read.
struct FakeScreen {
    /// The finished lines, top first.
    var lines: [String] = []
    /// The line the cursor is on.
    var current: [Character] = []
    var cursor = 0

    init(_ bytes: String) {
        var rest = Substring(bytes)
        while let c = rest.first {
            if rest.hasPrefix("\u{1B}[K") {
                current.removeSubrange(min(cursor, current.count)...)
                rest = rest.dropFirst(3)
                continue
            }
            rest = rest.dropFirst()
            switch c {
            case "\r": cursor = 0
            case "\n": lines.append(String(current)); current = []; cursor = 0   // a terminal's ONLCR: new line, column 0
            default:
                if cursor < current.count { current[cursor] = c } else { current.append(c) }
                cursor += 1
            }
        }
    }

    var bottom: String { String(current) }
}

/// The bytes a fake terminal received, in order.
final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = ""
    func append(_ s: String) { lock.lock(); bytes += s; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return bytes }
}

/// The terminal output of the command-line tool: log lines and the progress line never write
/// over each other, and log records are short on a terminal and full lines elsewhere.
@Suite struct TerminalOutputTests {
    /// A status line on a fake terminal that records every byte written to it.
    static func fakeTerminal(isTerminal: Bool = true, columns: Int? = nil) -> (TerminalStatusLine, Captured) {
        let out = Captured()
        let line = TerminalStatusLine(isTerminal: isTerminal, output: { s in out.append(s) }, columns: { columns })
        return (line, out)
    }

    static func logger(_ format: LogLineFormat, _ line: TerminalStatusLine, level: Logger.Level = .debug) -> Logger {
        var logger = Logger(label: "featurelens") { label in
            TerminalLogging.handler(label: label, level: level, format: format, statusLine: line)
        }
        logger.logLevel = level
        return logger
    }

    /// Short on a terminal unless verbose; full off a terminal whatever the flag.
    @Test func formatFollowsTheTerminalAndVerbose() {
        #expect(LogLineFormat.choose(isTerminal: true, verbose: false) == .short)
        #expect(LogLineFormat.choose(isTerminal: true, verbose: true) == .full)
        #expect(LogLineFormat.choose(isTerminal: false, verbose: false) == .full)
        #expect(LogLineFormat.choose(isTerminal: false, verbose: true) == .full)
    }

    /// The short format: the message alone for info and notice, `warning: `/`error: ` before
    /// warnings and errors (critical too), `debug: ` before debug and trace, metadata after the
    /// message in key order; no timestamp, level word or label.
    @Test func shortLines() {
        let (line, out) = Self.fakeTerminal()
        var logger = Self.logger(.short, line, level: .trace)
        logger.info("[loss=supcon] step 20/78 head: coarse 0.91")
        logger.notice("read 400 rows")
        logger.warning("step 7: the loss is not finite; update skipped")
        logger.error("diverged")
        logger.critical("out of memory")
        logger.debug("kernel avx2")
        logger.trace("tick")
        logger[metadataKey: "setting"] = "rho-0.6"
        logger.info("done", metadata: ["seed": "1"])
        #expect(out.text == """
            [loss=supcon] step 20/78 head: coarse 0.91
            read 400 rows
            warning: step 7: the loss is not finite; update skipped
            error: diverged
            error: out of memory
            debug: kernel avx2
            debug: tick
            done [seed=1 setting=rho-0.6]

            """)
    }

    /// The full format is swift-log's stream line: timestamp, level, label, the source module
    /// in brackets, the message; one line per record.
    @Test func fullLines() throws {
        let (line, out) = Self.fakeTerminal(isTerminal: false)
        let logger = Self.logger(.full, line)
        logger.info("[loss=supcon] step 20/78")
        logger.warning("skipped")
        let lines = out.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "\(lines)")
        let pattern = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (info|warning) featurelens: \[FeatureLensTests\] (.*)$"#)
        let first = try #require(try pattern.wholeMatch(in: String(lines[0])))
        #expect(first.output[1].substring == "info" && first.output[2].substring == "[loss=supcon] step 20/78")
        let second = try #require(try pattern.wholeMatch(in: String(lines[1])))
        #expect(second.output[1].substring == "warning" && second.output[2].substring == "skipped")
    }

    /// With a progress line shown, every log record, in either format, is written as: clear the
    /// line (`\r ESC[K`), the record, then the progress line again; so no log line starts in the
    /// middle of the progress line.
    @Test(arguments: LogLineFormat.allCases)
    func logRecordsClearTheProgressLineFirst(format: LogLineFormat) {
        let (line, out) = Self.fakeTerminal()
        let logger = Self.logger(format, line)
        let clock = Mutex(0.0)
        let display = ProgressDisplay(label: "fashion-collapse", statusLine: line, clock: { clock.withLock { $0 += 1; return $0 } })
        display.handle(.planned(steps: [78]))
        display.handle(.started(setting: 0, done: 0))
        display.handle(.stepped(setting: 0, done: 20, loss: 4.4))
        let before = out.text
        let progress = String(before.split(separator: "\r").last!.dropLast(3))   // the line drawn last, without ESC[K
        #expect(progress.hasPrefix("fashion-collapse: 20/78 steps"), "\(progress)")
        logger.info("[loss=spectral-scl] step 20/78")
        let written = String(out.text.dropFirst(before.count))
        let record = written.dropFirst(4).prefix { $0 != "\n" }
        #expect(written.hasPrefix("\r\u{1B}[K"), "\(written.debugDescription)")
        #expect(record.hasSuffix("[loss=spectral-scl] step 20/78"))
        #expect(written == "\r\u{1B}[K" + record + "\n\r" + progress + "\u{1B}[K")
        // What a person sees: the record on its own line, the progress line below it.
        let screen = FakeScreen(out.text)
        #expect(screen.lines == [String(record)])
        #expect(screen.bottom == progress)
        display.finish()
        #expect(FakeScreen(out.text).bottom.isEmpty, "finish clears the progress line")
    }

    /// Log records from several threads while other threads redraw the progress line: on the
    /// screen every record is a whole line of its own, none holds progress text, each thread's
    /// records keep their order, and the progress line is the last line.
    @Test func concurrentLogsAndProgressDoNotInterleave() {
        let (line, out) = Self.fakeTerminal()
        let logger = Self.logger(.short, line)
        let clock = Mutex(0.0)
        let display = ProgressDisplay(label: "run", statusLine: line, clock: { clock.withLock { $0 += 1; return $0 } })
        display.handle(.planned(steps: [4000]))
        display.handle(.started(setting: 0, done: 0))
        let writers = 3, records = 60
        DispatchQueue.concurrentPerform(iterations: 2 * writers) { k in
            if k % 2 == 0 {
                for r in 0..<records { logger.info("writer \(k / 2) record \(r)") }
            } else {
                for s in 1...records { display.handle(.stepped(setting: 0, done: (k / 2) * 1000 + s, loss: nil)) }
            }
        }
        let screen = FakeScreen(out.text)
        #expect(screen.lines.count == writers * records)
        for w in 0..<writers {
            let mine = screen.lines.filter { $0.hasPrefix("writer \(w) ") }
            #expect(mine == (0..<records).map { "writer \(w) record \($0)" })
        }
        #expect(screen.lines.allSatisfy { !$0.contains("steps") }, "progress text left in a log line")
        #expect(screen.bottom.hasPrefix("run: ") && screen.bottom.contains("/4000 steps"), "\(screen.bottom)")
    }

    /// The progress line is cut to the terminal's width less one column, so it never wraps
    /// (a wrapped line would leave rows behind at each redraw); off a terminal nothing is drawn.
    @Test func progressLineFitsTheWidth() {
        let (line, out) = Self.fakeTerminal(columns: 24)
        line.show("fashion-collapse: 20/78 steps (26 %), loss 4.4, 3.1 steps/s, 19s left")
        let shown = FakeScreen(out.text).bottom
        #expect(shown == "fashion-collapse: 20/7…" && shown.count == 23)
        line.show("short")
        #expect(FakeScreen(out.text).bottom == "short")
        #expect(TerminalStatusLine.fit("abc", columns: nil) == "abc")
        #expect(TerminalStatusLine.fit("abcdef", columns: 6) == "abcd…")
        #expect(TerminalStatusLine.fit("abcde", columns: 6) == "abcde")
        let (pipe, piped) = Self.fakeTerminal(isTerminal: false, columns: 24)
        pipe.show("progress")
        Self.logger(.full, pipe).info("hello")
        #expect(!piped.text.contains("progress") && !piped.text.contains("\r"))
        #expect(piped.text.hasSuffix("hello\n"))
    }
}
