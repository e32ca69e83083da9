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

    /// The tensors and metadata of a checkpoint (what `save` writes), without writing.
    /// - Throws: `CheckpointError.nameCollision`.
    public static func encode<L: Layer>(model: L, optimizer: (any Optimizer)?, state: CheckpointState,
                                        file: String = fileName) throws -> (tensors: [String: SafeTensor], metadata: [String: String]) {
        var tensors: [String: SafeTensor] = [:]
        func add(_ name: String, _ t: SafeTensor) throws {
            guard !name.isEmpty, tensors.updateValue(t, forKey: name) == nil else {
                throw CheckpointError.nameCollision(file: file, name: name)
            }
        }
        let parameterNames = Set(model.parameters.map(\.name))
        for p in model.parameters { try add(p.name, SafeTensor(p.value)) }
        for b in model.buffers { try add(b.name, SafeTensor(b.value)) }
        var metadata = try baseMetadata(state, file: file)
        if let optimizer {
            let snap = optimizer.snapshot()
            for name in snap.parameterNames where !parameterNames.contains(name) {
                throw CheckpointError.optimizerMismatch(file: file, detail: "optimizer parameter \"\(name)\" is not a parameter of the model")
            }
            metadata["optimizer.kind"] = snap.kind
            metadata["optimizer.step_count"] = String(snap.stepCount)
            metadata["optimizer.learning_rate"] = "\(snap.learningRate)"
            metadata["optimizer.parameters"] = jsonArray(snap.parameterNames)
            let dtype = SafeTensorsDType.forScalar(L.Scalar.self)
            for (name, st) in zip(snap.parameterNames, snap.state) {
                for (key, t) in st {
                    let tensor = dtype == .F32
                        ? SafeTensor(float32: t.values.map { Float($0) }, shape: t.shape)
                        : SafeTensor(float64: t.values, shape: t.shape)
                    try add("optimizer.\(name).\(key)", tensor)
                }
            }
        }
        for (name, t) in try generatorTensors(state, file: file) { try add(name, t) }
        return (tensors, metadata)
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
    static func baseMetadata(_ state: CheckpointState, file: String) throws -> [String: String] {
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
    static func generatorTensors(_ state: CheckpointState, file: String) throws -> [(String, SafeTensor)] {
        try state.generators.sorted { $0.key < $1.key }.map { name, g in
            guard !name.isEmpty, !name.contains(".") else { throw CheckpointError.nameCollision(file: file, name: "rng.\(name)") }
            return ("rng.\(name)", SafeTensor(uint64: g.stateWords, shape: [4]))
        }
    }

    /// Reads and checks the fields every checkpoint has (`format`, `format_version`, `step`,
    /// `epoch`, `config`) and collects the caller's metadata (every key that is not reserved).
    /// - Throws: `CheckpointError.invalidMetadata` naming the file and the field.
    static func header(_ checkpoint: SafeTensorsFile) throws -> CheckpointState {
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
    static func metadataField(_ checkpoint: SafeTensorsFile, _ key: String, expected: String) throws -> String {
        guard let v = checkpoint.metadata[key] else {
            throw CheckpointError.invalidMetadata(file: checkpoint.file, field: key, expected: expected, found: "missing")
        }
        return v
    }

    /// The metadata field `key` as a non-negative integer.
    /// - Throws: `CheckpointError.invalidMetadata` when missing or not such an integer.
    static func metadataCount(_ checkpoint: SafeTensorsFile, _ key: String) throws -> Int {
        let s = try metadataField(checkpoint, key, expected: "a non-negative integer")
        guard let v = Int(s), v >= 0 else {
            throw CheckpointError.invalidMetadata(file: checkpoint.file, field: key, expected: "a non-negative integer", found: "\"\(s.prefix(40))\"")
        }
        return v
    }

    /// Every `rng.*` tensor as a generator (checked: U64 `[4]`, not all zero).
    /// - Throws: `CheckpointError.invalidGeneratorState` naming the tensor.
    static func generators(_ checkpoint: SafeTensorsFile) throws -> [String: SeededGenerator] {
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

    /// Writes a checkpoint of `model`, `optimizer` and `state` to
    /// `runDirectory/checkpoint.safetensors` atomically (temporary file, fsync, rename),
    /// replacing the previous one. Leftover temporary files of an earlier interrupted save are
    /// removed first. On failure the previous checkpoint (if any) is intact and no partial file
    /// remains.
    /// - Returns: the checkpoint's URL.
    /// - Throws: `OutputError` (folder missing or not writable, disk full),
    ///   `CheckpointError.nameCollision` or `.optimizerMismatch`.
    @discardableResult
    public static func save<L: Layer>(model: L, optimizer: (any Optimizer)?, state: CheckpointState,
                                      to runDirectory: URL) throws -> URL {
        let target = url(in: runDirectory)
        removeStaleTemporaries(in: runDirectory)
        let (tensors, metadata) = try encode(model: model, optimizer: optimizer, state: state, file: target.path)
        try SafeTensors.write(tensors, metadata: metadata, to: target)
        return target
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

    /// Reads the checkpoint at `location` (a run folder or the file itself) and restores it
    /// into `model` and `optimizer` (pass nil to restore only the model, e.g. for evaluation).
    /// Nothing is modified unless the whole checkpoint fits.
    /// - Returns: step, epoch, generators and config JSON.
    /// - Throws: `SafeTensorsError` for a malformed file; `CheckpointError` naming the file
    ///   and the tensor or field when it does not fit (missing/unexpected tensor, shape or
    ///   dtype mismatch, non-finite value, optimizer kind or state mismatch, bad metadata).
    @discardableResult
    public static func load<L: Layer>(from location: URL, into model: L, optimizer: (any Optimizer)?) throws -> CheckpointState {
        var isDir: ObjCBool = false
        let fileURL = FileManager.default.fileExists(atPath: location.path, isDirectory: &isDir) && isDir.boolValue
            ? url(in: location) : location
        return try restore(SafeTensors.read(contentsOf: fileURL), into: model, optimizer: optimizer)
    }

    /// Restores a decoded checkpoint into `model` and `optimizer` (see `load`).
    /// - Throws: `CheckpointError` (see `load`).
    @discardableResult
    public static func restore<L: Layer>(_ checkpoint: SafeTensorsFile, into model: L, optimizer: (any Optimizer)?) throws -> CheckpointState {
        let file = checkpoint.file
        func field(_ key: String, _ expected: String) throws -> String { try metadataField(checkpoint, key, expected: expected) }
        func count(_ key: String) throws -> Int { try metadataCount(checkpoint, key) }
        let state0 = try header(checkpoint)

        let dtype = SafeTensorsDType.forScalar(L.Scalar.self)
        var used = Set<String>()
        /// The tensor `name`, checked for dtype, shape and finite values.
        func fetch(_ name: String, shape: [Int]) throws -> SafeTensor {
            guard let t = checkpoint.tensors[name] else { throw CheckpointError.missingTensor(file: file, tensor: name, expectedShape: shape) }
            guard t.dtype == dtype else {
                throw CheckpointError.dtypeMismatch(file: file, tensor: name, expected: dtype.rawValue, found: t.dtype.rawValue)
            }
            guard t.shape == shape else { throw CheckpointError.shapeMismatch(file: file, tensor: name, expected: shape, found: t.shape) }
            if let bad = t.firstNonFiniteIndex { throw CheckpointError.nonFinite(file: file, tensor: name, index: bad) }
            used.insert(name)
            return t
        }

        // 1. Model tensors (collected, not yet assigned).
        let parameters = model.parameters, buffers = model.buffers
        func modelTensor(_ name: String, _ shape: [Int]) throws -> Tensor<L.Scalar> {
            _ = try fetch(name, shape: shape)
            return try checkpoint.tensor(name, as: L.Scalar.self)
        }
        let newParameters = try parameters.map { try modelTensor($0.name, $0.value.shape) }
        let newBuffers = try buffers.map { try modelTensor($0.name, $0.value.shape) }

        // 2. Optimizer snapshot.
        var snapshot: OptimizerSnapshot?
        if let optimizer {
            let current = optimizer.snapshot()
            let kind = try field("optimizer.kind", "\"\(current.kind)\" (the checkpoint holds no optimizer state)")
            guard kind == current.kind else {
                throw CheckpointError.optimizerMismatch(file: file, detail: "field optimizer.kind is \"\(kind.prefix(40))\"; expected \"\(current.kind)\"")
            }
            let names = try field("optimizer.parameters", "a JSON array of parameter names")
            guard let saved = parseJSONStringArray(names) else {
                throw CheckpointError.invalidMetadata(file: file, field: "optimizer.parameters", expected: "a JSON array of strings", found: "\"\(names.prefix(40))\"")
            }
            guard Set(saved) == Set(current.parameterNames), saved.count == current.parameterNames.count else {
                throw CheckpointError.optimizerMismatch(
                    file: file, detail: "field optimizer.parameters is \(saved); expected the optimizer's parameters \(current.parameterNames)")
            }
            let lrText = try field("optimizer.learning_rate", "a finite number ≥ 0")
            guard let lr = Double(lrText), lr.isFinite, lr >= 0 else {
                throw CheckpointError.invalidMetadata(file: file, field: "optimizer.learning_rate", expected: "a finite number ≥ 0", found: "\"\(lrText.prefix(40))\"")
            }
            let shapes = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.value.shape) })
            var state: [[String: OptimizerStateTensor]] = []
            for name in current.parameterNames {
                let prefix = "optimizer.\(name)."
                var entry: [String: OptimizerStateTensor] = [:]
                for tensorName in checkpoint.names where tensorName.hasPrefix(prefix) {
                    let key = String(tensorName.dropFirst(prefix.count))
                    guard !key.isEmpty, !key.contains(".") else { continue }
                    let shape = shapes[name] ?? []
                    let t = try fetch(tensorName, shape: shape)
                    let values = t.float32Values.map { $0.map(Double.init) } ?? t.float64Values!
                    entry[key] = OptimizerStateTensor(shape: shape, values: values)
                }
                state.append(entry)
            }
            snapshot = OptimizerSnapshot(kind: kind, stepCount: try count("optimizer.step_count"), learningRate: lr,
                                         parameterNames: current.parameterNames, state: state)
        }

        // 3. Generators.
        let generators = try Checkpoint.generators(checkpoint)
        for name in checkpoint.names where name.hasPrefix("rng.") { used.insert(name) }

        // 4. Nothing left over (optimizer state is allowed, and ignored, when no optimizer is given).
        for name in checkpoint.names where !used.contains(name) {
            if optimizer == nil && name.hasPrefix("optimizer.") { continue }
            throw CheckpointError.unexpectedTensor(file: file, tensor: name)
        }

        // 5. Apply: the optimizer first (its restore validates before mutating), then the model.
        if let optimizer, let snapshot {
            do { try optimizer.restore(snapshot) } catch let e as OptimizerError {
                throw CheckpointError.optimizerMismatch(file: file, detail: e.description)
            }
        }
        for (p, v) in zip(parameters, newParameters) { p.value = v }
        for (b, v) in zip(buffers, newBuffers) { b.value = v }
        var result = state0
        result.generators = generators
        return result
    }

    private static func jsonArray(_ strings: [String]) -> String {
        "[" + strings.map { SafeTensors.jsonString($0) }.joined(separator: ",") + "]"
    }

    private static func parseJSONStringArray(_ text: String) -> [String]? {
        try? FeatureLensJSON.decoder().decode([String].self, from: Data(text.utf8))
    }
}
