// CIFAR-10 and CIFAR-100 binary formats (Krizhevsky, "Learning Multiple Layers of Features
// from Tiny Images", 2009; the "binary version" of https://www.cs.toronto.edu/~kriz/cifar.html).
//
// CIFAR-10 record: 1 label byte (0…9), then 3072 pixel bytes: 1024 red, 1024 green,
// 1024 blue, each plane 32×32 row-major. Files data_batch_1…5.bin, test_batch.bin,
// class names in batches.meta.txt.
// CIFAR-100 record: 1 coarse label byte (0…19), 1 fine label byte (0…99), 3072 pixel bytes.
// Files train.bin, test.bin, names in coarse_label_names.txt and fine_label_names.txt.
import Foundation
import FeatureLensNumerics

/// A malformed CIFAR binary file or folder. Every case names the file.
public enum CIFARError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// The file has no bytes.
    case empty(file: String, recordSize: Int)
    /// The file ends inside record `recordIndex` (it holds `bytesPresent` of its `recordSize` bytes).
    case partialRecord(file: String, recordIndex: Int, bytesPresent: Int, recordSize: Int)
    /// A label byte outside `0..<classCount` (`field` is "label", "coarse label" or "fine label").
    case labelOutOfRange(file: String, recordIndex: Int, field: String, value: Int, classCount: Int)
    /// None of the expected files is in the folder.
    case missingFile(directory: String, candidates: [String])
    /// A class-name file is not UTF-8 or holds too few names.
    case badNames(file: String, expected: Int, found: Int)
    /// No files were given.
    case noFiles

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read CIFAR file: \(reason)"
        case let .empty(file, size):
            return "\(file): empty CIFAR file (expected records of \(size) bytes)"
        case let .partialRecord(file, i, present, size):
            return "\(file): CIFAR record \(i) is truncated: \(present) of \(size) bytes present (file size must be a multiple of \(size))"
        case let .labelOutOfRange(file, i, field, value, count):
            return "\(file): CIFAR record \(i): \(field) is \(value), expected 0…\(count - 1)"
        case let .missingFile(directory, candidates):
            return "\(directory): missing CIFAR file (looked for \(candidates.joined(separator: ", ")))"
        case let .badNames(file, expected, found):
            return "\(file): class-name file: expected \(expected) UTF-8 names, one per line, found \(found)"
        case .noFiles:
            return "CIFAR: no files given (expected at least one .bin file)"
        }
    }
}

/// Readers for the CIFAR binary formats. Images come out as `[n, 3, 32, 32]` in [0, 1]
/// (the file's plane order is already channel-major).
public enum CIFAR {
    /// Pixel bytes per image (3 × 32 × 32).
    public static let imageBytes = 3072
    /// CIFAR-10 record size (1 label byte + pixels).
    public static let record10Bytes = 1 + imageBytes
    /// CIFAR-100 record size (coarse byte + fine byte + pixels).
    public static let record100Bytes = 2 + imageBytes

    /// CIFAR-10 class names, by label.
    public static let cifar10ClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck"]
    /// CIFAR-100 coarse (superclass) names, by coarse label.
    public static let cifar100CoarseNames = [
        "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
        "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
        "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
        "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
        "vehicles_1", "vehicles_2",
    ]
    /// CIFAR-100 fine class names, by fine label (alphabetical, as in the dataset's meta file).
    public static let cifar100FineNames = [
        "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
    ]

    /// Decoded records of one file: pixels scaled to [0, 1] and the label bytes.
    struct Records {
        var pixels: [Float]
        var labelColumns: [[Int]]
    }

