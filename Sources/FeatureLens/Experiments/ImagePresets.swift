// The real-data presets (SCIENCE.md §5 "Real data"): class collapse from
// coarse to fine labels on Fashion-MNIST, and feature suppression by RandBits. Defaults are
// subsets and few epochs so one seed finishes in ≤ 15 minutes on a 2-core machine
// (docs/REAL_DATA.md has the measured times; `cifar100-collapse` takes longer); the full
// setting is reached through `--set`.
// `tabular` runs the same comparison on a user's feature matrix, `images` on a user's image
// folder, `cifar100-collapse` / `cifar10-randbits` on a user's CIFAR copy (no built-in data),
// and `defects` on the folder `featurelens example defects` writes.

import Foundation

/// A named real-image experiment: a base config and one setting per compared run.
public struct ImagePreset: Sendable, Equatable {
    /// Preset name (`fashion-collapse`, `fashion-randbits`, `cifar100-collapse`, …; `ImagePresets.names`).
    public var name: String
    /// One-line description.
    public var summary: String
    /// The base config every setting starts from.
    public var base: ImageExperimentConfig
    /// The grid: one entry per run, config key → value overrides applied to `base`
    /// (e.g. `["loss": "supcon"]`, `["bits": "10", "bits_mode": "shared", "p": "16"]`).
    public var settings: [[String: String]]
    /// Measured wall time of the default run for one seed on the 2-core development machine
    /// under load, in minutes (docs/REAL_DATA.md).
    public var expectedMinutes: Double
    /// For a preset without built-in data, what `expectedMinutes` was measured on (e.g. "for
    /// 4000 × 32", or synthetic files in CIFAR's layout); nil for presets with built-in data.
    public var timeNote: String?

    /// Creates a preset.
    public init(name: String, summary: String, base: ImageExperimentConfig, settings: [[String: String]],
                expectedMinutes: Double, timeNote: String? = nil) {
        self.name = name
        self.summary = summary
        self.base = base
        self.settings = settings
        self.expectedMinutes = expectedMinutes
        self.timeNote = timeNote
    }

    /// The config of setting `index`: `base` ← the setting's overrides (in key order) ←
    /// `overrides` (in order) ← `seed` when given.
    /// - Throws: `ConfigError` for a bad key or value; `ImagePresetError.settingOutOfRange`.
    public func config(setting index: Int, overrides: [(String, String)] = [], seed: UInt64? = nil) throws
        -> ImageExperimentConfig
    {
        guard settings.indices.contains(index) else {
            throw ImagePresetError.settingOutOfRange(preset: name, index: index, count: settings.count)
        }
        var c = base
        for (k, v) in settings[index].sorted(by: { $0.key < $1.key }) { try c.set(key: k, value: v) }
        for (k, v) in overrides { try c.set(key: k, value: v) }
        if let seed { c.seed = seed }
        return c
    }

    /// The base config with `overrides` and `seed` applied (what a report's `config` records).
    /// - Throws: `ConfigError` for a bad key or value.
    public func baseConfig(overrides: [(String, String)] = [], seed: UInt64? = nil) throws -> ImageExperimentConfig {
        var c = base
        for (k, v) in overrides { try c.set(key: k, value: v) }
        if let seed { c.seed = seed }
        return c
    }
}

/// A preset lookup that failed.
public enum ImagePresetError: Error, CustomStringConvertible, Equatable {
    /// No built-in image preset has this name.
    case unknown(name: String, known: [String])
    /// A setting index outside the preset's grid.
    case settingOutOfRange(preset: String, index: Int, count: Int)

    public var description: String {
        switch self {
        case let .unknown(name, known):
            return "unknown image preset '\(name)'; expected one of \(known.joined(separator: ", "))"
        case let .settingOutOfRange(preset, index, count):
            return "preset \(preset): setting \(index) does not exist (it has \(count) settings)"
        }
    }
}

