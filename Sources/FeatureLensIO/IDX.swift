// IDX files (LeCun, Cortes & Burges, "The MNIST database of handwritten digits"), raw or
// gzip-compressed, read without trusting the header.
//
// Layout: bytes 0–1 are zero, byte 2 is the element type (0x08 ubyte, 0x09 sbyte,
// 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), byte 3 is the number of dimensions
// d; then d big-endian 32-bit extents; then the elements, big-endian, row-major.
//
// Safety: the payload is read incrementally and compared with the size the header implies
// (computed with overflow checks, capped by `IDXLimits`), so a lying header never causes a
// large allocation; gzip is inflated by the system zlib in a streaming loop that stops at
// the size the header allows.
import CZlib
import Foundation
import FeatureLensNumerics

// MARK: - Errors

/// A malformed or unreadable IDX file. Every case names the file and the offending field.
public enum IDXError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (`reason` from the system).
    case unreadable(file: String, reason: String)
    /// The file (or its decompressed content) has no bytes at all.
    case empty(file: String)
    /// The file ended inside a header field (`field` is "magic" or "dimension k").
    case truncatedHeader(file: String, field: String, needed: Int, available: Int)
    /// Bytes 0–1 of the magic number are not `00 00`.
    case badMagic(file: String, found: [UInt8])
    /// Byte 2 of the magic number is not a known element type.
    case unknownElementType(file: String, code: UInt8)
    /// Byte 3 of the magic number (the dimension count) is outside `allowed`.
    case badDimensionCount(file: String, count: Int, allowed: ClosedRange<Int>)
    /// Dimension `index` (0-based) is zero, or ≥ 2³¹ (negative as a signed int32).
    case badDimension(file: String, index: Int, value: UInt32)
    /// The product of the extents times the element size overflows a 64-bit integer.
    case sizeOverflow(file: String, shape: [Int])
    /// The payload the header implies exceeds the configured limit.
    case tooLarge(file: String, bytes: Int, limit: Int)
    /// The payload is shorter than the header implies (`found` bytes after the header).
    case dataTooShort(file: String, expected: Int, found: Int)
    /// The file holds more bytes after the payload the header implies.
    case trailingData(file: String, expected: Int)
    /// The gzip stream is corrupt or truncated.
    case gzip(file: String, reason: String)
    /// The file is a valid IDX file but not of the kind the caller needs (e.g. images must
    /// be ubyte with 3 dimensions).
    case unexpectedContent(file: String, field: String, expected: String, found: String)
    /// A floating-point element is NaN or infinite.
    case nonFinite(file: String, elementIndex: Int)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read IDX file: \(reason)"
        case let .empty(file):
            return "\(file): empty file (expected an IDX header of at least 4 bytes)"
        case let .truncatedHeader(file, field, needed, available):
            return "\(file): truncated IDX header: field \(field) needs \(needed) bytes, only \(available) present"
        case let .badMagic(file, found):
            let hex = found.map { String(format: "%02x", $0) }.joined(separator: " ")
            return "\(file): wrong IDX magic number: expected bytes 00 00 <type> <ndims>, found \(hex)"
        case let .unknownElementType(file, code):
            return "\(file): unknown IDX element type 0x\(String(format: "%02x", code)) in magic byte 2 "
                + "(expected 08 ubyte, 09 sbyte, 0b int16, 0c int32, 0d float32 or 0e float64)"
        case let .badDimensionCount(file, count, allowed):
            return "\(file): IDX dimension count (magic byte 3) is \(count), expected \(allowed.lowerBound)…\(allowed.upperBound)"
        case let .badDimension(file, index, value):
            let shown = value >= 0x8000_0000 ? "\(value) (negative as int32: \(Int32(bitPattern: value)))" : "\(value)"
            return "\(file): IDX dimension \(index) is \(shown), expected 1…\(Int32.max)"
        case let .sizeOverflow(file, shape):
            return "\(file): IDX dimensions \(shape) overflow when multiplied (payload size is not representable)"
        case let .tooLarge(file, bytes, limit):
            return "\(file): IDX header implies a payload of \(bytes) bytes, above the limit of \(limit) bytes"
        case let .dataTooShort(file, expected, found):
            return "\(file): IDX data length: the dimensions imply \(expected) bytes of data, the file holds \(found)"
        case let .trailingData(file, expected):
            return "\(file): IDX data length: the dimensions imply \(expected) bytes of data, the file holds more"
        case let .gzip(file, reason):
            return "\(file): gzip stream: \(reason)"
        case let .unexpectedContent(file, field, expected, found):
            return "\(file): IDX \(field): expected \(expected), found \(found)"
        case let .nonFinite(file, index):
            return "\(file): IDX element \(index) is NaN or infinite (expected finite values)"
        }
    }
}

