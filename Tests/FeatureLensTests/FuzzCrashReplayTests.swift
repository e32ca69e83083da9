// Replays every input under Fixtures/fuzz-crashes/<parser>/ (crashes found by Fuzz/run.sh and
// hand-made hostile seeds) through its parser: each must give a thrown, typed error whose
// message names the file, never a crash or a huge allocation.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Each replayable parser: its fixture folder and a call that must throw its error type.
private let parsers: [(folder: String, parse: (Data, String) throws -> Void, isExpected: (Error) -> Bool)] = [
    ("idx", { data, file in _ = try IDX.decode(data, file: file, limits: IDXLimits(maxPayloadBytes: 1 << 22)) },
     { $0 is IDXError }),
    ("cifar", { data, file in
        _ = try CIFAR.decode(data, file: file, classCounts: [10], fields: ["label"], limit: nil)
    }, { $0 is CIFARError }),
    ("csv-features", { data, file in _ = try TabularFeatures.parseCSV(data, file: file) }, { $0 is TabularDataError }),
    ("safetensors", { data, file in _ = try SafeTensors.decode(data, file: file) }, { $0 is SafeTensorsError }),
    ("label-grouping", { data, file in
        let g = try LabelGrouping.decode(data, file: file)
        try g.validate(fineClassCount: 10, file: file)
    }, { $0 is LabelGroupingError }),
    ("npy", { data, file in _ = try NPY.decode(data, file: file, as: Double.self) }, { $0 is NPYError }),
    ("labels-csv", { data, file in _ = try LabelTable(csvData: data, file: file) }, { $0 is LabelTableError }),
    ("image", { data, file in _ = try ImageCodecs.decode(data, file: file, maxPixels: 1 << 22) }, { $0 is ImageCodecError }),
    // Config JSON: the library throws DecodingError / ConfigError; the CLI adds the file name.
    ("config", { data, _ in
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try dec.decode(SyntheticExperimentConfig.self, from: data).validate()
    }, { $0 is DecodingError || $0 is ConfigError }),
]

/// Parsers whose errors carry the file name themselves (config errors get it from the CLI).
private let errorsNameTheFile: Set<String> = ["idx", "cifar", "csv-features", "safetensors", "label-grouping", "npy", "labels-csv", "image"]

@Suite struct FuzzCrashReplayTests {
    @Test(arguments: parsers.map(\.folder))
    func replay(folder: String) throws {
        let parser = parsers.first { $0.folder == folder }!
        let dir = fixtureURL("fuzz-crashes/\(folder)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!files.isEmpty, "each parser keeps at least one hostile seed")
        for name in files {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            do {
                try parser.parse(data, name)
                Issue.record("\(folder)/\(name): parsed without an error")
            } catch {
                #expect(parser.isExpected(error), "\(folder)/\(name): unexpected error type \(type(of: error)): \(error)")
                if errorsNameTheFile.contains(folder) {
                    #expect("\(error)".contains(name), "\(folder)/\(name): message must name the file: \(error)")
                }
            }
        }
    }
}
