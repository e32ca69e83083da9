// Fuzz target: experiment config JSON, as `featurelens run CONFIG.json` reads it — the full
// form (preset, base, settings) and the flat form (one config), synthetic and image — then
// the same keys through `set(key:value:)` (the `--set` path) and `validate()`.
import CFuzzDriver
import Foundation
import FeatureLens

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    let dec = FeatureLensJSON.decoder()
    if let c = try? dec.decode(SyntheticExperimentConfig.self, from: bytes) { _ = try? c.validate() }
    if let p = try? dec.decode(SyntheticPreset.self, from: bytes) {
        for i in p.settings.indices.prefix(64) {
            if let c = try? p.config(setting: i) { _ = try? c.validate() }
        }
    }
    if let c = try? dec.decode(ImageExperimentConfig.self, from: bytes) { _ = try? c.validate() }
    if let object = try? JSONSerialization.jsonObject(with: bytes, options: [.fragmentsAllowed]),
       let dict = object as? [String: Any] {
        var synthetic = SyntheticExperimentConfig(), image = ImageExperimentConfig()
        for (key, value) in dict.prefix(64) {
            let text = "\(value)"
            _ = try? synthetic.set(key: key, value: text)
            _ = try? image.set(key: key, value: text)
        }
        _ = try? synthetic.validate()
        _ = try? image.validate()
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