// MARK: - Element types and limits

/// The element type encoded in byte 2 of an IDX magic number.
public enum IDXElementType: UInt8, Sendable, CaseIterable {
    case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E
    /// Bytes per element (1, 1, 2, 4, 4, 8).
    public var byteCount: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }
}

/// Safety limits for reading IDX files.
public struct IDXLimits: Sendable, Equatable {
    /// Largest payload (elements × element size, in bytes) accepted; also caps gzip
    /// decompression. Default 1 GiB (the Fashion-MNIST training images are 47 MB).
    public var maxPayloadBytes: Int
    /// Largest dimension count accepted (default 8).
    public var maxDimensions: Int
    /// - Parameters: see the properties.
    public init(maxPayloadBytes: Int = 1 << 30, maxDimensions: Int = 8) {
        self.maxPayloadBytes = maxPayloadBytes
        self.maxDimensions = maxDimensions
    }
}

// MARK: - Array

/// A decoded IDX array: element type, shape and the raw big-endian payload.
public struct IDXArray: Sendable, Equatable {
    /// The file it came from (for error messages).
    public var file: String
    /// Element type from magic byte 2.
    public var elementType: IDXElementType
    /// Extents, outermost first (e.g. `[n, rows, cols]` for images).
    public var shape: [Int]
    /// The payload exactly as stored: `shape.product × elementType.byteCount` big-endian bytes.
    public var payload: [UInt8]

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The elements converted to `Double` (big-endian decoding per element type).
    /// - Throws: `IDXError.nonFinite` for a NaN or infinite float element.
    public func doubleValues() throws -> [Double] {
        var out = [Double](repeating: 0, count: count)
        payload.withUnsafeBufferPointer { p in
            for i in 0..<out.count {
                switch elementType {
                case .uint8: out[i] = Double(p[i])
                case .int8: out[i] = Double(Int8(bitPattern: p[i]))
                case .int16: out[i] = Double(Int16(bitPattern: UInt16(p[2 * i]) << 8 | UInt16(p[2 * i + 1])))
                case .int32: out[i] = Double(Int32(bitPattern: Self.be32(p, 4 * i)))
                case .float32: out[i] = Double(Float(bitPattern: Self.be32(p, 4 * i)))
                case .float64:
                    let hi = UInt64(Self.be32(p, 8 * i)), lo = UInt64(Self.be32(p, 8 * i + 4))
                    out[i] = Double(bitPattern: hi << 32 | lo)
                }
            }
        }
        if elementType == .float32 || elementType == .float64,
           let bad = out.firstIndex(where: { !$0.isFinite }) {
            throw IDXError.nonFinite(file: file, elementIndex: bad)
        }
        return out
    }

    @inline(__always)
    static func be32(_ p: UnsafeBufferPointer<UInt8>, _ o: Int) -> UInt32 {
        UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3])
    }
}

// MARK: - Reader

/// Reader and writer for IDX files (raw or gzip-compressed, detected by the gzip magic
/// `1f 8b`).
public enum IDX {
    /// Reads and validates an IDX file.
    /// - Parameters:
    ///   - url: the file (raw or `.gz`; the content decides, not the name).
    ///   - limits: safety limits (payload size cap, dimension count).
    /// - Throws: `IDXError` naming the file and the field (magic, dimension k, data length,
    ///   gzip stream).
    public static func read(contentsOf url: URL, limits: IDXLimits = IDXLimits()) throws -> IDXArray {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw IDXError.unreadable(file: file, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, file: file, limits: limits)
    }

