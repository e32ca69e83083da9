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
    var h = dict
    let pre = major == 1 ? 10 : 12
    h += String(repeating: " ", count: (64 - (pre + h.utf8.count + 1) % 64) % 64) + "\n"
    var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0])
    let n = h.utf8.count
    if major == 1 { d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)]) }
    else { d.append(contentsOf: [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), 0, 0]) }
    d.append(contentsOf: Array(h.utf8))
    d.append(Data(count: dataBytes))
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

    @Test func refusesFortranOrderBigEndianAndOtherDTypesNamingTheFile() throws {
        let cases: [(String, String)] = [("fortran.npy", "Fortran"), ("bigendian.npy", "big-endian"), ("int64.npy", "unsupported dtype '<i8'")]
        for (name, words) in cases {
            do {
                _ = try NPY.read(auditFixture(name))
                Issue.record("\(name) should not read")
            } catch let e as NPYError {
                #expect(e.description.contains(name), "\(e)")
                #expect(e.description.contains(words), "\(e)")
            }
        }
        #expect(throws: NPYError.fortranOrder(file: auditFixture("fortran.npy").path)) { try NPY.read(auditFixture("fortran.npy")) }
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
