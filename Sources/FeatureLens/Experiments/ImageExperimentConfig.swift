// Every knob of one real-image contrastive run (issue 7 item 5; SCIENCE.md §5 "Real data"):
// data subset, encoder, loss, RandBits shortcut, augmentation, optimizer, schedule, audits.
// Codable with snake_case keys and settable from strings (`--set KEY=VALUE`), like
// `SyntheticExperimentConfig`.

import Foundation
import FeatureLensNumerics

/// The image encoder family (issue 7 item 4; `ImageEncoders`).
public enum ImageEncoderKind: String, Codable, Sendable, CaseIterable {
    /// Three 3×3 stride-2 convolutions (32, 64, 64 channels) → dense layer of width `embedding`.
    case convnet
    /// Flatten → Linear/ReLU layers of widths `mlp_hidden` → Linear to `embedding`.
    case mlp
}

/// The contrastive loss of an image run. Temperatures τ apply to the softmax losses.
public enum ImageLossKind: String, Codable, Sendable, CaseIterable {
    /// SupCon L_out (Khosla et al., NeurIPS 2020, eq. 2) on the `train_label` labels.
    case supcon
    /// Spectral contrastive loss with P_SCL (same-`train_label` pairs; SCIENCE.md §3).
    case spectralSCL = "spectral-scl"
    /// Spectral contrastive loss with P_UCL = I/n (two views are the only positives).
    case spectralUCL = "spectral-ucl"
    /// Spectral contrastive loss with P = β·P_SCL + (1 − β)·P_UCL (Xue et al., ICML 2023, §5).
    case spectralJoint = "spectral-joint"
    /// NT-Xent / InfoNCE (SimCLR, Chen et al., ICML 2020): unsupervised, views are the positives.
    case ntxent
    /// L_SupCon + λ·L_NT-Xent on the same two augmented views (shared τ; `JointLoss.supConPlusNTXent`).
    case joint
}

/// How RandBits channels relate across the two views (`RandBits.Mode`).
public enum ImageBitsMode: String, Codable, Sendable, CaseIterable {
    /// Bits drawn once per example, identical in both views (the shortcut is kept).
    case shared
    /// Bits redrawn for each view ("perfect augmentation" of the shortcut).
    case perView = "per-view"

    /// The matching `RandBits.Mode`.
    public var randBitsMode: RandBits.Mode { self == .shared ? .shared : .perView }
}

/// The optimizer of an image run.
public enum ImageOptimizerKind: String, Codable, Sendable, CaseIterable {
    /// Adam (Kingma & Ba 2015) with PyTorch's defaults besides `lr` and `weight_decay`.
    case adam
    /// SGD with `momentum` and coupled `weight_decay` (`torch.optim.SGD`).
    case sgd
}

/// Which embedding the probes read.
public enum ProbeLayer: String, Codable, Sendable, CaseIterable {
    /// The backbone features h `[n, embedding]`.
    case backbone
    /// The projection-head output z `[n, head]` (the backbone when `head` = 0).
    case head
    /// Both: each setting gives one run per layer (settings carry `layer`).
    case both
}

