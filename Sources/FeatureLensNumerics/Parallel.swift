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

    /// Runs `body(job, worker)` for every job in `0..<jobs` on up to `workers` threads. Each
    /// worker takes the next unclaimed job (dynamic scheduling, so a core slowed by other
    /// processes takes fewer jobs); `worker` in `0..<min(workers, jobs)` identifies the thread's
    /// scratch. Which worker runs a job must not change the job's result. With one worker or
    /// one job it runs inline on the caller's thread (worker 0).
    public static func forEachJob(_ jobs: Int, workers: Int, _ body: (_ job: Int, _ worker: Int) -> Void) {
        if workers <= 1 || jobs <= 1 {
            for i in 0..<max(0, jobs) { body(i, 0) }
            return
        }
        let queue = JobQueue(count: jobs)
        forEach(chunks: min(workers, jobs), threads: workers) { worker in
            while let i = queue.take() { body(i, worker) }
        }
    }
}

/// Hands out job indices `0..<count`, each once, to whichever thread asks first.
final class JobQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    let count: Int
    init(count: Int) { self.count = count }
    func take() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}
