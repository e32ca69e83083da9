import ArgumentParser
import FeatureLens
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The paper's whole story on built-in synthetic data, in about a minute.",
        discussion: helpDiscussion("""
        Runs the four synthetic presets with their recipes (docs/SCIENCE.md): class collapse \
        under supervised CL, feature suppression by a small embedding and by an augmentation \
        that keeps an easy feature, and the joint loss that avoids both. Prints a table, the \
        theory line and verdicts for each, and writes one folder per preset plus index.html.
        """, examples: [
            HelpExample("Everything, into ./featurelens-demo (open its index.html)", "featurelens demo"),
            HelpExample("Another seed, into its own folder", "featurelens demo --seed 1 --out demo-seed1"),
            HelpExample("On one core, JSON summary on stdout, no progress",
                        "featurelens demo --threads 1 --json --quiet"),
        ]))

    @Option(name: .long, help: "Output folder.")
    var out: String = "featurelens-demo"

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print a JSON summary on stdout instead of the tables.")
    var json = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let logger = global.apply()
        let root = URL(fileURLWithPath: out)
        var summaries: [[String: Any]] = []
        var links: [(text: String, href: String, note: String)] = []
        let start = Date()
        do {
            try AtomicFile.prepareDirectory(root)
            for name in SyntheticPreset.names {
                let p = try Experiment.named(name).applying(set: [("seed", String(seed))], grid: [])
                let t0 = Date()
                let doc = try runExperiment(p, out: root.appendingPathComponent(name), quiet: global.quiet || json, logger: logger)
                try Interruption.exitIfInterrupted(
                    root.appendingPathComponent(name), howToContinue: "run the demo again to start over, or continue this preset with `featurelens run \(name) --seed \(seed) --resume \(root.appendingPathComponent(name).path)`")
                let secs = Date().timeIntervalSince(t0)
                if json {
                    summaries.append(jsonSummary(doc, folder: root.appendingPathComponent(name).path))
                } else {
                    print("\n=== \(name) (\(String(format: "%.0f", secs)) s): \(p.summary)")
                    printDocument(doc.runs)
                }
                let verdicts = doc.runs.flatMap { r in r.labels.map { "\($0) \(r.verdicts[$0]?.rawValue ?? "")" } }
                links.append((name, "\(name)/report.html", "\(doc.runs.count) run(s); " + Set(verdicts).sorted().joined(separator: ", ")))
            }
            var page = HTMLPage(title: "FeatureLens demo (seed \(seed))")
            page.paragraph("Four synthetic experiments from Xue et al. (ICML 2023), each with its report.")
            page.linkList(links)
            try AtomicFile.write(page.render(), to: root.appendingPathComponent("index.html"))
        } catch {
            throw oneLineError(error)
        }
        if json {
            try printJSONObject(["seed": seed, "presets": summaries, "index": root.appendingPathComponent("index.html").path])
        } else {
            print(String(format: "\nDone in %.0f s. Open %@", Date().timeIntervalSince(start),
                         root.appendingPathComponent("index.html").path))
        }
    }
}
