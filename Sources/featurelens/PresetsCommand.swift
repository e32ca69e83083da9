import ArgumentParser
import FeatureLens
import Foundation

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presets",
        abstract: "List the built-in presets, or one preset's config keys with their types, values and meaning.",
        discussion: helpDiscussion("", examples: [
            HelpExample("Every built-in preset with what it shows", "featurelens presets"),
            HelpExample("The keys of a synthetic preset, for --set and --grid",
                        "featurelens presets --keys class-collapse"),
            HelpExample("The keys of an image preset", "featurelens presets --keys fashion-collapse"),
        ]))

    @Option(name: .long, help: "List the config keys (for --set) of this preset: type, value in the preset, default, meaning.")
    var keys: String?

    func run() throws {
        if let name = keys, case let .image(ip) = try resolveExperiment(name) {
            print("Config keys of \(ip.name) (image; set with --set KEY=VALUE; sweep with --grid KEY=v1,v2):")
            print(ImageExperimentConfig.table.listing(current: ip.base), terminator: "")
            print("Built-in grid (\(ip.settings.count) runs): " + ip.settings.map { s in
                s.keys.sorted().map { "\($0)=\(s[$0]!)" }.joined(separator: ",") }.joined(separator: "; "))
            return
        }
        if let name = keys, case let .synthetic(p) = try resolveExperiment(name) {
            print("Config keys of \(p.name) (synthetic; set with --set KEY=VALUE; sweep with --grid KEY=v1,v2):")
            print(SyntheticExperimentConfig.table.listing(current: p.base), terminator: "")
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
            let data = !p.base.data.isEmpty ? "Fashion-MNIST"
                : p.base.dataFormat == .cifar10 ? "your CIFAR-10 copy" : p.base.dataFormat == .cifar100 ? "your CIFAR-100 copy" : "your data"
            let minutes = (p.expectedMinutes < 1 ? "under a minute" : "about \(Int(p.expectedMinutes.rounded())) min")
                + (p.timeNote.map { " \($0)" } ?? "")
            print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(p.summary) (\(data), \(minutes))")
        }
    }
}
