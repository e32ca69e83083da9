import ArgumentParser
import FeatureLens
import Foundation
import Logging

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Threads for parallel kernels (default: all cores). Results do not depend on it.")
    var threads: Int?

    @Flag(name: .long, help: "No progress display or informational messages.")
    var quiet = false

    @Flag(name: .long, help: "Verbose logging (debug level) on standard error.")
    var verbose = false

    mutating func validate() throws {
        if let t = threads, t < 1 {
            throw ValidationError("--threads must be at least 1, got \(t)")
        }
    }

    /// Applies the thread count and bootstraps logging (stderr, above the progress line;
    /// short lines on a terminal unless `--verbose`, `LogLineFormat`). Call once per process.
    func apply() -> Logger {
        if let t = threads { Parallel.threadCount = t }
        let level: Logger.Level = verbose ? .debug : (quiet ? .warning : .info)
        LoggingBootstrap.once(level: level, verbose: verbose)
        var logger = Logger(label: "featurelens")
        logger.logLevel = level
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    static func once(level: Logger.Level, verbose: Bool) {
        guard !done else { return }
        done = true
        let line = TerminalStatusLine.standardError
        let format = LogLineFormat.choose(isTerminal: line.isTerminal, verbose: verbose)
        LoggingSystem.bootstrap { label in
            TerminalLogging.handler(label: label, level: level, format: format, statusLine: line)
        }
    }
}

/// Writes `text` (whole lines) to standard error above the progress line, under its lock.
func writeError(_ text: String) {
    TerminalStatusLine.standardError.write(text)
}