/// The built-in real-image presets.
public enum ImagePresets {
    /// Names of the built-in image presets.
    public static let names = ["fashion-collapse", "fashion-class-collapse", "fashion-randbits", "fashion-randbits-full",
                               "cifar100-collapse", "cifar10-randbits", "tabular", "images", "defects"]

    /// The built-in preset `name`.
    /// - Throws: `ImagePresetError.unknown` listing the names.
    public static func named(_ name: String) throws -> ImagePreset {
        switch name {
        case "fashion-collapse": return fashionCollapse
        case "fashion-class-collapse": return fashionClassCollapse
        case "fashion-randbits": return fashionRandBits
        case "fashion-randbits-full": return fashionRandBitsFull
        case "cifar100-collapse": return cifar100Collapse
        case "cifar10-randbits": return cifar10RandBits
        case "tabular": return tabular
        case "images": return images
        case "defects": return defects
        default: throw ImagePresetError.unknown(name: name, known: names)
        }
    }

    /// Class collapse, coarse to fine (SCIENCE.md §5): the ConvNet (h of width 128, projection
    /// head 128 → 128 → z, p = 128) trained on the 4 coarse groups (tops, bottoms, footwear, bags; label set
    /// `coarse`) with SupCon, spectral SCL, and SupCon + λ·NT-Xent (λ = 1), τ = 0.1, crop+flip
    /// views, Adam 1e-3, batch 256, 15 epochs (585 steps) over the first 10 000 training images; probes
    /// (ridge, balanced accuracy) of `class` within its coarse group and of `coarse`, on the
    /// backbone and the head, fit on 5 000 training images and scored on 2 000 test images, at
    /// step 0 and 8 log-spaced steps. Full setting: `--set train_limit=0 --set epochs=50`.
    public static var fashionCollapse: ImagePreset {
        var c = ImageExperimentConfig()
        c.trainLimit = 10_000; c.testLimit = 2_000; c.probeTrain = 5_000
        c.encoder = .convnet; c.backboneWidth = 128; c.p = 128
        c.loss = .supcon; c.temperature = 0.1; c.lambda = 1
        c.augmentation = "crop+flip"; c.cropScale = 0.25
        c.optimizer = .adam; c.lr = 1e-3; c.batchSize = 256; c.epochs = 15; c.steps = 0
        c.auditSteps = []
        c.grouping = "fashion-mnist"
        c.trainLabel = "coarse"; c.within = "class:coarse"; c.probeLayer = .both
        return ImagePreset(
            name: "fashion-collapse",
            summary: "SupCon / spectral SCL / SupCon+NT-Xent on 4 coarse groups; probe the 10 fine labels within their group over training",
            base: c,
            settings: ["supcon", "spectral-scl", "joint"].map { ["loss": $0] },
            expectedMinutes: 3)
    }

    /// Class collapse on real images, the recipe of SCIENCE.md §6: the ConvNet of
    /// `fashion-collapse` (h of width 128, head 128 → 128 → z, p = 128) trained with SupCon
    /// (τ = 0.1) on the 4 coarse groups **without augmentation** (the setting of the theory's
    /// SCL: the fine labels are learned in the first epochs, then lost), and next to it the
    /// joint loss L_SupCon + λ·L_NT-Xent (λ = 1) with crop+flip+noise views, which keeps them.
    /// Adam 1e-3, batch 256, 64 epochs (2 496 steps) over the first 10 000 training images;
    /// audits at step 0 and on a doubling schedule of epochs (½, 1, 2, …, 64: `audit_steps`
    /// auto); logistic probes of `class` within `coarse` and of `coarse` on the backbone and
    /// the head, fit on 5 000 training images and scored on 5 000 test images.
    ///
    /// λ = 1 gives the same direction as the paper's 0.5·SupCon + 0.5·NT-Xent, and Adam
    /// updates do not depend on a constant factor of the loss (up to its ε).
    public static var fashionClassCollapse: ImagePreset {
        var c = fashionCollapse.base
        c.testLimit = 5_000
        c.epochs = 64
        c.probe = .logistic
        c.augmentation = "none"
        return ImagePreset(
            name: "fashion-class-collapse",
            summary: "SupCon without augmentation learns the 10 fine labels within their coarse group, then loses them; the joint loss with augmentation keeps them",
            base: c,
            settings: [["loss": "supcon", "augmentation": "none"],
                       ["loss": "joint", "augmentation": "crop+flip+noise"]],
            expectedMinutes: 6)
    }

