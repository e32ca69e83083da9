// Fuzz target: CSV label tables (LabelTable(csvData:file:), as `featurelens audit --labels`
// reads them). Properties: every column has one label per row, codes lie in 0..<classCount,
// the names are distinct, and `unified` keeps the values of both tables.
import CFuzzDriver
import Foundation
import FeatureLens

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard let table = try? LabelTable(csvData: bytes, file: "fuzz.csv") else { return 0 }
    if table.rowCount < 1 || table.columns.isEmpty || Set(table.columns).count != table.columns.count
        || Set(table.labelSets.keys) != Set(table.columns) {
        fatalError("inconsistent table: \(table.rowCount) rows, columns \(table.columns)")
    }
    for name in table.columns {
        guard let l = try? table.labels(name) else { fatalError("column \(name) has no label set") }
        if l.count != table.rowCount || l.codes.contains(where: { $0 < 0 || $0 >= l.classCount })
            || Set(l.classNames).count != l.classCount || l.classNames.contains(where: \.isEmpty) {
            fatalError("bad label set \(name)")
        }
        let (a, b) = LabelSet.unified(l, l.gather(Array((0..<l.count).reversed())))
        if a.values != l.values || b.values != l.values.reversed() { fatalError("unified changed the values of \(name)") }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
