import ArgumentParser
import FeatureLens
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The paper's whole story on built-in synthetic data, in under a minute on 2 cores.",
        discussion: helpDiscussion("""
        Runs the four synthetic presets with their recipes (docs/SCIENCE.md): class collapse \
        under supervised CL, feature suppression by a small embedding and by an augmentation \
        that keeps an easy feature, and the joint loss that avoids both. Prints a summary: one \
        line per claim of the paper with what the paper says, what this run shows (probe \
        accuracies ± standard errors and the setting they come from) and whether it was \
        reproduced, judged by the reports' verdicts. With --details, the tables, theory lines \
        and verdict sentences of every preset follow. Writes one folder per preset and \
        index.html, which opens with the same summary and lists every setting's verdicts.
        """, examples: [
            HelpExample("Everything, into ./featurelens-demo (open its index.html)", "featurelens demo"),
            HelpExample("Seed 1, every preset's tables after the summary", "featurelens demo --seed 1 --details --out demo-seed1"),
            HelpExample("On one core, JSON summary on stdout, no progress",
                        "featurelens demo --threads 1 --json --quiet"),
        ]))

    @Option(name: .long, help: "Output folder.")
    var out: String = "featurelens-demo"

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "After the summary, print every preset's tables, theory lines and verdict sentences.")
    var details = false

    @Flag(name: .long, help: "Print a JSON summary on stdout instead of the text.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.apply()
        let root = URL(fileURLWithPath: out)
        var jsonPresets: [[String: Any]] = []
        var documents: [ReportDocument<SyntheticPreset>] = []
        var sections: [(name: String, summary: String, seconds: Double, runs: [RunReport])] = []
        let start = Date()
        do {
            try AtomicFile.prepareDirectory(root)
            for name in SyntheticPreset.names {
                let p = try Experiment.named(name).applying(set: [("seed", String(seed))], grid: [])
                let t0 = Date()
                let result = try runExperiment(p, out: root.appendingPathComponent(name), quiet: global.quiet || json, logger: logger)
                try Interruption.exitIfInterrupted(
                    root.appendingPathComponent(name), howToContinue: "run the demo again to start over, or continue this preset with `featurelens run \(name) --seed \(seed) --resume \(root.appendingPathComponent(name).path)`")
                if json { jsonPresets.append(jsonSummary(result, folder: root.appendingPathComponent(name).path)) }
                sections.append((name, p.summary, Date().timeIntervalSince(t0), result.runs))
                if case let .synthetic(d) = result.document { documents.append(d) }
            }
            let page = DemoSummary.indexPage(documents, links: documents.map { "\($0.preset)/report.html" }, seed: seed)
            try AtomicFile.write(page, to: root.appendingPathComponent("index.html"))
        } catch {
            throw oneLineError(error)
        }
        let claims = DemoSummary.evaluate(documents)
        let index = root.appendingPathComponent("index.html").path
        if json {
            let summary = claims.map { c -> [String: Any] in
                ["claim": c.claim.rawValue, "preset": c.claim.preset, "outcome": c.outcome.rawValue, "line": DemoSummary.line(c)]
            }
            try printJSONObject(["seed": seed, "summary": summary, "presets": jsonPresets, "index": index])
            return
        }
        for line in DemoSummary.lines(claims, seed: seed) { print(line) }
        if self.details {
            for d in sections {
                print("\n=== \(d.name) (\(String(format: "%.0f", d.seconds)) s): \(d.summary)")
                printDocument(d.runs)
            }
            print(String(format: "\nDone in %.0f s. Open %@", Date().timeIntervalSince(start), index))
        } else {
            print(String(format: "Done in %.0f s. Tables, theory and verdicts per setting: --details, or open %@", Date().timeIntervalSince(start), index))
        }
    }
}
