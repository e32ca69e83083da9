// safetensors reader and writer: interoperability with the reference implementation
// (fixtures written by Tools/checkpoint/make_safetensors_fixtures.py) and the malformed-input
// suite: every case throws a typed error naming the file and the field.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// Decodes `bytes` and checks that it throws a `SafeTensorsError` accepted by `matches`, whose
/// message names the file.
private func expectST(_ bytes: [UInt8], file: String = "bad.safetensors", limits: SafeTensorsLimits = SafeTensorsLimits(),
                      sourceLocation: SourceLocation = #_sourceLocation, _ matches: (SafeTensorsError) -> Bool) {
    do {
        let f = try SafeTensors.decode(bytes, file: file, limits: limits)
        Issue.record("expected an error, decoded \(f.names)", sourceLocation: sourceLocation)
    } catch let e as SafeTensorsError {
        #expect(matches(e), "unexpected error: \(e)", sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix(file + ": "), "message must name the file: \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("wrong error type: \(error)", sourceLocation: sourceLocation)
    }
}

/// A file with header `json` (padded with spaces to 8 bytes, as the writer does) and `data`.
private func file(_ json: String, data: [UInt8] = [], pad: Bool = true) -> [UInt8] {
    var h = Array(json.utf8)
    if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
    return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
}

private func file(header: [UInt8], data: [UInt8] = []) -> [UInt8] {
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + data
}

/// A valid two-tensor file: "a" F32 [2] then "b" F32 [1] (12 data bytes).
private let validJSON = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
private let validFile = file(validJSON, data: (0..<12).map { UInt8($0) })

@Suite struct SafeTensorsInteropTests {
    @Test func decodesReferenceFile() throws {
        let f = try SafeTensors.read(contentsOf: fixtureURL("safetensors/reference_mixed.safetensors"))
        #expect(f.names == ["bias", "double", "empty", "rng", "scalar", "steps", "weight"])
        #expect(f.metadata == ["format": "pt", "note": "quote \" backslash \\ tab \t ü"])
        let w = try f.tensor("weight", as: Float.self)
        #expect(w.shape == [2, 3])
        #expect(w.scalars == [-0.5, -0.25, 0, 0.25, 0.5, 0.75])
        #expect(try f.tensor("bias", as: Float.self).scalars == [1.5, -2])
        #expect(try f.tensor("empty", as: Float.self).shape == [0, 4])
        let s = try f.tensor("scalar", as: Float.self)
        #expect(s.shape == [] && s.scalars == [3.25])
        let d = try f.tensor("double", as: Double.self).scalars
        #expect(d[0] == 1.0 / 3.0 && d[1] == 0 && d[1].sign == .minus && d[2] == 1e300)
        #expect(try f.int64Values("steps") == [-1, 0, 1 << 62])
        #expect(try f.uint64Values("rng") == [1, UInt64.max, 3, 1 << 63])
    }

    @Test func writerMatchesReferenceBytes() throws {
        let url = fixtureURL("safetensors/reference_mixed.safetensors")
        let reference = try [UInt8](Data(contentsOf: url))
        let f = try SafeTensors.decode(reference, file: url.path)
        let mine = try SafeTensors.encode(f.tensors, metadata: f.metadata)
        #expect(mine == reference)
    }

