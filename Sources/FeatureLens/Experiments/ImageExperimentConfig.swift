// Every knob of one mini-batch contrastive run on real data (SCIENCE.md §5 "Real data"): an
// MNIST-layout image folder or a user's feature matrix (`data` = .npy/.csv with `labels`),
// data subset, encoder, loss, RandBits shortcut, augmentation, optimizer, schedule, audits.
// Codable with snake_case keys and settable from strings (`--set KEY=VALUE`), like
// `SyntheticExperimentConfig`.

import Foundation
import FeatureLensNumerics

/// The image encoder family (`ImageEncoders`).
public enum ImageEncoderKind: String, Codable, Sendable, CaseIterable {
    /// Three 3×3 stride-2 convolutions (32, 64, 64 channels) → dense layer to the features h.
    case convnet
    /// Flatten → Linear/ReLU layers of widths `mlp_hidden` → Linear to the features h.
    case mlp
    /// CIFAR-style ResNet-18 (3×3 stem, no max-pool, four stages of two basic blocks with w, 2w,
    /// 4w, 8w filters, w = `resnet_width`; global average pooling), then a dense layer to h
    /// unless the width of h is 8w (the paper's encoder, He et al. 2016; Xue et al. 2023 §6).
    case resnet18
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

/// How the folder in `data` is read (`data_format`).
public enum ImageDataFormat: String, Codable, Sendable, CaseIterable {
    /// Decided by the folder's files: the MNIST layout (four IDX files), the CIFAR-10 binary
    /// folder (`data_batch_1.bin`), the CIFAR-100 binary folder (`train.bin`), else a tree of
    /// PNG/JPEG images.
    case auto
    /// Four MNIST-layout IDX files (`train-images-idx3-ubyte[.gz]`, …).
    case mnist
    /// The CIFAR-10 binary version: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`;
    /// label set `class` (10).
    case cifar10
    /// The CIFAR-100 binary version: `train.bin`, `test.bin`; label sets `coarse` (the 20
    /// superclasses) and `class` (the 100 fine classes).
    case cifar100
    /// A tree of PNG/JPEG images, one folder level per label set.
    case imageFolder = "image-folder"
}

/// Whether and how image channels are normalized (`normalize`).
public enum ImageNormalization: String, Codable, Sendable, CaseIterable {
    /// Pixels as read, in [0, 1].
    case none
    /// x_c ← (x_c − μ_c)/σ_c per channel c (`ChannelNormalization`), μ and σ from
    /// `normalize_mean` / `normalize_std` or computed on the training images.
    case perChannel = "per-channel"
}

/// Which embedding the probes read.
public enum ProbeLayer: String, Codable, Sendable, CaseIterable {
    /// The backbone features h `[n, width of h]`.
    case backbone
    /// The projection-head output z `[n, p]` (h when there is no head, `backbone_width` = 0).
    case head
    /// Both: each setting gives one run per layer (settings carry `layer`).
    case both
}

/// Every knob of one image run. Codable with snake_case keys; every key (name, type, default,
/// validation, doc) is in `ImageExperimentConfig.table`, which drives JSON decoding (unknown
/// keys rejected), `set(key:value:)`, `validate()` and docs/CONFIG.md.
///
/// Vocabulary: the backbone maps an image to its features h; the projection head (when
/// `backbone_width` > 0) maps h to z; without a head z = h. The embedding size p is the width of z.
///
/// Missing keys keep their defaults when decoding, so a config file may list only what it changes.
public struct ImageExperimentConfig: Codable, Sendable, Equatable {
    /// Folder with the four MNIST-layout IDX files (Fashion-MNIST from Debian's
    /// `dataset-fashion-mnist` by default), a CIFAR binary folder, an image-folder tree, or a feature matrix `[n, d]` (`.npy` or `.csv`)
    /// whose label sets are in `labels`.
    public var data: String = FashionMNIST.defaultDirectory.path
    /// The labels CSV of a feature matrix (header row, one column per label set, one row per
    /// feature row); empty for an image folder.
    public var labels: String = ""
    /// Fraction of a feature matrix's rows held out as the test split, in (0, 1).
    public var testFraction: Double = 0.2
    /// Seed of the permutation that splits a feature matrix into training and test rows (kept
    /// apart from `seed`, so runs with different seeds share one test split).
    public var splitSeed: UInt64 = 0
    /// Coarse label set of an image folder: `auto`, `fashion-mnist`, `none` or a grouping JSON file.
    public var grouping: String = "auto"
    /// How `data` is read: auto-detected, MNIST layout, CIFAR-10 / CIFAR-100 binary, or an image-folder tree.
    public var dataFormat: ImageDataFormat = .auto
    /// Names of the label sets of an image-folder tree, one per folder level (comma-separated).
    public var levels: String = "class,subclass"
    /// Skip images that cannot be decoded (each listed in a warning) instead of stopping.
    public var skipBadImages: Bool = false
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
    /// Filters w of ResNet-18's first stage (`encoder = resnet18` only; 64 is the standard model).
    public var resnetWidth: Int = 64
    /// Embedding size p: width of z, the encoder output the loss compares. Without a
    /// projection head z = h, so the backbone's last layer (the dense layer of the ConvNet, the
    /// last layer of the MLP) has width p.
    public var p: Int = 128
    /// Width of the backbone features h when a projection head h → z is used (hidden width of
    /// the head = `backboneWidth`, output width = p); 0 = no projection head (z = h, width p).
    public var backboneWidth: Int = 0
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
    /// crop, area in [crop_scale, 1]), `flip` (horizontal, p = 0.5), `jitter` (colour jitter,
    /// `jitter_*`), `grayscale` (random greyscale, p = `grayscale_prob`), `noise` (N(0,
    /// noise_std²), clipped to [0, 1]), `erase` (random erasing, p = 0.5), `mask`. Applied in that order.
    public var augmentation: String = "crop+flip"
    /// Smallest crop area fraction of `crop`, in (0, 1].
    public var cropScale: Double = 0.25
    /// σ of `noise`, in pixel units (images in [0, 1]); for a feature matrix, in standard
    /// deviations of the training rows.
    public var noiseStd: Double = 0.1
    /// Probability p that `mask` zeroes a value of a view.
    public var maskProb: Double = 0.2
    /// Brightness strength of `jitter` (factor uniform in [max(0, 1 − s), 1 + s]).
    public var jitterBrightness: Double = 0.4
    /// Contrast strength of `jitter`.
    public var jitterContrast: Double = 0.4
    /// Saturation strength of `jitter` (no effect on 1-channel images).
    public var jitterSaturation: Double = 0.4
    /// Hue strength of `jitter`, in [0, 0.5] (shift uniform in [−s, s]; no effect on 1-channel images).
    public var jitterHue: Double = 0.1
    /// Probability that `jitter` changes an image at all.
    public var jitterProb: Double = 0.8
    /// Probability that `grayscale` turns an RGB image grey.
    public var grayscaleProb: Double = 0.2
    /// Per-channel normalization of the images (training views after augmentation, and the
    /// probe and test images).
    public var normalize: ImageNormalization = .none
    /// μ per channel of `normalize = per-channel`; empty (`auto`) = computed on the training images.
    public var normalizeMean: RealList = []
    /// σ per channel of `normalize = per-channel`; empty (`auto`) = computed on the training images.
    public var normalizeStd: RealList = []
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
    /// Label set the supervised losses train on: `class` or the coarse groups for an image
    /// folder, a column of `labels` for a feature matrix; empty = `class`, or the first column.
    public var trainLabel: String = "class"
    /// Nested probes: `none`, or `FINE:COARSE` pairs joined by commas (each FINE probed within
    /// the groups of COARSE).
    public var within: String = "none"
    /// Which embedding the probes read.
    public var probeLayer: ProbeLayer = .backbone
    /// The probe (logistic: multinomial logistic regression with C chosen on held-out probe-train
    /// rows, which reads multi-class labels; ridge = the signature probe of SCIENCE.md §5).
    public var probe: ProbeKind = .logistic
    /// Test points kept in each audit's 2-D PCA projection (0 = no projection).
    public var pcaPoints: Int = 300
    /// Seed of the encoder initialization, batch order, views and RandBits.
    public var seed: UInt64 = 0
    /// Threads of the parallel kernels during the run; 0 = keep the process setting.
    /// Results do not depend on it.
    public var threads: Int = 0

