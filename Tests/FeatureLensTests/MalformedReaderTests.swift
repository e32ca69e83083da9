// Malformed input for the image and tabular readers: every case must give
// a typed error whose message names the file and the field, and never crash or allocate
// what a lying header asks for.
import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// Decodes `bytes` as an IDX file and checks it throws exactly `expected`, whose message names the file.
private func expectIDX(_ expected: IDXError, _ bytes: [UInt8], file: String = "bad.idx",
                       limits: IDXLimits = IDXLimits(), sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        let a = try IDX.decode(Data(bytes), file: file, limits: limits)
        Issue.record("expected \(expected), decoded shape \(a.shape)", sourceLocation: sourceLocation)
    } catch let e as IDXError {
        #expect(e == expected, sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix(file + ": "), "message must name the file: \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("wrong error type: \(error)", sourceLocation: sourceLocation)
    }
}

private func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

/// A valid ubyte file [2, 3, 4] (header 16 bytes + 24 data bytes).
private let valid = IDX.encode(type: .uint8, shape: [2, 3, 4], payload: (0..<24).map { UInt8($0) })

@Suite struct MalformedIDXTests {
    // Structure: empty, magic, dimension count, each dimension, data.
    @Test func emptyFile() { expectIDX(.empty(file: "bad.idx"), []) }
    @Test func truncatedInMagic() {
        expectIDX(.truncatedHeader(file: "bad.idx", field: "magic", needed: 4, available: 2), [0, 0])
        expectIDX(.truncatedHeader(file: "bad.idx", field: "magic", needed: 4, available: 3), [0, 0, 8])
    }
    @Test func wrongMagic() {
        expectIDX(.badMagic(file: "bad.idx", found: Array("PK\u{3}\u{4}".utf8)), Array("PK\u{3}\u{4}rest".utf8))
        expectIDX(.badMagic(file: "bad.idx", found: [0, 1, 8, 1]), [0, 1, 8, 1, 0, 0, 0, 1, 5])
        expectIDX(.badMagic(file: "bad.idx", found: [0x89]), [0x89])
    }
    @Test func unknownElementType() { expectIDX(.unknownElementType(file: "bad.idx", code: 0x07), [0, 0, 7, 1, 0, 0, 0, 1, 5]) }
    @Test func zeroDimensionCount() {
        expectIDX(.badDimensionCount(file: "bad.idx", count: 0, allowed: 1...8), [0, 0, 8, 0, 5])
    }
    @Test func tooManyDimensions() {
        expectIDX(.badDimensionCount(file: "bad.idx", count: 200, allowed: 1...8), [0, 0, 8, 200] + [UInt8](repeating: 1, count: 800))
    }
    @Test func truncatedInsideEachDimension() {
        for k in 0..<3 {
            for extra in 0..<4 {
                let prefix = Array(valid[0..<(4 + 4 * k + extra)])
                expectIDX(.truncatedHeader(file: "bad.idx", field: "dimension \(k)", needed: 4, available: extra), prefix)
            }
        }
    }
    @Test func zeroDimension() {
        expectIDX(.badDimension(file: "bad.idx", index: 1, value: 0), [0, 0, 8, 2] + be32(3) + be32(0))
    }
    @Test func negativeLookingDimension() {
        expectIDX(.badDimension(file: "bad.idx", index: 0, value: 0xFFFF_FFFF), [0, 0, 8, 1] + be32(0xFFFF_FFFF) + [1, 2, 3])
        expectIDX(.badDimension(file: "bad.idx", index: 2, value: 0x8000_0000), [0, 0, 8, 3] + be32(1) + be32(1) + be32(0x8000_0000))
    }
    @Test func hugeDimensionsAboveTheLimit() {
        let limit = IDXLimits().maxPayloadBytes
        expectIDX(.tooLarge(file: "bad.idx", bytes: 0x7FFF_FFFF * 8, limit: limit), [0, 0, 0x0E, 1] + be32(0x7FFF_FFFF) + [0])
    }
    @Test func hugeDimensionsAreNeverAllocated() {
        // With the cap lifted, a header asking for 2⁶² bytes over 3 real bytes must fail on the
        // data length, not try to allocate (which would crash).
        let huge = IDXLimits(maxPayloadBytes: Int.max)
        expectIDX(.dataTooShort(file: "bad.idx", expected: 0x7FFF_FFFF * 0x7FFF_FFFF, found: 3),
                  [0, 0, 8, 2] + be32(0x7FFF_FFFF) + be32(0x7FFF_FFFF) + [1, 2, 3], limits: huge)
        let gz = Gzip.compress([0, 0, 8, 2] + be32(0x7FFF_FFFF) + be32(0x7FFF_FFFF) + [UInt8](repeating: 0, count: 5000))
        expectIDX(.dataTooShort(file: "bad.idx.gz", expected: 0x7FFF_FFFF * 0x7FFF_FFFF, found: 5000), gz,
                  file: "bad.idx.gz", limits: huge)
    }
    @Test func dimensionsWhoseProductOverflows() {
        let dims: [UInt32] = [0x7FFF_FFFF, 0x7FFF_FFFF, 0x7FFF_FFFF]
        expectIDX(.sizeOverflow(file: "bad.idx", shape: dims.map { Int($0) }),
                  [0, 0, 8, 3] + dims.flatMap(be32) + [1], limits: IDXLimits(maxPayloadBytes: Int.max))
        // Overflow from the element size alone (float64 × 2³⁰ × 2³⁰ × 2³ > 2⁶³).
        expectIDX(.sizeOverflow(file: "bad.idx", shape: [1 << 30, 1 << 30, 8]),
                  [0, 0, 0x0E, 3] + be32(1 << 30) + be32(1 << 30) + be32(8), limits: IDXLimits(maxPayloadBytes: Int.max))
    }
    @Test func dataMissingShortOrLong() {
        expectIDX(.dataTooShort(file: "bad.idx", expected: 24, found: 0), Array(valid[0..<16]))
        expectIDX(.dataTooShort(file: "bad.idx", expected: 24, found: 23), Array(valid.dropLast()))
        expectIDX(.trailingData(file: "bad.idx", expected: 24), valid + [0])
    }
    @Test func truncatedAtEveryByteRawAndGzip() {
        // Every proper prefix of a valid file fails with an IDXError (no crash, no success).
        for cut in 0..<valid.count {
            #expect(throws: IDXError.self) { try IDX.decode(Data(valid[0..<cut]), file: "cut.idx") }
        }
        let gz = Gzip.compress(valid)
        for cut in 2..<gz.count {
            do {
                _ = try IDX.decode(Data(gz[0..<cut]), file: "cut.idx.gz")
                Issue.record("prefix of \(cut) gzip bytes decoded")
            } catch let e as IDXError {
                guard case let .gzip(file, reason) = e else { Issue.record("expected a gzip error, got \(e)"); continue }
                #expect(file == "cut.idx.gz" && reason.contains("truncated"), "cut \(cut): \(reason)")
            } catch { Issue.record("wrong error type \(error)") }
        }
    }
    @Test func corruptGzipFixture() throws {
        let url = fixtureURL("idx/corrupt.idx3-ubyte.gz")
        let e = #expect(throws: IDXError.self) { try IDX.read(contentsOf: url) }
        guard case let .gzip(file, reason)? = e else { Issue.record("expected .gzip, got \(String(describing: e))"); return }
        #expect(file == url.path && reason.hasPrefix("corrupt"))
        #expect(e!.description.contains("gzip stream"))
    }
    @Test func gzipWithBadChecksumOrTrailingGarbage() {
        var gz = Gzip.compress(valid)
        gz[gz.count - 6] ^= 0xFF  // CRC-32 in the trailer
        let e = #expect(throws: IDXError.self) { try IDX.decode(Data(gz), file: "crc.gz") }
        #expect(e?.description.hasPrefix("crc.gz: gzip stream: corrupt") == true, "\(String(describing: e))")
        let garbage = Gzip.compress(valid) + Array("junk".utf8)
        let g = #expect(throws: IDXError.self) { try IDX.decode(Data(garbage), file: "junk.gz") }
        #expect(g?.description.contains("trailing garbage") == true)
    }
    @Test func gzipHeaderOnlyOrEmptyPayload() {
        expectIDX(.gzip(file: "bad.gz", reason: "truncated: the compressed data ends before the end-of-stream marker (after 0 decompressed bytes)"),
                  [0x1F, 0x8B], file: "bad.gz")
        expectIDX(.empty(file: "empty.gz"), Gzip.compress([]), file: "empty.gz")
    }
    @Test func gzipBombIsRefusedByTheHeaderLimit() {
        // 16 MiB of zeros compresses to ~16 KiB; the header asks for it all; the limit is 1 MiB.
        let bomb = Gzip.compress([0, 0, 8, 1] + be32(16 << 20) + [UInt8](repeating: 0, count: 16 << 20), level: 9)
        #expect(bomb.count < 200_000)
        expectIDX(.tooLarge(file: "bomb.gz", bytes: 16 << 20, limit: 1 << 20), bomb, file: "bomb.gz",
                  limits: IDXLimits(maxPayloadBytes: 1 << 20))
    }
    @Test func randomByteFlipsNeverCrash() {
        var g = SeededGenerator(seed: 2024)
        let gz = Gzip.compress(valid)
        for trial in 0..<400 {
            var bytes = trial % 2 == 0 ? valid : gz
            for _ in 0..<(1 + g.nextInt(below: 3)) { bytes[g.nextInt(below: bytes.count)] = UInt8(g.nextInt(below: 256)) }
            do {
                let a = try IDX.decode(Data(bytes), file: "fuzz", limits: IDXLimits(maxPayloadBytes: 1 << 16))
                #expect(a.payload.count == a.shape.reduce(a.elementType.byteCount, *))
            } catch let e as IDXError {
                #expect(e.description.hasPrefix("fuzz: "))
            } catch { Issue.record("wrong error type \(error)") }
        }
    }
    @Test func nonFiniteFloats() throws {
        let nan = IDX.encode(type: .float32, shape: [3], payload: [0x3F, 0x80, 0, 0, 0x7F, 0xC0, 0, 0, 0, 0, 0, 0])
        #expect(throws: IDXError.nonFinite(file: "nan.idx", elementIndex: 1)) { try IDX.decode(Data(nan), file: "nan.idx").doubleValues() }
        let inf = IDX.encode(type: .float64, shape: [1], payload: [0x7F, 0xF0, 0, 0, 0, 0, 0, 0])
        #expect(throws: IDXError.nonFinite(file: "inf.idx", elementIndex: 0)) { try IDX.decode(Data(inf), file: "inf.idx").doubleValues() }
    }
    @Test func imagesAndLabelsOfTheWrongKind() throws {
        let labels = try IDX.decode(Data(IDX.encode(type: .uint8, shape: [3], payload: [1, 2, 3])), file: "l.idx")
        #expect(throws: IDXError.unexpectedContent(file: "l.idx", field: "dimension count (magic byte 3)",
                                                   expected: "3 ([images, rows, columns])", found: "1 (shape [3])")) {
            try IDX.images(from: labels)
        }
        let floats = try IDX.decode(Data(IDX.encode(type: .float32, shape: [1, 1, 1], payload: [0, 0, 0, 0])), file: "f.idx")
        let e = #expect(throws: IDXError.self) { try IDX.images(from: floats) }
        #expect(e?.description.hasPrefix("f.idx: IDX element type") == true)
        #expect(throws: IDXError.self) { try IDX.labels(from: try IDX.decode(Data(valid), file: "v.idx")) }
    }
    @Test func unreadableFile() {
        let e = #expect(throws: IDXError.self) { try IDX.read(contentsOf: URL(fileURLWithPath: "/nonexistent/x.idx")) }
        guard case let .unreadable(file, _)? = e else { Issue.record("expected .unreadable"); return }
        #expect(file == "/nonexistent/x.idx")
    }
}

