// The engine protocol: what `ExperimentRunner` needs from a way of training an encoder.
//
// The runner drives one engine per setting:
//
//     engine = prepare(config, data)                   (the conformer's initializer)
//     [restore(from: checkpoint)]                      (--resume)
//     repeat: train(until: next checkpoint step) → audits at the scheduled steps
//             checkpoint(to: folder)
//     until the last step, a stop request or a divergence
//     reports(timelines:)                              (RunReport per probed layer, theory beside it)
//
// Two conformers: `LinearEngine` (exact full-batch gradient descent in Gram space on
// synthetic data, LinearEngine.swift) and `MiniBatchEngine` (the mini-batch `Trainer` on
// images, MiniBatchEngine.swift).
import Foundation

/// How a call to `TrainingEngine.train(until:shouldStop:onAudit:)` ended.
public enum EngineProgress {
    /// The target step was reached.
    case reached
    /// `shouldStop` stopped training at `step`; that step has been audited.
    case stopped(step: Int)
    /// The loss (or an embedding) became non-finite at `step`; `message` says where and the
    /// likely cause, `error` is the engine's error (thrown when no audit was recorded yet).
    /// The engine's state is the last good one.
    case diverged(step: Int, message: String, error: any Error)
}

/// A way of training an encoder, step by step, with audits, checkpoints and resume.
///
/// An audit reads the encoder's embeddings at one step (backbone features h and, with a
/// projection head, its output z; the linear encoder has one layer) and returns one
/// `TimelineEntry` per probed layer, in `layers` order.
public protocol TrainingEngine: AnyObject {
    /// `run.kind` of this engine's checkpoints (`synthetic`, `image`).
    static var checkpointKind: String { get }
    /// The probed layers (`["embedding"]`, `["backbone", "head"]`, …); one timeline each.
    var layers: [String] { get }
    /// Steps of the whole training.
    var totalSteps: Int { get }
    /// The scheduled audit steps (ascending).
    var auditSteps: [Int] { get }
    /// Steps done so far.
    var step: Int { get }

    /// Trains until `target` steps are done. Calls `onAudit` with the audit of every scheduled
    /// audit step reached (not repeating the audit of the step it starts from when that step
    /// was restored from a checkpoint or reached by an earlier call), in step order and before
    /// it returns (an engine may compute them behind training). Checks `shouldStop`
    /// before every update; when it stops, the step reached is audited (when not scheduled)
    /// and `.stopped` is returned.
    /// - Throws: errors of the data, the loss or `onAudit`; a divergence is returned, not thrown.
    func train(until target: Int, shouldStop: (() -> Bool)?,
               onAudit: ([TimelineEntry]) throws -> Void) throws -> EngineProgress

    /// The audit of the current step: one entry per layer of `layers`.
    /// - Throws: probe errors; `TrainerError.nonFinite` for non-finite embeddings.
    func audit() throws -> [TimelineEntry]

    /// Writes the engine's state (weights, optimizer, step, random generators) with
    /// `configJSON` and `metadata` to `directory/checkpoint.safetensors`, atomically.
    /// - Throws: `OutputError` when it cannot be written.
    func checkpoint(to directory: URL, configJSON: String, metadata: [String: String]) throws

    /// Continues from a checkpoint (whose config `RunCheckpoints.checkResume` checked).
    /// - Returns: whether the audits saved with it stand (false: the engine audits the
    ///   checkpoint's step again, so the runner drops them).
    /// - Throws: `CheckpointError` / `ResumeError` for a checkpoint that does not fit.
    func restore(from file: SafeTensorsFile) throws -> Bool

    /// The audits saved in a checkpoint's `run.timeline` (one timeline per layer).
    /// - Throws: `ResumeError.unreadable` naming the file and the field.
    func savedTimelines(in file: SafeTensorsFile) throws -> [[TimelineEntry]]

    /// The run reports of a finished (or stopped, or diverged) training: one per layer, from
    /// the timelines, with the theory beside them when it applies and training finished.
    /// `settings` are the setting's typed values.
    /// - Throws: `ProbeError.empty` when a timeline is empty; theory errors.
    func reports(timelines: [[TimelineEntry]], settings: [String: SettingValue], finished: Bool) throws -> [RunReport]
}

extension TrainingEngine {
    /// Default: `run.timeline` holds `[[TimelineEntry]]`, one timeline per layer.
    public func savedTimelines(in file: SafeTensorsFile) throws -> [[TimelineEntry]] {
        let saved = try RunCheckpoints.decode([[TimelineEntry]].self, field: "run.timeline", of: file)
        guard saved.count == layers.count else {
            throw ResumeError.unreadable(file: file.file, field: "run.timeline",
                                         detail: "holds \(saved.count) layer timelines; expected \(layers.count) (\(layers.joined(separator: ", ")))")
        }
        return saved
    }
}

extension SettingValue {
    /// Parses a setting string as Int, then Double, then Bool, else keeps the string.
    public init(parsing s: String) {
        if let i = Int(s) { self = .int(i) }
        else if let d = Double(s) { self = .double(d) }
        else if s == "true" || s == "false" { self = .bool(s == "true") }
        else { self = .string(s) }
    }
}
