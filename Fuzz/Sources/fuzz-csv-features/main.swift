// Fuzz target: CSV feature matrices (TabularFeatures.parseCSV) with each header mode.
import CFuzzDriver
import Foundation
import FeatureLens

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    for header in [TabularFeatures.Header.auto, .present, .absent] {
        if let m = try? TabularFeatures.parseCSV(bytes, file: "fuzz.csv", header: header) {
            if m.values.rank != 2 || m.columnNames.count != m.values.shape[1] { fatalError("inconsistent matrix") }
            if m.values.scalars.contains(where: { !$0.isFinite }) { fatalError("non-finite value accepted") }
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
