import Foundation

/// Running another program and collecting what it printed: the Slurm commands of a sweep
/// plan, the Python references of the benchmarks.
public enum ChildProcess {
    /// Runs `executable` (a path) with `arguments`, waits for it, and returns its exit status
    /// and its standard output and error as UTF-8 text (invalid bytes replaced).
    ///
    /// Both pipes are drained at the same time (standard error on another thread), so a child
    /// that fills one pipe while the other is being read does not block.
    /// - Parameters:
    ///   - cwd: working directory of the child (nil: this process's).
    ///   - environment: variables set for the child on top of this process's environment
    ///     (empty: the environment unchanged).
    /// - Throws: the error of `Process.run` when the program cannot be started.
    public static func run(_ executable: String, _ arguments: [String], cwd: URL? = nil,
                           environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let cwd { p.currentDirectoryURL = cwd }
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let errorText = ErrorText()
        let drained = DispatchGroup()
        DispatchQueue.global().async(group: drained) {
            errorText.data = err.fileHandleForReading.readDataToEndOfFile()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errorText.data, as: UTF8.self))
    }

    /// Standard error as read by the draining thread (written once, read after the wait).
    private final class ErrorText: @unchecked Sendable {
        var data = Data()
    }
}
