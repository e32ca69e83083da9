import ArgumentParser
import FeatureLens

@main
struct FeatureLensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featurelens",
        abstract: "See which features a contrastive encoder learns.",
        version: FeatureLensInfo.version,
        subcommands: [DemoCommand.self, RunCommand.self, SweepCommand.self, PresetsCommand.self,
                      AuditCommand.self, BenchCommand.self]
    )
}
