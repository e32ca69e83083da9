// Fuzz target: CIFAR-10 and CIFAR-100 binary records (the first input byte picks the
// variant; the rest is the file). Uses the internal record decoder through @testable
// (SwiftPM debug builds are compiled with -enable-testing).
import CFuzzDriver
import Foundation
@testable import FeatureLens

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let file = Data(bytes: data + 1, count: size - 1)
    if data[0] & 1 == 0 {
        _ = try? CIFAR.decode(file, file: "fuzz.bin", classCounts: [10], fields: ["label"], limit: nil)
    } else {
        _ = try? CIFAR.decode(file, file: "fuzz.bin", classCounts: [20, 100], fields: ["coarse label", "fine label"], limit: 2)
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
