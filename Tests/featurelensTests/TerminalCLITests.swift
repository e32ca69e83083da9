// The CLI's standard error on a terminal and off it: a run under a pseudo-terminal (util-linux
// `script`) writes short log lines, each on a cleared line above the progress line; with
// --verbose, full swift-log lines; through a pipe, full lines and no terminal control bytes.
import Foundation
import Testing
import FeatureLens

enum PseudoTerminal {
    /// util-linux `script`, which runs a command on a new pseudo-terminal (Linux only: the BSD
    /// `script` of macOS takes other options).
    static let script: String? = {
        #if os(Linux)
        for path in ["/usr/bin/script", "/bin/script"] where FileManager.default.isExecutableFile(atPath: path) { return path }
        #endif
        return nil
    }()

    /// Runs the built featurelens with `args` on a pseudo-terminal (stdout and stderr both on
    /// it, `columns` wide); returns the exit code and the bytes the terminal received.
    static func run(_ args: [String], columns: Int = 160) throws -> (Int32, String) {
        let exe = productsDirectory.appendingPathComponent("featurelens").path
        let quoted = ([exe] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script!)
        p.arguments = ["-q", "-e", "-c", "stty cols \(columns) 2>/dev/null; exec " + quoted, "/dev/null"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

@Suite("terminal output of the CLI", .serialized,
       .enabled(if: PseudoTerminal.script != nil, "needs util-linux `script` to give the CLI a pseudo-terminal"))
struct TerminalCLITests {
    /// The run's per-setting timing record, `[rho=0.6]: 0.8 s`, is an info log record.
    static let record = try! Regex(#"\[rho=0\.[56]\]: \d+\.\d s"#)
    static let timestamp = try! Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info featurelens: \[FeatureLens\] "#)

    static func tinyRun(_ out: URL) -> [String] {
        ["run", "class-collapse", "--set", "d=200", "--set", "n=40", "--set", "n_test=200", "--set", "steps=200",
         "--set", "audit_steps=0,50,200", "--out", out.path]
    }

    /// On a terminal: the progress line is drawn, each log record is short (no timestamp,
    /// level or label) and starts right after a clear-line (`\r ESC[K`), never after progress
    /// text; the progress line is drawn again after it.
    @Test func shortLogLinesAboveTheProgressLine() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, bytes) = try PseudoTerminal.run(Self.tinyRun(dir.appendingPathComponent("run")))
        #expect(code == 0, "\(bytes)")
        #expect(bytes.contains("\rclass-collapse: 0/400 steps"), "no progress line: \(bytes.debugDescription)")
        let lines = bytes.components(separatedBy: "\r\n")   // the terminal's ONLCR turns \n into \r\n
        let records = lines.filter { $0.contains(Self.record) }
        #expect(records.count == 2, "\(bytes.debugDescription)")
        for line in records {
            // What follows the last clear-line is the record alone, in the short format.
            let afterClear = try #require(line.components(separatedBy: "\r\u{1B}[K").last)
            #expect(try Self.record.wholeMatch(in: afterClear) != nil, "\(line.debugDescription)")
            #expect(line.hasSuffix("\r\u{1B}[K" + afterClear), "the record does not start on a cleared line: \(line.debugDescription)")
        }
        #expect(!bytes.contains(" info featurelens: "), "a full log line on a terminal without --verbose")
        // After each record the progress line comes back.
        for (i, line) in lines.enumerated() where line.contains(Self.record) && i + 1 < lines.count {
            #expect(lines[i + 1].hasPrefix("\rclass-collapse: "), "\(lines[i + 1].debugDescription)")
        }
    }

    /// On a narrow terminal the progress line is cut to the width less one column (it would
    /// otherwise wrap and leave a row behind at every redraw).
    @Test func progressLineFitsANarrowTerminal() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, bytes) = try PseudoTerminal.run(Self.tinyRun(dir.appendingPathComponent("run")), columns: 40)
        #expect(code == 0, "\(bytes)")
        // Each draw is `\r TEXT ESC[K`; a clear is `\r ESC[K` (empty text).
        let draws = bytes.components(separatedBy: "\r").compactMap { part -> String? in
            guard let end = part.range(of: "\u{1B}[K") else { return nil }
            return String(part[..<end.lowerBound])
        }.filter { !$0.isEmpty }
        #expect(draws.contains { $0.hasPrefix("class-collapse: ") && $0.hasSuffix("…") }, "\(draws)")
        #expect(draws.allSatisfy { $0.count <= 39 }, "\(draws.filter { $0.count > 39 })")
    }

    /// With --verbose, the same records are full swift-log lines, still on a cleared line.
    @Test func verboseGivesFullLines() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, bytes) = try PseudoTerminal.run(Self.tinyRun(dir.appendingPathComponent("run")) + ["--verbose"])
        #expect(code == 0, "\(bytes)")
        let records = bytes.components(separatedBy: "\r\n").filter { $0.contains(Self.record) }
        #expect(records.count == 2, "\(bytes.debugDescription)")
        for line in records {
            let afterClear = try #require(line.components(separatedBy: "\r\u{1B}[K").last)
            #expect(afterClear.contains(Self.timestamp), "\(line.debugDescription)")
        }
    }

    /// Through a pipe: full lines as before, no progress line and no terminal control bytes.
    @Test func pipedStandardErrorIsPlainFullLines() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (code, _, err) = try runCLI(Self.tinyRun(dir.appendingPathComponent("run")))
        #expect(code == 0, "stderr: \(err)")
        let records = err.split(separator: "\n").filter { $0.contains(Self.record) }
        #expect(records.count == 2, "stderr: \(err)")
        #expect(records.allSatisfy { $0.contains(Self.timestamp) }, "stderr: \(err)")
        #expect(!err.contains("\r") && !err.contains("\u{1B}"), "control bytes off a terminal: \(err.debugDescription)")
    }
}