/// Every knob of one image run. JSON keys (snake_case, `ImageExperimentConfig.keys`):
/// `data, train_limit, test_limit, probe_train, encoder, mlp_hidden, embedding, head, loss,
/// temperature, lambda, beta, bits, bits_mode, augmentation, crop_scale, noise_std, optimizer,
/// lr, momentum, weight_decay, batch_size, epochs, steps, audit_steps, train_label,
/// class_within, probe_layer, probe, pca_points, seed, threads`.
///
/// Missing keys keep their defaults when decoding, so a config file may list only what it changes.
public struct ImageExperimentConfig: Codable, Sendable, Equatable {
    /// Folder with the four MNIST-layout IDX files (Fashion-MNIST from Debian's
    /// `dataset-fashion-mnist` by default).
    public var data: String = FashionMNIST.defaultDirectory.path
    /// Training images used (the first so many of the training split); 0 = all 60 000.
    public var trainLimit: Int = 10_000
    /// Test images scored by the probes (the first so many of the test split); 0 = all 10 000.
    public var testLimit: Int = 2_000
    /// Training images the probes are fit on (the first so many of the training subset); 0 = all of it.
    public var probeTrain: Int = 5_000
    /// Encoder family.
    public var encoder: ImageEncoderKind = .convnet
    /// Hidden widths of the pixel MLP (`encoder = mlp` only).
    public var mlpHidden: [Int] = [512]
    /// Backbone feature size: width of h (the dense layer of the ConvNet, the last layer of the MLP).
    public var embedding: Int = 128
    /// Projection-head output size p_z (hidden width = `embedding`); 0 = no head (z = h).
    public var head: Int = 0
    /// The contrastive loss.
    public var loss: ImageLossKind = .ntxent
    /// Temperature τ of SupCon / NT-Xent (> 0).
    public var temperature: Double = 0.1
    /// λ of the joint loss L_SupCon + λ·L_NT-Xent (≥ 0).
    public var lambda: Double = 1
    /// β of `spectral-joint`: P = β·P_SCL + (1 − β)·P_UCL, in [0, 1].
    public var beta: Double = 0.5
    /// RandBits k: constant bit channels appended to every view (0…1024; 0 = none).
    public var bits: Int = 0
    /// Whether the bits are shared by the two views or redrawn per view.
    public var bitsMode: ImageBitsMode = .shared
    /// Augmentation of each view: `none`, or tokens joined by `+` from `crop` (random resized
    /// crop, area in [crop_scale, 1]), `flip` (horizontal, p = 0.5), `noise` (N(0, noise_std²),
    /// clipped to [0, 1]), `erase` (random erasing, p = 0.5). Applied in that order.
    public var augmentation: String = "crop+flip"
    /// Smallest crop area fraction of `crop`, in (0, 1].
    public var cropScale: Double = 0.25
    /// σ of `noise`, in pixel units (images in [0, 1]).
    public var noiseStd: Double = 0.1
    /// Optimizer.
    public var optimizer: ImageOptimizerKind = .adam
    /// Learning rate η.
    public var lr: Double = 1e-3
    /// SGD momentum μ (ignored by Adam).
    public var momentum: Double = 0.9
    /// Weight decay λ_wd (L2, coupled) of either optimizer.
    public var weightDecay: Double = 0
    /// Examples per mini-batch b (the loss sees 2b views); the last partial batch of an epoch is dropped.
    public var batchSize: Int = 256
    /// Epochs over the training subset (used when `steps` is 0): steps = epochs · ⌊n/b⌋.
    public var epochs: Int = 10
    /// Total optimizer steps; 0 = derive from `epochs`.
    public var steps: Int = 0
    /// Steps at which the audit runs (0 = the untrained baseline); empty (`auto`) = 0 and eight
    /// log-spaced steps T/128, T/64, …, T/2, T of the T total steps.
    public var auditSteps: [Int] = []
    /// Label set the supervised losses train on (`class` or `coarse`).
    public var trainLabel: String = "class"
    /// The label set the fine label `class` is probed within (`coarse`), or `none` (probed globally).
    public var classWithin: String = "none"
    /// Which embedding the probes read.
    public var probeLayer: ProbeLayer = .backbone
    /// The probe (ridge = the signature probe of SCIENCE.md §5).
    public var probe: ProbeKind = .ridge
    /// Test points kept in each audit's 2-D PCA projection (0 = no projection).
    public var pcaPoints: Int = 300
    /// Seed of the encoder initialization, batch order, views and RandBits.
    public var seed: UInt64 = 0
    /// Threads of the parallel kernels during the run; 0 = keep the process setting.
    /// Results do not depend on it.
    public var threads: Int = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data, trainLimit = "train_limit", testLimit = "test_limit", probeTrain = "probe_train", encoder
        case mlpHidden = "mlp_hidden", embedding, head, loss, temperature, lambda, beta, bits, bitsMode = "bits_mode"
        case augmentation, cropScale = "crop_scale", noiseStd = "noise_std", optimizer, lr, momentum
        case weightDecay = "weight_decay", batchSize = "batch_size", epochs, steps, auditSteps = "audit_steps"
        case trainLabel = "train_label", classWithin = "class_within", probeLayer = "probe_layer", probe
        case pcaPoints = "pca_points", seed, threads
    }

    /// A config with the defaults above.
    public init() {}

    /// Decodes a config; missing keys keep their defaults.
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var s = ImageExperimentConfig()
        func take<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<ImageExperimentConfig, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { s[keyPath: path] = v }
        }
        try take(.data, \.data); try take(.trainLimit, \.trainLimit); try take(.testLimit, \.testLimit)
        try take(.probeTrain, \.probeTrain); try take(.encoder, \.encoder); try take(.mlpHidden, \.mlpHidden)
        try take(.embedding, \.embedding); try take(.head, \.head); try take(.loss, \.loss)
        try take(.temperature, \.temperature); try take(.lambda, \.lambda); try take(.beta, \.beta)
        try take(.bits, \.bits); try take(.bitsMode, \.bitsMode); try take(.augmentation, \.augmentation)
        try take(.cropScale, \.cropScale); try take(.noiseStd, \.noiseStd); try take(.optimizer, \.optimizer)
        try take(.lr, \.lr); try take(.momentum, \.momentum); try take(.weightDecay, \.weightDecay)
        try take(.batchSize, \.batchSize); try take(.epochs, \.epochs); try take(.steps, \.steps)
        try take(.auditSteps, \.auditSteps); try take(.trainLabel, \.trainLabel); try take(.classWithin, \.classWithin)
        try take(.probeLayer, \.probeLayer); try take(.probe, \.probe); try take(.pcaPoints, \.pcaPoints)
        try take(.seed, \.seed); try take(.threads, \.threads)
        self = s
    }

    /// Every settable key, in documentation order.
    public static var keys: [String] { CodingKeys.allCases.map { $0.rawValue } }

    /// The augmentation tokens `augmentation` may combine with `+`.
    public static let augmentationTokens = ["crop", "flip", "noise", "erase"]

    /// Sets one key from its string form (as `--set KEY=VALUE` gives it). Integers and reals
    /// in Swift syntax; lists comma-separated; `audit_steps` also takes `auto` (or an empty
    /// value); enumerations by their raw names (see each property).
    /// - Throws: `ConfigError.unknownKey` listing the keys, or `ConfigError.invalidValue`
    ///   naming the key and the expected type or choices.
    public mutating func set(key: String, value: String) throws {
        let v = value.trimmingCharacters(in: .whitespaces)
        func double() throws -> Double {
            guard let x = Double(v), x.isFinite else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "a finite real number")
            }
            return x
        }
        func int() throws -> Int {
            guard let x = Int(v) else { throw ConfigError.invalidValue(key: key, value: value, expected: "an integer") }
            return x
        }
        func ints() throws -> [Int] {
            if v.isEmpty || v == "auto" { return [] }
            let parts = v.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.allSatisfy({ $0 != nil }) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "a comma-separated list of integers")
            }
            return parts.map { $0! }
        }
        func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
            guard let e = E(rawValue: v) else {
                throw ConfigError.invalidValue(key: key, value: value,
                                               expected: "one of " + E.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return e
        }
        switch key {
        case "data":
            guard !v.isEmpty else { throw ConfigError.invalidValue(key: key, value: value, expected: "a folder path") }
            data = v
        case "train_limit": trainLimit = try int()
        case "test_limit": testLimit = try int()
        case "probe_train": probeTrain = try int()
        case "encoder": encoder = try choice(ImageEncoderKind.self)
        case "mlp_hidden":
            mlpHidden = try ints()
        case "embedding": embedding = try int()
        case "head": head = try int()
        case "loss": loss = try choice(ImageLossKind.self)
        case "temperature": temperature = try double()
        case "lambda": lambda = try double()
        case "beta": beta = try double()
        case "bits": bits = try int()
        case "bits_mode": bitsMode = try choice(ImageBitsMode.self)
        case "augmentation":
            try Self.checkAugmentation(v, key: key)
            augmentation = v
        case "crop_scale": cropScale = try double()
        case "noise_std": noiseStd = try double()
        case "optimizer": optimizer = try choice(ImageOptimizerKind.self)
        case "lr": lr = try double()
        case "momentum": momentum = try double()
        case "weight_decay": weightDecay = try double()
        case "batch_size": batchSize = try int()
        case "epochs": epochs = try int()
        case "steps": steps = try int()
        case "audit_steps": auditSteps = try ints()
        case "train_label":
            guard ["class", "coarse"].contains(v) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "one of class, coarse")
            }
            trainLabel = v
        case "class_within":
            guard ["none", "coarse"].contains(v) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "one of none, coarse")
            }
            classWithin = v
        case "probe_layer": probeLayer = try choice(ProbeLayer.self)
        case "probe": probe = try choice(ProbeKind.self)
        case "pca_points": pcaPoints = try int()
        case "seed":
            guard let s = UInt64(v) else {
                throw ConfigError.invalidValue(key: key, value: value, expected: "a non-negative integer")
            }
            seed = s
        case "threads": threads = try int()
        default: throw ConfigError.unknownKey(key: key, known: Self.keys)
        }
    }

    /// The string form of `key`'s current value (what `set(key:value:)` accepts), or nil for
    /// an unknown key. Lists are comma-separated; an empty `audit_steps` reads `auto`.
    public func value(forKey key: String) -> String? {
        func list(_ xs: [Int]) -> String { xs.map(String.init).joined(separator: ",") }
        switch key {
        case "data": return data
        case "train_limit": return "\(trainLimit)"
        case "test_limit": return "\(testLimit)"
        case "probe_train": return "\(probeTrain)"
        case "encoder": return encoder.rawValue
        case "mlp_hidden": return list(mlpHidden)
        case "embedding": return "\(embedding)"
        case "head": return "\(head)"
        case "loss": return loss.rawValue
        case "temperature": return "\(temperature)"
        case "lambda": return "\(lambda)"
        case "beta": return "\(beta)"
        case "bits": return "\(bits)"
        case "bits_mode": return bitsMode.rawValue
        case "augmentation": return augmentation
        case "crop_scale": return "\(cropScale)"
        case "noise_std": return "\(noiseStd)"
        case "optimizer": return optimizer.rawValue
        case "lr": return "\(lr)"
        case "momentum": return "\(momentum)"
        case "weight_decay": return "\(weightDecay)"
        case "batch_size": return "\(batchSize)"
        case "epochs": return "\(epochs)"
        case "steps": return "\(steps)"
        case "audit_steps": return auditSteps.isEmpty ? "auto" : list(auditSteps)
        case "train_label": return trainLabel
        case "class_within": return classWithin
        case "probe_layer": return probeLayer.rawValue
        case "probe": return probe.rawValue
        case "pca_points": return "\(pcaPoints)"
        case "seed": return "\(seed)"
        case "threads": return "\(threads)"
        default: return nil
        }
    }

    static func checkAugmentation(_ v: String, key: String = "augmentation") throws {
        if v == "none" { return }
        let tokens = v.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard !tokens.isEmpty, tokens.allSatisfy({ augmentationTokens.contains($0) }), Set(tokens).count == tokens.count else {
            throw ConfigError.invalidValue(
                key: key, value: v,
                expected: "none, or distinct tokens from \(augmentationTokens.joined(separator: ", ")) joined by + (e.g. crop+flip)")
        }
    }

    /// Checks every field (the data folder is checked when the run loads it).
    /// - Throws: `ConfigError.invalidValue` naming the key and the allowed values.
    public func validate() throws {
        func bad(_ k: String, _ v: Any, _ e: String) -> ConfigError { .invalidValue(key: k, value: "\(v)", expected: e) }
        guard !data.isEmpty else { throw bad("data", data, "a folder path") }
        guard trainLimit >= 0 else { throw bad("train_limit", trainLimit, "≥ 0 (0 = all training images)") }
        guard testLimit >= 0 else { throw bad("test_limit", testLimit, "≥ 0 (0 = all test images)") }
        guard probeTrain >= 0 else { throw bad("probe_train", probeTrain, "≥ 0 (0 = the whole training subset)") }
        guard embedding >= 1 else { throw bad("embedding", embedding, "≥ 1") }
        guard head >= 0 else { throw bad("head", head, "≥ 0 (0 = no projection head)") }
        guard mlpHidden.allSatisfy({ $0 >= 1 }) else { throw bad("mlp_hidden", mlpHidden, "widths ≥ 1") }
        guard temperature > 0, temperature.isFinite else { throw bad("temperature", temperature, "a finite value > 0") }
        guard lambda >= 0, lambda.isFinite else { throw bad("lambda", lambda, "a finite value ≥ 0") }
        guard beta >= 0, beta <= 1 else { throw bad("beta", beta, "in [0, 1]") }
        guard (0...1024).contains(bits) else { throw bad("bits", bits, "0…1024") }
        try Self.checkAugmentation(augmentation)
        guard cropScale > 0, cropScale <= 1 else { throw bad("crop_scale", cropScale, "in (0, 1]") }
        guard noiseStd >= 0, noiseStd.isFinite else { throw bad("noise_std", noiseStd, "a finite value ≥ 0") }
        guard lr > 0, lr.isFinite else { throw bad("lr", lr, "a finite value > 0") }
        guard momentum >= 0, momentum.isFinite else { throw bad("momentum", momentum, "a finite value ≥ 0") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("weight_decay", weightDecay, "a finite value ≥ 0") }
        guard batchSize >= 2 else { throw bad("batch_size", batchSize, "≥ 2") }
        guard epochs >= 0 else { throw bad("epochs", epochs, "≥ 0") }
        guard steps >= 0 else { throw bad("steps", steps, "≥ 0 (0 = epochs × steps per epoch)") }
        guard steps > 0 || epochs > 0 else { throw bad("steps", steps, "> 0, or epochs > 0") }
        guard auditSteps.allSatisfy({ $0 >= 0 }) else { throw bad("audit_steps", auditSteps, "steps ≥ 0") }
        guard ["class", "coarse"].contains(trainLabel) else { throw bad("train_label", trainLabel, "one of class, coarse") }
        guard ["none", "coarse"].contains(classWithin) else { throw bad("class_within", classWithin, "one of none, coarse") }
        guard pcaPoints >= 0 else { throw bad("pca_points", pcaPoints, "≥ 0") }
        guard threads >= 0 else { throw bad("threads", threads, "≥ 0 (0 = keep the process setting)") }
    }

    /// Training images n actually used, given the size of the loaded training split.
    public func trainCount(available: Int) -> Int { trainLimit == 0 ? available : min(trainLimit, available) }

    /// Total optimizer steps T for `n` training images: `steps`, or `epochs · ⌊n / batch_size⌋`.
    public func totalSteps(trainCount n: Int) -> Int { steps > 0 ? steps : epochs * (n / max(1, batchSize)) }

    /// The audit steps for T total steps: `audit_steps` (sorted, deduplicated), or with `auto`
    /// 0 and T/128, T/64, …, T/2, T (rounded, deduplicated).
    /// - Throws: `ConfigError.invalidValue` for a step beyond T.
    public func resolvedAuditSteps(totalSteps t: Int) throws -> [Int] {
        if auditSteps.isEmpty {
            var s: Set<Int> = [0, t]
            for j in 1...7 { s.insert(Int((Double(t) / Double(1 << j)).rounded())) }
            return s.sorted()
        }
        if let beyond = auditSteps.first(where: { $0 > t }) {
            throw ConfigError.invalidValue(key: "audit_steps", value: "\(beyond)", expected: "steps in 0…\(t) (the run's total steps)")
        }
        return Array(Set(auditSteps)).sorted()
    }
}
