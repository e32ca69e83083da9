import Foundation

/// Thread-count control for every parallel kernel in FeatureLens.
///
/// Parallel work is always split over independent *output* blocks, never over a summation,
/// so results are bit-identical whatever the thread count.
public enum Parallel {
    private static let lock = NSLock()
    private static var _threadCount: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Number of logical cores the process may use.
    public static var availableCores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Threads used by parallel kernels (default: all cores; at least 1).
    public static var threadCount: Int {
        get { lock.lock(); defer { lock.unlock() }; return _threadCount }
        set { lock.lock(); _threadCount = max(1, newValue); lock.unlock() }
    }

    /// Runs `body(chunk)` for `chunk` in `0..<chunks`, on up to `threads` threads.
    /// With one thread or one chunk it runs inline on the caller's thread.
    public static func forEach(chunks: Int, threads: Int = Parallel.threadCount,
                               _ body: (Int) -> Void) {
        guard chunks > 0 else { return }
        let t = min(max(1, threads), chunks)
        if t == 1 {
            for i in 0..<chunks { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: t) { worker in
                var i = worker
                while i < chunks {
                    body(i)
                    i += t
                }
            }
        }
    }
}
