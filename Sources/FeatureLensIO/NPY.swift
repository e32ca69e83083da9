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
// Supported here: dtypes `<f2` (float16), `<f4` (float32) and `<f8` (float64), C order or
// Fortran order, any rank. float16 values are converted exactly (every float16 is a float32 and
// a float64) and a Fortran-order (column-major) array is rearranged into C (row-major) order;
// the reading functions with a `notes` parameter report both. Everything else is a typed
// `NPYError` naming the file and the problem, and the declared data size is checked against
// the file size before anything is allocated.

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
    /// The dtype is big-endian (`>f2`, `>f4`, `>f8`); only little-endian data is read.
    case bigEndian(file: String, descr: String)
    /// Any dtype other than `<f2` / `<f4` / `<f8`.
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
        case .bigEndian(let f, let d):
            return "\(f): big-endian dtype '\(d)'; expected little-endian '<f2', '<f4' or '<f8' — save a.astype('<f4')"
        case .unsupportedDType(let f, let d):
            return "\(f): unsupported dtype '\(d)'; expected float16 '<f2', float32 '<f4' or float64 '<f8'"
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
    /// Little-endian IEEE 754 binary16 (half precision), descr `<f2`.
    case float16 = "<f2"
    /// Little-endian IEEE float32, descr `<f4`.
    case float32 = "<f4"
    /// Little-endian IEEE float64, descr `<f8`.
    case float64 = "<f8"

    /// Bytes per element.
    public var itemSize: Int {
        switch self { case .float16: return 2; case .float32: return 4; case .float64: return 8 }
    }
}

/// The parsed header of an NPY file.
public struct NPYHeader: Sendable, Equatable {
    /// Format version (major, minor).
    public var version: (major: Int, minor: Int)
    /// Element type.
    public var dtype: NPYDType
    /// Array shape (as NumPy reports it, whatever the order); `[]` for a 0-d array.
    public var shape: [Int]
    /// Byte offset of the data section from the start of the file.
    public var dataOffset: Int
    /// The data is stored in Fortran (column-major) order (`'fortran_order': True`); the
    /// decoder rearranges it into C order. False for C order, and for arrays whose order does
    /// not matter (at most one dimension larger than 1).
    public var fortranOrder: Bool = false

    public static func == (l: NPYHeader, r: NPYHeader) -> Bool {
        l.version == r.version && l.dtype == r.dtype && l.shape == r.shape && l.dataOffset == r.dataOffset
            && l.fortranOrder == r.fortranOrder
    }

    /// The sentence the readers report for a file that needed converting (float16 data,
    /// Fortran order), or nil when the data was read as stored. `target` names the type the
    /// values were converted to.
    public func conversionNote(file: String, target: String) -> String? {
        var parts: [String] = []
        if dtype == .float16 { parts.append("float16 values ('<f2') converted exactly to \(target)") }
        if fortranOrder { parts.append("Fortran-order (column-major) array of shape \(shape) rearranged into row-major (C) order") }
        return parts.isEmpty ? nil : "\(file): " + parts.joined(separator: "; ")
    }
}

