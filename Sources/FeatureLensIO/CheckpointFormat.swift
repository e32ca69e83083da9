// Training checkpoints in the safetensors format (SafeTensors.swift), readable by the Python
// `safetensors` library and loadable into the equivalent PyTorch modules.
//
// One folder holds one checkpoint, `checkpoint.safetensors` (a preset run keeps one folder per
// setting, `checkpoints/<i>-<setting>/`: RunCheckpoints.swift), atomically replaced at every
// save (temporary file in the same folder, fsync, rename), so the file on disk is always a
// complete checkpoint: the previous one or the new one, never a mixture. "latest" is simply
// that file; there is no history of checkpoints.
//
// Contents (names follow PyTorch's `state_dict` and `optimizer.state_dict()` vocabulary):
//     <parameter name>               model parameters, e.g. "backbone.0.weight"  (F32 for Float models, F64 for Double)
//     <buffer name>                  model buffers, e.g. "head.1.running_mean"    (same dtype)
//     optimizer.<param>.<state>      optimizer state, e.g. "optimizer.backbone.0.weight.exp_avg"
//     rng.<name>                     xoshiro256** state words of a named generator, U64 [4]
//   __metadata__ (all strings):
//     format = "featurelens.checkpoint", format_version = "1", step, epoch, config (JSON text),
//     optimizer.kind ("sgd" | "adam" | "adamw"), optimizer.step_count, optimizer.learning_rate
//     (shortest round-trip decimal), optimizer.parameters (JSON array of names, in order),
//     and the caller's own fields (`CheckpointState.metadata`, e.g. `trainer.*`, `run.*`)
//
// Loading checks everything before changing anything: names, dtypes and shapes of every
// model tensor, no unexpected tensors, finite values, the optimizer kind and state; the model
// and optimizer are modified only when the whole checkpoint fits.
import Foundation
import FeatureLensNumerics

/// A checkpoint that does not fit the model or optimizer it is loaded into, or that is not a
/// FeatureLens checkpoint. Every case names the file and the tensor or metadata field.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A metadata field is missing or has an invalid value.
    case invalidMetadata(file: String, field: String, expected: String, found: String)
    /// A tensor the model (or optimizer) needs is absent.
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    /// A tensor has another shape than the model's.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// A tensor has another dtype than the model's scalar type.
    case dtypeMismatch(file: String, tensor: String, expected: String, found: String)
    /// The checkpoint holds a tensor the model does not have (another architecture).
    case unexpectedTensor(file: String, tensor: String)
    /// A value is NaN or infinite (a diverged run; resume from an earlier checkpoint).
    case nonFinite(file: String, tensor: String, index: Int)
    /// The optimizer state does not fit the optimizer (kind, parameters, state names).
    case optimizerMismatch(file: String, detail: String)
    /// A saved generator state is invalid (wrong dtype/shape, or all zero).
    case invalidGeneratorState(file: String, tensor: String, detail: String)
    /// Two tensors would get the same name (e.g. a model parameter called "rng.x"), or a
    /// generator name is empty or has a dot.
    case nameCollision(file: String, name: String)

    public var description: String {
        switch self {
        case let .invalidMetadata(file, field, expected, found):
            return "\(file): checkpoint metadata field \(field) is \(found); expected \(expected)"
        case let .missingTensor(file, tensor, shape):
            return "\(file): checkpoint has no tensor \"\(tensor)\"; expected one of shape \(shape) (does the model match the run's config?)"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): checkpoint tensor \"\(tensor)\" has shape \(found); expected \(expected)"
        case let .dtypeMismatch(file, tensor, expected, found):
            return "\(file): checkpoint tensor \"\(tensor)\" has dtype \(found); expected \(expected)"
        case let .unexpectedTensor(file, tensor):
            return "\(file): checkpoint tensor \"\(tensor)\" is not a parameter, buffer, optimizer state or generator of this model (does the model match the run's config?)"
        case let .nonFinite(file, tensor, index):
            return "\(file): checkpoint tensor \"\(tensor)\" element \(index) is NaN or infinite; expected finite values"
        case let .optimizerMismatch(file, detail):
            return "\(file): checkpoint optimizer state: \(detail)"
        case let .invalidGeneratorState(file, tensor, detail):
            return "\(file): checkpoint tensor \"\(tensor)\": \(detail)"
        case let .nameCollision(file, name):
            return "\(file): cannot save a checkpoint: the name \"\(name)\" is used twice or is not allowed"
        }
    }
}

