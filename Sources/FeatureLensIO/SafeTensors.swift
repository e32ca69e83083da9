// safetensors files (Hugging Face, https://github.com/huggingface/safetensors), read without
// trusting the header and written so that the Python `safetensors` library and PyTorch load them.
//
// Layout:
//     bytes 0..<8        N, the header length, unsigned 64-bit little-endian
//     bytes 8..<8+N      UTF-8 JSON object:
//                          {"__metadata__": {string: string},            (optional)
//                           "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …}
//     bytes 8+N..<EOF    the byte buffer; tensor data is little-endian, row-major, at
//                        buffer[begin..<end] (offsets relative to the start of the buffer)
//
// Writer (byte-for-byte as the reference implementation, safetensors 0.8): compact JSON with
// `__metadata__` first (keys sorted), then the tensors in buffer order: by dtype, widest first
// (U64, I64, F64, F32, …), then by name, so every tensor stays aligned to its element size;
// the header is padded with spaces to a multiple of 8 bytes so the buffer starts 8-aligned.
//
// Reader: checks the header length against the file size and a cap before allocating,
// validates UTF-8, parses the JSON with a schema-driven parser (depth- and rank-limited, exact
// integer offsets, duplicate keys rejected), checks every dtype, that shape × element size
// equals the byte range (with overflow checks) and that the ranges tile the buffer exactly
// (contiguous, no overlap, no gap, no trailing bytes). Every failure is a `SafeTensorsError`
// naming the file and the field. Unknown fields in a tensor entry are skipped, as the
// reference implementation does. NaN and ±Inf values are *not* a format error (the bytes are
// valid); callers that need finite values (e.g. `Checkpoint.load`) check them.
import Foundation
import FeatureLensNumerics

// MARK: - Types

/// Element types of the safetensors format (all byte-sized ones of the reference
/// implementation; the sub-byte float formats are not supported).
public enum SafeTensorsDType: String, CaseIterable, Sendable, Equatable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// Position in the reference implementation's dtype order (its writer lays tensors out by
    /// descending rank, then by name).
    var rank: Int { SafeTensorsDType.allCases.firstIndex(of: self)! }

    /// The dtype that stores `Scalar` exactly: F32 for `Float`, F64 otherwise (`Double`).
    public static func forScalar<S: TensorScalar>(_: S.Type) -> SafeTensorsDType {
        S.self == Float.self ? .F32 : .F64
    }
}

/// One tensor of a safetensors file: element type, shape and raw little-endian bytes
/// (row-major). `bytes.count == shape.reduce(1, *) * dtype.byteCount`.
public struct SafeTensor: Equatable, Sendable {
    /// Element type.
    public var dtype: SafeTensorsDType
    /// Extent of each axis (`[]` for a scalar, one element).
    public var shape: [Int]
    /// Raw little-endian element bytes, row-major.
    public var bytes: [UInt8]

    /// Number of elements, the product of `shape`.
    public var elementCount: Int { shape.reduce(1, *) }

    /// A tensor from raw bytes. Precondition: the byte count matches shape × element size.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) * dtype.byteCount == bytes.count,
                     "SafeTensor: \(bytes.count) bytes do not fit dtype \(dtype.rawValue) and shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// F32 (for `Float`) or F64 (for `Double`) tensor holding `tensor` bit for bit.
    public init<S: TensorScalar>(_ tensor: Tensor<S>) {
        let dtype = SafeTensorsDType.forScalar(S.self)
        if hostIsLittleEndian && (S.self == Float.self || S.self == Double.self) {
            // Float/Double storage is already the little-endian IEEE bytes: one copy.
            let bytes = tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
            self.init(dtype: dtype, shape: tensor.shape, bytes: bytes)
        } else if dtype == .F32 {
            self.init(float32: tensor.scalars.map { Float($0.doubleValue) }, shape: tensor.shape)
        } else {
            self.init(float64: tensor.scalars.map { $0.doubleValue }, shape: tensor.shape)
        }
    }

    /// An F32 tensor; `values.count` must equal the product of `shape`.
    public init(float32 values: [Float], shape: [Int]) {
        self.init(dtype: .F32, shape: shape, bytes: SafeTensor.littleEndianBytes(values.map { $0.bitPattern }))
    }