    /// The RandBits base shared by both RandBits presets: NT-Xent (τ = 0.1) on the ConvNet
    /// without a projection head (z = h, embedding size p = width of h), crop+flip views, Adam 1e-3,
    /// batch 256, 6 epochs (234 steps) over the first 10 000 training images; probes of `class` (10),
    /// `coarse` and each bit (`bit0`…), fit on 5 000 training images, scored on 2 000 test images.
    static var randBitsBase: ImageExperimentConfig {
        var c = ImageExperimentConfig()
        c.trainLimit = 10_000; c.testLimit = 2_000; c.probeTrain = 5_000
        c.encoder = .convnet; c.p = 128; c.backboneWidth = 0
        c.loss = .ntxent; c.temperature = 0.1
        c.augmentation = "crop+flip"; c.cropScale = 0.25
        c.optimizer = .adam; c.lr = 1e-3; c.batchSize = 256; c.epochs = 6; c.steps = 0
        c.auditSteps = []
        c.grouping = "fashion-mnist"
        c.trainLabel = "class"; c.within = "none"; c.probeLayer = .backbone
        return c
    }

    static func randBitsSetting(_ k: Int, _ mode: ImageBitsMode, _ p: Int) -> [String: String] {
        ["bits": "\(k)", "bits_mode": mode.rawValue, "p": "\(p)"]
    }

    /// Feature suppression by RandBits (Chen, Luo & Li, NeurIPS 2021; SCIENCE.md §5), the
    /// default subgrid (9 runs): p = 128 with k ∈ {0, 5, 10, 20} shared bits and k ∈ {10, 20}
    /// bits redrawn per view; p = 16 with k ∈ {0, 10, 20} shared bits. Base: see
    /// `fashion-randbits-full` (the full 14-run grid).
    public static var fashionRandBits: ImagePreset {
        var settings: [[String: String]] = []
        for k in [0, 5, 10, 20] { settings.append(randBitsSetting(k, .shared, 128)) }
        for k in [10, 20] { settings.append(randBitsSetting(k, .perView, 128)) }
        for k in [0, 10, 20] { settings.append(randBitsSetting(k, .shared, 16)) }
        return ImagePreset(
            name: "fashion-randbits",
            summary: "NT-Xent with k random bits kept in both views (or redrawn per view), p = 16 and 128; probe the classes and the bits",
            base: randBitsBase, settings: settings, expectedMinutes: 10)
    }

    /// The full RandBits grid: k ∈ {0, 5, 10, 20} × {shared, per-view} × p ∈ {16, 128}, with
    /// k = 0 once per p (14 runs, about 18 minutes).
    public static var fashionRandBitsFull: ImagePreset {
        var settings: [[String: String]] = []
        for p in [128, 16] {
            settings.append(randBitsSetting(0, .shared, p))
            for mode in [ImageBitsMode.shared, .perView] {
                for k in [5, 10, 20] { settings.append(randBitsSetting(k, mode, p)) }
            }
        }
        return ImagePreset(
            name: "fashion-randbits-full",
            summary: "The full RandBits grid: k ∈ {0, 5, 10, 20} × shared/per-view × p ∈ {16, 128}",
            base: randBitsBase, settings: settings, expectedMinutes: 16)
    }

