// Checkpoints of the linear gradient-descent engine (`LinearGradientDescent`, the synthetic
// presets' trainer), in the same safetensors format and with the same atomic replacement as
// the `Trainer`'s checkpoints (Checkpoint.swift), so `safetensors.torch.load_file` reads them.
//
// Tensors (all F64 but the generators):
//     weight              W after `step` updates, [p, d]: the state_dict of
//                         torch.nn.Linear(d, p, bias=False)
//     gd.initial_weight   W₀, [p, d]
//     gd.gram_coefficients  Bᵀ, [m, p] (method gram only; W = W₀ + B·Xs, Xs the m stacked
//                         training views): the variable the Gram-space step updates, so
//                         resuming from it is exact
//     rng.online          the online-augmentation view stream before step `step` drew its
//                         views, U64 [4] (method direct with online augmentation only)
//     rng.<name>          any other generator the caller saves
//   __metadata__ (strings): format = "featurelens.checkpoint", format_version = "1", step,
//     epoch (= step: every step is one full batch), config (JSON), gd.engine = "linear-gd",
//     gd.method ("gram" | "direct"), gd.learning_rate (shortest round-trip decimal),
//     gd.loss (loss at W, when known), and the caller's fields (`CheckpointState.metadata`).
//
// Plain gradient descent has no momentum or optimizer moments and a constant learning rate, so
// these tensors are the whole optimizer state.
import Foundation
import FeatureLensNumerics

/// Saving and loading `LinearTrainingState` checkpoints (format above).
public enum LinearCheckpoint {
    /// Value of the `gd.engine` metadata field.
    public static let engineName = "linear-gd"

    /// The tensors and metadata of a checkpoint of `training` (what `save` writes).
    /// - Parameters:
    ///   - training: the engine's state.
    ///   - learningRate: the run's learning rate (recorded; checked on load).
    ///   - state: config JSON, extra generators and caller metadata (`state.step` and
    ///     `state.epoch` are replaced by `training.step`).
    /// - Throws: `CheckpointError.nameCollision` for a reserved metadata key or a generator
    ///   name `online` when `training` has its own online stream.
    public static func encode(_ training: LinearTrainingState, learningRate: Double, state: CheckpointState,
                              file: String = Checkpoint.fileName) throws -> (tensors: [String: SafeTensor], metadata: [String: String]) {
        var s = state
        s.step = training.step
        s.epoch = training.step
        var metadata = try Checkpoint.baseMetadata(s, file: file)
        metadata["gd.engine"] = engineName
        metadata["gd.method"] = training.method.rawValue
        metadata["gd.learning_rate"] = "\(learningRate)"
        if let loss = training.loss { metadata["gd.loss"] = "\(loss)" }
        var tensors: [String: SafeTensor] = [
            "weight": SafeTensor(training.weights),
            "gd.initial_weight": SafeTensor(training.initialWeights),
        ]
        if let b = training.gramCoefficients { tensors["gd.gram_coefficients"] = SafeTensor(b) }
        if let g = training.onlineGenerator {
            if s.generators["online"] != nil { throw CheckpointError.nameCollision(file: file, name: "rng.online") }
            s.generators["online"] = g
        }
        for (name, t) in try Checkpoint.generatorTensors(s, file: file) { tensors[name] = t }
        return (tensors, metadata)
    }

    /// Writes the checkpoint to `directory/checkpoint.safetensors` atomically (temporary file,
    /// fsync, rename), replacing the previous one; stale temporaries of a killed save are
    /// removed first. On failure the previous checkpoint is intact and no partial file remains.
    /// - Returns: the checkpoint's URL.
    /// - Throws: `OutputError` (folder missing or not writable, disk full), `CheckpointError.nameCollision`.
    @discardableResult
    public static func save(_ training: LinearTrainingState, learningRate: Double, state: CheckpointState,
                            to directory: URL) throws -> URL {
        let target = Checkpoint.url(in: directory)
        Checkpoint.removeStaleTemporaries(in: directory)
        let (tensors, metadata) = try encode(training, learningRate: learningRate, state: state, file: target.path)
        try SafeTensors.write(tensors, metadata: metadata, to: target)
        return target
    }

