import Foundation
import Logging

/// How a log record is written as one line.
public enum LogLineFormat: String, Sendable, CaseIterable {
    /// For a person at a terminal: the message alone, after `warning: ` or `error: ` for those
    /// levels (`debug: ` for debug and trace), with the record's metadata, if any, as
    /// ` [key=value …]` after it. No timestamp, level or logger label.
    case short
    /// swift-log's `StreamLogHandler` line: `TIMESTAMP LEVEL LABEL: [METADATA] [SOURCE] MESSAGE`
    /// (for files, pipes and `--verbose`).
    case full

    /// The format for standard error: `short` on a terminal unless `verbose`, `full` otherwise.
    public static func choose(isTerminal: Bool, verbose: Bool) -> LogLineFormat {
        isTerminal && !verbose ? .short : .full
    }

    /// The short line of one record (ends in a newline).
    public static func shortLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let prefix: String
        switch level {
        case .trace, .debug: prefix = "debug: "
        case .info, .notice: prefix = ""
        case .warning: prefix = "warning: "
        case .error, .critical: prefix = "error: "
        }
        let meta = metadata.isEmpty ? ""
            : " [" + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        return prefix + message + meta + "\n"
    }
}

/// The log handler of the command-line tool: every record goes through a `TerminalStatusLine`
/// (above the progress line, under its lock), in the `short` format (`ShortLogHandler`) or the
/// `full` one (swift-log's `StreamLogHandler` writing to the same status line).
public enum TerminalLogging {
    /// A handler for `label` at `level`, writing through `statusLine` in `format`.
    public static func handler(label: String, level: Logger.Level, format: LogLineFormat,
                               statusLine: TerminalStatusLine) -> any LogHandler {
        switch format {
        case .short:
            var h = ShortLogHandler(statusLine: statusLine)
            h.logLevel = level
            return h
        case .full:
            var h = StreamLogHandler(label: label, stream: StatusLineStream(statusLine: statusLine))
            h.logLevel = level
            return h
        }
    }
}

/// A `TextOutputStream` that writes through a `TerminalStatusLine` (above its progress line).
public struct StatusLineStream: TextOutputStream, Sendable {
    public let statusLine: TerminalStatusLine
    public init(statusLine: TerminalStatusLine) { self.statusLine = statusLine }
    public func write(_ string: String) { statusLine.write(string) }
}

/// Writes each record as one `LogLineFormat.short` line through a `TerminalStatusLine`, so a
/// log line never starts in the middle of the progress line.
public struct ShortLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let statusLine: TerminalStatusLine

    public init(statusLine: TerminalStatusLine, metadataProvider: Logger.MetadataProvider? = nil) {
        self.statusLine = statusLine
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        statusLine.write(LogLineFormat.shortLine(level: event.level, message: event.message.description, metadata: merged))
    }
}