    /// An F64 tensor; `values.count` must equal the product of `shape`.
    public init(float64 values: [Double], shape: [Int]) {
        self.init(dtype: .F64, shape: shape, bytes: SafeTensor.littleEndianBytes(values.map { $0.bitPattern }))
    }

    /// An I64 tensor; `values.count` must equal the product of `shape`.
    public init(int64 values: [Int64], shape: [Int]) {
        self.init(dtype: .I64, shape: shape, bytes: SafeTensor.littleEndianBytes(values.map { UInt64(bitPattern: $0) }))
    }

    /// A U64 tensor; `values.count` must equal the product of `shape`.
    public init(uint64 values: [UInt64], shape: [Int]) {
        self.init(dtype: .U64, shape: shape, bytes: SafeTensor.littleEndianBytes(values))
    }

    /// The elements of an F32 tensor (nil for another dtype).
    public var float32Values: [Float]? {
        dtype == .F32 ? decodeWords(UInt32.self).map { Float(bitPattern: $0) } : nil
    }

    /// The elements of an F64 tensor (nil for another dtype).
    public var float64Values: [Double]? {
        dtype == .F64 ? decodeWords(UInt64.self).map { Double(bitPattern: $0) } : nil
    }

    /// The elements of an I64 tensor (nil for another dtype).
    public var int64Values: [Int64]? {
        dtype == .I64 ? decodeWords(UInt64.self).map { Int64(bitPattern: $0) } : nil
    }

    /// The elements of a U64 tensor (nil for another dtype).
    public var uint64Values: [UInt64]? { dtype == .U64 ? decodeWords(UInt64.self) : nil }

    /// Index (row-major) of the first NaN or infinite element of an F32/F64 tensor, or nil
    /// (also nil for non-float dtypes).
    public var firstNonFiniteIndex: Int? {
        if let v = float32Values { return v.firstIndex { !$0.isFinite } }
        if let v = float64Values { return v.firstIndex { !$0.isFinite } }
        return nil
    }

    private func decodeWords<W: FixedWidthInteger & UnsignedInteger>(_: W.Type) -> [W] {
        let n = bytes.count / MemoryLayout<W>.size
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { W(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<W>.size, as: W.self)) }
        }
    }

    private static func littleEndianBytes<W: FixedWidthInteger>(_ words: [W]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: words.count * MemoryLayout<W>.size)
        out.withUnsafeMutableBytes { raw in
            for (i, w) in words.enumerated() {
                raw.storeBytes(of: w.littleEndian, toByteOffset: i * MemoryLayout<W>.size, as: W.self)
            }
        }
        return out
    }
}

/// Caps that protect the reader from hostile files.
public struct SafeTensorsLimits: Sendable, Equatable {
    /// Largest accepted header length N in bytes (the reference implementation uses 100 MB).
    public var maxHeaderBytes: Int
    /// Largest accepted tensor rank (length of a `shape` array).
    public var maxRank: Int

    /// - Parameters: see the properties.
    public init(maxHeaderBytes: Int = 100_000_000, maxRank: Int = 64) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxRank = maxRank
    }
}

/// A decoded safetensors file: its tensors by name and its `__metadata__`.
public struct SafeTensorsFile: Equatable, Sendable {
    /// The file name used in error messages.
    public var file: String
    /// The string-to-string `__metadata__` map (empty when absent).
    public var metadata: [String: String]
    /// The tensors by name.
    public var tensors: [String: SafeTensor]

    /// - Parameters: see the properties.
    public init(file: String, metadata: [String: String] = [:], tensors: [String: SafeTensor] = [:]) {
        self.file = file
        self.metadata = metadata
        self.tensors = tensors
    }

    /// Tensor names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor called `name`. - Throws: `SafeTensorsError.missingTensor`.
    public func tensor(_ name: String) throws -> SafeTensor {
        guard let t = tensors[name] else { throw SafeTensorsError.missingTensor(file: file, tensor: name) }
        return t
    }

