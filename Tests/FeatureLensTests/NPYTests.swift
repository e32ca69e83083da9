import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// Fixture folder of the audit tests (written once by Tools/audit/make_audit_fixtures.py).
func auditFixture(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures/audit/\(name)")
}

/// A fresh temporary folder for a test.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// NPY bytes with a hand-written header dict (version 1.0) followed by `dataBytes` zero bytes.
func npyBytes(header dict: String, dataBytes: Int, major: UInt8 = 1) -> Data {
    npyBytes(header: dict, data: [UInt8](repeating: 0, count: dataBytes), major: major)
}

/// Little-endian bytes of 16-bit patterns (an NPY data section of `<f2` values).
func littleEndian16(_ bits: [UInt16]) -> [UInt8] { bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }

/// NPY bytes with a hand-written header dict followed by the given data bytes.
func npyBytes(header dict: String, data: [UInt8], major: UInt8 = 1) -> Data {
    var h = dict
    let pre = major == 1 ? 10 : 12
    h += String(repeating: " ", count: (64 - (pre + h.utf8.count + 1) % 64) % 64) + "\n"
    var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0])
    let n = h.utf8.count
    if major == 1 { d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)]) }
    else { d.append(contentsOf: [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), 0, 0]) }
    d.append(contentsOf: Array(h.utf8))
    d.append(contentsOf: data)
    return d
}

@Suite struct NPYTests {
    let expected = (0..<15).map { Double($0) / 4 }

    @Test func readsFloat32AndFloat64WrittenByNumPy() throws {
        let a = try NPY.read(auditFixture("f32.npy"))
        #expect(a.shape == [5, 3])
        #expect(a.scalars == expected)
        let b = try NPY.read(auditFixture("f64.npy"))
        #expect(b.shape == [5, 3])
        #expect(b.scalars == expected.map { $0 - 1 })
        let f = try NPY.read(auditFixture("f32.npy"), as: Float.self)
        #expect(f.scalars == expected.map { Float($0) })
    }

    @Test func readsVersion2And3Headers() throws {
        for name in ["v2.npy", "v3.npy"] {
            let data = try Data(contentsOf: auditFixture(name))
            let h = try NPY.parseHeader(data, file: name)
            #expect(h.version.major == (name == "v2.npy" ? 2 : 3))
            let a = try NPY.read(auditFixture(name))
            #expect(a.shape == [5, 3] && a.scalars == expected)
        }
    }

    @Test func refusesBigEndianAndOtherDTypesNamingTheFile() throws {
        let cases: [(String, String)] = [("bigendian.npy", "big-endian"), ("int64.npy", "unsupported dtype '<i8'")]
        for (name, words) in cases {
            do {
                _ = try NPY.read(auditFixture(name))
                Issue.record("\(name) should not read")
            } catch let e as NPYError {
                #expect(e.description.contains(name), "\(e)")
                #expect(e.description.contains(words), "\(e)")
            }
        }
    }

    /// fortran.npy was written by NumPy from np.asfortranarray(np.arange(12).reshape(4, 3)):
    /// its data section runs down the columns (0, 3, 6, 9, 1, …); read, it is 0…11 row by row.
    @Test func readsNumPysFortranOrderFixtureInRowMajorOrderWithANote() throws {
        let url = auditFixture("fortran.npy")
        let bytes = try Data(contentsOf: url)
        let header = try NPY.parseHeader(bytes, file: url.path)
        #expect(header.fortranOrder && header.shape == [4, 3])
        // The stored sequence really is column-major (so the test checks a rearrangement).
        let stored = (0..<12).map { i in
            Float(bitPattern: UInt32(bytes[header.dataOffset + 4 * i]) | UInt32(bytes[header.dataOffset + 4 * i + 1]) << 8
                  | UInt32(bytes[header.dataOffset + 4 * i + 2]) << 16 | UInt32(bytes[header.dataOffset + 4 * i + 3]) << 24)
        }
        #expect(stored == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
        var notes: [String] = []
        let m = try NPY.readMatrix(url, notes: &notes)
        #expect(m.shape == [4, 3] && m.scalars == (0..<12).map(Double.init))
        #expect(notes.count == 1 && notes[0].contains(url.path) && notes[0].contains("Fortran-order"), "\(notes)")
    }