    /// Decodes an IDX file held in memory (raw or gzip-compressed).
    /// - Parameter file: the name used in error messages.
    /// - Throws: `IDXError` (see `read(contentsOf:limits:)`).
    public static func decode(_ data: Data, file: String, limits: IDXLimits = IDXLimits()) throws -> IDXArray {
        if data.isEmpty { throw IDXError.empty(file: file) }
        var source: ByteSource
        if data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B {
            do {
                source = .gzip(try GzipInflater(Array(data), file: file))
            } catch let e as GzipError {
                throw IDXError.gzip(file: file, reason: e.reason)
            }
        } else {
            source = .raw(data, data.startIndex)
        }
        do {
            return try parse(&source, file: file, limits: limits)
        } catch let e as GzipError {
            throw IDXError.gzip(file: file, reason: e.reason)
        }
    }

    private static func parse(_ source: inout ByteSource, file: String, limits: IDXLimits) throws -> IDXArray {
        let magic = try source.read(4)
        if magic.isEmpty { throw IDXError.empty(file: file) }
        // Check what is present of the magic before complaining about its length.
        if magic[0] != 0 || (magic.count > 1 && magic[1] != 0) { throw IDXError.badMagic(file: file, found: magic) }
        guard magic.count == 4 else {
            throw IDXError.truncatedHeader(file: file, field: "magic", needed: 4, available: magic.count)
        }
        guard let type = IDXElementType(rawValue: magic[2]) else {
            throw IDXError.unknownElementType(file: file, code: magic[2])
        }
        let ndims = Int(magic[3])
        let allowed = 1...max(1, limits.maxDimensions)
        guard allowed.contains(ndims) else {
            throw IDXError.badDimensionCount(file: file, count: ndims, allowed: allowed)
        }
        var shape: [Int] = []
        for k in 0..<ndims {
            let b = try source.read(4)
            guard b.count == 4 else {
                throw IDXError.truncatedHeader(file: file, field: "dimension \(k)", needed: 4, available: b.count)
            }
            let v = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
            guard v > 0 && v < 0x8000_0000 else { throw IDXError.badDimension(file: file, index: k, value: v) }
            shape.append(Int(v))
        }
        var bytes = type.byteCount
        for e in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: e)
            if overflow { throw IDXError.sizeOverflow(file: file, shape: shape) }
            bytes = p
        }
        guard bytes <= limits.maxPayloadBytes else {
            throw IDXError.tooLarge(file: file, bytes: bytes, limit: limits.maxPayloadBytes)
        }
        let payload = try source.read(bytes)
        guard payload.count == bytes else {
            throw IDXError.dataTooShort(file: file, expected: bytes, found: payload.count)
        }
        // Drive a gzip stream to its end (this also checks its CRC) and reject extra bytes.
        if try !source.read(1).isEmpty { throw IDXError.trailingData(file: file, expected: bytes) }
        return IDXArray(file: file, elementType: type, shape: shape, payload: payload)
    }

    /// Reads an image file: ubyte, 3 dimensions `[n, rows, cols]`.
    /// - Parameters:
    ///   - limit: keep only the first `limit` images (the whole file is still validated).
    /// - Returns: `[min(n, limit), 1, rows, cols]`, pixels scaled from 0…255 to [0, 1].
    /// - Throws: `IDXError` (malformed file, or `.unexpectedContent` if it is not ubyte × 3).
    public static func readImages(contentsOf url: URL, limit: Int? = nil,
                                  limits: IDXLimits = IDXLimits()) throws -> Tensor<Float> {
        try images(from: read(contentsOf: url, limits: limits), limit: limit)
    }

    /// Converts a decoded ubyte `[n, rows, cols]` array to images `[n', 1, rows, cols]` in [0, 1].
    /// - Throws: `IDXError.unexpectedContent` for another type or rank.
    public static func images(from array: IDXArray, limit: Int? = nil) throws -> Tensor<Float> {
        guard array.elementType == .uint8 else {
            throw IDXError.unexpectedContent(file: array.file, field: "element type (magic byte 2)",
                                             expected: "0x08 (unsigned byte) for images",
                                             found: "\(array.elementType)")
        }
        guard array.shape.count == 3 else {
            throw IDXError.unexpectedContent(file: array.file, field: "dimension count (magic byte 3)",
                                             expected: "3 ([images, rows, columns])",
                                             found: "\(array.shape.count) (shape \(array.shape))")
        }
        let n = min(array.shape[0], max(0, limit ?? array.shape[0]))
        let h = array.shape[1], w = array.shape[2]
        let m = n * h * w
        var out = [Float](repeating: 0, count: m)
        array.payload.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<m { dst[i] = Float(src[i]) / 255 }
            }
        }
        return Tensor(shape: [n, 1, h, w], scalars: out)
    }

    /// Reads a label file: ubyte, 1 dimension `[n]`.
    /// - Parameter limit: keep only the first `limit` labels (the whole file is still validated).
    /// - Throws: `IDXError` (malformed file, or `.unexpectedContent` if it is not ubyte × 1).
    public static func readLabels(contentsOf url: URL, limit: Int? = nil,
                                  limits: IDXLimits = IDXLimits()) throws -> [Int] {
        try labels(from: read(contentsOf: url, limits: limits), limit: limit)
    }

    /// Converts a decoded ubyte `[n]` array to integer labels.
    /// - Throws: `IDXError.unexpectedContent` for another type or rank.
    public static func labels(from array: IDXArray, limit: Int? = nil) throws -> [Int] {
        guard array.elementType == .uint8 else {
            throw IDXError.unexpectedContent(file: array.file, field: "element type (magic byte 2)",
                                             expected: "0x08 (unsigned byte) for labels",
                                             found: "\(array.elementType)")
        }
        guard array.shape.count == 1 else {
            throw IDXError.unexpectedContent(file: array.file, field: "dimension count (magic byte 3)",
                                             expected: "1 ([labels])",
                                             found: "\(array.shape.count) (shape \(array.shape))")
        }
        let n = min(array.shape[0], max(0, limit ?? array.shape[0]))
        return array.payload[0..<n].map { Int($0) }
    }

    /// Encodes an IDX file (uncompressed): magic, big-endian extents, then `payload`.
    /// - Precondition: `payload.count == shape.product × type.byteCount`, extents in 1…2³¹−1.
    public static func encode(type: IDXElementType, shape: [Int], payload: [UInt8]) -> [UInt8] {
        precondition(shape.reduce(type.byteCount, *) == payload.count, "payload does not match shape \(shape)")
        var out: [UInt8] = [0, 0, type.rawValue, UInt8(shape.count)]
        for e in shape {
            let v = UInt32(e)
            out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        return out + payload
    }
}