    /// The tensor `name` as a `Tensor<S>`; it must be F32 for `Float` and F64 for `Double`
    /// (no silent conversion).
    /// - Throws: `SafeTensorsError.missingTensor` or `.dtypeMismatch`.
    public func tensor<S: TensorScalar>(_ name: String, as _: S.Type) throws -> Tensor<S> {
        let t = try tensor(name)
        let want = SafeTensorsDType.forScalar(S.self)
        guard t.dtype == want else {
            throw SafeTensorsError.dtypeMismatch(file: file, tensor: name, expected: want, found: t.dtype)
        }
        let n = t.elementCount
        let scalars: [S]
        if hostIsLittleEndian && (S.self == Float.self || S.self == Double.self) {
            // Same IEEE layout as the file's little-endian bytes: one copy.
            scalars = [S](unsafeUninitializedCapacity: n) { buf, count in
                t.bytes.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: src)
                }
                count = n
            }
        } else if want == .F32 {
            scalars = t.float32Values!.map { S(Double($0)) }
        } else {
            scalars = t.float64Values!.map { S($0) }
        }
        return Tensor(shape: t.shape, scalars: scalars)
    }

    /// The elements of the U64 tensor `name`.
    /// - Throws: `SafeTensorsError.missingTensor` or `.dtypeMismatch`.
    public func uint64Values(_ name: String) throws -> [UInt64] {
        let t = try tensor(name)
        guard let v = t.uint64Values else {
            throw SafeTensorsError.dtypeMismatch(file: file, tensor: name, expected: .U64, found: t.dtype)
        }
        return v
    }

    /// The elements of the I64 tensor `name`.
    /// - Throws: `SafeTensorsError.missingTensor` or `.dtypeMismatch`.
    public func int64Values(_ name: String) throws -> [Int64] {
        let t = try tensor(name)
        guard let v = t.int64Values else {
            throw SafeTensorsError.dtypeMismatch(file: file, tensor: name, expected: .I64, found: t.dtype)
        }
        return v
    }
}

// MARK: - Errors

/// A malformed or unreadable safetensors file, or a tensor that is not what the caller needs.
/// Every case names the file; byte offsets are from the start of the file.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read (`reason` from the system).
    case unreadable(file: String, reason: String)
    /// Fewer than the 8 bytes of the header-length field.
    case fileTooSmall(file: String, size: Int)
    /// The header length N exceeds `SafeTensorsLimits.maxHeaderBytes`.
    case headerTooLarge(file: String, declared: UInt64, limit: Int)
    /// The header length N exceeds the bytes that follow the length field.
    case headerBeyondFile(file: String, declared: UInt64, available: Int)
    /// The header is not valid UTF-8 (`offset` of the first bad byte).
    case headerNotUTF8(file: String, offset: Int)
    /// The header is not valid JSON (`offset` of the problem, `reason`).
    case invalidJSON(file: String, offset: Int, reason: String)
    /// A key appears twice in the same JSON object (`context` is "header" or "__metadata__").
    case duplicateKey(file: String, context: String, key: String)
    /// `__metadata__` is not an object of string values.
    case invalidMetadata(file: String, key: String?, expected: String)
    /// A tensor entry's field is missing or has the wrong type/value.
    case invalidField(file: String, tensor: String, field: String, expected: String, found: String)
    /// A tensor's dtype string is not a supported safetensors dtype.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// The element count × element size of a tensor overflows a 64-bit integer.
    case shapeOverflow(file: String, tensor: String, shape: [Int], dtype: SafeTensorsDType)
    /// shape × element size differs from the byte range `end − begin`.
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: SafeTensorsDType, expectedBytes: Int, rangeBytes: Int)
    /// A tensor's byte range is out of order, overlaps another, leaves a gap or ends beyond
    /// the data buffer.
    case invalidOffsets(file: String, tensor: String, begin: Int, end: Int, reason: String)
    /// The tensors' byte ranges do not cover the data buffer exactly.
    case bufferSizeMismatch(file: String, expected: Int, found: Int)
    /// A tensor the caller needs is absent.
    case missingTensor(file: String, tensor: String)
    /// A tensor has another dtype than the caller needs.
    case dtypeMismatch(file: String, tensor: String, expected: SafeTensorsDType, found: SafeTensorsDType)
    /// The writer was given an invalid tensor name (empty, duplicate or `__metadata__`).
    case invalidName(file: String, name: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read safetensors file: \(reason)"
        case let .fileTooSmall(file, size):
            return "\(file): safetensors file of \(size) bytes; expected at least 8 (the header length field)"
        case let .headerTooLarge(file, declared, limit):
            return "\(file): safetensors header length field is \(declared) bytes; expected at most \(limit)"
        case let .headerBeyondFile(file, declared, available):
            return "\(file): safetensors header length field is \(declared) bytes but only \(available) bytes follow it (truncated file?)"
        case let .headerNotUTF8(file, offset):
            return "\(file): safetensors header is not valid UTF-8 (byte offset \(offset))"
        case let .invalidJSON(file, offset, reason):
            return "\(file): safetensors header is not valid JSON at byte offset \(offset): \(reason)"
        case let .duplicateKey(file, context, key):
            return "\(file): safetensors \(context) has key \"\(key)\" twice; expected unique keys"
        case let .invalidMetadata(file, key, expected):
            if let key { return "\(file): safetensors __metadata__[\"\(key)\"]: expected \(expected)" }
            return "\(file): safetensors __metadata__: expected \(expected)"
        case let .invalidField(file, tensor, field, expected, found):
            return "\(file): tensor \"\(tensor)\" field \(field) is \(found); expected \(expected)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor \"\(tensor)\" field dtype is \"\(dtype)\"; expected one of \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .shapeOverflow(file, tensor, shape, dtype):
            return "\(file): tensor \"\(tensor)\" field shape \(shape) × \(dtype.byteCount) bytes (\(dtype.rawValue)) overflows a 64-bit size"
        case let .sizeMismatch(file, tensor, shape, dtype, expected, range):
            return "\(file): tensor \"\(tensor)\" field data_offsets spans \(range) bytes; expected \(expected) (shape \(shape) × \(dtype.byteCount) bytes for \(dtype.rawValue))"
        case let .invalidOffsets(file, tensor, begin, end, reason):
            return "\(file): tensor \"\(tensor)\" field data_offsets [\(begin), \(end)]: \(reason)"
        case let .bufferSizeMismatch(file, expected, found):
            return "\(file): safetensors data buffer holds \(found) bytes; expected \(expected) (the end of the last tensor)"
        case let .missingTensor(file, tensor):
            return "\(file): tensor \"\(tensor)\" is missing"
        case let .dtypeMismatch(file, tensor, expected, found):
            return "\(file): tensor \"\(tensor)\" field dtype is \(found.rawValue); expected \(expected.rawValue)"
        case let .invalidName(file, name, reason):
            return "\(file): cannot write tensor named \"\(name)\": \(reason)"
        }
    }
}

