// Fuzz target: IDX files as given (raw, or gzip when the input starts with 1f 8b), then the
// image/label views and the float conversion of whatever decodes.
import CFuzzDriver
import Foundation
import FeatureLens

let limits = IDXLimits(maxPayloadBytes: 1 << 22)

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard let array = try? IDX.decode(bytes, file: "fuzz.idx", limits: limits) else { return 0 }
    _ = try? array.doubleValues()
    _ = try? IDX.images(from: array, limit: 4)
    _ = try? IDX.labels(from: array, limit: 4)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
