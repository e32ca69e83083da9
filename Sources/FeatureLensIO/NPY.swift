import Foundation

// NumPy `.npy` reader and writer.
//
// Format (NumPy Enhancement Proposal 1, "A simple file format for NumPy arrays", and
// `numpy.lib.format`): the magic string "\x93NUMPY", one byte major version, one byte minor
// version, the header length (little-endian UInt16 for version 1.0, UInt32 for 2.0 and 3.0),
// then an ASCII (1.0, 2.0) or UTF-8 (3.0) Python dict literal such as
// `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 128), }` padded with spaces and a
// final newline, then the raw array data.
//
// Supported here: dtypes `<f4` (float32) and `<f8` (float64), C order, any rank. Everything
// else is a typed `NPYError` naming the file and the problem, and the declared data size is
// checked against the file size before anything is allocated.

/// Errors raised while reading or writing a `.npy` file. Every case names the file.
public enum NPYError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(file: String, reason: String)
    /// The file does not start with "\x93NUMPY".
    case notNPY(file: String)
    /// A format version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(file: String, major: Int, minor: Int)
    /// The header dict could not be parsed (`reason` says where).
    case malformedHeader(file: String, reason: String)
    /// The array is stored in Fortran (column-major) order; only C order is read.
    case fortranOrder(file: String)
    /// The dtype is big-endian (`>f4`, `>f8`); only little-endian data is read.
    case bigEndian(file: String, descr: String)
    /// Any dtype other than `<f4` / `<f8`.
    case unsupportedDType(file: String, descr: String)
    /// The product of the dimensions (or its byte size) overflows `Int`.
    case shapeOverflow(file: String, shape: String)
    /// The data section is shorter or longer than the header's shape needs.
    case sizeMismatch(file: String, expectedBytes: Int, actualBytes: Int)
    /// The array does not have the rank the caller needs.
    case wrongRank(file: String, expected: Int, shape: [Int])
    /// Writing failed.
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read NPY file: \(r)"
        case .notNPY(let f): return "\(f): not an NPY file (expected the magic string \\x93NUMPY)"
        case .unsupportedVersion(let f, let a, let b):
            return "\(f): unsupported NPY format version \(a).\(b) (expected 1.0, 2.0 or 3.0)"
        case .malformedHeader(let f, let r): return "\(f): malformed NPY header: \(r)"
        case .fortranOrder(let f):
            return "\(f): array is in Fortran order (fortran_order: True); expected C order — save np.ascontiguousarray(a)"
        case .bigEndian(let f, let d):
            return "\(f): big-endian dtype '\(d)'; expected little-endian '<f4' or '<f8' — save a.astype('<f4')"
        case .unsupportedDType(let f, let d):
            return "\(f): unsupported dtype '\(d)'; expected float32 '<f4' or float64 '<f8'"
        case .shapeOverflow(let f, let s): return "\(f): shape \(s) is too large (element count overflows)"
        case .sizeMismatch(let f, let e, let a):
            return "\(f): data section has \(a) bytes but the header's shape and dtype need \(e) (truncated or corrupt file)"
        case .wrongRank(let f, let e, let s):
            return "\(f): expected a \(e)-D array, found shape \(s)"
        case .unwritable(let f, let r): return "\(f): cannot write NPY file: \(r)"
        }
    }
}

/// The element type of an NPY array.
public enum NPYDType: String, Sendable, Equatable {
    /// Little-endian IEEE float32, descr `<f4`.
    case float32 = "<f4"
    /// Little-endian IEEE float64, descr `<f8`.
    case float64 = "<f8"

    /// Bytes per element.
    public var itemSize: Int { self == .float32 ? 4 : 8 }
}

/// The parsed header of an NPY file.
public struct NPYHeader: Sendable, Equatable {
    /// Format version (major, minor).
    public var version: (major: Int, minor: Int)
    /// Element type.
    public var dtype: NPYDType
    /// Array shape (C order); `[]` for a 0-d array.
    public var shape: [Int]
    /// Byte offset of the data section from the start of the file.
    public var dataOffset: Int

    public static func == (l: NPYHeader, r: NPYHeader) -> Bool {
        l.version == r.version && l.dtype == r.dtype && l.shape == r.shape && l.dataOffset == r.dataOffset
    }
}