// MARK: - Reading and writing

/// Reader and writer for the safetensors format (layout at the top of this file).
public enum SafeTensors {
    /// Reads and validates a safetensors file.
    /// - Throws: `SafeTensorsError` naming the file and the field (see `decode`).
    public static func read(contentsOf url: URL, limits: SafeTensorsLimits = SafeTensorsLimits()) throws -> SafeTensorsFile {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw SafeTensorsError.unreadable(file: url.path, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, file: url.path, limits: limits)
    }

    /// Decodes and validates safetensors bytes held in memory. Allocations are bounded by the
    /// size of `data` (a lying header cannot ask for more).
    /// - Parameter file: the name used in error messages.
    /// - Throws: `SafeTensorsError`: `.fileTooSmall`, `.headerTooLarge`, `.headerBeyondFile`,
    ///   `.headerNotUTF8`, `.invalidJSON`, `.duplicateKey`, `.invalidMetadata`,
    ///   `.invalidField`, `.unknownDType`, `.shapeOverflow`, `.sizeMismatch`,
    ///   `.invalidOffsets`, `.bufferSizeMismatch`.
    public static func decode(_ data: Data, file: String, limits: SafeTensorsLimits = SafeTensorsLimits()) throws -> SafeTensorsFile {
        try data.withUnsafeBytes { raw in try decode(raw, file: file, limits: limits) }
    }

    /// Decodes and validates safetensors bytes (see `decode(_:file:limits:)` for `Data`).
    public static func decode(_ bytes: [UInt8], file: String, limits: SafeTensorsLimits = SafeTensorsLimits()) throws -> SafeTensorsFile {
        try bytes.withUnsafeBytes { raw in try decode(raw, file: file, limits: limits) }
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, file: String, limits: SafeTensorsLimits) throws -> SafeTensorsFile {
        let bytes = raw.bindMemory(to: UInt8.self)
        guard bytes.count >= 8 else { throw SafeTensorsError.fileTooSmall(file: file, size: bytes.count) }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(bytes[k]) << (8 * UInt64(k)) }
        let available = bytes.count - 8
        guard n <= UInt64(max(0, limits.maxHeaderBytes)) else {
            throw SafeTensorsError.headerTooLarge(file: file, declared: n, limit: limits.maxHeaderBytes)
        }
        guard n <= UInt64(available) else {
            throw SafeTensorsError.headerBeyondFile(file: file, declared: n, available: available)
        }
        let headerLength = Int(n)
        let header = UnsafeBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        if let bad = firstInvalidUTF8(header) { throw SafeTensorsError.headerNotUTF8(file: file, offset: 8 + bad) }

