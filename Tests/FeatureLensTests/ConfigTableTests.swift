import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// The config key tables: every key round-trips through its string form and JSON, unknown
/// keys are rejected with the nearest key suggested (decoding and `set`, both kinds), old
/// image configs (keys `embedding`, `head`) still decode, and docs/CONFIG.md matches the tables.
struct ConfigTableTests {
    /// A non-default string value for every synthetic key.
    static let syntheticValues: [String: String] = [
        "lr": "0.2", "steps": "300", "p": "5", "n": "50", "d": "300", "n_test": "100", "sigma": "0.5",
        "a_c": "1.5", "a_s": "0.7", "a_e": "3.0", "K": "3", "a_z": "10.0", "m": "20", "rho": "0.6",
        "init": "0.01", "beta": "0.25", "augmentation": "perfect", "data": "fs-b", "seed": "7",
        "audit_steps": "0,10,300", "threads": "2", "online_augmentation": "true", "theory_p": "2,3", "step_precision": "float64",
    ]

    /// A non-default string value for every image key.
    static let imageValues: [String: String] = [
        "data": "/tmp/somewhere/features.npy", "labels": "/tmp/somewhere/labels.csv", "test_fraction": "0.3",
        "split_seed": "5", "grouping": "none", "train_limit": "123", "test_limit": "45", "probe_train": "67", "encoder": "mlp",
        "mlp_hidden": "32,16", "resnet_width": "8", "levels": "coarse,fine", "skip_bad_images": "true", "p": "8", "backbone_width": "24", "loss": "spectral-joint", "temperature": "0.3",
        "lambda": "0.5", "beta": "0.25", "bits": "7", "bits_mode": "per-view", "augmentation": "noise+mask",
        "crop_scale": "0.5", "noise_std": "0.2", "mask_prob": "0.5", "optimizer": "sgd", "lr": "0.05", "momentum": "0.8",
        "weight_decay": "0.0001", "batch_size": "32", "epochs": "3", "steps": "40", "audit_steps": "0,10,40",
        "train_label": "coarse", "within": "fine:coarse", "probe_layer": "both", "probe": "centroid",
        "pca_points": "50", "seed": "9", "threads": "1", "data_format": "cifar100",
        "jitter_brightness": "0.3", "jitter_contrast": "0.2", "jitter_saturation": "0.1", "jitter_hue": "0.05",
        "jitter_prob": "0.5", "grayscale_prob": "0.1", "normalize": "per-channel", "normalize_mean": "0.5,0.25",
        "normalize_std": "0.2,0.3",
    ]

    @Test func everySyntheticKeyRoundTripsThroughSetAndJSON() throws {
        #expect(Set(Self.syntheticValues.keys) == Set(SyntheticExperimentConfig.keys))
        let defaults = SyntheticExperimentConfig()
        var c = defaults
        for k in SyntheticExperimentConfig.keys {
            var one = defaults
            try one.set(key: k, value: Self.syntheticValues[k]!)
            #expect(one != defaults, "setting \(k) changed nothing")
            #expect(one.value(forKey: k) == Self.syntheticValues[k], "key \(k)")
            // JSON of this one key alone decodes to the same config.
            let json = try FeatureLensJSON.encode(one)
            let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
            let single = try JSONSerialization.data(withJSONObject: [k: object[k]!])
            #expect(try FeatureLensJSON.decoder().decode(SyntheticExperimentConfig.self, from: single) == one, "key \(k)")
            try c.set(key: k, value: Self.syntheticValues[k]!)
        }
        try c.validate()
        let data = try FeatureLensJSON.encode(c)
        #expect(try FeatureLensJSON.decoder().decode(SyntheticExperimentConfig.self, from: data) == c)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(Set(object.keys) == Set(SyntheticExperimentConfig.keys))
    }

    @Test func everyImageKeyRoundTripsThroughSetAndJSON() throws {
        #expect(Set(Self.imageValues.keys) == Set(ImageExperimentConfig.keys))
        let defaults = ImageExperimentConfig()
        var c = defaults
        for k in ImageExperimentConfig.keys {
            var one = defaults
            try one.set(key: k, value: Self.imageValues[k]!)
            #expect(one != defaults, "setting \(k) changed nothing")
            #expect(one.value(forKey: k) == Self.imageValues[k], "key \(k)")
            let json = try FeatureLensJSON.encode(one)
            let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
            let single = try JSONSerialization.data(withJSONObject: [k: object[k]!])
            #expect(try FeatureLensJSON.decoder().decode(ImageExperimentConfig.self, from: single) == one, "key \(k)")
            try c.set(key: k, value: Self.imageValues[k]!)
        }
        try c.validate()
        let data = try FeatureLensJSON.encode(c)
        #expect(try FeatureLensJSON.decoder().decode(ImageExperimentConfig.self, from: data) == c)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(Set(object.keys) == Set(ImageExperimentConfig.keys))
    }