@Suite struct MalformedDatasetFolderTests {
    @Test func labelCountDiffersFromImageCount() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let images = try folder.write("imgs.idx3-ubyte", syntheticImagesIDX(n: 5, h: 2, w: 2))
        let labels = try folder.write("lbls.idx1-ubyte.gz", Gzip.compress(labelsIDX([1, 2, 3, 4])))
        let expected = ImageDatasetError.countMismatch(imagesFile: images.path, images: 5, labelsFile: labels.path, labels: 4)
        #expect(throws: expected) {
            try MNISTFormat.loadPair(imagesFile: images, labelsFile: labels, name: "x", classNames: MNIST.classNames)
        }
        #expect(expected.description.contains(images.path) && expected.description.contains(labels.path))
        // Also when only a subset is requested.
        #expect(throws: expected) {
            try MNISTFormat.loadPair(imagesFile: images, labelsFile: labels, name: "x", classNames: MNIST.classNames, limit: 2)
        }
    }
    @Test func labelOutOfRange() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let images = try folder.write("i", syntheticImagesIDX(n: 3, h: 2, w: 2))
        let labels = try folder.write("l", labelsIDX([1, 12, 3]))
        #expect(throws: ImageDatasetError.labelOutOfRange(file: labels.path, index: 1, value: 12, classCount: 10)) {
            try MNISTFormat.loadPair(imagesFile: images, labelsFile: labels, name: "x", classNames: FashionMNIST.classNames)
        }
    }
    @Test func missingFilesInFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let e = #expect(throws: ImageDatasetError.self) { try FashionMNIST.load(directory: folder.url) }
        guard case let .missingFile(dir, candidates)? = e else { Issue.record("expected .missingFile"); return }
        #expect(dir == folder.url.path && candidates.contains("train-images-idx3-ubyte.gz") && candidates.contains("train-images-idx3-ubyte"))
        #expect(throws: ImageDatasetError.invalidLimit(field: "trainLimit", value: -1)) {
            try FashionMNIST.load(directory: folder.url, trainLimit: -1)
        }
    }
}