        var parser = SafeTensorsHeaderParser(bytes: header, file: file, fileOffset: 8, maxRank: limits.maxRank)
        let (metadata, entries) = try parser.parseHeader()

        // The byte ranges must tile the buffer: sort by (begin, end), then walk.
        let bufferLength = available - headerLength
        let order = entries.indices.sorted { (entries[$0].begin, entries[$0].end) < (entries[$1].begin, entries[$1].end) }
        var cursor = 0
        var previous: String?
        for i in order {
            let e = entries[i]
            guard e.begin <= e.end else {
                throw SafeTensorsError.invalidOffsets(file: file, tensor: e.name, begin: e.begin, end: e.end,
                                                      reason: "begin is after end; expected begin ≤ end")
            }
            if e.begin < cursor {
                throw SafeTensorsError.invalidOffsets(file: file, tensor: e.name, begin: e.begin, end: e.end,
                                                      reason: "overlaps tensor \"\(previous ?? "")\" (which ends at \(cursor)); expected begin = \(cursor)")
            }
            if e.begin > cursor {
                throw SafeTensorsError.invalidOffsets(file: file, tensor: e.name, begin: e.begin, end: e.end,
                                                      reason: "leaves a gap of \(e.begin - cursor) unused bytes; expected begin = \(cursor)")
            }
            guard e.end <= bufferLength else {
                throw SafeTensorsError.invalidOffsets(file: file, tensor: e.name, begin: e.begin, end: e.end,
                                                      reason: "ends beyond the data buffer of \(bufferLength) bytes (truncated file?)")
            }
            var count = 1, overflow = false
            for d in e.shape {
                (count, overflow) = count.multipliedReportingOverflow(by: d)
                if overflow { break }
            }
            var size = 0
            if !overflow { (size, overflow) = count.multipliedReportingOverflow(by: e.dtype.byteCount) }
            if overflow { throw SafeTensorsError.shapeOverflow(file: file, tensor: e.name, shape: e.shape, dtype: e.dtype) }
            guard size == e.end - e.begin else {
                throw SafeTensorsError.sizeMismatch(file: file, tensor: e.name, shape: e.shape, dtype: e.dtype,
                                                    expectedBytes: size, rangeBytes: e.end - e.begin)
            }
            cursor = e.end
            previous = e.name
        }
        guard cursor == bufferLength else {
            throw SafeTensorsError.bufferSizeMismatch(file: file, expected: cursor, found: bufferLength)
        }