    /// float16 data written byte by byte: every value converts exactly (normal, subnormal,
    /// largest, signed zero, infinities), as Double and as Float, with a note naming the file.
    @Test func readsFloat16Exactly() throws {
        let dir = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        // 1, −2, 1/3 rounded to binary16 (0x3555 = 0x1.554p-2), the smallest subnormal 2⁻²⁴,
        // the largest subnormal (1023 · 2⁻²⁴), the smallest normal 2⁻¹⁴, the largest 65504, −0.
        let bits: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000]
        let expected: [Double] = [1, -2, 0x1.554p-2, 0x1p-24, 1023 * 0x1p-24, 0x1p-14, 65504, -0.0]
        let url = dir.appendingPathComponent("half.npy")
        try npyBytes(header: "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", data: littleEndian16(bits)).write(to: url)
        var notes: [String] = []
        let d = try NPY.read(url, as: Double.self, notes: &notes)
        #expect(d.shape == [2, 4])
        #expect(d.scalars.map(\.bitPattern) == expected.map(\.bitPattern))
        #expect(notes == ["\(url.path): float16 values ('<f2') converted exactly to float64"])
        let f = try NPY.read(url, as: Float.self)
        #expect(f.scalars.map(\.bitPattern) == expected.map { Float($0).bitPattern })
        // Infinities and NaN keep their meaning (the audit then rejects them as non-finite).
        let special = try NPY.decode(npyBytes(header: "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }",
                                              data: littleEndian16([0x7C00, 0xFC00, 0x7E00])), file: "s.npy", as: Double.self)
        #expect(special.scalars[0] == .infinity && special.scalars[1] == -.infinity && special.scalars[2].isNaN)
    }

    /// A Fortran-order float16 array of rank 3 written byte by byte: element (i, j, k) holds
    /// i + 10 j + 100 k, stored with i fastest; read, it is in C order (k fastest).
    @Test func readsFortranOrderFloat16OfRank3() throws {
        let shape = [2, 3, 4]
        var stored: [Double] = []
        for k in 0..<shape[2] { for j in 0..<shape[1] { for i in 0..<shape[0] { stored.append(Double(i + 10 * j + 100 * k)) } } }
        let data = littleEndian16(stored.map { NPY.doubleToHalf($0) })
        var notes: [String] = []
        let t = try NPY.decode(npyBytes(header: "{'descr': '<f2', 'fortran_order': True, 'shape': (2, 3, 4), }", data: data),
                               file: "f.npy", as: Double.self, notes: &notes)
        #expect(t.shape == shape)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            #expect(t.scalars[(i * 3 + j) * 4 + k] == Double(i + 10 * j + 100 * k))
        } } }
        #expect(notes.count == 1 && notes[0].hasPrefix("f.npy: ") && notes[0].contains("float16") && notes[0].contains("Fortran-order"))
        // An array with one dimension above 1 is the same in both orders: no rearranging, no note.
        var none: [String] = []
        let column = try NPY.decode(npyBytes(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 1), }", data: Array(NPY.encode(Tensor<Double>(shape: [3], scalars: [1, 2, 3])).suffix(12))),
                                    file: "c.npy", as: Double.self, notes: &none)
        #expect(column.scalars == [1, 2, 3] && none.isEmpty)
    }

    /// float16 encoding rounds to nearest, ties to even, and overflows to infinity from 65520.
    @Test func float16EncodingRoundsToNearestEven() throws {
        let cases: [(Double, Double)] = [
            (1 + 0x1p-11, 1),                 // halfway between 1 and 1 + 2⁻¹⁰: to the even 1
            (1 + 3 * 0x1p-11, 1 + 0x1p-9),    // halfway between 1 + 2⁻¹⁰ and 1 + 2⁻⁹: to the even 1 + 2⁻⁹
            (0x1p-25, 0),                     // half the smallest subnormal: to the even 0
            (3 * 0x1p-25, 0x1p-23),           // halfway between 2⁻²⁴ and 2⁻²³: to the even 2⁻²³
            (2047 * 0x1p-25, 0x1p-14),        // just under the smallest normal: rounds up to it
            (65519, 65504), (65520, .infinity), (-70000, -.infinity), (0.1, 0x1.998p-4),
        ]
        let t = Tensor<Double>(shape: [cases.count], scalars: cases.map(\.0))
        let back = try NPY.decode(NPY.encode(t, dtype: .float16), file: "mem", as: Double.self)
        for (k, (x, want)) in cases.enumerated() { #expect(back.scalars[k] == want, "\(x) → \(back.scalars[k]), expected \(want)") }
    }

    @Test func malformedHeadersAreClearErrors() throws {
        let dir = try temporaryFolder()
        let bad: [(String, Data, String)] = [
            ("noquote.npy", npyBytes(header: "{descr: '<f4', 'fortran_order': False, 'shape': (2,), }", dataBytes: 8), "malformed NPY header"),
            ("noshape.npy", npyBytes(header: "{'descr': '<f4', 'fortran_order': False, }", dataBytes: 8), "'shape'"),
            ("badtuple.npy", npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2; 3), }", dataBytes: 24), "shape tuple"),
            ("negdim.npy", npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", dataBytes: 24), "negative"),
            ("magic.npy", Data("not an npy file at all".utf8), "not an NPY file"),
            ("version.npy", { var d = npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", dataBytes: 8); d[6] = 4; return d }(), "version 4.0"),
            ("shortheader.npy", Data(npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", dataBytes: 0).prefix(40)), "header declares"),
            // The float16 and Fortran-order paths check their inputs as strictly.
            ("halfshort.npy", npyBytes(header: "{'descr': '<f2', 'fortran_order': True, 'shape': (2, 3), }", dataBytes: 10),
             "data section has 10 bytes but the header's shape and dtype need 12"),
            ("halfbig.npy", npyBytes(header: "{'descr': '>f2', 'fortran_order': False, 'shape': (2,), }", dataBytes: 4), "big-endian dtype '>f2'"),
            ("fortranword.npy", npyBytes(header: "{'descr': '<f2', 'fortran_order': Yes, 'shape': (2,), }", dataBytes: 4), "unexpected value 'Yes'"),
            ("fortranstring.npy", npyBytes(header: "{'descr': '<f2', 'fortran_order': 'True', 'shape': (2,), }", dataBytes: 4), "'fortran_order'"),
            ("complex.npy", npyBytes(header: "{'descr': '<c8', 'fortran_order': True, 'shape': (2, 2), }", dataBytes: 32), "unsupported dtype '<c8'"),
        ]
        for (name, bytes, words) in bad {
            let url = dir.appendingPathComponent(name)
            try bytes.write(to: url)
            do {
                _ = try NPY.read(url)
                Issue.record("\(name) should not read")
            } catch let e as NPYError {
                #expect(e.description.contains(url.path), "\(e)")
                #expect(e.description.contains(words), "\(name): \(e)")
            }
        }
    }

    @Test func truncatedDataAndLyingShapesFailBeforeAllocating() throws {
        let dir = try temporaryFolder()
        var data = try Data(contentsOf: auditFixture("f32.npy"))
        data.removeLast(4)
        let truncated = dir.appendingPathComponent("truncated.npy")
        try data.write(to: truncated)
        #expect(throws: NPYError.sizeMismatch(file: truncated.path, expectedBytes: 60, actualBytes: 56)) { try NPY.read(truncated) }

        // A header claiming 4 TB of data in a tiny file: a size error, never an allocation.
        let huge = dir.appendingPathComponent("huge.npy")
        try npyBytes(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 500), }", dataBytes: 16).write(to: huge)
        #expect(throws: NPYError.sizeMismatch(file: huge.path, expectedBytes: 4_000_000_000_000, actualBytes: 16)) { try NPY.read(huge) }

        let overflow = dir.appendingPathComponent("overflow.npy")
        try npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 16), }", dataBytes: 0).write(to: overflow)
        #expect(throws: NPYError.shapeOverflow(file: overflow.path, shape: "[4611686018427387904, 16]")) { try NPY.read(overflow) }

        let tooBig = dir.appendingPathComponent("toobig.npy")
        try npyBytes(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }", dataBytes: 0).write(to: tooBig)
        #expect(throws: NPYError.self) { try NPY.read(tooBig) }
    }

    @Test func encodeDecodeRoundTripAndRank() throws {
        var g = SeededGenerator(seed: 3)
        let t = Tensor<Double>(randomNormal: [7, 4], using: &g)
        let dir = try temporaryFolder()
        let url = dir.appendingPathComponent("t.npy")
        try NPY.write(t, to: url, dtype: .float64)
        #expect(try NPY.readMatrix(url) == t)
        let f = NPY.encode(t, dtype: .float32)
        let back = try NPY.decode(f, file: "mem", as: Float.self)
        #expect(back.scalars == t.scalars.map { Float($0) })
        // Header is padded so the data starts at a multiple of 64 bytes.
        #expect(try NPY.parseHeader(f, file: "mem").dataOffset % 64 == 0)
        let v = Tensor<Double>(shape: [3], scalars: [1, 2, 3])
        try NPY.write(v, to: url)
        #expect(throws: NPYError.wrongRank(file: url.path, expected: 2, shape: [3])) { try NPY.readMatrix(url) }
    }
}
