import Foundation

/// Running another program and collecting what it printed: the Slurm commands of a sweep
/// plan, the Python references of the benchmarks.
public enum ChildProcess {
    /// Runs `executable` (a path) with `arguments`, waits for it, and returns its exit status
    /// and its standard output and error as UTF-8 text (invalid bytes replaced).
    /// - Throws: the error of `Process.run` when the program cannot be started.
    public static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