        let base = 8 + headerLength
        var tensors: [String: SafeTensor] = [:]
        tensors.reserveCapacity(entries.count)
        for e in entries {
            let slice = Array(bytes[(base + e.begin)..<(base + e.end)])
            tensors[e.name] = SafeTensor(dtype: e.dtype, shape: e.shape, bytes: slice)
        }
        return SafeTensorsFile(file: file, metadata: metadata, tensors: tensors)
    }

    /// Encodes tensors and metadata as safetensors bytes (layout and ordering at the top of this
    /// file). The same input always gives the same bytes.
    /// - Parameter file: the name used in error messages.
    /// - Throws: `SafeTensorsError.invalidName` for an empty name or `"__metadata__"`.
    public static func encode(_ tensors: [String: SafeTensor], metadata: [String: String] = [:],
                              file: String = "<safetensors>") throws -> [UInt8] {
        for name in tensors.keys where name.isEmpty || name == "__metadata__" {
            throw SafeTensorsError.invalidName(file: file, name: name,
                                               reason: name.isEmpty ? "the name is empty" : "the name is reserved for metadata")
        }
        // Data layout and header order, as the reference writer: dtype rank descending
        // (U64, I64, F64, F32, …, the order of `SafeTensorsDType.allCases`), then name.
        let layout = tensors.keys.sorted {
            let a = tensors[$0]!.dtype.rank, b = tensors[$1]!.dtype.rank
            return a != b ? a > b : $0 < $1
        }
        var json = "{"
        var first = metadata.isEmpty
        if !metadata.isEmpty {
            json += jsonString("__metadata__") + ":{"
            json += metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(metadata[$0]!) }.joined(separator: ",")
            json += "}"
        }
        var cursor = 0
        for name in layout {
            let t = tensors[name]!
            if !first { json += "," }
            first = false
            json += jsonString(name) + ":{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":["
                + t.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(cursor),\(cursor + t.bytes.count)]}"
            cursor += t.bytes.count
        }
        json += "}"
        var header = Array(json.utf8)
        let padding = (8 - header.count % 8) % 8
        header += [UInt8](repeating: 0x20, count: padding)
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + cursor)
        let n = UInt64(header.count)
        for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(k)))) }
        out += header
        for name in layout { out += tensors[name]!.bytes }
        return out
    }

    /// Encodes and writes a safetensors file atomically (temporary file, fsync, rename; see
    /// `AtomicFile`), so `url` holds either the previous version or the complete new one.
    /// - Throws: `SafeTensorsError.invalidName` or `OutputError` naming the path.
    public static func write(_ tensors: [String: SafeTensor], metadata: [String: String] = [:], to url: URL) throws {
        let bytes = try encode(tensors, metadata: metadata, file: url.path)
        try AtomicFile.write(Data(bytes), to: url)
    }

    /// A JSON string literal for `s` (see `jsonStringLiteral`).
    package static func jsonString(_ s: String) -> String { jsonStringLiteral(s) }
}

/// True on little-endian hosts (x86-64, arm64), where IEEE scalars are stored as safetensors stores them.
let hostIsLittleEndian = 1.littleEndian == 1

// MARK: - UTF-8 validation

/// Offset of the first byte that starts an invalid UTF-8 sequence (overlong forms, surrogates
/// and code points above U+10FFFF are invalid), or nil when `b` is valid UTF-8.
func firstInvalidUTF8(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
    var i = 0
    let n = b.count
    while i < n {
        let c = b[i]
        if c < 0x80 { i += 1; continue }
        var need = 0
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: return i
        }
        guard i + need < n else { return i }
        if b[i + 1] < lo || b[i + 1] > hi { return i }
        var k = 2
        while k <= need {
            if b[i + k] < 0x80 || b[i + k] > 0xBF { return i }
            k += 1
        }
        i += need + 1
    }
    return nil
}

// MARK: - Header parser

/// One tensor entry of the header, validated field by field.
struct SafeTensorsEntry {
    var name: String
    var dtype: SafeTensorsDType
    var shape: [Int]
    var begin: Int
    var end: Int
}

