// Fuzz target: NumPy .npy files (NPY.parseHeader, NPY.decode as Double and as Float).
// Properties: a decoded array has the header's shape and element count, and encoding it again
// (same dtype) and decoding gives the same values bit for bit (NaNs may be quieted).
import CFuzzDriver
import Foundation
import FeatureLens
import FeatureLensNumerics

private func sameBits(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    guard let header = try? NPY.parseHeader(bytes, file: "fuzz.npy") else {
        // Whatever the header parser rejects, the full decoder must reject too.
        if (try? NPY.decode(bytes, file: "fuzz.npy", as: Double.self)) != nil { fatalError("decode accepted a bad header") }
        return 0
    }
    if header.shape.contains(where: { $0 < 0 }) || header.dataOffset > bytes.count { fatalError("inconsistent header") }
    guard let t = try? NPY.decode(bytes, file: "fuzz.npy", as: Double.self) else { return 0 }
    let count = header.shape.reduce(1, *)
    if t.shape != header.shape || t.scalars.count != count { fatalError("shape \(t.shape) differs from the header's \(header.shape)") }
    if header.dataOffset + count * header.dtype.itemSize != bytes.count { fatalError("accepted a data section of the wrong size") }
    guard let f = try? NPY.decode(bytes, file: "fuzz.npy", as: Float.self), f.shape == t.shape else {
        fatalError("decodes as Double but not as Float")
    }
    let again = NPY.encode(t, dtype: header.dtype)
    guard let back = try? NPY.decode(again, file: "again.npy", as: Double.self) else { fatalError("re-encoded array does not decode") }
    if back.shape != t.shape || !sameBits(back.scalars, t.scalars) { fatalError("encode/decode round trip changed the array") }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