    /// A config with the defaults above.
    public init() {}

    /// Decodes a config; missing keys keep their defaults. An unknown key is an error naming
    /// it and suggesting the nearest valid key. The old keys `embedding` and `head` (before
    /// `backbone_width` and `p`) are read by the rules in `table.aliases`.
    /// - Throws: `DecodingError` naming the field.
    public init(from decoder: Swift.Decoder) throws { self = try Self.table.decode(from: decoder) }

    /// Encodes every key of `table` (snake_case names; never the old aliases).
    public func encode(to encoder: Swift.Encoder) throws { try Self.table.encode(self, to: encoder) }

    /// Every settable key, in documentation order.
    public static var keys: [String] { table.names }

    /// The augmentation tokens `augmentation` may combine with `+`, in the order they apply.
    public static let augmentationTokens = ["crop", "flip", "jitter", "grayscale", "noise", "erase", "mask"]

    /// The tokens that need an image (a spatial layout); a feature matrix takes only the others.
    public static let imageOnlyAugmentationTokens = ["crop", "flip", "jitter", "grayscale", "erase"]

    /// Extensions of `data` read as a feature matrix (anything else is an image folder).
    public static let featureMatrixExtensions = ["npy", "csv", "txt"]

    /// Whether `data` names a feature matrix (`.npy`, `.csv` or `.txt`, case-insensitive)
    /// rather than an MNIST-layout image folder.
    public var isFeatureMatrix: Bool {
        Self.featureMatrixExtensions.contains(URL(fileURLWithPath: data).pathExtension.lowercased())
    }

