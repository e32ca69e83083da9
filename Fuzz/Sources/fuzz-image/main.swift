// Fuzz target: PNG and JPEG decoding (ImageCodecs.decode: libpng and libjpeg behind the C
// shim CFeatureLensImageCodecs), then the cover-and-centre-crop resize.
// Properties: a decoded image has 1 or 3 channels, pixels = channels × height × width, every
// value finite in [0, 1]; decoding twice gives the same pixels; resizing to 5×3 gives 15
// values per channel, each within the image's range (the filter weights are a convex
// combination).
import CFuzzDriver
import Foundation
import FeatureLens
import FeatureLensNumerics

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    // 2¹⁶ pixels at most: a lying header cannot exhaust libFuzzer's memory limit, and each
    // input stays fast enough for many executions per second.
    guard let image = try? ImageCodecs.decode(bytes, file: "fuzz.img", maxPixels: 1 << 16) else { return 0 }
    if image.channels != 1 && image.channels != 3 { fatalError("\(image.channels) channels") }
    if image.width < 1 || image.height < 1 || image.pixels.count != image.channels * image.width * image.height {
        fatalError("size \(image.width)×\(image.height)×\(image.channels) but \(image.pixels.count) values")
    }
    if let bad = image.pixels.first(where: { !($0 >= 0 && $0 <= 1) }) { fatalError("value \(bad) outside [0, 1]") }
    guard let again = try? ImageCodecs.decode(bytes, file: "fuzz.img", maxPixels: 1 << 16), again == image else {
        fatalError("decoding twice differs")
    }
    let lo = image.pixels.min()!, hi = image.pixels.max()!
    let small = ImageResize.coverAndCentreCrop(image.pixels, channels: image.channels, height: image.height,
                                               width: image.width, toHeight: 5, toWidth: 3)
    if small.count != image.channels * 15 { fatalError("resized to \(small.count) values") }
    if let bad = small.first(where: { !($0 >= lo - 1e-5 && $0 <= hi + 1e-5) }) { fatalError("resized value \(bad) outside [\(lo), \(hi)]") }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