    /// The note of the CIFAR presets' times: measured without a CIFAR copy, on files of the same
    /// layout and sizes (`Tools/real_data/make_fake_cifar.py`).
    static let cifarTimeNote = "measured with synthetic files in CIFAR's layout and sizes; run time does not depend on pixel values"

    /// SimCLR's views for CIFAR (Chen et al., ICML 2020, appendix A and B.9): random resized
    /// crop (area ≥ 0.2 here), horizontal flip, colour jitter (strengths 0.4, 0.4, 0.4, 0.1
    /// with p = 0.8) and random greyscale (p = 0.2); then per-channel normalization with the
    /// training images' mean and standard deviation.
    static func simCLRColourViews(_ c: inout ImageExperimentConfig) {
        c.augmentation = "crop+flip+jitter+grayscale"; c.cropScale = 0.2
        c.jitterBrightness = 0.4; c.jitterContrast = 0.4; c.jitterSaturation = 0.4; c.jitterHue = 0.1; c.jitterProb = 0.8
        c.grayscaleProb = 0.2
        c.normalize = .perChannel; c.normalizeMean = []; c.normalizeStd = []
    }

    /// Class collapse on CIFAR-100, the paper's setting (Xue et al., ICML 2023, §6): SupCon
    /// trained on the 20 superclasses (label set `coarse`), the 100 fine classes (`class`)
    /// probed within their superclass, next to NT-Xent and the joint loss L_SupCon + λ·L_NT-Xent
    /// (λ = 1), τ = 0.1. The ConvNet of `fashion-collapse` on 3 × 32 × 32 images (h of width 128,
    /// head 128 → 128 → z, p = 128; the paper's ResNet-18 is `--set encoder=resnet18`, much
    /// slower on a CPU) with SimCLR's colour views (`simCLRColourViews`) and per-channel
    /// normalization; Adam 1e-3, batch 256, 15 epochs (585 steps) over the first 10 000
    /// training images; logistic probes of `class` within `coarse` and of `coarse` on the
    /// backbone and the head, fit on 5 000 training images, scored on 2 000 test images, at
    /// step 0 and 8 log-spaced steps. Full setting: `--set train_limit=0 --set test_limit=0`.
    ///
    /// No built-in data (CIFAR is not packaged): `--set data=DIR`, DIR holding the CIFAR-100
    /// binary version's `train.bin` and `test.bin`; without it, or with a file missing, the run
    /// stops with a message naming the file and where to download it. The time was measured on
    /// synthetic files in CIFAR's layout (docs/REAL_DATA.md).
    public static var cifar100Collapse: ImagePreset {
        var c = fashionCollapse.base
        c.data = ""; c.dataFormat = .cifar100; c.grouping = "none"
        c.trainLimit = 10_000; c.testLimit = 2_000; c.probeTrain = 5_000
        c.encoder = .convnet; c.backboneWidth = 128; c.p = 128
        c.loss = .supcon; c.temperature = 0.1; c.lambda = 1
        simCLRColourViews(&c)
        c.optimizer = .adam; c.lr = 1e-3; c.batchSize = 256; c.epochs = 15; c.steps = 0
        c.auditSteps = []
        c.trainLabel = "coarse"; c.within = "class:coarse"; c.probeLayer = .both; c.probe = .logistic
        return ImagePreset(
            name: "cifar100-collapse",
            summary: "CIFAR-100 (--set data=DIR): SupCon / NT-Xent / SupCon+NT-Xent on the 20 superclasses; probe the 100 fine classes within their superclass",
            base: c,
            settings: ["supcon", "ntxent", "joint"].map { ["loss": $0] },
            expectedMinutes: 31, timeNote: cifarTimeNote)
    }

