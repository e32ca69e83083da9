// Fuzz target: label-grouping config JSON (decode, validate, lookup table, relabelling).
import CFuzzDriver
import Foundation
import FeatureLens

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard let g = try? LabelGrouping.decode(bytes, file: "fuzz.json") else { return 0 }
    for count in [1, 10, 100] {
        _ = try? g.validate(fineClassCount: count, file: "fuzz.json")
        if let table = try? g.table(fineClassCount: count, file: "fuzz.json") {
            if table.count != count || table.contains(where: { $0 < 0 || $0 >= g.groups.count }) { fatalError("bad table") }
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