    @Test func otherDTypesKeptAsRawBytes() throws {
        let f = try SafeTensors.read(contentsOf: fixtureURL("safetensors/reference_other_dtypes.safetensors"))
        #expect(f.tensors["half"]?.dtype == .F16)
        #expect(f.tensors["half"]?.bytes == [0x00, 0x3C, 0x00, 0xC0])  // 1.0, -2.0 in binary16
        #expect(f.tensors["mask"]?.dtype == .BOOL && f.tensors["mask"]?.bytes == [1, 0, 1])
        #expect(f.tensors["ints"]?.dtype == .I32 && f.tensors["ints"]?.shape == [2])
        #expect(throws: SafeTensorsError.dtypeMismatch(file: f.file, tensor: "half", expected: .F32, found: .F16)) {
            try f.tensor("half", as: Float.self)
        }
        #expect(throws: SafeTensorsError.missingTensor(file: f.file, tensor: "nope")) { try f.tensor("nope") }
        let again = try SafeTensors.decode(SafeTensors.encode(f.tensors), file: "x")
        #expect(again.tensors == f.tensors)
    }

    @Test func roundTripIsBitExactAndAligned() throws {
        var g = SeededGenerator(seed: 7)
        let t = Tensor<Float>(randomNormal: [3, 5], using: &g)
        var special = Tensor<Double>(randomNormal: [4], using: &g)
        special.scalars[1] = -0.0
        special.scalars[2] = .nan            // NaN is valid at the format level.
        special.scalars[3] = .infinity
        let tensors: [String: SafeTensor] = [
            "t": SafeTensor(t), "special": SafeTensor(special), "odd": SafeTensor(float32: [1, 2, 3], shape: [3]),
            "u": SafeTensor(uint64: [5, 6], shape: [2, 1]), "i": SafeTensor(int64: [-5], shape: []),
            "name with \"quotes\" \\ and \u{1} ü": SafeTensor(float32: [], shape: [0]),
        ]
        let bytes = try SafeTensors.encode(tensors, metadata: ["k": "v\n"])
        let header = Int(bytes[0]) | Int(bytes[1]) << 8
        #expect((8 + header) % 8 == 0, "the data buffer starts 8-byte aligned")
        let f = try SafeTensors.decode(bytes, file: "rt")
        #expect(f.tensors == tensors)
        #expect(f.metadata == ["k": "v\n"])
        #expect(try f.tensor("t", as: Float.self) == t)
        let back = try f.tensor("special", as: Double.self).scalars
        #expect(back.map(\.bitPattern) == special.scalars.map(\.bitPattern))
        #expect(f.tensors["special"]?.firstNonFiniteIndex == 2)
        #expect(f.tensors["t"]?.firstNonFiniteIndex == nil)
        // Every tensor starts at a multiple of its element size.
        for (name, _) in tensors {
            let st = f.tensors[name]!
            #expect(st.bytes.count == st.elementCount * st.dtype.byteCount)
        }
        #expect(try SafeTensors.encode(tensors, metadata: ["k": "v\n"]) == bytes, "deterministic")
    }

    @Test func writerRejectsReservedNames() {
        #expect(throws: SafeTensorsError.self) { try SafeTensors.encode(["__metadata__": SafeTensor(float32: [1], shape: [1])]) }
        #expect(throws: SafeTensorsError.self) { try SafeTensors.encode(["": SafeTensor(float32: [1], shape: [1])]) }
    }

    @Test func atomicWriteReplacesFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.safetensors")
        try SafeTensors.write(["a": SafeTensor(float32: [1], shape: [1])], to: url)
        try SafeTensors.write(["b": SafeTensor(float64: [2], shape: [1])], to: url)
        #expect(try SafeTensors.read(contentsOf: url).names == ["b"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["x.safetensors"])
    }
}

@Suite struct MalformedSafeTensorsTests {
    @Test func validBaseline() throws {
        let f = try SafeTensors.decode(validFile, file: "ok")
        #expect(f.names == ["a", "b"])
        #expect(f.tensors["b"]?.bytes == [8, 9, 10, 11])
    }

    @Test func shorterThanLengthField() {
        for n in 0..<8 {
            expectST(Array(validFile.prefix(n))) { $0 == .fileTooSmall(file: "bad.safetensors", size: n) }
        }
    }

    @Test func truncatedInsideHeader() {
        let headerLength = Int(validFile[0]) | Int(validFile[1]) << 8
        for cut in stride(from: 8, to: 8 + headerLength, by: 7) {
            expectST(Array(validFile.prefix(cut))) {
                $0 == .headerBeyondFile(file: "bad.safetensors", declared: UInt64(headerLength), available: cut - 8)
            }
        }
    }

    @Test func truncatedInsideData() {
        let headerLength = Int(validFile[0]) | Int(validFile[1]) << 8
        for cut in (8 + headerLength)..<validFile.count {
            let buffer = cut - 8 - headerLength
            expectST(Array(validFile.prefix(cut))) {
                guard case let .invalidOffsets(_, tensor, _, end, reason) = $0 else { return false }
                return end > buffer && reason.contains("beyond the data buffer") && (tensor == "a" || tensor == "b")
            }
        }
    }

    @Test func trailingBytesAfterLastTensor() {
        expectST(validFile + [0]) { $0 == .bufferSizeMismatch(file: "bad.safetensors", expected: 12, found: 13) }
    }