    /// Feature suppression by RandBits on CIFAR-10 (Chen, Luo & Li, NeurIPS 2021, who use
    /// CIFAR-10): the grid of `fashion-randbits` (p = 128 with k ∈ {0, 5, 10, 20} shared bits and
    /// k ∈ {10, 20} per-view bits; p = 16 with k ∈ {0, 10, 20} shared bits) and its base
    /// (NT-Xent, τ = 0.1, the ConvNet without a head, Adam 1e-3, batch 256, 6 epochs = 234 steps
    /// over the first 10 000 training images, probes of `class` and of each bit fit on 5 000
    /// training and scored on 2 000 test images), with SimCLR's colour views and per-channel
    /// normalization (`simCLRColourViews`; the bit channels are appended after both, unchanged).
    ///
    /// No built-in data: `--set data=DIR`, DIR holding the CIFAR-10 binary version's
    /// `data_batch_1.bin` (… `data_batch_5.bin`) and `test_batch.bin`. The time was measured on
    /// synthetic files in CIFAR's layout (docs/REAL_DATA.md).
    public static var cifar10RandBits: ImagePreset {
        var c = randBitsBase
        c.data = ""; c.dataFormat = .cifar10; c.grouping = "none"
        simCLRColourViews(&c)
        return ImagePreset(
            name: "cifar10-randbits",
            summary: "CIFAR-10 (--set data=DIR): NT-Xent with k random bits kept in both views (or redrawn per view), p = 16 and 128; probe the classes and the bits",
            base: c, settings: fashionRandBits.settings, expectedMinutes: 14, timeNote: cifarTimeNote)
    }

    /// Your own feature matrix: SupCon, NT-Xent and the joint loss L_SupCon + λ·L_NT-Xent
    /// (λ = 1, τ = 0.1) on the MLP encoder (hidden width 128, h of width 64, projection head
    /// 64 → 64 → z, p = 32) with feature-level views (Gaussian noise σ = 0.2 in standardized
    /// units, then feature masking p = 0.2), Adam 1e-3, batch 128, 10 epochs over the training
    /// rows (80 % of the rows, standardized on them); logistic probes of every labels column
    /// (and FINE within COARSE with `within`) on the backbone, at step 0 and 8 log-spaced steps.
    /// `train_label` empty: the supervised losses train on the first labels column.
    ///
    /// No built-in data: `data` is empty, and validation fails with a message naming the two
    /// keys to set (`--set data=FEATURES.npy --set labels=LABELS.csv`). A built-in matrix
    /// would report on data the user did not choose; the preset is for their own.
    public static var tabular: ImagePreset {
        var c = ImageExperimentConfig()
        c.data = ""; c.labels = ""; c.testFraction = 0.2; c.splitSeed = 0; c.grouping = "auto"
        c.trainLimit = 0; c.testLimit = 0; c.probeTrain = 0
        c.encoder = .mlp; c.mlpHidden = [128]; c.backboneWidth = 64; c.p = 32
        c.loss = .supcon; c.temperature = 0.1; c.lambda = 1
        c.augmentation = "noise+mask"; c.noiseStd = 0.2; c.maskProb = 0.2
        c.optimizer = .adam; c.lr = 1e-3; c.batchSize = 128; c.epochs = 10; c.steps = 0
        c.auditSteps = []
        c.trainLabel = ""; c.within = "none"; c.probeLayer = .backbone; c.probe = .logistic
        c.pcaPoints = 300
        return ImagePreset(
            name: "tabular",
            summary: "Your own feature matrix (--set data=FEATURES.npy|.csv --set labels=LABELS.csv): SupCon / NT-Xent / SupCon+NT-Xent on the MLP, probing every labels column",
            base: c,
            settings: ["supcon", "ntxent", "joint"].map { ["loss": $0] },
            expectedMinutes: 0.5, timeNote: "for 4000 × 32")
    }