/// A schema-driven JSON parser for the safetensors header: it builds only what the format
/// needs (metadata strings, tensor entries with at most `maxRank` dimensions), skips unknown
/// fields without building them, limits nesting depth, and reads integers exactly.
struct SafeTensorsHeaderParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let file: String
    let fileOffset: Int
    let maxRank: Int
    var i = 0
    static let maxDepth = 64

    init(bytes: UnsafeBufferPointer<UInt8>, file: String, fileOffset: Int, maxRank: Int) {
        self.bytes = bytes
        self.file = file
        self.fileOffset = fileOffset
        self.maxRank = maxRank
    }

    private func syntax(_ reason: String, at pos: Int? = nil) -> SafeTensorsError {
        .invalidJSON(file: file, offset: fileOffset + (pos ?? i), reason: reason)
    }

    private var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    private func describe(_ c: UInt8?) -> String {
        guard let c else { return "the end of the header" }
        if c >= 0x20 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return String(format: "byte 0x%02x", c)
    }

    private mutating func skipWhitespace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws {
        skipWhitespace()
        guard peek == c else { throw syntax("expected \(what), found \(describe(peek))") }
        i += 1
    }

    /// Parses `{ … }` calling `body(key)` for each member with `i` at the value.
    private mutating func parseObject(context: String, _ body: (inout SafeTensorsHeaderParser, String) throws -> Void) throws {
        try expect(UInt8(ascii: "{"), "'{'")
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw syntax("expected a string key, found \(describe(peek))") }
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw SafeTensorsError.duplicateKey(file: file, context: context, key: key)
            }
            try expect(UInt8(ascii: ":"), "':' after key \"\(key)\"")
            skipWhitespace()
            try body(&self, key)
            skipWhitespace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            if peek == UInt8(ascii: "}") { i += 1; return }
            throw syntax("expected ',' or '}' in \(context), found \(describe(peek))")
        }
    }

    /// Parses the whole header: `{` first (as the reference implementation requires),
    /// trailing whitespace only after the closing `}`.
    mutating func parseHeader() throws -> ([String: String], [SafeTensorsEntry]) {
        guard peek == UInt8(ascii: "{") else { throw syntax("expected the header to start with '{', found \(describe(peek))") }
        var metadata: [String: String] = [:]
        var entries: [SafeTensorsEntry] = []
        try parseObject(context: "header") { p, key in
            if key == "__metadata__" {
                metadata = try p.parseMetadata()
            } else {
                entries.append(try p.parseEntry(name: key))
            }
        }
        skipWhitespace()
        if i < bytes.count { throw syntax("unexpected \(describe(peek)) after the header object") }
        return (metadata, entries)
    }

    private mutating func parseMetadata() throws -> [String: String] {
        guard peek == UInt8(ascii: "{") else {
            throw SafeTensorsError.invalidMetadata(file: file, key: nil, expected: "an object of string values, found \(describe(peek))")
        }
        var out: [String: String] = [:]
        try parseObject(context: "__metadata__") { p, key in
            guard p.peek == UInt8(ascii: "\"") else {
                throw SafeTensorsError.invalidMetadata(file: p.file, key: key, expected: "a string, found \(p.describe(p.peek))")
            }
            out[key] = try p.parseString()
        }
        return out
    }

    private mutating func parseEntry(name: String) throws -> SafeTensorsEntry {
        guard peek == UInt8(ascii: "{") else {
            throw SafeTensorsError.invalidField(file: file, tensor: name, field: "(entry)", expected: "an object with dtype, shape and data_offsets", found: describe(peek))
        }
        var dtype: SafeTensorsDType?
        var shape: [Int]?
        var offsets: [Int]?
        try parseObject(context: "tensor \"\(name)\"") { p, key in
            switch key {
            case "dtype":
                guard p.peek == UInt8(ascii: "\"") else {
                    throw SafeTensorsError.invalidField(file: p.file, tensor: name, field: "dtype", expected: "a string", found: p.describe(p.peek))
                }
                let s = try p.parseString()
                guard let d = SafeTensorsDType(rawValue: s) else {
                    throw SafeTensorsError.unknownDType(file: p.file, tensor: name, dtype: String(s.prefix(40)))
                }
                dtype = d
            case "shape":
                shape = try p.parseIntArray(tensor: name, field: "shape", maxCount: p.maxRank)
            case "data_offsets":
                let o = try p.parseIntArray(tensor: name, field: "data_offsets", maxCount: 2)
                guard o.count == 2 else {
                    throw SafeTensorsError.invalidField(file: p.file, tensor: name, field: "data_offsets",
                                                        expected: "[begin, end]", found: "\(o.count) numbers")
                }
                offsets = o
            default:
                try p.skipValue(depth: 1)
            }
        }
        guard let dtype else { throw missing(name, "dtype", "a dtype string such as \"F32\"") }
        guard let shape else { throw missing(name, "shape", "an array of non-negative integers") }
        guard let offsets else { throw missing(name, "data_offsets", "[begin, end]") }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    private func missing(_ tensor: String, _ field: String, _ expected: String) -> SafeTensorsError {
        .invalidField(file: file, tensor: tensor, field: field, expected: expected, found: "missing")
    }

    private mutating func parseIntArray(tensor: String, field: String, maxCount: Int) throws -> [Int] {
        guard peek == UInt8(ascii: "[") else {
            throw SafeTensorsError.invalidField(file: file, tensor: tensor, field: field,
                                                expected: "an array of non-negative integers", found: describe(peek))
        }
        i += 1
        var out: [Int] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { i += 1; return out }
        while true {
            skipWhitespace()
            guard out.count < maxCount else {
                throw SafeTensorsError.invalidField(file: file, tensor: tensor, field: field,
                                                    expected: "at most \(maxCount) numbers", found: "more")
            }
            out.append(try parseNonNegativeInt(tensor: tensor, field: "\(field)[\(out.count)]"))
            skipWhitespace()
            if peek == UInt8(ascii: ",") { i += 1; continue }
            if peek == UInt8(ascii: "]") { i += 1; return out }
            throw syntax("expected ',' or ']' in \(field) of tensor \"\(tensor)\", found \(describe(peek))")
        }
    }

    /// A non-negative JSON integer that fits in `Int` (no sign, fraction or exponent).
    private mutating func parseNonNegativeInt(tensor: String, field: String) throws -> Int {
        let start = i
        guard let c = peek, c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) else {
            throw SafeTensorsError.invalidField(file: file, tensor: tensor, field: field,
                                                expected: "a non-negative integer", found: describe(peek))
        }
        let plain = try scanNumber()
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard plain, bytes[start] != UInt8(ascii: "-") else {
            throw SafeTensorsError.invalidField(file: file, tensor: tensor, field: field,
                                                expected: "a non-negative integer", found: String(text.prefix(40)))
        }
        guard let v = Int(text) else {
            throw SafeTensorsError.invalidField(file: file, tensor: tensor, field: field,
                                                expected: "an integer ≤ \(Int.max)", found: String(text.prefix(40)))
        }
        return v
    }

    /// Scans a JSON number; returns true when it is an integer (no fraction or exponent).
    private mutating func scanNumber() throws -> Bool {
        var integer = true
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let c = peek, c >= 0x30 && c <= 0x39 else { throw syntax("expected a digit, found \(describe(peek))") }
        if c == 0x30 {
            i += 1
            if let d = peek, d >= 0x30 && d <= 0x39 { throw syntax("leading zero in a number") }
        } else {
            while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: ".") {
            integer = false
            i += 1
            guard let d = peek, d >= 0x30 && d <= 0x39 else { throw syntax("expected a digit after '.', found \(describe(peek))") }
            while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            integer = false
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard let d = peek, d >= 0x30 && d <= 0x39 else { throw syntax("expected a digit in the exponent, found \(describe(peek))") }
            while let d = peek, d >= 0x30 && d <= 0x39 { i += 1 }
        }
        return integer
    }

    /// Parses a JSON string (the opening quote at `i`); escapes decoded, control characters
    /// and lone surrogates rejected. The header was validated as UTF-8 beforehand.
    private mutating func parseString() throws -> String {
        i += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard let c = peek else { throw syntax("unterminated string") }
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw syntax("control character \(describe(c)) inside a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard let e = peek else { throw syntax("unterminated escape") }
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try parseHex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard peek == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                        throw syntax("lone high surrogate \\u\(String(scalar, radix: 16))")
                    }
                    i += 2
                    let low = try parseHex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw syntax("high surrogate not followed by a low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw syntax("lone low surrogate \\u\(String(scalar, radix: 16))")
                }
                out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw syntax("invalid escape \\\(describe(e))", at: i - 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func parseHex4() throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let c = peek else { throw syntax("unterminated \\u escape") }
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw syntax("expected a hex digit in \\u escape, found \(describe(c))")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Skips any JSON value without building it (for unknown fields), at most `maxDepth` deep.
    private mutating func skipValue(depth: Int) throws {
        guard depth <= SafeTensorsHeaderParser.maxDepth else { throw syntax("nesting deeper than \(SafeTensorsHeaderParser.maxDepth) levels") }
        skipWhitespace()
        guard let c = peek else { throw syntax("expected a value, found the end of the header") }
        switch c {
        case UInt8(ascii: "{"):
            try parseObject(context: "object") { p, _ in try p.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            i += 1
            skipWhitespace()
            if peek == UInt8(ascii: "]") { i += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                if peek == UInt8(ascii: "]") { i += 1; return }
                throw syntax("expected ',' or ']' in an array, found \(describe(peek))")
            }
        case UInt8(ascii: "\""):
            _ = try parseString()
        case UInt8(ascii: "-"), 0x30...0x39:
            _ = try scanNumber()
        default:
            for word in ["true", "false", "null"] {
                let w = Array(word.utf8)
                if i + w.count <= bytes.count && Array(bytes[i..<(i + w.count)]) == w { i += w.count; return }
            }
            throw syntax("expected a value, found \(describe(c))")
        }
    }
}
