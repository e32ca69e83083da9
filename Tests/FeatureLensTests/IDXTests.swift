import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

// MARK: - Helpers shared by the reader tests

/// A committed fixture under Tests/FeatureLensTests/Fixtures (written by Tools/make_data_fixtures.py).
func fixtureURL(_ relativePath: String) -> URL {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(relativePath)
}

/// A fresh temporary folder, removed by `cleanup()`.
struct TemporaryFolder {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("featurelens-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    /// Writes `bytes` to `name` inside the folder and returns its URL.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let u = url.appendingPathComponent(name)
        try Data(bytes).write(to: u)
        return u
    }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// Pixel k of the fixture images: (37 k + 11) mod 256.
let fixturePixels: [UInt8] = (0..<60).map { UInt8((37 * $0 + 11) % 256) }

/// An MNIST-like image file: n images of h×w with pixel (i, y, x) = (i·31 + y·7 + x) mod 256.
func syntheticImagesIDX(n: Int, h: Int, w: Int) -> [UInt8] {
    var p: [UInt8] = []
    for i in 0..<n { for y in 0..<h { for x in 0..<w { p.append(UInt8((i * 31 + y * 7 + x) % 256)) } } }
    return IDX.encode(type: .uint8, shape: [n, h, w], payload: p)
}

func labelsIDX(_ labels: [UInt8]) -> [UInt8] {
    IDX.encode(type: .uint8, shape: [labels.count], payload: labels)
}

@Suite struct IDXTests {
    @Test func rawImageFixtureDecodesToScaledTensor() throws {
        let t = try IDX.readImages(contentsOf: fixtureURL("idx/images-3x4x5.idx3-ubyte"))
        #expect(t.shape == [3, 1, 4, 5])
        #expect(t.scalars == fixturePixels.map { Float($0) / 255 })
        #expect(t.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func gzipFixtureMatchesRawFixture() throws {
        let raw = try IDX.read(contentsOf: fixtureURL("idx/images-3x4x5.idx3-ubyte"))
        let gz = try IDX.read(contentsOf: fixtureURL("idx/images-3x4x5.idx3-ubyte.gz"))
        #expect(raw.shape == [3, 4, 5] && raw.elementType == .uint8)
        #expect(gz.shape == raw.shape && gz.payload == raw.payload)
        #expect(try IDX.readLabels(contentsOf: fixtureURL("idx/labels-3.idx1-ubyte")) == [2, 0, 1])
        #expect(try IDX.readLabels(contentsOf: fixtureURL("idx/labels-3.idx1-ubyte.gz")) == [2, 0, 1])
    }

    @Test func float32FixtureDecodesBigEndian() throws {
        let a = try IDX.read(contentsOf: fixtureURL("idx/float32-2x3.idx"))
        #expect(a.elementType == .float32 && a.shape == [2, 3])
        let v = try a.doubleValues()
        #expect(v == [0.5, -1.25, 3, Double(Float(1e-3)), 2.5e4, 0])
        #expect(v[5].sign == .minus)
    }

    @Test func everyElementTypeRoundTrips() throws {
        // int16 −2 = ff fe; int32 −3 = ff ff ff fd; float64 1.5 = 3f f8 00…
        let cases: [(IDXElementType, [UInt8], [Double])] = [
            (.uint8, [0, 255], [0, 255]),
            (.int8, [0x80, 0x7F], [-128, 127]),
            (.int16, [0xFF, 0xFE, 0x01, 0x00], [-2, 256]),
            (.int32, [0xFF, 0xFF, 0xFF, 0xFD, 0, 1, 0, 0], [-3, 65536]),
            (.float32, [0x3F, 0xC0, 0, 0, 0xC0, 0x20, 0, 0], [1.5, -2.5]),
            (.float64, [0x3F, 0xF8, 0, 0, 0, 0, 0, 0, 0xC0, 0x04, 0, 0, 0, 0, 0, 0], [1.5, -2.5]),
        ]
        for (type, payload, expected) in cases {
            let bytes = IDX.encode(type: type, shape: [2], payload: payload)
            for data in [bytes, Gzip.compress(bytes)] {
                let a = try IDX.decode(Data(data), file: "roundtrip-\(type)")
                #expect(a.elementType == type && a.shape == [2])
                #expect(try a.doubleValues() == expected, "type \(type)")
            }
        }
    }