    /// Decodes and checks a linear-engine checkpoint.
    /// - Parameters:
    ///   - checkpoint: the decoded file (`SafeTensors.read`).
    ///   - shape: the expected (p, d) of W and m, the rows of the stacked training views.
    ///   - method: the method the run uses.
    ///   - learningRate: the run's learning rate.
    ///   - online: whether the run draws online views (then `rng.online` is required).
    /// - Returns: the engine state (with `loss` when recorded) and the common fields
    ///   (step, config JSON, generators other than `online`, caller metadata).
    /// - Throws: `CheckpointError` naming the file and the field or tensor: format, version,
    ///   step, engine, method or learning rate that differ; a tensor missing, of another dtype
    ///   or shape, or with a NaN/∞; an unexpected tensor; an invalid generator state.
    public static func restore(_ checkpoint: SafeTensorsFile, p: Int, d: Int, m: Int, method: LinearStepMethod,
                               learningRate: Double, online: Bool) throws -> (training: LinearTrainingState, state: CheckpointState) {
        let file = checkpoint.file
        var state = try Checkpoint.header(checkpoint)
        let engine = try Checkpoint.metadataField(checkpoint, "gd.engine", expected: "\"\(engineName)\"")
        guard engine == engineName else {
            throw CheckpointError.invalidMetadata(file: file, field: "gd.engine", expected: "\"\(engineName)\"", found: "\"\(engine.prefix(40))\"")
        }
        let methodText = try Checkpoint.metadataField(checkpoint, "gd.method", expected: "\"\(method.rawValue)\"")
        guard methodText == method.rawValue else {
            throw CheckpointError.invalidMetadata(file: file, field: "gd.method", expected: "\"\(method.rawValue)\"", found: "\"\(methodText.prefix(40))\"")
        }
        let lrText = try Checkpoint.metadataField(checkpoint, "gd.learning_rate", expected: "\(learningRate)")
        guard Double(lrText) == learningRate else {
            throw CheckpointError.invalidMetadata(file: file, field: "gd.learning_rate", expected: "\(learningRate)", found: "\"\(lrText.prefix(40))\"")
        }
        var loss: Double? = nil
        if let text = checkpoint.metadata["gd.loss"] {
            guard let v = Double(text), v.isFinite else {
                throw CheckpointError.invalidMetadata(file: file, field: "gd.loss", expected: "a finite number", found: "\"\(text.prefix(40))\"")
            }
            loss = v
        }

        var used = Set<String>()
        func fetch(_ name: String, _ shape: [Int]) throws -> Tensor<Double> {
            guard let t = checkpoint.tensors[name] else { throw CheckpointError.missingTensor(file: file, tensor: name, expectedShape: shape) }
            guard t.dtype == .F64 else { throw CheckpointError.dtypeMismatch(file: file, tensor: name, expected: "F64", found: t.dtype.rawValue) }
            guard t.shape == shape else { throw CheckpointError.shapeMismatch(file: file, tensor: name, expected: shape, found: t.shape) }
            if let bad = t.firstNonFiniteIndex { throw CheckpointError.nonFinite(file: file, tensor: name, index: bad) }
            used.insert(name)
            return try checkpoint.tensor(name, as: Double.self)
        }
        let weights = try fetch("weight", [p, d])
        let initial = try fetch("gd.initial_weight", [p, d])
        let coefficients = method == .gram ? try fetch("gd.gram_coefficients", [m, p]) : nil
        var generators = try Checkpoint.generators(checkpoint)
        for name in checkpoint.names where name.hasPrefix("rng.") { used.insert(name) }
        let stream = generators.removeValue(forKey: "online")
        if online && stream == nil {
            throw CheckpointError.invalidGeneratorState(file: file, tensor: "rng.online",
                                                        detail: "missing; expected the online-augmentation stream, U64 [4]")
        }
        for name in checkpoint.names where !used.contains(name) {
            throw CheckpointError.unexpectedTensor(file: file, tensor: name)
        }
        state.generators = generators
        let training = LinearTrainingState(step: state.step, method: method, initialWeights: initial, weights: weights,
                                           gramCoefficients: coefficients, onlineGenerator: online ? stream : nil, loss: loss)
        return (training, state)
    }
}
