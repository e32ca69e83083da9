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

    /// Applies the thread count and bootstraps logging (stderr). Call once per process.
    func apply() -> Logger {
        if let t = threads { Parallel.threadCount = t }
        let level: Logger.Level = verbose ? .debug : (quiet ? .warning : .info)
        LoggingBootstrap.once(level: level)
        var logger = Logger(label: "featurelens")
        logger.logLevel = level
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    static func once(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler(label: label, stream: StatusLineStream())
            h.logLevel = level
            return h
        }
    }
}

/// Standard error for log records, written above the progress line (`TerminalStatusLine`) so
/// the two do not run into each other.
struct StatusLineStream: TextOutputStream, Sendable {
    func write(_ string: String) { TerminalStatusLine.standardError.write(string) }
}