    /// Your own image folder: SupCon, NT-Xent and the joint loss L_SupCon + λ·L_NT-Xent (λ = 1,
    /// τ = 0.1) on the ConvNet (h of width 128, projection head 128 → 128 → z, p = 128) with
    /// crop (scale ≥ 0.25) + flip views, Adam 1e-3, batch 64, 20 epochs over the training
    /// images; logistic probes of every folder level (each level within the one above it) on
    /// the backbone and the head, at step 0 and 8 log-spaced steps, and which subclasses merged
    /// at the end. The supervised losses train on the first level (`train_label` empty);
    /// `levels` names the levels (default `class,subclass`).
    ///
    /// No built-in data: `data` is empty and validation names the key to set
    /// (`--set data=DIR`).
    public static var images: ImagePreset {
        var c = ImageExperimentConfig()
        c.data = ""; c.labels = ""; c.testFraction = 0.2; c.splitSeed = 0; c.grouping = "auto"
        c.trainLimit = 0; c.testLimit = 0; c.probeTrain = 0
        c.encoder = .convnet; c.backboneWidth = 128; c.p = 128
        c.loss = .supcon; c.temperature = 0.1; c.lambda = 1
        c.augmentation = "crop+flip"; c.cropScale = 0.25
        c.optimizer = .adam; c.lr = 1e-3; c.batchSize = 64; c.epochs = 20; c.steps = 0
        c.auditSteps = []
        c.trainLabel = ""; c.within = "none"; c.probeLayer = .both; c.probe = .logistic
        c.pcaPoints = 300
        return ImagePreset(
            name: "images",
            summary: "Your own image folder (--set data=DIR, one sub-folder per class, sub-sub-folders per subclass): SupCon / NT-Xent / SupCon+NT-Xent on the ConvNet, probing every folder level",
            base: c,
            settings: ["supcon", "ntxent", "joint"].map { ["loss": $0] },
            expectedMinutes: 0.5, timeNote: "for the 160 images of examples/parts")
    }

    /// The defect-inspection example (`featurelens example defects DIR`, `DefectParts`): the
    /// folder levels are `status` (ok/defect), `type` (good; crack, dent, scratch, stain) and
    /// `lighting` (a class-irrelevant nuisance: lit from the top or the bottom). SupCon trains
    /// on `status` only; NT-Xent uses no labels; the joint loss L_SupCon + λ·L_NT-Xent (λ = 1)
    /// trains on `status` too. τ = 0.1, the ConvNet (h of width 128, projection head
    /// 128 → 128 → z, p = 128), crop (scale ≥ 0.5, so a view keeps most of the part and its
    /// defect) + flip views for NT-Xent and the joint loss, SupCon without augmentation (the
    /// setting in which SupCon collapses the fine labels, as in `fashion-class-collapse`),
    /// Adam 1e-3, batch 128, 32 epochs over `train/` (384 steps on the example's 1 600
    /// images); logistic probes on the backbone and the head of `status`, of `type` within
    /// `status` (the defect type within `defect`: the `ok` group has one type and does not
    /// count) and of `lighting` within `type` (the nuisance), fit on `train/` and scored on
    /// `test/`, at step 0 and at T/128, T/64, …, T/2, T of the T steps. Measured results
    /// (seeds 0–2) are in docs/REAL_DATA.md.
    ///
    /// No built-in data: `data` is empty and validation names the key to set
    /// (`--set data=DIR`, a folder written by `featurelens example defects DIR`).
    public static var defects: ImagePreset {
        var c = images.base
        c.levels = "status,type,lighting"
        c.trainLabel = "status"
        c.cropScale = 0.5
        c.batchSize = 128; c.epochs = 32
        c.auditSteps = []
        return ImagePreset(
            name: "defects",
            summary: "The defect-inspection example (featurelens example defects DIR; --set data=DIR): does SupCon on ok/defect keep the defect type, does NT-Xent latch onto the lighting, does the joint loss keep the type?",
            base: c,
            settings: [["loss": "supcon", "augmentation": "none"],
                       ["loss": "ntxent", "augmentation": "crop+flip"],
                       ["loss": "joint", "augmentation": "crop+flip"]],
            expectedMinutes: 5.5, timeNote: "for the 1 600 training and 800 test images of `featurelens example defects`")
    }
}