@Suite struct MalformedCIFARTests {
    @Test func emptyFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let f = try folder.write("empty.bin", [])
        #expect(throws: CIFARError.empty(file: f.path, recordSize: 3073)) { try CIFAR.read10(files: [f]) }
        #expect(throws: CIFARError.empty(file: f.path, recordSize: 3074)) { try CIFAR.read100(files: [f]) }
        #expect(throws: CIFARError.noFiles) { try CIFAR.read10(files: []) }
    }
    @Test func partialRecordAtEveryBoundary() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let two = CIFAR.encode(labels: [[1], [2]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 1)])
        // Cut inside the label byte of record 1, right after it, inside the pixels, one byte short.
        for cut in [3073 + 0, 3073 + 1, 3073 + 1000, 2 * 3073 - 1, 1, 3072] where cut % 3073 != 0 {
            let f = try folder.write("cut\(cut).bin", Array(two[0..<cut]))
            let expected = CIFARError.partialRecord(file: f.path, recordIndex: cut / 3073, bytesPresent: cut % 3073, recordSize: 3073)
            #expect(throws: expected) { try CIFAR.read10(files: [f]) }
            #expect(throws: expected) { try CIFAR.read10(files: [f], limit: 1) }  // checked even for a subset
            #expect(expected.description.contains(f.path) && expected.description.contains("record \(cut / 3073)"))
        }
        // CIFAR-10 records read as CIFAR-100 do not divide evenly.
        let f = try folder.write("ten.bin", two)
        #expect(throws: CIFARError.partialRecord(file: f.path, recordIndex: 1, bytesPresent: 3072, recordSize: 3074)) {
            try CIFAR.read100(files: [f])
        }
    }
    @Test func labelsOutOfRange() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let ten = try folder.write("a.bin", CIFAR.encode(labels: [[3], [10]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 1)]))
        #expect(throws: CIFARError.labelOutOfRange(file: ten.path, recordIndex: 1, field: "label", value: 10, classCount: 10)) {
            try CIFAR.read10(files: [ten])
        }
        let coarse = try folder.write("b.bin", CIFAR.encode(labels: [[20, 0]], pixels: [cifarPixels(seed: 0)]))
        #expect(throws: CIFARError.labelOutOfRange(file: coarse.path, recordIndex: 0, field: "coarse label", value: 20, classCount: 20)) {
            try CIFAR.read100(files: [coarse])
        }
        let fine = try folder.write("c.bin", CIFAR.encode(labels: [[0, 0], [1, 255]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 0)]))
        #expect(throws: CIFARError.labelOutOfRange(file: fine.path, recordIndex: 1, field: "fine label", value: 255, classCount: 100)) {
            try CIFAR.read100(files: [fine])
        }
    }
    @Test func badNameFilesAndMissingFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        #expect(throws: CIFARError.missingFile(directory: folder.url.path, candidates: (1...5).map { "data_batch_\($0).bin" })) {
            try CIFAR.load10(directory: folder.url)
        }
        try folder.write("data_batch_1.bin", CIFAR.encode(labels: [[1]], pixels: [cifarPixels(seed: 0)]))
        #expect(throws: CIFARError.missingFile(directory: folder.url.path, candidates: ["test_batch.bin"])) {
            try CIFAR.load10(directory: folder.url)
        }
        try folder.write("test_batch.bin", CIFAR.encode(labels: [[1]], pixels: [cifarPixels(seed: 0)]))
        let meta = try folder.write("batches.meta.txt", Array("a\nb\nc\n".utf8))
        #expect(throws: CIFARError.badNames(file: meta.path, expected: 10, found: 3)) { try CIFAR.load10(directory: folder.url) }
        try folder.write("batches.meta.txt", [0xFF, 0xFE, 0x00, 0x41])
        #expect(throws: CIFARError.badNames(file: meta.path, expected: 10, found: 0)) { try CIFAR.load10(directory: folder.url) }
    }
}

