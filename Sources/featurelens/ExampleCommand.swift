import ArgumentParser
import FeatureLens
import Foundation

/// `featurelens example NAME DIR`: writes a built-in example dataset to run a preset on.
struct ExampleCommand: ParsableCommand {
    /// The examples this command writes, with one line each for the help and the error.
    static let known: [(name: String, what: String)] = [
        ("defects", "grey 32×32 parts, ok or with a crack/dent/scratch/stain, lit from the top or the bottom (run it with `featurelens run defects --set data=DIR`)"),
    ]

    static let configuration = CommandConfiguration(
        commandName: "example",
        abstract: "Write a built-in example dataset (an image folder) to run a preset on, without any data of your own.",
        discussion: helpDiscussion("""
        Examples: \(known.map { "\($0.name): \($0.what)" }.joined(separator: "; ")).

        `defects` writes DIR/train/ and DIR/test/, each with ok/good/LIGHTING/ and \
        defect/TYPE/LIGHTING/ folders of PNG files (label sets status, type, lighting); the \
        images are a deterministic function of --seed. DIR must not exist or be empty; the \
        files are written into a hidden folder beside it that is renamed to DIR at the end, \
        so a failed write leaves nothing at DIR.
        """, examples: [
            HelpExample("The defect-inspection example, then the preset that reads it",
                        "featurelens example defects parts"),
            HelpExample("The same with another seed, 50 images per defect type",
                        "featurelens example defects parts1 --seed 1 --train-per-type 50"),
        ]))

    @Argument(help: "Which example: \(known.map(\.name).joined(separator: ", ")).")
    var name: String

    @Argument(help: "Folder to write (must not exist or be empty).")
    var directory: String

    @Option(name: .long, help: "Random seed of the images.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Training images per defect type (ok parts: 4×).")
    var trainPerType: Int = DefectParts.Parameters().trainPerType

    @Option(name: .long, help: "Test images per defect type (ok parts: 4×).")
    var testPerType: Int = DefectParts.Parameters().testPerType

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard Self.known.contains(where: { $0.name == name }) else {
            throw ValidationError("unknown example '\(name)'; expected one of \(Self.known.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        _ = global.apply()
        var parameters = DefectParts.Parameters()
        parameters.trainPerType = trainPerType
        parameters.testPerType = testPerType
        let url = URL(fileURLWithPath: directory)
        let summary: DefectParts.Summary
        do {
            summary = try DefectParts.write(to: url, seed: seed, parameters: parameters)
        } catch let DefectPartsError.invalidParameter(field, value, expected) {
            let option = field == "train_per_type" ? "--train-per-type" : field == "test_per_type" ? "--test-per-type" : field
            throw CLIError("\(option) is \(value), expected \(expected)")
        } catch {
            throw oneLineError(error)
        }
        guard !global.quiet else { return }
        print("Wrote \(summary.total) images (\(DefectParts.side)×\(DefectParts.side) grey PNG, seed \(seed)) to \(url.path):")
        for key in summary.counts.keys.sorted() { print("  \(key)/{bottom,top}: \(summary.counts[key]!)") }
        print("Label sets (folder levels): status, type, lighting. Next: featurelens run defects --set data=\(directory)")
    }
}
