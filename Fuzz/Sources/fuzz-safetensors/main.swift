// Fuzz target: safetensors decoding. Properties checked beyond "no crash":
// - a file that decodes re-encodes to bytes that decode to the same tensors and metadata;
// - checkpoint restore into a small encoder + Adam either throws or succeeds, never traps.
import CFuzzDriver
import Foundation
import FeatureLens
import FeatureLensNumerics

var generator = SeededGenerator(seed: 1)
let model = Encoder<Float>(backbone: try! MLP(widths: [3, 4, 2], using: &generator))
let optimizer = try! Adam(parameters: model.parameters)

/// libFuzzer's per-input callback (also exported under its standard name).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let decoded = try? SafeTensors.decode(bytes, file: "fuzz.safetensors") else { return 0 }
    // Round trip.
    let again: SafeTensorsFile
    do {
        let encoded = try SafeTensors.encode(decoded.tensors, metadata: decoded.metadata, file: "fuzz.safetensors")
        again = try SafeTensors.decode(encoded, file: "fuzz.safetensors")
    } catch {
        // Only names the writer refuses (empty) may fail.
        guard decoded.tensors.keys.contains("") else { fatalError("round trip failed: \(error)") }
        return 0
    }
    if again != decoded { fatalError("round trip changed the content") }
    _ = try? Checkpoint.restore(decoded, into: model, optimizer: optimizer)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