@Suite struct MalformedTabularAndConfigTests {
    private func expectCSV(_ expected: TabularDataError, _ text: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try TabularFeatures.parseCSV(Data(text), file: "x.csv") }
        #expect(expected.description.hasPrefix("x.csv"), sourceLocation: sourceLocation)
    }
    @Test func csvCases() {
        expectCSV(.empty(file: "x.csv"), [])
        expectCSV(.empty(file: "x.csv"), Array("\n \n\r\n".utf8))
        expectCSV(.notUTF8(file: "x.csv"), [0x31, 0x2C, 0xFF, 0xFE, 0x0A])
        expectCSV(.noDataRows(file: "x.csv"), Array("a,b\n".utf8))
        expectCSV(.raggedRow(file: "x.csv", line: 3, expected: 2, found: 3), Array("a,b\n1,2\n3,4,5\n".utf8))
        expectCSV(.notANumber(file: "x.csv", line: 2, column: 2, text: "abc"), Array("1,2\n3,abc\n".utf8))
        expectCSV(.notANumber(file: "x.csv", line: 2, column: 1, text: ""), Array("a,b\n,2\n".utf8))
        expectCSV(.nonFinite(file: "x.csv", line: 1, column: 2, text: "nan"), Array("1,nan\n".utf8))
        expectCSV(.nonFinite(file: "x.csv", line: 3, column: 1, text: "-inf"), Array("a,b\n1,2\n-inf,2\n".utf8))
    }
    @Test func groupingConfigFiles() {
        func invalid(_ json: String) -> String? {
            do { _ = try LabelGrouping.decode(Data(json.utf8), file: "g.json"); return nil } catch let e as LabelGroupingError {
                guard case .invalidConfig = e else { return nil }
                return e.description
            } catch { return nil }
        }
        #expect(invalid("")?.contains("empty file") == true)
        #expect(invalid("{\"groups\": [")?.hasPrefix("g.json: label grouping: not valid JSON") == true)
        #expect(invalid("{}")?.contains("missing field .groups") == true)
        #expect(invalid("{\"groups\": [{\"name\": \"a\", \"members\": [\"x\"]}]}")?.contains(".groups[0].members[0]") == true)
        #expect(invalid("{\"groups\": [{\"members\": [1]}]}")?.contains("missing field .groups[0].name") == true)
    }
}
