// Audits behind training: the mini-batch engine hands each scheduled audit (a copy of the
// encoder's weights at that step) to a serial background queue and trains on; the finished
// audits are collected, in step order, when `train(until:)` returns (before a checkpoint).
//
// An audit is a pure function of the copied weights and the fixed audit inputs, so running it
// later, on another thread, gives the numbers it gives in place: the report does not depend on
// when, or beside what, an audit ran.

import Foundation
import FeatureLensNumerics

/// The encoder's state at one step: every parameter and buffer value, copied (the trainer
/// updates its own tensors in place after the copy).
struct EncoderSnapshot: @unchecked Sendable {
    var parameters: [Tensor<Float>]
    var buffers: [Tensor<Float>]

    /// Copies the values of `encoder`'s parameters and buffers.
    init(_ encoder: Encoder<Float>) {
        func copy(_ t: Tensor<Float>) -> Tensor<Float> {
            Tensor(shape: t.shape, scalars: t.scalars.withUnsafeBufferPointer { Array($0) })
        }
        parameters = encoder.parameters.map { copy($0.value) }
        buffers = encoder.buffers.map { copy($0.value) }
    }

    /// Bytes a snapshot of `encoder` holds: its parameters and buffers as `Float`.
    static func bytes(of encoder: Encoder<Float>) -> Int {
        (encoder.parameters.map(\.value) + encoder.buffers.map(\.value)).reduce(0) { $0 + $1.count * MemoryLayout<Float>.stride }
    }

    /// Writes the values into `encoder` (the same architecture as the one copied).
    func load(into encoder: Encoder<Float>) {
        let p = encoder.parameters, b = encoder.buffers
        precondition(p.count == parameters.count && b.count == buffers.count, "EncoderSnapshot: another architecture")
        for (param, value) in zip(p, parameters) { param.value = value }
        for (buffer, value) in zip(b, buffers) { buffer.value = value }
    }
}

/// A serial queue of audits that run while training goes on, with results kept by step.
///
/// At most `capacity` audits are queued or running; `submit` waits for a free place (so the
/// copies of a large encoder do not pile up while training runs ahead of slow audits).
/// Results are taken out with `collect()`, which waits for every submitted audit.
final class AuditPipeline: @unchecked Sendable {
    /// One finished audit: its step and the entries (one per probed layer) or the error.
    struct Finished {
        var step: Int
        var result: Result<[TimelineEntry], Error>
    }

    private let queue: DispatchQueue
    private let group = DispatchGroup()
    private let places: DispatchSemaphore
    private let lock = NSLock()
    private var finished: [Finished] = []
    private var failure: Error?

    /// Audits queued or running at most.
    let capacity: Int

    /// A pipeline for one setting (`label` names its queue) holding at most `capacity` audits.
    init(label: String, capacity: Int) {
        self.capacity = max(1, capacity)
        queue = DispatchQueue(label: "featurelens.audit.\(label)")
        places = DispatchSemaphore(value: self.capacity)
    }

    /// Places for snapshots of `bytes` each: 2 (one audit running, the next one waiting, so
    /// a stop request waits for at most two audits besides the one of the step reached), 1
    /// when two copies would exceed 256 MiB.
    static func capacity(snapshotBytes bytes: Int) -> Int {
        2 * max(1, bytes) <= 256 << 20 ? 2 : 1
    }

    /// Queues `work` (the audit of `step`) behind the audits already queued; waits first while
    /// `capacity` audits are queued or running.
    func submit(step: Int, _ work: @escaping @Sendable () throws -> [TimelineEntry]) {
        places.wait()
        queue.async(group: group) { [self] in
            let result = Result { try work() }
            lock.lock()
            finished.append(Finished(step: step, result: result))
            if case let .failure(e) = result, failure == nil { failure = e }
            lock.unlock()
            places.signal()
        }
    }

    /// The first error of an audit finished so far (nil: none failed).
    var firstFailure: Error? {
        lock.lock(); defer { lock.unlock() }
        return failure
    }

    /// Waits for every submitted audit and returns the finished ones in step order, emptying
    /// the pipeline.
    func collect() -> [Finished] {
        group.wait()
        lock.lock(); defer { lock.unlock() }
        let out = finished.sorted { $0.step < $1.step }
        finished = []
        failure = nil
        return out
    }
}