/// Where IDX bytes come from: an in-memory (or mapped) raw file, or a gzip stream.
enum ByteSource {
    case raw(Data, Data.Index)
    case gzip(GzipInflater)

    /// Up to `count` bytes (fewer only at the end of the data).
    mutating func read(_ count: Int) throws -> [UInt8] {
        switch self {
        case let .raw(data, offset):
            let end = offset + min(count, data.endIndex - offset)
            self = .raw(data, end)
            return [UInt8](data[offset..<end])
        case let .gzip(inflater):
            return try inflater.read(count)
        }
    }
}

// MARK: - gzip through the system zlib

/// A gzip failure (corrupt or truncated stream, output cap exceeded).
public struct GzipError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the stream came from.
    public var file: String
    /// What went wrong (zlib's message where it gives one).
    public var reason: String
    public var description: String { "\(file): gzip stream: \(reason)" }
}

/// Streaming gzip inflation with zlib (`inflateInit2` with window bits 15 + 32: automatic
/// gzip/zlib header detection). Concatenated gzip members are inflated in sequence, as
/// gzip(1) does. Output is produced on demand, so callers decide how much to accept.
final class GzipInflater {
    let file: String
    private var input: [UInt8]
    private var offset = 0
    private var stream = z_stream()
    private var finished = false
    /// Bytes produced so far.
    private(set) var totalOut = 0