    @Test func gzipRoundTripAndConcatenatedMembers() throws {
        var g = SeededGenerator(seed: 7)
        let payload = (0..<100_000).map { _ in UInt8(g.nextInt(below: 4)) }  // compressible, > one chunk
        let packed = Gzip.compress(payload)
        #expect(packed.count < payload.count / 2)
        #expect(try Gzip.decompress(packed, file: "x.gz") == payload)
        // gzip(1) semantics: concatenated members decompress to the concatenation.
        let two = Gzip.compress(Array(payload[0..<40_000])) + Gzip.compress(Array(payload[40_000...]))
        #expect(try Gzip.decompress(two, file: "two.gz") == payload)
        // An IDX file split across two gzip members still reads.
        let file = syntheticImagesIDX(n: 5, h: 6, w: 7)
        let split = Gzip.compress(Array(file[0..<10])) + Gzip.compress(Array(file[10...]))
        #expect(try IDX.decode(Data(split), file: "split.gz").payload == Array(file[16...]))
        // The decompression cap is enforced.
        #expect(throws: GzipError.self) { try Gzip.decompress(packed, file: "x.gz", maxOutputBytes: 99_999) }
    }

    @Test func limitKeepsThePrefixButValidatesTheWholeFile() throws {
        let t = try IDX.readImages(contentsOf: fixtureURL("idx/images-3x4x5.idx3-ubyte"), limit: 2)
        #expect(t.shape == [2, 1, 4, 5])
        #expect(t.scalars == fixturePixels[0..<40].map { Float($0) / 255 })
        #expect(try IDX.readLabels(contentsOf: fixtureURL("idx/labels-3.idx1-ubyte"), limit: 1) == [2])
        // A file with a missing final byte fails even when only the first image is wanted.
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let full = try Data(contentsOf: fixtureURL("idx/images-3x4x5.idx3-ubyte"))
        let cut = try folder.write("cut.idx3-ubyte", Array(full.dropLast()))
        #expect(throws: IDXError.dataTooShort(file: cut.path, expected: 60, found: 59)) {
            try IDX.readImages(contentsOf: cut, limit: 1)
        }
    }

    @Test func mnistFolderAcceptsGzipAndRawNamesAndAddsGrouping() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let trainLabels: [UInt8] = [0, 1, 5, 8, 9, 3]
        try folder.write("train-images-idx3-ubyte.gz", Gzip.compress(syntheticImagesIDX(n: 6, h: 28, w: 28)))
        try folder.write("train-labels-idx1-ubyte.gz", Gzip.compress(labelsIDX(trainLabels)))
        try folder.write("t10k-images-idx3-ubyte", syntheticImagesIDX(n: 2, h: 28, w: 28))
        try folder.write("t10k-labels.idx1-ubyte", labelsIDX([4, 7]))
        let (train, test) = try FashionMNIST.load(directory: folder.url, trainLimit: 4)
        #expect(train.images.shape == [4, 1, 28, 28] && test.images.shape == [2, 1, 28, 28])
        #expect(train.name == "fashion-mnist/train" && test.name == "fashion-mnist/test")
        #expect(try train.labels("class").codes == [0, 1, 5, 8])
        #expect(try train.labels("class").classNames[0] == "T-shirt/top")
        let coarse = try train.labels("coarse")
        #expect(coarse.codes == [0, 1, 2, 3] && coarse.names == ["tops", "bottoms", "footwear", "bags"])
        #expect(try test.labels("coarse").codes == [0, 2])
        // Pixel (i=1, y=2, x=3) = (31 + 14 + 3) / 255.
        #expect(train.images.scalars[1 * 784 + 2 * 28 + 3] == Float(48) / 255)
        let digits = try MNIST.load(directory: folder.url)
        #expect(digits.train.count == 6 && digits.train.labelSets.keys.sorted() == ["class"])
    }

    static let fashionDirectory = FashionMNIST.defaultDirectory
    static var fashionAvailable: Bool {
        FileManager.default.fileExists(atPath: fashionDirectory.appendingPathComponent("train-labels-idx1-ubyte.gz").path)
    }

    @Test(.enabled(if: IDXTests.fashionAvailable, "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"))
    func debianFashionMNISTSubset() throws {
        let (train, test) = try FashionMNIST.load(trainLimit: 100, testLimit: 50)
        #expect(train.images.shape == [100, 1, 28, 28] && test.images.shape == [50, 1, 28, 28])
        // First labels, and the pixel byte sum of the first 100 training images, from numpy.
        #expect(Array(try train.labels("class").codes.prefix(10)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        #expect(Array(try test.labels("class").codes.prefix(10)) == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])
        let byteSum = train.images.scalars.reduce(0) { $0 + Int(($1 * 255).rounded()) }
        #expect(byteSum == 5_688_570)
        let table = try FashionMNIST.coarseGrouping.table(fineClassCount: 10)
        #expect(try train.labels("coarse").codes == train.labels("class").codes.map { table[$0] })
        #expect(train.images.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}
