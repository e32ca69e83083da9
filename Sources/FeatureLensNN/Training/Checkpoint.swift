// Saving a model and its optimizer into a training checkpoint and restoring them (the file
// format, its header and its errors: CheckpointFormat.swift).
import Foundation
import FeatureLensNumerics

extension Checkpoint {
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