    init(_ bytes: [UInt8], file: String) throws {
        self.file = file
        self.input = bytes
        let rc = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw GzipError(file: file, reason: "zlib inflateInit2 failed (code \(rc))") }
    }

    deinit { inflateEnd(&stream) }

    /// Up to `count` decompressed bytes; fewer only when the stream has ended.
    /// - Throws: `GzipError` for a corrupt stream, a truncated stream, or trailing garbage.
    func read(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        let chunkSize = min(max(count, 1), 1 << 16)
        out.reserveCapacity(chunkSize)
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        while out.count < count && !finished {
            let want = min(count - out.count, chunkSize)
            let availIn = input.count - offset
            var rc: Int32 = Z_OK
            var produced = 0
            input.withUnsafeMutableBufferPointer { inp in
                chunk.withUnsafeMutableBufferPointer { outp in
                    stream.next_in = inp.baseAddress.map { $0 + offset }
                    stream.avail_in = UInt32(availIn)
                    stream.next_out = outp.baseAddress
                    stream.avail_out = UInt32(want)
                    rc = inflate(&stream, Z_NO_FLUSH)
                    produced = want - Int(stream.avail_out)
                }
            }
            let consumed = availIn - Int(stream.avail_in)
            offset += consumed
            stream.next_in = nil
            stream.next_out = nil
            out.append(contentsOf: chunk[0..<produced])
            totalOut += produced
            switch rc {
            case Z_STREAM_END:
                if offset >= input.count {
                    finished = true
                } else if input.count - offset >= 2 && input[offset] == 0x1F && input[offset + 1] == 0x8B {
                    inflateReset(&stream)  // next gzip member
                } else {
                    throw GzipError(file: file, reason: "\(input.count - offset) bytes of trailing garbage after the end of the gzip stream at offset \(offset)")
                }
            case Z_OK:
                if produced == 0 && consumed == 0 {
                    throw GzipError(file: file, reason: "no progress at compressed offset \(offset)")
                }
            case Z_BUF_ERROR:
                if offset >= input.count {
                    throw GzipError(file: file, reason: "truncated: the compressed data ends before the end-of-stream marker (after \(totalOut) decompressed bytes)")
                }
                throw GzipError(file: file, reason: "inflate made no progress at compressed offset \(offset)")
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "zlib error code \(rc)"
                throw GzipError(file: file, reason: "corrupt: \(msg) (at compressed offset \(offset))")
            }
        }
        return out
    }
}

/// gzip helpers over the system zlib.
public enum Gzip {
    /// Decompresses a whole gzip stream (all members), refusing to produce more than
    /// `maxOutputBytes`.
    /// - Throws: `GzipError` (corrupt, truncated, trailing garbage, or over the cap).
    public static func decompress(_ bytes: [UInt8], file: String, maxOutputBytes: Int = 1 << 30) throws -> [UInt8] {
        let inflater = try GzipInflater(bytes, file: file)
        let out = try inflater.read(maxOutputBytes)
        if try !inflater.read(1).isEmpty {
            throw GzipError(file: file, reason: "decompressed size exceeds the limit of \(maxOutputBytes) bytes")
        }
        return out
    }

    /// Compresses `bytes` into a single gzip member (zlib `deflateInit2`, window bits 15 + 16,
    /// header time stamp 0 so the output is reproducible).
    /// - Parameter level: zlib compression level 0…9.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        let rc = deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "zlib deflateInit2 failed (code \(rc))")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(bytes.count))) + 32
        var out = [UInt8](repeating: 0, count: bound)
        var input = bytes
        var written = 0
        input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { outp in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(inp.count)
                stream.next_out = outp.baseAddress
                stream.avail_out = UInt32(outp.count)
                let r = deflate(&stream, Z_FINISH)
                precondition(r == Z_STREAM_END, "zlib deflate did not finish (code \(r))")
                written = outp.count - Int(stream.avail_out)
            }
        }
        return Array(out[0..<written])
    }
}