/// Reading and writing NumPy `.npy` files (float16 / float32 / float64, little-endian; C order,
/// and Fortran order when reading).
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
        case "<f2": dtype = .float16
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        case ">f2", ">f4", ">f8": throw NPYError.bigEndian(file: file, descr: descr)
        default: throw NPYError.unsupportedDType(file: file, descr: descr)
        }
        // With at most one dimension above 1, both orders store the same sequence.
        let fortranMatters = fortran && shape.filter({ $0 > 1 }).count > 1
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
        return NPYHeader(version: (major, minor), dtype: dtype, shape: shape, dataOffset: start + headerLength,
                         fortranOrder: fortranMatters)
    }

    /// Reads an NPY file into a `Tensor<Double>` of the stored shape, in C order (float16 and
    /// float32 data widened exactly, Fortran order rearranged).
    /// - Throws: `NPYError` (see the cases); the file's size is checked against the header before
    ///   any array is allocated.
    public static func read(_ url: URL) throws -> Tensor<Double> {
        var notes: [String] = []
        return try read(url, as: Double.self, notes: &notes)
    }

    /// Reads an NPY file into a tensor of scalar type `T` (converting from the stored dtype).
    /// - Throws: `NPYError`.
    public static func read<T: TensorScalar>(_ url: URL, as: T.Type) throws -> Tensor<T> {
        var notes: [String] = []
        return try read(url, as: T.self, notes: &notes)
    }

    /// Reads an NPY file into a tensor of scalar type `T`, appending to `notes` one sentence
    /// naming the file when it needed converting (float16 data, Fortran order; see
    /// `NPYHeader.conversionNote`).
    /// - Throws: `NPYError`.
    public static func read<T: TensorScalar>(_ url: URL, as: T.Type, notes: inout [String]) throws -> Tensor<T> {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw NPYError.unreadable(file: file, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, file: file, as: T.self, notes: &notes)
    }

    /// Decodes the bytes of a whole NPY file. `file` names the source in errors.
    /// - Throws: `NPYError`.
    public static func decode<T: TensorScalar>(_ data: Data, file: String, as: T.Type) throws -> Tensor<T> {
        var notes: [String] = []
        return try decode(data, file: file, as: T.self, notes: &notes)
    }

    /// Decodes the bytes of a whole NPY file into C order, appending the conversion note (see
    /// `NPYHeader.conversionNote`) to `notes` when float16 data or Fortran order was converted.
    /// `file` names the source in errors and notes.
    /// - Throws: `NPYError`.
    public static func decode<T: TensorScalar>(_ data: Data, file: String, as: T.Type,
                                               notes: inout [String]) throws -> Tensor<T> {
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
            if storedAsIs(header.dtype, T.self) {
                // The file's bytes are the array's bytes: one copy.
                out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: expected)) }
                return
            }
            switch header.dtype {
            case .float16:
                for i in 0..<count {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = T(halfToDouble(bits))
                }
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
        if header.fortranOrder { out = fortranToC(out, shape: header.shape) }
        if let note = header.conversionNote(file: file, target: T.self == Float.self ? "float32" : "float64") {
            notes.append(note)
        }
        return Tensor(shape: header.shape, scalars: out)
    }

    /// The exact value of an IEEE 754 binary16 bit pattern: sign, 5 exponent bits (bias 15),
    /// 10 fraction bits; subnormals are fraction · 2⁻²⁴, exponent 31 is ±∞ or NaN.
    /// Every binary16 value is a float32 and a float64, so the result is exact.
    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10 & 0x1F)
        let fraction = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction * 0x1p-10) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// The binary16 bit pattern nearest to `x` (round to nearest, ties to even; beyond the
    /// largest finite binary16, 65504, values from 65520 on become ±∞; NaN becomes a quiet NaN).
    static func doubleToHalf(_ x: Double) -> UInt16 {
        let sign: UInt16 = x.sign == .minus ? 0x8000 : 0
        if x.isNaN { return 0x7E00 }
        let a = abs(x)
        if a >= 65520 { return sign | 0x7C00 }
        if a < 0x1p-14 {
            // Subnormal (or zero): a multiple of 2⁻²⁴; 1024 · 2⁻²⁴ rounds up to the smallest normal.
            return sign | UInt16((a * 0x1p24).rounded(.toNearestOrEven))
        }
        var e = Int(a.exponent)
        var m = ((a.significand - 1) * 1024).rounded(.toNearestOrEven)
        if m == 1024 { m = 0; e += 1 }
        if e > 15 { return sign | 0x7C00 }
        return sign | UInt16(e + 15) << 10 | UInt16(m)
    }

    /// Whether `dtype` data and an array of `T` have the same bytes (float32 and `Float`, float64
    /// and `Double`, on a little-endian machine), so reading and writing is one copy.
    static func storedAsIs<T>(_ dtype: NPYDType, _: T.Type) -> Bool {
        guard 1.littleEndian == 1 else { return false }
        return (dtype == .float32 && T.self == Float.self) || (dtype == .float64 && T.self == Double.self)
    }

    /// Rearranges `values`, the elements of an array of `shape` in Fortran order (first index
    /// fastest), into C order (last index fastest).
    static func fortranToC<T>(_ values: [T], shape: [Int]) -> [T] {
        guard shape.count > 1, !values.isEmpty else { return values }
        var out = values
        // C strides; walk the Fortran sequence with a running multi-index.
        var cStride = [Int](repeating: 1, count: shape.count)
        for k in stride(from: shape.count - 2, through: 0, by: -1) { cStride[k] = cStride[k + 1] * shape[k + 1] }
        var index = [Int](repeating: 0, count: shape.count)
        var c = 0
        for f in 0..<values.count {
            out[c] = values[f]
            // Increment the multi-index, first dimension fastest, keeping c = Σ index[k]·cStride[k].
            var k = 0
            while k < shape.count {
                index[k] += 1
                c += cStride[k]
                if index[k] < shape[k] { break }
                c -= cStride[k] * shape[k]
                index[k] = 0
                k += 1
            }
        }
        return out
    }

    /// Reads a 2-D NPY array `[n, p]` (an embedding matrix).
    /// - Throws: `NPYError.wrongRank` for any other rank, plus the errors of `read`.
    public static func readMatrix(_ url: URL) throws -> Tensor<Double> {
        var notes: [String] = []
        return try readMatrix(url, notes: &notes)
    }

    /// Reads a 2-D NPY array `[n, p]`, appending a note naming the file when float16 data or
    /// Fortran order was converted.
    /// - Throws: `NPYError.wrongRank` for any other rank, plus the errors of `read`.
    public static func readMatrix(_ url: URL, notes: inout [String]) throws -> Tensor<Double> {
        let t = try read(url, as: Double.self, notes: &notes)
        guard t.rank == 2 else { throw NPYError.wrongRank(file: url.path, expected: 2, shape: t.shape) }
        return t
    }

    /// Encodes a tensor as NPY version 1.0 bytes (C order, little-endian; header padded so the
    /// data starts at a multiple of 64 bytes, as NumPy does). `.float16` rounds each value to
    /// the nearest binary16 (ties to even).
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
        if storedAsIs(dtype, T.self) {
            tensor.scalars.withUnsafeBytes { d.append(contentsOf: $0) }
            return d
        }
        switch dtype {
        case .float16:
            for x in tensor.scalars {
                let v = doubleToHalf(x.doubleValue).littleEndian
                withUnsafeBytes(of: v) { d.append(contentsOf: $0) }
            }
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