    @Test func tableReferenceListsTypeDefaultAndDocOfEveryKey() {
        for (names, reference) in [(SyntheticExperimentConfig.keys, SyntheticExperimentConfig.table.reference),
                                   (ImageExperimentConfig.keys, ImageExperimentConfig.table.reference)] {
            #expect(reference.map(\.name) == names)
            for k in reference { #expect(!k.type.isEmpty && !k.doc.isEmpty, "key \(k.name)") }
        }
        let lr = SyntheticExperimentConfig.table.reference.first { $0.name == "lr" }!
        #expect(lr.type == "real" && lr.defaultValue == "0.05")
        let loss = ImageExperimentConfig.table.reference.first { $0.name == "loss" }!
        #expect(loss.type == ImageLossKind.allCases.map(\.rawValue).joined(separator: "|") && loss.defaultValue == "ntxent")
        let listing = ImageExperimentConfig.table.listing(current: ImagePresets.fashionCollapse.base)
        #expect(listing.contains("backbone_width") && listing.contains("= 128 (default 0)") && listing.contains("Width of the backbone features h"))
    }

    // MARK: Unknown keys

    @Test func unknownKeyInSetIsRejectedWithTheNearestKey() throws {
        var s = SyntheticExperimentConfig()
        do { try s.set(key: "lrr", value: "0.1"); Issue.record("lrr accepted") } catch let e as ConfigError {
            #expect(e == .unknownKey(key: "lrr", known: SyntheticExperimentConfig.keys))
            #expect(e.description.contains("unknown key 'lrr'") && e.description.contains("did you mean 'lr'?"))
        }
        var i = ImageExperimentConfig()
        do { try i.set(key: "temprature", value: "0.5"); Issue.record("temprature accepted") } catch let e as ConfigError {
            #expect(e.description.contains("unknown key 'temprature'") && e.description.contains("did you mean 'temperature'?"))
        }
        // Far from every key: no suggestion, but the list of keys.
        do { try i.set(key: "learning_rate", value: "1"); Issue.record("accepted") } catch let e as ConfigError {
            #expect(!e.description.contains("did you mean") && e.description.contains("weight_decay"))
        }
    }

    @Test func unknownKeyInJSONIsRejectedNamingKeyKindAndSuggestion() throws {
        let image = Data(#"{"loss": "supcon", "temprature": 0.5}"#.utf8)
        do {
            _ = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: image, file: "that.json")
            Issue.record("temprature accepted")
        } catch let e as JSONFileError {
            #expect(e.file == "that.json" && e.field == "temprature")
            #expect(e.message.contains("unknown key 'temprature' in image config; did you mean 'temperature'?"))
            #expect(e.description.hasPrefix("that.json: field 'temprature': unknown key"))
        }
        let synthetic = Data(#"{"stpes": 10}"#.utf8)
        do {
            _ = try FeatureLensJSON.decode(SyntheticExperimentConfig.self, from: synthetic, file: "s.json")
            Issue.record("stpes accepted")
        } catch let e as JSONFileError {
            #expect(e.field == "stpes" && e.message.contains("in synthetic config; did you mean 'steps'?"))
        }
        // Nested (the base of a config file): the field path shows where.
        struct File: Codable { var base: ImageExperimentConfig }
        do {
            _ = try FeatureLensJSON.decode(File.self, from: Data(#"{"base": {"bacbone_width": 8}}"#.utf8), file: "f.json")
            Issue.record("accepted")
        } catch let e as JSONFileError {
            #expect(e.field == "base.bacbone_width" && e.message.contains("did you mean 'backbone_width'?"))
        }
        // A wrong type names the field too.
        do {
            _ = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"lr": "fast"}"#.utf8), file: "t.json")
            Issue.record("accepted")
        } catch let e as JSONFileError {
            #expect(e.field == "lr")
        }
    }

    @Test func suggestionUsesEditDistance() {
        #expect(ConfigError.editDistance("kitten", "sitting") == 3)
        #expect(ConfigError.editDistance("", "abc") == 3 && ConfigError.editDistance("abc", "abc") == 0)
        #expect(ConfigError.editDistance("stpes", "steps") == 1 && ConfigError.editDistance("ab", "ba") == 1)
        #expect(ConfigError.suggestion(for: "k", among: SyntheticExperimentConfig.keys) == "K")
        #expect(ConfigError.suggestion(for: "bogus", among: ImageExperimentConfig.keys) == nil)
        #expect(ConfigError.suggestion(for: "batchsize", among: ImageExperimentConfig.keys) == "batch_size")
    }

    // MARK: Old image configs

    /// An image config.json as written before the keys `p` and `backbone_width`: the
    /// fashion-collapse base (h of width 128 and a head to 128) and a RandBits setting
    /// (no head, `embedding` = p).
    @Test func oldFormatImageConfigDecodes() throws {
        let old = Data("""
        {"preset": "fashion-collapse", "summary": "s",
         "base": {"augmentation": "crop+flip", "embedding": 64, "head": 32, "loss": "supcon", "temperature": 0.1},
         "settings": [{"loss": "supcon"}]}
        """.utf8)
        struct File: Codable { var preset: String; var base: ImageExperimentConfig; var settings: [[String: String]] }
        let file = try FeatureLensJSON.decode(File.self, from: old, file: "config.json")
        #expect(file.base.backboneWidth == 64 && file.base.p == 32 && file.base.hasHead && file.base.featureWidth == 64)
        #expect(file.base.loss == .supcon)
        // No head: `embedding` is the width of h = z, so p.
        let noHead = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"embedding": 16, "head": 0}"#.utf8))
        #expect(noHead.p == 16 && noHead.backboneWidth == 0 && !noHead.hasHead)
        let onlyEmbedding = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"embedding": 16}"#.utf8))
        #expect(onlyEmbedding == noHead)
        // An old settings grid (applied by `set`, key order either way) gives the same config.
        var a = ImageExperimentConfig(), b = ImageExperimentConfig()
        try a.set(key: "embedding", value: "64"); try a.set(key: "head", value: "32")
        try b.set(key: "head", value: "32"); try b.set(key: "embedding", value: "64")
        var expected = file.base
        expected.loss = ImageExperimentConfig().loss
        #expect(a == expected && a == b)
        // The current keys are what is written back.
        let object = try JSONSerialization.jsonObject(with: FeatureLensJSON.encode(file.base)) as! [String: Any]
        #expect(object["embedding"] == nil && object["head"] == nil && object["p"] as? Int == 32 && object["backbone_width"] as? Int == 64)
        // Mixing an old key with a key it replaces is ambiguous, hence an error.
        do {
            _ = try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"embedding": 16, "p": 8}"#.utf8), file: "m.json")
            Issue.record("mixed keys accepted")
        } catch let e as JSONFileError {
            #expect(e.field == "embedding" && e.message.contains("'p'"))
        }
        #expect(throws: JSONFileError.self) {
            try FeatureLensJSON.decode(ImageExperimentConfig.self, from: Data(#"{"head": -1}"#.utf8), file: "h.json")
        }
    }

    /// A fashion-randbits config.json as `featurelens run` wrote it before the rename (keys
    /// `embedding` and `head`, in the base and in the settings).
    @Test func oldImageConfigFileFromTheCLIDecodesAndItsSettingsApply() throws {
        let url = fixtureURL("config/image-config-embedding-head.json")
        struct File: Codable { var preset: String; var base: ImageExperimentConfig; var settings: [[String: String]] }
        let file = try FeatureLensJSON.decode(File.self, from: Data(contentsOf: url), file: url.path)
        #expect(file.preset == "fashion-randbits" && file.base.p == 128 && file.base.backboneWidth == 0)
        #expect(file.base.trainLimit == 1024 && file.base.epochs == 1 && file.base.probeTrain == 500)
        var widths: [Int] = []
        for setting in file.settings {
            var c = file.base
            for (k, v) in setting.sorted(by: { $0.key < $1.key }) { try c.set(key: k, value: v) }
            try c.validate()
            #expect(!c.hasHead)
            widths.append(c.p)
        }
        #expect(widths == [128, 128, 128, 128, 16, 16])
    }

    /// A checkpoint of an image run written before the rename stores its config with
    /// `embedding`/`head`; resuming it with the same config in current keys is no mismatch.
    @Test func oldImageCheckpointConfigMatchesTheSameConfigInCurrentKeys() throws {
        var c = ImagePresets.fashionCollapse.base
        c.seed = 3
        var object = try JSONSerialization.jsonObject(with: FeatureLensJSON.encode(c)) as! [String: Any]
        object["p"] = nil; object["backbone_width"] = nil
        object["embedding"] = 128; object["head"] = 128
        let old = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        let requested = try FeatureLensJSON.string(c, pretty: false)
        #expect(try RunCheckpoints.configDifference(checkpoint: old, requested: requested, file: "ckpt", kind: MiniBatchEngine.checkpointKind) == nil)
        var other = c
        other.p = 64
        let difference = try RunCheckpoints.configDifference(checkpoint: old, requested: FeatureLensJSON.string(other, pretty: false), file: "ckpt", kind: MiniBatchEngine.checkpointKind)
        #expect(difference?.0 == "p")
    }

    /// A checkpoint of an image run written before `grouping`, `within`, `labels`,
    /// `test_fraction`, `split_seed` and `mask_prob` existed (with `class_within`) resumes
    /// under the same preset today: the old config compares equal through the config table
    /// (a missing `grouping` is the Fashion-MNIST grouping those versions always applied);
    /// a real change is still found.
    @Test func imageCheckpointWithoutNewerKeysMatchesTheSamePreset() throws {
        let c = ImagePresets.fashionClassCollapse.base
        var object = try JSONSerialization.jsonObject(with: FeatureLensJSON.encode(c)) as! [String: Any]
        for key in ["grouping", "within", "labels", "test_fraction", "split_seed", "mask_prob"] {
            #expect(object[key] != nil, "\(key) is a current key")
            object[key] = nil
        }
        object["class_within"] = "coarse"
        let old = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        #expect(try RunCheckpoints.configDifference(checkpoint: old, requested: FeatureLensJSON.string(c, pretty: false), file: "ckpt", kind: MiniBatchEngine.checkpointKind) == nil)
        var other = c
        other.grouping = "none"
        let difference = try RunCheckpoints.configDifference(checkpoint: old, requested: FeatureLensJSON.string(other, pretty: false), file: "ckpt", kind: MiniBatchEngine.checkpointKind)
        #expect(difference?.0 == "grouping")
    }

    // MARK: JSON coder

    /// `--json` objects: numbers that are not finite (a label that is not measurable has NaN
    /// accuracy) are written as the strings "nan", "inf", "-inf", at any depth, so the output
    /// is valid JSON instead of an error at the end of a run.
    @Test func jsonObjectsWriteNonFiniteNumbersAsStringsAtAnyDepth() throws {
        let value: [String: Any] = ["a": Double.nan, "b": [1.5, Double.infinity, -Double.infinity],
                                    "c": ["d": Float.nan, "e": 2, "f": "text"]]
        let safe = FeatureLensJSON.replacingNonFinite(value) as! [String: Any]
        #expect(safe["a"] as? String == "nan")
        #expect((safe["b"] as? [Any])?.compactMap { $0 as? String } == ["inf", "-inf"])
        #expect((safe["b"] as? [Any])?.first as? Double == 1.5)
        let c = safe["c"] as? [String: Any]
        #expect(c?["d"] as? String == "nan" && c?["e"] as? Int == 2 && c?["f"] as? String == "text")
        let data = try FeatureLensJSON.data(jsonObject: value, pretty: false)
        #expect(String(decoding: data, as: UTF8.self).contains("\"a\":\"nan\""))
        #expect(throws: (any Error).self) { try JSONSerialization.data(withJSONObject: value) }
    }

    @Test func projectCoderWritesNonFiniteRealsAsStringsAndReadsThemBack() throws {
        let values = [Double.nan, .infinity, -.infinity, 0.1]
        let text = try FeatureLensJSON.string(values, pretty: false)
        #expect(text == #"["nan","inf","-inf",0.1]"#)
        let back = try FeatureLensJSON.decoder().decode([Double].self, from: Data(text.utf8))
        #expect(back[0].isNaN && back[1] == .infinity && back[2] == -.infinity && back[3] == 0.1)
        #expect(try FeatureLensJSON.string(["b": 1, "a": 2]) == "{\n  \"a\" : 2,\n  \"b\" : 1\n}")
    }
}

/// docs/CONFIG.md is generated from the key tables; this fails when it is out of date.
/// `FEATURELENS_WRITE_CONFIG_DOC=1 swift test --filter ConfigReferenceDocTests` rewrites it.
struct ConfigReferenceDocTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/CONFIG.md")

    @Test func configDocMatchesTheTables() throws {
        let expected = ConfigReference.markdown
        if ProcessInfo.processInfo.environment["FEATURELENS_WRITE_CONFIG_DOC"] == "1" {
            try expected.write(to: Self.file, atomically: true, encoding: .utf8)
        }
        let actual = try String(contentsOf: Self.file, encoding: .utf8)
        #expect(actual == expected, "docs/CONFIG.md is out of date with the config tables; regenerate it with FEATURELENS_WRITE_CONFIG_DOC=1 swift test --filter ConfigReferenceDocTests")
    }
}
