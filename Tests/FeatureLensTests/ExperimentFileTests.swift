import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Config files of both kinds: the explicit `kind`, unknown top-level keys, files written
/// before `kind` existed, and the one grid algebra.
@Suite struct ExperimentFileTests {
    @Test func writtenFilesNameTheirKindAndReadBack() throws {
        for experiment in [Experiment.synthetic(.classCollapse), .image(ImagePresets.fashionRandBits)] {
            let data = try ExperimentFile(experiment).jsonData()
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(object["kind"] as? String == experiment.kind.rawValue)
            let back = try ExperimentFile.decode(data, file: "config.json")
            #expect(back.experiment.kind == experiment.kind)
            #expect(back.experiment.hasSameConfig(as: experiment))
            #expect(back.experiment.name == experiment.name)
        }
    }

    /// A synthetic config.json as written before `kind` existed (preset, summary, base,
    /// settings, provenance): read as synthetic.
    @Test func readsAnOldSyntheticConfigFile() throws {
        let preset = SyntheticPreset.classCollapse
        let e = JSONEncoder()
        let base = String(decoding: try e.encode(preset.base), as: UTF8.self)
        let settings = String(decoding: try e.encode(preset.settings), as: UTF8.self)
        let old = #"{"preset": "class-collapse", "summary": "old", "base": \#(base), "settings": \#(settings)}"#
        let file = try ExperimentFile.decode(Data(old.utf8), file: "old/config.json")
        guard case let .synthetic(p) = file.experiment else { Issue.record("expected synthetic, got \(file.experiment.kind)"); return }
        #expect(p.base == preset.base && p.settings == preset.settings && p.summary == "old")
        // A flat old synthetic config (only config keys) is one run.
        let flat = try ExperimentFile.decode(Data(#"{"p": 3, "steps": 10, "audit_steps": [0, 10]}"#.utf8), file: "dir/flat.json")
        guard case let .synthetic(f) = flat.experiment else { Issue.record("expected synthetic"); return }
        #expect(f.base.p == 3 && f.settings.count == 1 && f.name == "flat")
    }

    /// An image config.json as written before `kind` existed: read as image (by the preset
    /// name, or by the `encoder` key of its base or of a flat config).
    @Test func readsAnOldImageConfigFile() throws {
        let preset = ImagePresets.fashionCollapse
        let base = String(decoding: try JSONEncoder().encode(preset.base), as: UTF8.self)
        let old = #"{"preset": "my-run", "summary": "old", "base": \#(base), "settings": [{"loss": "supcon"}]}"#
        let file = try ExperimentFile.decode(Data(old.utf8), file: "old/config.json")
        guard case let .image(p) = file.experiment else { Issue.record("expected image, got \(file.experiment.kind)"); return }
        #expect(p.base == preset.base && p.settings == [["loss": "supcon"]] && p.name == "my-run")
        let flat = try ExperimentFile.decode(Data(#"{"encoder": "mlp", "epochs": 1}"#.utf8), file: "x/flat.json")
        guard case let .image(f) = flat.experiment else { Issue.record("expected image"); return }
        #expect(f.base.epochs == 1 && f.settings == [[:]])
    }

    @Test func rejectsUnknownTopLevelKeysAndKinds() throws {
        var object = try #require(try JSONSerialization.jsonObject(with: try ExperimentFile(.synthetic(.classCollapse)).jsonData()) as? [String: Any])
        object["setings"] = object["settings"]
        let typo = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: ExperimentFileError.unknownKey(file: "c.json", key: "setings", known: ExperimentFile.keys)) {
            try ExperimentFile.decode(typo, file: "c.json")
        }
        let message = ExperimentFileError.unknownKey(file: "c.json", key: "setings", known: ExperimentFile.keys).description
        #expect(message.contains("c.json") && message.contains("did you mean 'settings'"))
        object["setings"] = nil
        object["kind"] = "audio"
        #expect(throws: ExperimentFileError.self) { try ExperimentFile.decode(try JSONSerialization.data(withJSONObject: object), file: "c.json") }
        // An explicit kind wins over the inference: an image config named as synthetic fails
        // on the synthetic keys, naming the file.
        let flat = #"{"kind": "synthetic", "encoder": "mlp"}"#
        do {
            _ = try ExperimentFile.decode(Data(flat.utf8), file: "f.json")
            Issue.record("expected an error")
        } catch let e as ExperimentFileError {
            #expect(e.description.hasPrefix("f.json: "))
        }
    }

    /// The grid algebra is the same for both kinds: --set collapses an axis, --grid replaces
    /// or adds one, duplicates merge.
    @Test func oneGridAlgebraForBothKinds() throws {
        let image = try ImagePresets.fashionCollapse.applying(set: [("epochs", "1")], grid: [("loss", ["supcon", "ntxent"]), ("bits", ["0", "5"])])
        #expect(image.base.epochs == 1)
        #expect(image.settings == [["loss": "supcon", "bits": "0"], ["loss": "supcon", "bits": "5"],
                                   ["loss": "ntxent", "bits": "0"], ["loss": "ntxent", "bits": "5"]])
        let collapsed = try image.applying(set: [("loss", "joint")], grid: [])
        #expect(collapsed.base.loss == .joint && collapsed.settings == [["bits": "0"], ["bits": "5"]])
        let synthetic = try SyntheticPreset.classCollapse.applying(set: [("rho", "0.7")], grid: [("p", ["3", "4"])])
        #expect(synthetic.base.rho == 0.7 && synthetic.settings.map(\.values) == [["p": "3"], ["p": "4"]])
        #expect(throws: ConfigError.self) { try ImagePresets.fashionCollapse.applying(set: [], grid: [("bogus", ["1"])]) }
        #expect(throws: ConfigError.self) { try SyntheticPreset.classCollapse.applying(set: [("bogus", "1")], grid: []) }
    }
}
