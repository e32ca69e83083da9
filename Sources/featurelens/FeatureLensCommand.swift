import ArgumentParser
import FeatureLens

@main
struct FeatureLensCommand: ParsableCommand {
    static func main() {
        ProcessMemory.keepFreedMemory()
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "featurelens",
        abstract: "See which features a contrastive encoder learns.",
        discussion: helpDiscussion("", examples: [
            HelpExample("The paper's four synthetic experiments, with a summary page",
                        "featurelens demo --out featurelens-demo"),
            HelpExample("One preset, written to runs/cc (report.html, report.json, ...)",
                        "featurelens run class-collapse --out runs/cc"),
            HelpExample("Audit embeddings saved by another framework (np.save)",
                        "featurelens audit --embeddings z.npy --labels labels.csv"),
        ]),
        version: FeatureLensInfo.version,
        subcommands: [DemoCommand.self, RunCommand.self, SweepGroupCommand.self, PresetsCommand.self,
                      AuditCommand.self, BenchCommand.self, ExampleCommand.self]
    )
}