    /// Decodes `bytes` as records of `labelBytes` label bytes + 3072 pixel bytes.
    /// - Parameters:
    ///   - classCounts: per label byte, the number of classes (for the range check).
    ///   - fields: per label byte, its name in errors.
    ///   - limit: decode at most this many records (the file size is still checked whole).
    static func decode(_ bytes: Data, file: String, classCounts: [Int], fields: [String], limit: Int?) throws -> Records {
        let labelBytes = classCounts.count
        let size = labelBytes + imageBytes
        if bytes.isEmpty { throw CIFARError.empty(file: file, recordSize: size) }
        let whole = bytes.count / size
        if bytes.count % size != 0 {
            throw CIFARError.partialRecord(file: file, recordIndex: whole, bytesPresent: bytes.count % size, recordSize: size)
        }
        let n = min(whole, max(0, limit ?? whole))
        var pixels = [Float](repeating: 0, count: n * imageBytes)
        var labels = [[Int]](repeating: [], count: labelBytes)
        for k in 0..<labelBytes { labels[k].reserveCapacity(n) }
        try bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let src = raw.bindMemory(to: UInt8.self)
            try pixels.withUnsafeMutableBufferPointer { dst in
                for r in 0..<n {
                    let base = r * size
                    for k in 0..<labelBytes {
                        let v = Int(src[base + k])
                        guard v < classCounts[k] else {
                            throw CIFARError.labelOutOfRange(file: file, recordIndex: r, field: fields[k],
                                                             value: v, classCount: classCounts[k])
                        }
                        labels[k].append(v)
                    }
                    let p = base + labelBytes, o = r * imageBytes
                    for j in 0..<imageBytes { dst[o + j] = Float(src[p + j]) / 255 }
                }
            }
        }
        return Records(pixels: pixels, labelColumns: labels)
    }

    private static func readFile(_ url: URL) throws -> Data {
        do { return try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw CIFARError.unreadable(file: url.path, reason: (error as NSError).localizedDescription)
        }
    }

    private static func readAll(_ files: [URL], classCounts: [Int], fields: [String], limit: Int?) throws -> Records {
        guard !files.isEmpty else { throw CIFARError.noFiles }
        var all = Records(pixels: [], labelColumns: Array(repeating: [], count: classCounts.count))
        var remaining = limit
        for f in files {
            if let r = remaining, r <= 0 { break }
            let rec = try decode(readFile(f), file: f.path, classCounts: classCounts, fields: fields, limit: remaining)
            all.pixels += rec.pixels
            for k in 0..<classCounts.count { all.labelColumns[k] += rec.labelColumns[k] }
            if let r = remaining { remaining = r - rec.labelColumns[0].count }
        }
        return all
    }

    /// Reads CIFAR-10 binary files (concatenated in order).
    /// - Parameters:
    ///   - files: `.bin` files of 3073-byte records.
    ///   - limit: keep at most this many images in total.
    ///   - classNames: names of the 10 labels (default: the standard names).
    ///   - name: dataset name.
    /// - Returns: images `[n, 3, 32, 32]` in [0, 1] with label set "class" (10).
    /// - Throws: `CIFARError` (empty file, partial record, label ≥ 10, unreadable file);
    ///   `DatasetError.nameCountMismatch` when `classNames` has fewer names than a label needs.
    public static func read10(files: [URL], limit: Int? = nil, classNames: [String] = cifar10ClassNames,
                              name: String = "cifar10") throws -> ImageDataset {
        let r = try readAll(files, classCounts: [classNames.count], fields: ["label"], limit: limit)
        let n = r.labelColumns[0].count
        return ImageDataset(name: name, images: Tensor(shape: [n, 3, 32, 32], scalars: r.pixels),
                            labelSets: ["class": try LabelSet(name: "class", codes: r.labelColumns[0], names: classNames)])
    }

    /// Reads CIFAR-100 binary files (concatenated in order).
    /// - Returns: images `[n, 3, 32, 32]` in [0, 1] with label sets "coarse" (20) and "class" (100).
    /// - Throws: `CIFARError` (empty file, partial record, coarse label ≥ 20, fine label ≥ 100);
    ///   `DatasetError.nameCountMismatch` when a names list is shorter than a label needs.
    public static func read100(files: [URL], limit: Int? = nil, coarseNames: [String] = cifar100CoarseNames,
                               fineNames: [String] = cifar100FineNames, name: String = "cifar100") throws -> ImageDataset {
        let r = try readAll(files, classCounts: [coarseNames.count, fineNames.count],
                            fields: ["coarse label", "fine label"], limit: limit)
        let n = r.labelColumns[0].count
        return ImageDataset(name: name, images: Tensor(shape: [n, 3, 32, 32], scalars: r.pixels), labelSets: [
            "coarse": try LabelSet(name: "coarse", codes: r.labelColumns[0], names: coarseNames),
            "class": try LabelSet(name: "class", codes: r.labelColumns[1], names: fineNames),
        ])
    }

    /// Loads the CIFAR-10 binary folder (`data_batch_1…5.bin`, `test_batch.bin`, optional
    /// `batches.meta.txt`). Training batches that are absent are skipped, but at least
    /// `data_batch_1.bin` must exist.
    /// - Throws: `CIFARError`.
    public static func load10(directory: URL, trainLimit: Int? = nil, testLimit: Int? = nil) throws
        -> (train: ImageDataset, test: ImageDataset) {
        let names = try names(directory.appendingPathComponent("batches.meta.txt"), count: 10) ?? cifar10ClassNames
        let trainFiles = (1...5).map { directory.appendingPathComponent("data_batch_\($0).bin") }
            .filter { FileManager.default.fileExists(atPath: $0.path) }
        guard !trainFiles.isEmpty else {
            throw CIFARError.missingFile(directory: directory.path, candidates: (1...5).map { "data_batch_\($0).bin" })
        }
        let test = try require(directory, "test_batch.bin")
        return (try read10(files: trainFiles, limit: trainLimit, classNames: names, name: "cifar10/train"),
                try read10(files: [test], limit: testLimit, classNames: names, name: "cifar10/test"))
    }

    /// Loads the CIFAR-100 binary folder (`train.bin`, `test.bin`, optional
    /// `coarse_label_names.txt`, `fine_label_names.txt`).
    /// - Throws: `CIFARError`.
    public static func load100(directory: URL, trainLimit: Int? = nil, testLimit: Int? = nil) throws
        -> (train: ImageDataset, test: ImageDataset) {
        let coarse = try names(directory.appendingPathComponent("coarse_label_names.txt"), count: 20) ?? cifar100CoarseNames
        let fine = try names(directory.appendingPathComponent("fine_label_names.txt"), count: 100) ?? cifar100FineNames
        let train = try require(directory, "train.bin"), test = try require(directory, "test.bin")
        return (try read100(files: [train], limit: trainLimit, coarseNames: coarse, fineNames: fine, name: "cifar100/train"),
                try read100(files: [test], limit: testLimit, coarseNames: coarse, fineNames: fine, name: "cifar100/test"))
    }

    private static func require(_ directory: URL, _ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CIFARError.missingFile(directory: directory.path, candidates: [name])
        }
        return url
    }

    /// Class names from a text file, one per non-empty line; nil when the file is absent.
    static func names(_ url: URL, count: Int) throws -> [String]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data = try readFile(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CIFARError.badNames(file: url.path, expected: count, found: 0)
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard lines.count == count else { throw CIFARError.badNames(file: url.path, expected: count, found: lines.count) }
        return lines
    }

    /// Encodes records in the binary format (for tests and for exporting subsets).
    /// - Parameters:
    ///   - labels: per record, its label bytes (1 for CIFAR-10: [label]; 2 for CIFAR-100:
    ///     [coarse, fine]).
    ///   - pixels: per record, 3072 bytes (R plane, G plane, B plane; each 32×32 row-major).
    /// - Precondition: every pixel array has 3072 bytes.
    public static func encode(labels: [[UInt8]], pixels: [[UInt8]]) -> [UInt8] {
        precondition(labels.count == pixels.count && pixels.allSatisfy { $0.count == imageBytes },
                     "one 3072-byte image per label row")
        var out: [UInt8] = []
        for (l, p) in zip(labels, pixels) { out += l; out += p }
        return out
    }
}