    /// The `within` pairs, fine label set → coarse label set (empty for `none`).
    public var withinPairs: [String: String] {
        guard within != "none", !within.isEmpty else { return [:] }
        var out: [String: String] = [:]
        for pair in within.split(separator: ",") {
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }

    /// How the coarse label set of an image folder is made (`grouping`).
    public enum Grouping: Equatable, Sendable {
        /// No coarse label set: only `class`.
        case none
        /// Fashion-MNIST's tops / bottoms / footwear / bags (`FashionMNIST.coarseGrouping`).
        case fashionMNIST
        /// A `LabelGrouping` JSON file.
        case file(String)
    }

    /// `grouping` resolved: `auto` is `fashion-mnist` when `data` is the default Fashion-MNIST
    /// folder or the config asks for the label set `coarse` (`train_label` or `within`; what
    /// configs written before `grouping` existed mean), else `none`; always `none` for a
    /// feature matrix.
    public var resolvedGrouping: Grouping {
        switch grouping {
        case "none": return .none
        case "fashion-mnist": return .fashionMNIST
        case "auto":
            if isFeatureMatrix { return .none }
            let defaultFolder = URL(fileURLWithPath: data).standardizedFileURL.path
                == FashionMNIST.defaultDirectory.standardizedFileURL.path
            let usesCoarse = trainLabel == "coarse" || withinPairs.contains { $0.key == "coarse" || $0.value == "coarse" }
            return defaultFolder || usesCoarse ? .fashionMNIST : .none
        default: return .file(grouping)
        }
    }

    /// The label set the supervised losses train on, among the data's `labelNames` (in order):
    /// `train_label`, or when it is empty `class` if present, else the first one.
    public func resolvedTrainLabel(labelNames: [String]) -> String {
        if !trainLabel.isEmpty { return trainLabel }
        return labelNames.contains("class") ? "class" : (labelNames.first ?? "class")
    }

    /// Checks that `train_label` and every `within` label set are among the loaded data's
    /// label sets `labelNames`.
    /// - Parameter source: what holds the label sets, for the message (e.g. the labels file).
    /// - Throws: `ConfigError.invalidValue` naming `train_label` or `within` and listing the
    ///   available label sets.
    public func checkLabelSets(_ labelNames: [String], source: String) throws {
        let list = labelNames.joined(separator: ", ")
        let train = resolvedTrainLabel(labelNames: labelNames)
        if !labelNames.contains(train) {
            throw ConfigError.invalidValue(key: "train_label", value: train, expected: "a label set of \(source): \(list)")
        }
        for (fine, coarse) in withinPairs.sorted(by: { $0.key < $1.key }) {
            for name in [fine, coarse] where !labelNames.contains(name) {
                throw ConfigError.invalidValue(key: "within", value: within,
                                               expected: "FINE:COARSE with label sets of \(source) (\(name) is not one): \(list)")
            }
        }
    }

    /// Sets one key (or an old alias) from its string form (as `--set KEY=VALUE` gives it).
    /// Integers and reals in Swift syntax; lists comma-separated; `audit_steps` also takes
    /// `auto` (or an empty value); enumerations by their raw names (see `table`).
    /// - Throws: `ConfigError.unknownKey` (suggesting the nearest key), or
    ///   `ConfigError.invalidValue` naming the key and the expected type or choices.
    public mutating func set(key: String, value: String) throws { try Self.table.set(&self, key: key, value: value) }

    /// The string form of `key`'s current value (what `set(key:value:)` accepts), or nil for
    /// an unknown key. Lists are comma-separated; an empty `audit_steps` reads `auto`.
    public func value(forKey key: String) -> String? { Self.table.value(of: self, key: key) }

    /// Width of the backbone features h: `backbone_width`, or p without a projection head.
    public var featureWidth: Int { backboneWidth > 0 ? backboneWidth : p }

    /// Whether the encoder has a projection head (h → z), i.e. `backbone_width` > 0.
    public var hasHead: Bool { backboneWidth > 0 }

    /// The old `embedding` key: the width of h (with a head, `backbone_width`; without, p).
    @available(*, deprecated, message: "use featureWidth (width of h), backboneWidth or p")
    public var embedding: Int {
        get { featureWidth }
        set { Self.applyOldEmbedding(&self, newValue) }
    }

    /// The old `head` key: the width of z when there is a head, 0 when there is none.
    @available(*, deprecated, message: "use p (width of z) and backboneWidth (0 = no head)")
    public var head: Int {
        get { hasHead ? p : 0 }
        set { Self.applyOldHead(&self, newValue) }
    }

    /// Old `embedding = E` (width of h): sets `backbone_width` when there is a head, else p.
    static func applyOldEmbedding(_ c: inout ImageExperimentConfig, _ e: Int) {
        if c.hasHead { c.backboneWidth = e } else { c.p = e }
    }

    /// Old `head = H` (width of z, 0 = no head): H = 0 removes the head (p = width of h);
    /// H > 0 keeps the width of h as `backbone_width` and sets p = H. Commutes with
    /// `applyOldEmbedding`, so old files read the same whatever the key order.
    static func applyOldHead(_ c: inout ImageExperimentConfig, _ h: Int) {
        let width = c.featureWidth
        if h == 0 {
            c.p = width; c.backboneWidth = 0
        } else {
            c.backboneWidth = width; c.p = h
        }
    }

    /// The table of keys: name, type, default, validation and doc of each.
    public static let table = ConfigTable<ImageExperimentConfig>(
        kind: "image", defaults: ImageExperimentConfig(),
        keys: [
            .init("data", \.data, type: "folder or file path",
                  doc: "Folder with the four MNIST-layout IDX files (Fashion-MNIST from Debian's `dataset-fashion-mnist` by default), or a folder tree of PNG/JPEG images (every sub-folder level is a label set, named by `levels`; `train/` and `test/` at the top give the split, else `test_fraction`; images are resized to the first image's size (shorter side, then centre crop, bilinear) and read as grey or RGB, RGB when any image has colour; the decoded tree is cached in `DATA/.featurelens-cache/` and re-read when a file changes), or a CIFAR-10 / CIFAR-100 binary folder (see `data_format`), or a feature matrix [n, d]: a `.npy` file (float32/float64) or a `.csv`/`.txt` file of numbers (optional header row), with its label sets in `labels`. A feature matrix is split by `test_fraction`, standardized per column on its training rows (mean and population standard deviation of the training rows; a column constant there is 0 everywhere) and trained with the MLP encoder.",
                  expected: "a folder path, or a .npy/.csv feature file",
                  valid: nil),
            .init("labels", \.labels, type: "file path",
                  doc: "Labels CSV of a feature matrix (required with a `.npy`/`.csv` `data`): a header row naming one label set per column, then one row per feature row (integer or string values; the unnamed index column pandas' `to_csv` writes first is ignored). Empty for an image folder."),
            .init("test_fraction", \.testFraction,
                  doc: "Feature matrix, or an image-folder tree without `train/` and `test/`: fraction of the rows held out as the test split (a permutation seeded by `split_seed`; the first n − round(test_fraction · n) permuted rows train, the rest test). MNIST-layout folders use their own test files.",
                  valid: { $0 > 0 && $0 < 1 ? nil : "in (0, 1)" }),
            .init("split_seed", \.splitSeed,
                  doc: "Feature matrix or image-folder tree: seed of the train/test split permutation (separate from `seed`, so runs of different seeds share one test split); a tree with `train/` and `test/` has its rows shuffled by it, so `train_limit` and `test_limit` take a random subset."),
            .init("data_format", \.dataFormat,
                  doc: "How the folder in `data` is read. `auto`: by its files: the four MNIST-layout IDX files, else the CIFAR-10 binary version (`data_batch_1.bin`), else the CIFAR-100 binary version (`train.bin`), else a tree of PNG/JPEG images. `mnist`, `cifar10`, `cifar100`, `image-folder` force one (a missing file is then named with where to get the data). CIFAR-10 (binary version: `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`; absent training batches are skipped) has the label set `class` (10); CIFAR-100 (`train.bin`, `test.bin`) has `coarse` (the 20 superclasses) and `class` (the 100 fine classes). Images [3, 32, 32] in [0, 1]; `train_limit` and `test_limit` take the first images of the files (CIFAR's files are in random order). Ignored for a feature matrix."),
            .init("levels", \.levels, type: "names joined by commas",
                  doc: "Image-folder tree only: the label-set name of each folder level (level 1 below the root, or below `train/` and `test/`, is the first name), e.g. `status,defect` for `parts/ok/…`, `parts/defect/scratch/…`; each level is read within the one before it (`within` adds pairs). Levels past the list are `level3`, `level4`, ….",
                  valid: { v in
                      let names = v.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                      return names.allSatisfy { !$0.isEmpty } && Set(names).count == names.count ? nil : "distinct non-empty names joined by commas"
                  }),
            .init("skip_bad_images", \.skipBadImages,
                  doc: "Image-folder tree only: skip files that cannot be decoded (a warning lists every skipped file) instead of stopping at the first."),
            .init("grouping", \.grouping, type: "auto|fashion-mnist|none|PATH.json",
                  doc: "Image folder only: the coarse label set derived from `class`. `fashion-mnist`: Fashion-MNIST's 4 groups tops {0, 2, 4, 6}, bottoms {1, 3}, footwear {5, 7, 9}, bags {8} (label set `coarse`); `none`: `class` only; a path: a label-grouping JSON file (`{\"groups\": [{\"name\": …, \"members\": [codes]}, …]}`, optional `fineLabelSet` = `class` and `coarseLabelSet`). `auto`: `fashion-mnist` when `data` is the default Fashion-MNIST folder or the config names `coarse` (in `train_label` or `within`), else `none`.",
                  expected: "auto, fashion-mnist, none or a grouping JSON file",
                  valid: { $0.isEmpty ? "auto, fashion-mnist, none or a grouping JSON file" : nil }, checkOnSet: true),
            .init("train_limit", \.trainLimit, doc: "Training images (or feature-matrix rows) used: the first so many of the training split; 0 = all (60 000 for Fashion-MNIST).",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = all training images)" }),
            .init("test_limit", \.testLimit, doc: "Test images (or feature-matrix rows) scored by the probes: the first so many of the test split; 0 = all (10 000 for Fashion-MNIST).",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = all test images)" }),
            .init("probe_train", \.probeTrain, doc: "Training images (or rows) the probes are fit on: the first so many of the training subset; 0 = all of it.",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = the whole training subset)" }),
            .init("encoder", \.encoder, doc: "Encoder family: `convnet` (three 3×3 stride-2 convolutions, then a dense layer to h), `mlp` (Linear/ReLU layers `mlp_hidden`, then a Linear layer to h) or `resnet18` (CIFAR-style ResNet-18 with stage widths w, 2w, 4w, 8w, w = `resnet_width`, global average pooling, then a dense layer to h unless h has width 8w; BatchNorm in training mode while training, running statistics at the audits)."),
            .init("resnet_width", \.resnetWidth, doc: "Filters w of ResNet-18's first stage (`encoder = resnet18` only); the stages have w, 2w, 4w, 8w. 64 is the standard ResNet-18 (11.2 M parameters); small w trains much faster on a CPU.",
                  valid: { $0 >= 1 ? nil : "≥ 1" }),
            .init("mlp_hidden", \.mlpHidden, doc: "Hidden widths of the MLP on pixels or features (`encoder = mlp` only).",
                  valid: { $0.allSatisfy { $0 >= 1 } ? nil : "widths ≥ 1" }),
            .init("p", \.p, doc: "Embedding size p: width of z, the encoder output the loss compares. Without a projection head (`backbone_width = 0`) z = h, so the backbone's last layer has width p.",
                  valid: { $0 >= 1 ? nil : "≥ 1" }),
            .init("backbone_width", \.backboneWidth, doc: "Width of the backbone features h when a projection head is used (h → Linear → ReLU → Linear → z, hidden width = backbone_width). 0 = no projection head: z = h, and `probe_layer = head` reads h.",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = no projection head)" }),
            .init("loss", \.loss, doc: "The contrastive loss: SupCon, spectral CL with P_SCL / P_UCL / β·P_SCL + (1 − β)·P_UCL, NT-Xent, or SupCon + λ·NT-Xent (`joint`)."),
            .init("temperature", \.temperature, doc: "Temperature τ of SupCon / NT-Xent.",
                  valid: { $0 > 0 && $0.isFinite ? nil : "a finite value > 0" }),
            .init("lambda", \.lambda, doc: "λ of the joint loss L_SupCon + λ·L_NT-Xent.",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("beta", \.beta, doc: "β of `spectral-joint`: P = β·P_SCL + (1 − β)·P_UCL.",
                  valid: { $0 >= 0 && $0 <= 1 ? nil : "in [0, 1]" }),
            .init("bits", \.bits, doc: "RandBits k: constant bit channels appended to every view (0 = none).",
                  valid: { (0...1024).contains($0) ? nil : "0…1024" }),
            .init("bits_mode", \.bitsMode, doc: "Whether the bits are the same in both views (`shared`) or redrawn for each view (`per-view`)."),
            .init("augmentation", \.augmentation, type: "none or crop+flip+jitter+grayscale+noise+erase+mask",
                  doc: "Augmentation of each view (the two views of an example are drawn independently): `none`, or distinct tokens joined by `+` from `crop` (random resized crop, area in [crop_scale, 1]), `flip` (horizontal, p = 0.5), `jitter` (colour jitter as torchvision's `ColorJitter` and SimCLR appendix A: with probability `jitter_prob`, brightness, contrast, saturation and hue adjusted by random factors of strengths `jitter_brightness`, `jitter_contrast`, `jitter_saturation`, `jitter_hue`, in a random order per image; on 1-channel images only brightness and contrast act), `grayscale` (random greyscale: with probability `grayscale_prob` every channel of an RGB image becomes its luma 0.2989 R + 0.587 G + 0.114 B, torchvision's weights; 1-channel images unchanged), `noise` (N(0, noise_std²) added to every value; clipped to [0, 1] for images, not clipped for a feature matrix), `erase` (random erasing, p = 0.5), `mask` (feature masking: every value of every view set to 0 independently with probability `mask_prob`, as feature dropout without rescaling; on a standardized feature matrix 0 is the feature's training mean). Applied in that order, whatever order the tokens are written in (SimCLR's colour distortion is `jitter+grayscale` after `crop+flip`). `jitter` and `grayscale` take images of 1 or 3 channels. A feature matrix takes only `noise` and `mask` (`crop`, `flip`, `jitter`, `grayscale`, `erase` need images).",
                  valid: { augmentationProblem($0) }, checkOnSet: true),
            .init("crop_scale", \.cropScale, doc: "Smallest crop area fraction of `crop`.",
                  valid: { $0 > 0 && $0 <= 1 ? nil : "in (0, 1]" }),
            .init("noise_std", \.noiseStd, doc: "σ of `noise`, in pixel units (images in [0, 1]); for a feature matrix in standardized units (each feature has standard deviation 1 on the training rows).",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("mask_prob", \.maskProb, doc: "Probability p that `mask` zeroes each value of each view, independently.",
                  valid: { $0 >= 0 && $0 <= 1 ? nil : "in [0, 1]" }),
            .init("jitter_brightness", \.jitterBrightness, doc: "Brightness strength s of `jitter`: x ← clamp(b·x, 0, 1) with b uniform in [max(0, 1 − s), 1 + s]; 0 = no brightness change. SimCLR: 0.8 × its colour strength (0.4 at strength 0.5, its CIFAR setting).",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("jitter_contrast", \.jitterContrast, doc: "Contrast strength s of `jitter`: x ← clamp(c·x + (1 − c)·m, 0, 1), m the image's mean luma, c uniform in [max(0, 1 − s), 1 + s]; 0 = none.",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("jitter_saturation", \.jitterSaturation, doc: "Saturation strength s of `jitter`: x ← clamp(f·x + (1 − f)·Y, 0, 1), Y the pixel's luma, f uniform in [max(0, 1 − s), 1 + s]; 0 = none; no effect on 1-channel images.",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("jitter_hue", \.jitterHue, doc: "Hue strength s of `jitter`: the hue (in HSV, period 1) is shifted by h uniform in [−s, s]; 0 = none; no effect on 1-channel images. SimCLR: 0.2 × its colour strength (0.1 for CIFAR).",
                  valid: { $0 >= 0 && $0 <= 0.5 ? nil : "in [0, 0.5]" }),
            .init("jitter_prob", \.jitterProb, doc: "Probability that `jitter` adjusts an image (SimCLR: 0.8); the image is left unchanged otherwise.",
                  valid: { $0 >= 0 && $0 <= 1 ? nil : "in [0, 1]" }),
            .init("grayscale_prob", \.grayscaleProb, doc: "Probability that `grayscale` turns an RGB image grey (SimCLR: 0.2).",
                  valid: { $0 >= 0 && $0 <= 1 ? nil : "in [0, 1]" }),
            .init("normalize", \.normalize, doc: "Per-channel normalization of images: `none` (pixels in [0, 1]) or `per-channel` (x_c ← (x_c − μ_c)/σ_c, as torchvision's `Normalize`, applied to every training view after its augmentations and to the probe-train and test images; RandBits channels are appended after it and not normalized). μ and σ are `normalize_mean` and `normalize_std`, or, when those are `auto`, the per-channel mean and population standard deviation of the training images (σ = 1 for a channel constant there); the report's config records the values used. Not for a feature matrix (it is standardized per column already)."),
            .init("normalize_mean", \.normalizeMean, type: "list of reals or auto",
                  doc: "μ per channel for `normalize = per-channel` (as many values as the images have channels); `auto` (or empty) = computed on the training images of the run.",
                  parse: { $0 == "auto" ? [] : RealList(configString: $0) }, format: { $0.values.isEmpty ? "auto" : $0.configString }),
            .init("normalize_std", \.normalizeStd, type: "list of reals or auto",
                  doc: "σ per channel for `normalize = per-channel` (each > 0, as many as `normalize_mean`); `auto` (or empty) = computed on the training images of the run.",
                  parse: { $0 == "auto" ? [] : RealList(configString: $0) }, format: { $0.values.isEmpty ? "auto" : $0.configString },
                  valid: { $0.values.allSatisfy { $0 > 0 } ? nil : "values > 0, or auto" }),
            .init("optimizer", \.optimizer, doc: "Adam (PyTorch defaults besides lr and weight_decay) or SGD with momentum."),
            .init("lr", \.lr, doc: "Learning rate η.", valid: { $0 > 0 && $0.isFinite ? nil : "a finite value > 0" }),
            .init("momentum", \.momentum, doc: "SGD momentum μ (ignored by Adam).",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("weight_decay", \.weightDecay, doc: "Weight decay λ_wd (L2, coupled) of either optimizer.",
                  valid: { $0 >= 0 && $0.isFinite ? nil : "a finite value ≥ 0" }),
            .init("batch_size", \.batchSize, doc: "Examples per mini-batch b (the loss sees 2b views); the last partial batch of an epoch is dropped.",
                  valid: { $0 >= 2 ? nil : "≥ 2" }),
            .init("epochs", \.epochs, doc: "Epochs over the training subset (used when `steps` is 0): steps = epochs · ⌊n/b⌋.",
                  valid: { $0 >= 0 ? nil : "≥ 0" }),
            .init("steps", \.steps, doc: "Total optimizer steps; 0 = derive from `epochs`.",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = epochs × steps per epoch)" }),
            .init("audit_steps", \.auditSteps, type: "list of integers or auto",
                  doc: "Steps at which the audit runs (0 = the untrained baseline); `auto` (or empty) = 0 and eight log-spaced steps T/128, T/64, …, T/2, T of the T total steps.",
                  parse: { $0 == "auto" ? [] : [Int](configString: $0) },
                  format: { $0.isEmpty ? "auto" : $0.configString },
                  valid: { $0.allSatisfy { $0 >= 0 } ? nil : "steps ≥ 0" }),
            .init("train_label", \.trainLabel, type: "label set name",
                  doc: "Label set the supervised losses train on: for an image folder `class` or the coarse set of `grouping` (`coarse`); for a feature matrix a column of `labels`. Empty: `class` if the data has it, else the first column of `labels`. Checked against the data when it loads (the error lists the label sets)."),
            .init("within", \.within, type: "none or FINE:COARSE[,…]",
                  doc: "Nested probes: `none`, or comma-separated `FINE:COARSE` pairs of label sets; FINE is then probed within each group of COARSE (e.g. `class:coarse` for Fashion-MNIST, `fine:coarse` for a labels file with those columns). The geometry also measures FINE within COARSE.",
                  expected: "none, or FINE:COARSE pairs joined by commas", valid: { withinProblem($0) }, checkOnSet: true),
            .init("probe_layer", \.probeLayer, doc: "Which layer the probes read: the backbone features h, the head output z, or both (one run per layer)."),
            .init("probe", \.probe, doc: "The probe (logistic: multinomial logistic regression, C chosen on held-out probe-train rows; ridge = the signature probe of SCIENCE.md §5)."),
            .init("pca_points", \.pcaPoints, doc: "Test points kept in each audit's 2-D PCA projection (0 = no projection).",
                  valid: { $0 >= 0 ? nil : "≥ 0" }),
            .init("seed", \.seed, doc: "Seed of the encoder initialization, batch order, views and RandBits."),
            .init("threads", \.threads, doc: "Threads of the parallel kernels during the run; 0 = keep the process setting. Results do not depend on it.",
                  valid: { $0 >= 0 ? nil : "≥ 0 (0 = keep the process setting)" }),
        ],
        aliases: [
            ConfigAlias("class_within", as: String.self, replaces: ["within"],
                        doc: "old form of `within`: `class_within = coarse` is `within = class:coarse`, `class_within = none` is `within = none`") {
                c, v in
                guard ["none", "coarse"].contains(v) else {
                    throw ConfigError.invalidValue(key: "class_within", value: v, expected: "one of none, coarse")
                }
                c.within = v == "none" ? "none" : "class:coarse"
            },
            ConfigAlias("embedding", as: Int.self, replaces: ["p", "backbone_width"],
                        doc: "old name of the width of h: `backbone_width` when the config has a projection head, else `p`") {
                c, v in
                guard v >= 1 else { throw ConfigError.invalidValue(key: "embedding", value: "\(v)", expected: "≥ 1") }
                applyOldEmbedding(&c, v)
            },
            ConfigAlias("head", as: Int.self, replaces: ["p", "backbone_width"],
                        doc: "old projection-head output size: `head = H > 0` is `backbone_width` = the width of h and `p = H`; `head = 0` (no head) is `backbone_width = 0` and p = the width of h") {
                c, v in
                guard v >= 0 else { throw ConfigError.invalidValue(key: "head", value: "\(v)", expected: "≥ 0 (0 = no projection head)") }
                applyOldHead(&c, v)
            },
        ],
        crossChecks: { c in
            guard c.steps > 0 || c.epochs > 0 else {
                throw ConfigError.invalidValue(key: "steps", value: "\(c.steps)", expected: "> 0, or epochs > 0")
            }
            try checkDataKeys(c)
            if c.normalizeMean.values.isEmpty != c.normalizeStd.values.isEmpty
                || (!c.normalizeMean.values.isEmpty && c.normalizeMean.values.count != c.normalizeStd.values.count) {
                throw ConfigError.invalidValue(key: "normalize_std", value: c.normalizeStd.configString.isEmpty ? "auto" : c.normalizeStd.configString,
                                               expected: "as many values as normalize_mean (\(c.normalizeMean.values.isEmpty ? "auto" : c.normalizeMean.configString)), or both auto")
            }
        })

    /// The cross-key checks of the data: a feature matrix needs `labels`, the MLP encoder and
    /// feature-level augmentations, and takes no image grouping; an image folder takes no `labels`.
    /// - Throws: `ConfigError.invalidValue` naming the key to change.
    static func checkDataKeys(_ c: ImageExperimentConfig) throws {
        if c.data.isEmpty {
            throw ConfigError.invalidValue(key: "data", value: "", expected: noDataMessage(format: c.dataFormat))
        }
        guard c.isFeatureMatrix else {
            if !c.labels.isEmpty {
                throw ConfigError.invalidValue(key: "labels", value: c.labels,
                                               expected: "empty for an image folder (data = \(c.data)); labels goes with a .npy or .csv feature matrix in data")
            }
            return
        }
        if c.labels.isEmpty {
            throw ConfigError.invalidValue(key: "labels", value: "",
                                           expected: "the labels CSV of the feature matrix \(c.data): --set labels=LABELS.csv (header row, one column per label set, one row per feature row)")
        }
        if c.encoder != .mlp {
            throw ConfigError.invalidValue(key: "encoder", value: c.encoder.rawValue,
                                           expected: "mlp for a feature matrix (data = \(c.data)); the ConvNet and ResNet-18 need images: --set encoder=mlp")
        }
        let imageOnly = c.augmentation.split(separator: "+").map(String.init).filter { imageOnlyAugmentationTokens.contains($0) }
        if !imageOnly.isEmpty {
            throw ConfigError.invalidValue(key: "augmentation", value: c.augmentation,
                                           expected: "none, or noise and/or mask joined by + for a feature matrix (data = \(c.data)); \(imageOnly.joined(separator: ", ")) \(imageOnly.count == 1 ? "needs" : "need") images")
        }
        if c.grouping != "auto" && c.grouping != "none" {
            throw ConfigError.invalidValue(key: "grouping", value: c.grouping,
                                           expected: "auto or none for a feature matrix (its label sets are the columns of labels = \(c.labels))")
        }
    }

    /// What a config without data must set, for `format` (the CIFAR formats name their files
    /// and where to get them).
    public static func noDataMessage(format: ImageDataFormat) -> String {
        switch format {
        case .cifar10, .cifar100: return "the folder of the \(CIFARSource(format).datasetName) binary version: --set data=DIR (\(CIFARSource(format).help))"
        default: return noDataMessage
        }
    }

    /// What a config without data must set (the `tabular` preset has no built-in data).
    public static let noDataMessage = "a folder of images or a feature matrix: --set data=DIR (PNG/JPEG files in one sub-folder per class, "
        + "sub-sub-folders per subclass; or an MNIST-layout folder), or --set data=FEATURES.npy (or .csv; [n, d]) "
        + "--set labels=LABELS.csv (header row, one column per label set, n rows)"

    /// Nil when `v` is a valid `within`, else what is expected.
    static func withinProblem(_ v: String) -> String? {
        if v == "none" { return nil }
        let expected = "none, or FINE:COARSE pairs of label-set names joined by commas (e.g. fine:coarse)"
        var fines: Set<String> = []
        for pair in v.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[0] != parts[1],
                  fines.insert(parts[0]).inserted else { return expected }
        }
        return nil
    }

    /// Nil when `v` is a valid `augmentation`, else what is expected.
    static func augmentationProblem(_ v: String) -> String? {
        if v == "none" { return nil }
        let tokens = v.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        guard !tokens.isEmpty, tokens.allSatisfy({ augmentationTokens.contains($0) }), Set(tokens).count == tokens.count else {
            return "none, or distinct tokens from \(augmentationTokens.joined(separator: ", ")) joined by + (e.g. crop+flip)"
        }
        return nil
    }

    static func checkAugmentation(_ v: String, key: String = "augmentation") throws {
        if let e = augmentationProblem(v) { throw ConfigError.invalidValue(key: key, value: v, expected: e) }
    }

    /// Checks every field (`table`'s per-key validations, then steps > 0 or epochs > 0); the
    /// data folder is checked when the run loads it.
    /// - Throws: `ConfigError.invalidValue` naming the key and the allowed values.
    public func validate() throws { try Self.table.validate(self) }

    /// Training images n actually used, given the size of the loaded training split.
    public func trainCount(available: Int) -> Int { trainLimit == 0 ? available : min(trainLimit, available) }

    /// Test images scored by the probes, given the size of the loaded test split.
    public func testCount(available: Int) -> Int { testLimit == 0 ? available : min(testLimit, available) }

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
            throw ConfigError.invalidValue(key: "audit_steps", value: "\(beyond)",
                                           expected: "steps in 0…\(t) (the run's total steps; e.g. --set audit_steps=auto)")
        }
        return Array(Set(auditSteps)).sorted()
    }
}

/// Where a CIFAR binary folder comes from, for the messages of a missing folder or file.
public struct CIFARSource: Sendable {
    /// `cifar10` or `cifar100`.
    public var format: ImageDataFormat
    /// - Precondition: `format` is `cifar10` or `cifar100`.
    public init(_ format: ImageDataFormat) {
        precondition(format == .cifar10 || format == .cifar100, "CIFARSource takes cifar10 or cifar100")
        self.format = format
    }
    /// "CIFAR-10" or "CIFAR-100".
    public var datasetName: String { format == .cifar10 ? "CIFAR-10" : "CIFAR-100" }
    /// The files the folder holds.
    public var files: String {
        format == .cifar10 ? "data_batch_1.bin … data_batch_5.bin and test_batch.bin" : "train.bin and test.bin"
    }
    /// What to download and which folder to pass.
    public var help: String {
        let archive = format == .cifar10 ? "cifar-10-binary.tar.gz" : "cifar-100-binary.tar.gz"
        let folder = format == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary"
        return "the folder holding \(files): download the binary version \(archive) from https://www.cs.toronto.edu/~kriz/cifar.html, "
            + "unpack it (tar xzf \(archive)) and pass --set data=PATH/\(folder)"
    }
}

extension ImageEncoderKind: ConfigChoice {}
extension ImageDataFormat: ConfigChoice {}
extension ImageNormalization: ConfigChoice {}
extension ImageLossKind: ConfigChoice {}
extension ImageBitsMode: ConfigChoice {}
extension ImageOptimizerKind: ConfigChoice {}
extension ProbeLayer: ConfigChoice {}
extension ProbeKind: ConfigChoice {}
