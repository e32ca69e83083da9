// Fuzz target: IDX through the streaming gzip path. Inputs that already look like gzip
// (1f 8b) are decoded as they are (corrupt-stream handling); any other input is compressed
// first, so the IDX header and payload checks run behind the bounded inflater.
import CFuzzDriver
import Foundation
import FeatureLens

let limits = IDXLimits(maxPayloadBytes: 1 << 22)

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let raw = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let input = raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B ? raw : Gzip.compress(raw)
    guard let array = try? IDX.decode(Data(input), file: "fuzz.idx.gz", limits: limits) else { return 0 }
    // A compressed input must decode exactly as the raw bytes do.
    if input != raw {
        let direct = try? IDX.decode(Data(raw), file: "fuzz.idx.gz", limits: limits)
        if direct != array { fatalError("gzip and raw decoding disagree") }
    }
    _ = try? array.doubleValues()
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