/// Reading and writing NumPy `.npy` files (float32 / float64, little-endian, C order).
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    /// Parses the header of an in-memory NPY file.
    /// - Parameters: `bytes`: the whole file; `file`: the name used in errors.
    /// - Throws: `NPYError` for a bad magic, version, header, dtype, order or shape. Does not
    ///   check the data size (see `read`).
    public static func parseHeader(_ bytes: Data, file: String) throws -> NPYHeader {
        let b = [UInt8](bytes.prefix(12))
        guard b.count >= 8, Array(b[0..<6]) == magic else { throw NPYError.notNPY(file: file) }
        let major = Int(b[6]), minor = Int(b[7])
        let headerLength: Int, start: Int
        switch major {
        case 1:
            guard b.count >= 10 else { throw NPYError.malformedHeader(file: file, reason: "file ends inside the header length") }
            headerLength = Int(b[8]) | Int(b[9]) << 8
            start = 10
        case 2, 3:
            guard b.count >= 12 else { throw NPYError.malformedHeader(file: file, reason: "file ends inside the header length") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            start = 12
        default:
            throw NPYError.unsupportedVersion(file: file, major: major, minor: minor)
        }
        guard minor == 0 else { throw NPYError.unsupportedVersion(file: file, major: major, minor: minor) }
        guard bytes.count >= start + headerLength else {
            throw NPYError.malformedHeader(file: file,
                reason: "header declares \(headerLength) bytes but the file has only \(bytes.count - start) after the preamble")
        }
        let headerBytes = bytes.subdata(in: (bytes.startIndex + start)..<(bytes.startIndex + start + headerLength))
        let text: String?
        if major == 3 { text = String(data: headerBytes, encoding: .utf8) } else { text = String(data: headerBytes, encoding: .isoLatin1) }
        guard let text else { throw NPYError.malformedHeader(file: file, reason: "header is not valid text") }
        var parser = NPYHeaderParser(text: text, file: file)
        let dict = try parser.parseDict()

        guard case .string(let descr)? = dict["descr"] else {
            throw NPYError.malformedHeader(file: file, reason: "missing or non-string 'descr'")
        }
        guard case .bool(let fortran)? = dict["fortran_order"] else {
            throw NPYError.malformedHeader(file: file, reason: "missing or non-boolean 'fortran_order'")
        }
        guard case .tuple(let shape)? = dict["shape"] else {
            throw NPYError.malformedHeader(file: file, reason: "missing or non-tuple 'shape'")
        }
        let dtype: NPYDType
        switch descr {
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        case ">f4", ">f8": throw NPYError.bigEndian(file: file, descr: descr)
        default: throw NPYError.unsupportedDType(file: file, descr: descr)
        }
        if fortran && shape.count > 1 && shape.filter({ $0 > 1 }).count > 1 {
            throw NPYError.fortranOrder(file: file)
        }
        // Overflow checks on the element count and the byte size.
        var count = 1
        for d in shape {
            let (c, o) = count.multipliedReportingOverflow(by: d)
            if o { throw NPYError.shapeOverflow(file: file, shape: "\(shape)") }
            count = c
        }
        if count.multipliedReportingOverflow(by: dtype.itemSize).overflow {
            throw NPYError.shapeOverflow(file: file, shape: "\(shape)")
        }
        return NPYHeader(version: (major, minor), dtype: dtype, shape: shape, dataOffset: start + headerLength)
    }

    /// Reads an NPY file into a `Tensor<Double>` of the stored shape (float32 data widened exactly).
    /// - Throws: `NPYError` (see the cases); the file's size is checked against the header before
    ///   any array is allocated.
    public static func read(_ url: URL) throws -> Tensor<Double> {
        try read(url, as: Double.self)
    }

    /// Reads an NPY file into a tensor of scalar type `T` (converting from the stored dtype).
    /// - Throws: `NPYError`.
    public static func read<T: TensorScalar>(_ url: URL, as: T.Type) throws -> Tensor<T> {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw NPYError.unreadable(file: file, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, file: file, as: T.self)
    }

    /// Decodes the bytes of a whole NPY file. `file` names the source in errors.
    /// - Throws: `NPYError`.
    public static func decode<T: TensorScalar>(_ data: Data, file: String, as: T.Type) throws -> Tensor<T> {
        let header = try parseHeader(data, file: file)
        let count = header.shape.reduce(1, *)
        let expected = count * header.dtype.itemSize
        let actual = data.count - header.dataOffset
        guard actual == expected else {
            throw NPYError.sizeMismatch(file: file, expectedBytes: expected, actualBytes: actual)
        }
        var out = [T](repeating: 0, count: count)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + header.dataOffset
            switch header.dtype {
            case .float32:
                for i in 0..<count {
                    let bits = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    out[i] = T(Double(Float(bitPattern: bits)))
                }
            case .float64:
                for i in 0..<count {
                    let bits = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                    out[i] = T(Double(bitPattern: bits))
                }
            }
        }
        return Tensor(shape: header.shape, scalars: out)
    }

    /// Reads a 2-D NPY array `[n, p]` (an embedding matrix).
    /// - Throws: `NPYError.wrongRank` for any other rank, plus the errors of `read`.
    public static func readMatrix(_ url: URL) throws -> Tensor<Double> {
        let t = try read(url)
        guard t.rank == 2 else { throw NPYError.wrongRank(file: url.path, expected: 2, shape: t.shape) }
        return t
    }

    /// Encodes a tensor as NPY version 1.0 bytes (C order, little-endian; header padded so the
    /// data starts at a multiple of 64 bytes, as NumPy does).
    public static func encode<T: TensorScalar>(_ tensor: Tensor<T>, dtype: NPYDType = .float32) -> Data {
        let shapeText: String
        switch tensor.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data(magic + [1, 0])
        let hl = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(hl & 0xFF), UInt8(hl >> 8)])
        d.append(contentsOf: Array(header.utf8))
        d.reserveCapacity(d.count + tensor.count * dtype.itemSize)
        switch dtype {
        case .float32:
            for x in tensor.scalars {
                let v = Float(x.doubleValue).bitPattern.littleEndian
                withUnsafeBytes(of: v) { d.append(contentsOf: $0) }
            }
        case .float64:
            for x in tensor.scalars {
                let v = x.doubleValue.bitPattern.littleEndian
                withUnsafeBytes(of: v) { d.append(contentsOf: $0) }
            }
        }
        return d
    }

    /// Writes a tensor as an NPY file, atomically (`AtomicFile`: temporary file, then rename).
    /// - Throws: `NPYError.unwritable`.
    public static func write<T: TensorScalar>(_ tensor: Tensor<T>, to url: URL, dtype: NPYDType = .float32) throws {
        do {
            try AtomicFile.write(encode(tensor, dtype: dtype), to: url)
        } catch {
            throw NPYError.unwritable(file: url.path, reason: "\(error)")
        }
    }
}