    @Test func hugeHeaderLengthDoesNotAllocate() {
        // Length field 2^64 − 1 in a 16-byte file: refused before any allocation.
        let bytes = [UInt8](repeating: 0xFF, count: 8) + Array("{}      ".utf8)
        expectST(bytes) { $0 == .headerTooLarge(file: "bad.safetensors", declared: UInt64.max, limit: 100_000_000) }
        // Within the cap but beyond the file.
        let lying = withUnsafeBytes(of: UInt64(50_000_000).littleEndian) { Array($0) } + Array("{}".utf8)
        expectST(lying) { $0 == .headerBeyondFile(file: "bad.safetensors", declared: 50_000_000, available: 2) }
        expectST(file("{}"), limits: SafeTensorsLimits(maxHeaderBytes: 4)) {
            $0 == .headerTooLarge(file: "bad.safetensors", declared: 8, limit: 4)
        }
    }

    @Test func invalidJSON() {
        let cases = [
            "",                                   // empty header
            " {}",                                // must start with '{' (reference rule)
            "[]",
            "{",
            #"{"a":1,}"#,                         // trailing comma
            #"{"a" 1}"#,
            #"{"x":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}"#,  // leading zero
            #"{"x\q":{}}"#,                       // bad escape
            "{\"x\u{1}\":{}}",                    // raw control character in a string
            #"{"\ud800":{}}"#,                    // lone surrogate
            #"{} x"#,                             // garbage after the object
            #"{"x":{"dtype":"F32","shape":[1 2],"data_offsets":[0,4]}}"#,
            #"{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":tru}}"#,
        ]
        for json in cases {
            expectST(file(json, pad: false)) {
                if case .invalidJSON = $0 { return true }
                if case .invalidField = $0 { return true }  // e.g. "{" … then a non-object value
                return false
            }
        }
    }

    @Test func deepNestingInUnknownFieldIsAnErrorNotAStackOverflow() {
        let deep = String(repeating: "[", count: 100_000)
        expectST(file(#"{"x":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":"# + deep + "}}")) {
            if case let .invalidJSON(_, _, reason) = $0 { return reason.contains("nesting") }
            return false
        }
        // Unknown fields of reasonable depth are skipped, as in the reference implementation.
        let ok = file(#"{"x":{"extra":{"a":[1,2.5e3,{"b":null}],"c":true},"dtype":"F32","shape":[],"data_offsets":[0,4]}}"#, data: [0, 0, 128, 63])
        #expect((try? SafeTensors.decode(ok, file: "ok"))?.tensors["x"]?.float32Values == [1])
    }

    @Test func headerNotUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            let header = Array(#"{"a"#.utf8) + bad + Array(#"":{}}"#.utf8)
            expectST(file(header: header)) { $0 == .headerNotUTF8(file: "bad.safetensors", offset: 8 + 3) }
        }
        // Valid multi-byte UTF-8 names are fine.
        let ok = file(#"{"ü€😀":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [7])
        #expect((try? SafeTensors.decode(ok, file: "ok"))?.names == ["ü€😀"])
    }

    @Test func overlappingOffsets() {
        let json = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectST(file(json, data: [UInt8](repeating: 0, count: 8))) {
            guard case let .invalidOffsets(_, tensor, _, _, reason) = $0 else { return false }
            return tensor == "b" && reason.contains("overlaps tensor \"a\"")
        }
    }

    @Test func gapBetweenTensors() {
        let json = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expectST(file(json, data: [UInt8](repeating: 0, count: 12))) {
            guard case let .invalidOffsets(_, tensor, 8, 12, reason) = $0 else { return false }
            return tensor == "b" && reason.contains("gap")
        }
        // A buffer not starting at offset 0 is a gap too.
        expectST(file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0])) {
            if case .invalidOffsets(_, "a", 1, 2, _) = $0 { return true }
            return false
        }
    }

