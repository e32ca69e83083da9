import ArgumentParser
import FeatureLens
import Foundation

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List the built-in presets, or one preset's config keys with their defaults.")

    @Option(name: .long, help: "List the config keys (for --set) of this preset, with their default values.")
    var keys: String?

    func run() throws {
        if let name = keys, case let .image(ip) = try resolveExperiment(name) {
            let base = try JSONSerialization.jsonObject(with: prettyJSON(ip.base)) as? [String: Any] ?? [:]
            print("Config keys of \(ip.name) (set with --set KEY=VALUE; sweep with --grid KEY=v1,v2):")
            for k in base.keys.sorted() { print("  \(k.padding(toLength: 20, withPad: " ", startingAt: 0)) \(base[k]!)") }
            print("Built-in grid (\(ip.settings.count) runs): " + ip.settings.map { s in
                s.keys.sorted().map { "\($0)=\(s[$0]!)" }.joined(separator: ",") }.joined(separator: "; "))
            return
        }
        if let name = keys, case let .synthetic(p) = try resolveExperiment(name) {
            let base = try JSONSerialization.jsonObject(with: prettyJSON(p.base)) as? [String: Any] ?? [:]
            print("Config keys of \(p.name) (set with --set KEY=VALUE; sweep with --grid KEY=v1,v2):")
            for k in SyntheticExperimentConfig.keys {
                let v = base[k].map { "\($0)" } ?? ""
                print("  \(k.padding(toLength: 20, withPad: " ", startingAt: 0)) \(v)")
            }
            print("Built-in grid (\(p.settings.count) run\(p.settings.count == 1 ? "" : "s")): " +
                  p.settings.map { $0.name.isEmpty ? "default" : $0.name }.joined(separator: "; "))
            return
        }
        for name in SyntheticPreset.names {
            let p = try SyntheticPreset.named(name)
            print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(p.summary)")
        }
        for name in ImagePresets.names {
            let p = try ImagePresets.named(name)
            print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(p.summary) (Fashion-MNIST, about \(Int(p.expectedMinutes.rounded())) min)")
        }
    }
}