/// Everything in a checkpoint besides the model and optimizer tensors.
public struct CheckpointState: Equatable, Sendable {
    /// Number of optimizer steps completed when the checkpoint was taken.
    public var step: Int
    /// Number of epochs completed (or the current epoch, as the trainer defines it).
    public var epoch: Int
    /// Named random generators (e.g. "shuffle", "augmentation"), restored bit for bit so a
    /// resumed run draws the same numbers as an uninterrupted one. Names: non-empty, no dots.
    public var generators: [String: SeededGenerator]
    /// The run configuration as JSON text (an `ExperimentConfig`, encoded by the caller).
    public var configJSON: String
    /// Further metadata fields of the caller (e.g. `run.timeline`, the audits so far as JSON;
    /// `trainer.position_in_epoch`). Keys must not be reserved (`Checkpoint.isReservedKey`:
    /// `format`, `format_version`, `step`, `epoch`, `config`, `optimizer.*`, `gd.*`); values
    /// are stored as strings, read back unchanged.
    public var metadata: [String: String]

    /// - Parameters: see the properties.
    public init(step: Int, epoch: Int, generators: [String: SeededGenerator] = [:], configJSON: String = "{}",
                metadata: [String: String] = [:]) {
        self.step = step
        self.epoch = epoch
        self.generators = generators
        self.configJSON = configJSON
        self.metadata = metadata
    }
}

/// Saving and loading training checkpoints (format at the top of this file).
public enum Checkpoint {
    /// File name of the checkpoint inside a run folder.
    public static let fileName = "checkpoint.safetensors"

    /// Value of the `format` metadata field.
    public static let formatName = "featurelens.checkpoint"

    /// Value of the `format_version` metadata field written by this version.
    public static let formatVersion = 1

    /// `runDirectory/checkpoint.safetensors`.
    public static func url(in runDirectory: URL) -> URL { runDirectory.appendingPathComponent(fileName) }

    /// Whether `runDirectory` holds a checkpoint file.
    public static func exists(in runDirectory: URL) -> Bool {
        FileManager.default.fileExists(atPath: url(in: runDirectory).path)
    }

    /// Whether `key` is a metadata field this file format defines (`format`, `format_version`,
    /// `step`, `epoch`, `config`, `optimizer.*`, `gd.*`), which `CheckpointState.metadata`
    /// may not use.
    public static func isReservedKey(_ key: String) -> Bool {
        ["format", "format_version", "step", "epoch", "config"].contains(key)
            || key.hasPrefix("optimizer.") || key.hasPrefix("gd.")
    }

    /// The metadata every checkpoint carries (format, version, step, epoch, config) plus the
    /// caller's `state.metadata`.
    /// - Throws: `CheckpointError.nameCollision` for a reserved or empty caller key.
    package static func baseMetadata(_ state: CheckpointState, file: String) throws -> [String: String] {
        var metadata: [String: String] = [
            "format": formatName,
            "format_version": String(formatVersion),
            "step": String(state.step),
            "epoch": String(state.epoch),
            "config": state.configJSON,
        ]
        for (k, v) in state.metadata {
            guard !k.isEmpty, !isReservedKey(k) else { throw CheckpointError.nameCollision(file: file, name: k) }
            metadata[k] = v
        }
        return metadata
    }