/// A value of the tiny Python-literal subset used in NPY headers.
enum NPYHeaderValue: Equatable {
    case string(String)
    case bool(Bool)
    case tuple([Int])
}

/// Recursive-descent parser for `{'key': value, ...}` with string, bool and int-tuple values.
struct NPYHeaderParser {
    let chars: [Character]
    let file: String
    var i = 0

    init(text: String, file: String) {
        chars = Array(text)
        self.file = file
    }

    func fail(_ what: String) -> NPYError {
        .malformedHeader(file: file, reason: "\(what) at character \(i)")
    }

    mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard i < chars.count, chars[i] == c else { throw fail("expected '\(c)'") }
        i += 1
    }

    mutating func parseString() throws -> String {
        skipSpace()
        guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else { throw fail("expected a quoted string") }
        let q = chars[i]; i += 1
        var s = ""
        while i < chars.count, chars[i] != q { s.append(chars[i]); i += 1 }
        guard i < chars.count else { throw fail("unterminated string") }
        i += 1
        return s
    }

    mutating func parseInt() throws -> Int {
        skipSpace()
        var s = ""
        while i < chars.count, chars[i].isASCII, chars[i].isNumber || (s.isEmpty && chars[i] == "-") {
            s.append(chars[i]); i += 1
        }
        // Python 2 long suffix, as very old NumPy wrote it.
        if i < chars.count, chars[i] == "L" { i += 1 }
        guard let v = Int(s) else {
            throw s.isEmpty || s == "-" ? fail("expected an integer") : fail("dimension \(s) does not fit in Int")
        }
        guard v >= 0 else { throw fail("negative dimension \(v)") }
        return v
    }

    mutating func parseValue() throws -> NPYHeaderValue {
        skipSpace()
        guard i < chars.count else { throw fail("unexpected end of header") }
        switch chars[i] {
        case "'", "\"": return .string(try parseString())
        case "(":
            i += 1
            var dims: [Int] = []
            skipSpace()
            if i < chars.count, chars[i] == ")" { i += 1; return .tuple(dims) }
            while true {
                dims.append(try parseInt())
                skipSpace()
                guard i < chars.count else { throw fail("unterminated shape tuple") }
                if chars[i] == "," {
                    i += 1; skipSpace()
                    if i < chars.count, chars[i] == ")" { i += 1; return .tuple(dims) }
                } else if chars[i] == ")" {
                    i += 1; return .tuple(dims)
                } else {
                    throw fail("expected ',' or ')' in shape tuple")
                }
            }
        default:
            var word = ""
            while i < chars.count, chars[i].isLetter { word.append(chars[i]); i += 1 }
            if word == "True" { return .bool(true) }
            if word == "False" { return .bool(false) }
            throw fail("unexpected value '\(word)'")
        }
    }

    mutating func parseDict() throws -> [String: NPYHeaderValue] {
        try expect("{")
        var out: [String: NPYHeaderValue] = [:]
        while true {
            skipSpace()
            guard i < chars.count else { throw fail("unterminated dict") }
            if chars[i] == "}" { i += 1; break }
            let key = try parseString()
            try expect(":")
            out[key] = try parseValue()
            skipSpace()
            guard i < chars.count else { throw fail("unterminated dict") }
            if chars[i] == "," { i += 1; continue }
            if chars[i] == "}" { i += 1; break }
            throw fail("expected ',' or '}'")
        }
        skipSpace()
        guard i == chars.count else { throw fail("trailing characters after the dict") }
        return out
    }
}
