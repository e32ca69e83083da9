import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

/// A CIFAR image whose R, G, B planes are filled with pixel (y, x) = (seed + plane·50 + y·3 + x) mod 256.
func cifarPixels(seed: Int) -> [UInt8] {
    var p: [UInt8] = []
    for plane in 0..<3 { for y in 0..<32 { for x in 0..<32 { p.append(UInt8((seed + plane * 50 + y * 3 + x) % 256)) } } }
    return p
}

@Suite struct CIFARTests {
    @Test func cifar10RecordsAcrossFilesWithLimit() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let a = try folder.write("data_batch_1.bin", CIFAR.encode(labels: [[3], [9]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 1)]))
        let b = try folder.write("data_batch_2.bin", CIFAR.encode(labels: [[0], [4]], pixels: [cifarPixels(seed: 2), cifarPixels(seed: 3)]))
        let d = try CIFAR.read10(files: [a, b])
        #expect(d.images.shape == [4, 3, 32, 32])
        #expect(try d.labels("class").codes == [3, 9, 0, 4])
        #expect(try d.labels("class").classNames[3] == "cat")
        // Channel-major layout: image 2, green plane, (y 5, x 7) = (2 + 50 + 15 + 7) / 255.
        #expect(d.images.scalars[2 * 3072 + 1 * 1024 + 5 * 32 + 7] == Float(74) / 255)
        let three = try CIFAR.read10(files: [a, b], limit: 3)
        #expect(three.count == 3 && three.images.scalars == Array(d.images.scalars[0..<(3 * 3072)]))
        #expect(try CIFAR.read10(files: [a, b], limit: 1).labels("class").codes == [3])
    }

    @Test func cifar100HasCoarseAndFineLabelSets() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let f = try folder.write("train.bin", CIFAR.encode(labels: [[19, 99], [0, 4], [11, 30]],
                                                           pixels: (0..<3).map { cifarPixels(seed: 10 * $0) }))
        let d = try CIFAR.read100(files: [f])
        #expect(d.images.shape == [3, 3, 32, 32])
        let coarse = try d.labels("coarse"), fine = try d.labels("class")
        #expect(coarse.codes == [19, 0, 11] && coarse.classCount == 20)
        #expect(fine.codes == [99, 4, 30] && fine.classCount == 100)
        #expect(fine.classNames[99] == "worm" && fine.classNames[4] == "beaver" && coarse.classNames[0] == "aquatic_mammals")
        #expect(d.images.scalars[1 * 3072 + 2 * 1024] == Float(10 + 100) / 255)
    }

    @Test func standardNameListsHaveTheRightSizes() {
        #expect(CIFAR.cifar10ClassNames.count == 10)
        #expect(CIFAR.cifar100CoarseNames.count == 20)
        #expect(CIFAR.cifar100FineNames.count == 100)
        #expect(Set(CIFAR.cifar100FineNames).count == 100)
        #expect(CIFAR.cifar100FineNames == CIFAR.cifar100FineNames.sorted())
    }

    @Test func folderLoadersUseMetaFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        try folder.write("data_batch_1.bin", CIFAR.encode(labels: [[1], [2]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 1)]))
        try folder.write("test_batch.bin", CIFAR.encode(labels: [[7]], pixels: [cifarPixels(seed: 5)]))
        let names = (0..<10).map { "class-\($0)" }
        try folder.write("batches.meta.txt", Array((names.joined(separator: "\n") + "\n\n").utf8))
        let (train, test) = try CIFAR.load10(directory: folder.url, trainLimit: 1)
        #expect(train.count == 1 && test.count == 1)
        #expect(try test.labels("class").names == names && test.labels("class").codes == [7])

        let f100 = try TemporaryFolder()
        defer { f100.cleanup() }
        try f100.write("train.bin", CIFAR.encode(labels: [[2, 3]], pixels: [cifarPixels(seed: 0)]))
        try f100.write("test.bin", CIFAR.encode(labels: [[4, 5], [6, 7]], pixels: [cifarPixels(seed: 0), cifarPixels(seed: 1)]))
        let c100 = try CIFAR.load100(directory: f100.url)
        #expect(c100.train.count == 1 && c100.test.count == 2)
        #expect(try c100.test.labels("coarse").codes == [4, 6] && c100.test.labels("class").codes == [5, 7])
    }
}