    /// `rng.<name>` → U64 `[4]` for every generator of `state`.
    /// - Throws: `CheckpointError.nameCollision` for an empty name or one with a dot.
    package static func generatorTensors(_ state: CheckpointState, file: String) throws -> [(String, SafeTensor)] {
        try state.generators.sorted { $0.key < $1.key }.map { name, g in
            guard !name.isEmpty, !name.contains(".") else { throw CheckpointError.nameCollision(file: file, name: "rng.\(name)") }
            return ("rng.\(name)", SafeTensor(uint64: g.stateWords, shape: [4]))
        }
    }

    /// Reads and checks the fields every checkpoint has (`format`, `format_version`, `step`,
    /// `epoch`, `config`) and collects the caller's metadata (every key that is not reserved).
    /// - Throws: `CheckpointError.invalidMetadata` naming the file and the field.
    package static func header(_ checkpoint: SafeTensorsFile) throws -> CheckpointState {
        let file = checkpoint.file
        let md = checkpoint.metadata
        let format = try metadataField(checkpoint, "format", expected: "\"\(formatName)\"")
        guard format == formatName else {
            throw CheckpointError.invalidMetadata(file: file, field: "format", expected: "\"\(formatName)\"", found: "\"\(format.prefix(40))\"")
        }
        let version = try metadataField(checkpoint, "format_version", expected: "\"\(formatVersion)\"")
        guard version == String(formatVersion) else {
            throw CheckpointError.invalidMetadata(file: file, field: "format_version", expected: "\"\(formatVersion)\"", found: "\"\(version.prefix(40))\"")
        }
        var state = CheckpointState(step: try metadataCount(checkpoint, "step"), epoch: try metadataCount(checkpoint, "epoch"),
                                    configJSON: try metadataField(checkpoint, "config", expected: "the run config as JSON text"))
        state.metadata = md.filter { !isReservedKey($0.key) }
        return state
    }

    /// The metadata field `key`.
    /// - Throws: `CheckpointError.invalidMetadata(found: "missing")`.
    package static func metadataField(_ checkpoint: SafeTensorsFile, _ key: String, expected: String) throws -> String {
        guard let v = checkpoint.metadata[key] else {
            throw CheckpointError.invalidMetadata(file: checkpoint.file, field: key, expected: expected, found: "missing")
        }
        return v
    }

    /// The metadata field `key` as a non-negative integer.
    /// - Throws: `CheckpointError.invalidMetadata` when missing or not such an integer.
    package static func metadataCount(_ checkpoint: SafeTensorsFile, _ key: String) throws -> Int {
        let s = try metadataField(checkpoint, key, expected: "a non-negative integer")
        guard let v = Int(s), v >= 0 else {
            throw CheckpointError.invalidMetadata(file: checkpoint.file, field: key, expected: "a non-negative integer", found: "\"\(s.prefix(40))\"")
        }
        return v
    }

    /// Every `rng.*` tensor as a generator (checked: U64 `[4]`, not all zero).
    /// - Throws: `CheckpointError.invalidGeneratorState` naming the tensor.
    package static func generators(_ checkpoint: SafeTensorsFile) throws -> [String: SeededGenerator] {
        var generators: [String: SeededGenerator] = [:]
        for name in checkpoint.names where name.hasPrefix("rng.") {
            let t = checkpoint.tensors[name]!
            guard let words = t.uint64Values, t.shape == [4] else {
                throw CheckpointError.invalidGeneratorState(file: checkpoint.file, tensor: name, detail: "dtype \(t.dtype.rawValue) shape \(t.shape); expected U64 [4] (xoshiro256** state)")
            }
            guard words.contains(where: { $0 != 0 }) else {
                throw CheckpointError.invalidGeneratorState(file: checkpoint.file, tensor: name, detail: "all four state words are zero; expected a valid xoshiro256** state")
            }
            generators[String(name.dropFirst(4))] = SeededGenerator(stateWords: words)
        }
        return generators
    }

    /// Removes temporary files left by a save that was killed between writing and renaming
    /// (`AtomicFile` names them `.checkpoint.safetensors.tmp-…`).
    public static func removeStaleTemporaries(in runDirectory: URL) {
        let prefix = ".\(fileName).tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: runDirectory.path) else { return }
        for n in names where n.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent(n))
        }
    }
}