    @Test func offsetsOutOfRangeOrReversed() {
        expectST(file(#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#, data: [0, 0])) {
            if case .invalidOffsets(_, "a", 0, 4, let r) = $0 { return r.contains("beyond") }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0])) {
            if case .invalidOffsets(_, "a", 4, 0, let r) = $0 { return r.contains("begin is after end") }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, data: [0])) {
            if case .invalidField(_, "a", "data_offsets[1]", _, _) = $0 { return true }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#, data: [0])) {
            if case .invalidField(_, "a", "data_offsets", "[begin, end]", _) = $0 { return true }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}"#, data: [0])) {
            if case .invalidField(_, "a", "data_offsets", _, _) = $0 { return true }
            return false
        }
    }

    @Test func unknownDType() {
        for d in ["F33", "f32", "", "F4", "COMPLEX"] {
            expectST(file(#"{"a":{"dtype":"\#(d)","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) {
                $0 == .unknownDType(file: "bad.safetensors", tensor: "a", dtype: d)
            }
        }
        expectST(file(#"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) {
            if case .invalidField(_, "a", "dtype", _, _) = $0 { return true }
            return false
        }
    }

    @Test func shapeSizeMismatch() {
        expectST(file(#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))) {
            $0 == .sizeMismatch(file: "bad.safetensors", tensor: "a", shape: [2], dtype: .F64, expectedBytes: 16, rangeBytes: 8)
        }
    }

    @Test func overflowingShape() {
        let big = Int.max / 2
        expectST(file(#"{"a":{"dtype":"F32","shape":[\#(big),3],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) {
            $0 == .shapeOverflow(file: "bad.safetensors", tensor: "a", shape: [big, 3], dtype: .F32)
        }
        // The element count fits but × 8 bytes does not.
        let n = Int.max / 4
        expectST(file(#"{"a":{"dtype":"U64","shape":[\#(n)],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))) {
            $0 == .shapeOverflow(file: "bad.safetensors", tensor: "a", shape: [n], dtype: .U64)
        }
        // A zero extent makes any other extent harmless.
        let ok = file(#"{"a":{"dtype":"F32","shape":[0,\#(Int.max)],"data_offsets":[0,0]}}"#)
        #expect((try? SafeTensors.decode(ok, file: "ok"))?.tensors["a"]?.shape == [0, Int.max])
    }

    @Test func badShapeValues() {
        for (s, field) in [("[-1]", "shape[0]"), ("[1.5]", "shape[0]"), ("[1e2]", "shape[0]"), ("[\"2\"]", "shape[0]"),
                           ("[9223372036854775808]", "shape[0]"), ("{}", "shape"), ("null", "shape")] {
            expectST(file(#"{"a":{"dtype":"U8","shape":\#(s),"data_offsets":[0,0]}}"#)) {
                if case .invalidField(_, "a", field, _, _) = $0 { return true }
                return false
            }
        }
        let deep = "[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]"
        expectST(file(#"{"a":{"dtype":"U8","shape":\#(deep),"data_offsets":[0,1]}}"#, data: [0])) {
            if case .invalidField(_, "a", "shape", "at most 64 numbers", _) = $0 { return true }
            return false
        }
    }

    @Test func missingFieldsAndWrongEntryType() {
        expectST(file(#"{"a":{"shape":[1],"data_offsets":[0,1]}}"#, data: [0])) {
            if case .invalidField(_, "a", "dtype", _, "missing") = $0 { return true }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","data_offsets":[0,1]}}"#, data: [0])) {
            if case .invalidField(_, "a", "shape", _, "missing") = $0 { return true }
            return false
        }
        expectST(file(#"{"a":{"dtype":"U8","shape":[1]}}"#, data: [0])) {
            if case .invalidField(_, "a", "data_offsets", _, "missing") = $0 { return true }
            return false
        }
        expectST(file(#"{"a":[1]}"#)) {
            if case .invalidField(_, "a", "(entry)", _, _) = $0 { return true }
            return false
        }
    }

    @Test func duplicateKeys() {
        expectST(file(#"{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#)) {
            $0 == .duplicateKey(file: "bad.safetensors", context: "header", key: "a")
        }
        expectST(file(#"{"__metadata__":{"k":"1","k":"2"}}"#)) {
            $0 == .duplicateKey(file: "bad.safetensors", context: "__metadata__", key: "k")
        }
        expectST(file(#"{"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#)) {
            if case .duplicateKey(_, _, "dtype") = $0 { return true }
            return false
        }
    }

    @Test func metadataMustBeStrings() {
        expectST(file(#"{"__metadata__":{"step":3}}"#)) {
            if case .invalidMetadata(_, "step", _) = $0 { return true }
            return false
        }
        expectST(file(#"{"__metadata__":["x"]}"#)) {
            if case .invalidMetadata(_, nil, _) = $0 { return true }
            return false
        }
        let ok = file(#"{"__metadata__":{"a":"\u00fc\n\"","b":""}}"#)
        #expect((try? SafeTensors.decode(ok, file: "ok"))?.metadata == ["a": "ü\n\"", "b": ""])
    }

    @Test func unreadableFile() {
        let path = "/nonexistent-\(UUID().uuidString)/x.safetensors"
        let error = #expect(throws: SafeTensorsError.self) {
            try SafeTensors.read(contentsOf: URL(fileURLWithPath: path))
        }
        guard case let .unreadable(file, _) = error else {
            Issue.record("expected .unreadable, got \(String(describing: error))")
            return
        }
        #expect(file == path)
    }
}
