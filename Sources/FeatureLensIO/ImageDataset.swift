// Image datasets with named label sets, and the MNIST-format loaders (Fashion-MNIST from
// Debian's `dataset-fashion-mnist`, MNIST, or any folder holding the same four files).
import Foundation
import FeatureLensNumerics

/// An image dataset: images `[n, c, h, w]` (Float, usually in [0, 1]) and named label sets,
/// each with `n` codes.
public struct ImageDataset: Equatable, Sendable {
    /// Short name (e.g. "fashion-mnist/train").
    public var name: String
    /// Images `[n, c, h, w]`.
    public var images: Tensor<Float>
    /// Label sets by name (e.g. "class", "coarse").
    public var labelSets: [String: LabelSet]

    /// - Precondition: `images` has rank 4 and every label set has `images.shape[0]` codes.
    public init(name: String, images: Tensor<Float>, labelSets: [String: LabelSet]) {
        precondition(images.rank == 4, "images must be [n, c, h, w], got \(images.shape)")
        precondition(labelSets.values.allSatisfy { $0.count == images.shape[0] },
                     "every label set needs \(images.shape[0]) codes")
        self.name = name
        self.images = images
        self.labelSets = labelSets
    }

    /// Number of images n.
    public var count: Int { images.shape[0] }
    /// Channels c.
    public var channels: Int { images.shape[1] }
    /// Height h in pixels.
    public var height: Int { images.shape[2] }
    /// Width w in pixels.
    public var width: Int { images.shape[3] }

    /// The label set called `name`.
    /// - Throws: `ImageDatasetError.missingLabelSet` listing the available ones.
    public func labels(_ labelSet: String) throws -> LabelSet {
        guard let l = labelSets[labelSet] else {
            throw ImageDatasetError.missingLabelSet(dataset: name, name: labelSet, available: labelSets.keys.sorted())
        }
        return l
    }

    /// The examples at `indices`, in that order (images and every label set).
    public func subset(_ indices: [Int]) -> ImageDataset {
        ImageDataset(name: name, images: images.gatherRows(indices),
                     labelSets: labelSets.mapValues { $0.gather(indices) })
    }

    /// Adds the coarse label set that `grouping` derives from its fine label set.
    /// - Throws: `ImageDatasetError.missingLabelSet`, or `LabelGroupingError`.
    public func addingGrouping(_ grouping: LabelGrouping, file: String = "<label grouping>") throws -> ImageDataset {
        var out = self
        let coarse = try grouping.coarseLabels(from: labels(grouping.fineLabelSet), file: file)
        out.labelSets[coarse.name] = coarse
        return out
    }
}

/// A dataset folder or label file that does not fit together.
public enum ImageDatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// None of the candidate file names exists in the folder.
    case missingFile(directory: String, candidates: [String])
    /// The image and label files hold different numbers of examples.
    case countMismatch(imagesFile: String, images: Int, labelsFile: String, labels: Int)
    /// A label code outside `0..<classCount`.
    case labelOutOfRange(file: String, index: Int, value: Int, classCount: Int)
    /// A label set that the dataset does not have.
    case missingLabelSet(dataset: String, name: String, available: [String])
    /// A negative subset size.
    case invalidLimit(field: String, value: Int)

    public var description: String {
        switch self {
        case let .missingFile(directory, candidates):
            return "\(directory): missing dataset file (looked for \(candidates.joined(separator: ", ")))"
        case let .countMismatch(imagesFile, images, labelsFile, labels):
            return "\(imagesFile) holds \(images) images but \(labelsFile) holds \(labels) labels (expected equal counts)"
        case let .labelOutOfRange(file, index, value, classCount):
            return "\(file): label \(index) is \(value), expected 0…\(classCount - 1)"
        case let .missingLabelSet(dataset, name, available):
            return "\(dataset): no label set \"\(name)\" (available: \(available.joined(separator: ", ")))"
        case let .invalidLimit(field, value):
            return "\(field) is \(value), expected ≥ 0"
        }
    }
}

/// Loader for any folder in the MNIST file layout: `train-images-idx3-ubyte[.gz]`,
/// `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`,
/// `t10k-labels-idx1-ubyte[.gz]` (also the `train-images.idx3-ubyte` spelling).
public enum MNISTFormat {
    /// Loads the train and test splits.
    /// - Parameters:
    ///   - directory: the folder holding the four files.
    ///   - datasetName: name prefix for the datasets ("<name>/train", "<name>/test").
    ///   - classNames: names of the fine labels (label set "class"); labels must be below its count.
    ///   - groupings: extra label sets derived from "class" (e.g. Fashion-MNIST's coarse groups).
    ///   - trainLimit, testLimit: keep only the first so many examples (files are still
    ///     validated whole).
    ///   - limits: IDX safety limits.
    /// - Returns: images `[n, 1, 28, 28]` in [0, 1] with label sets "class" and one per grouping.
    /// - Throws: `ImageDatasetError` (missing file, image/label count mismatch naming both
    ///   files, label out of range), `IDXError`, `LabelGroupingError`.
    public static func load(directory: URL, datasetName: String, classNames: [String],
                            groupings: [LabelGrouping] = [], trainLimit: Int? = nil, testLimit: Int? = nil,
                            limits: IDXLimits = IDXLimits()) throws -> (train: ImageDataset, test: ImageDataset) {
        if let l = trainLimit, l < 0 { throw ImageDatasetError.invalidLimit(field: "trainLimit", value: l) }
        if let l = testLimit, l < 0 { throw ImageDatasetError.invalidLimit(field: "testLimit", value: l) }
        let train = try loadSplit(directory: directory, prefix: "train", name: "\(datasetName)/train",
                                  classNames: classNames, groupings: groupings, limit: trainLimit, limits: limits)
        let test = try loadSplit(directory: directory, prefix: "t10k", name: "\(datasetName)/test",
                                 classNames: classNames, groupings: groupings, limit: testLimit, limits: limits)
        return (train, test)
    }

    /// Loads one split from an image file and a label file.
    /// - Throws: see `load(directory:...)`.
    public static func loadPair(imagesFile: URL, labelsFile: URL, name: String, classNames: [String],
                                groupings: [LabelGrouping] = [], limit: Int? = nil,
                                limits: IDXLimits = IDXLimits()) throws -> ImageDataset {
        let imageArray = try IDX.read(contentsOf: imagesFile, limits: limits)
        let labelArray = try IDX.read(contentsOf: labelsFile, limits: limits)
        let images = try IDX.images(from: imageArray, limit: limit)
        let codes = try IDX.labels(from: labelArray, limit: limit)  // checks ubyte × 1 dimension
        let nImages = imageArray.shape[0], nLabels = labelArray.shape[0]
        if nImages != nLabels {
            throw ImageDatasetError.countMismatch(imagesFile: imagesFile.path, images: nImages,
                                                  labelsFile: labelsFile.path, labels: nLabels)
        }
        if let bad = codes.firstIndex(where: { $0 >= classNames.count }) {
            throw ImageDatasetError.labelOutOfRange(file: labelsFile.path, index: bad, value: codes[bad], classCount: classNames.count)
        }
        var dataset = ImageDataset(name: name, images: images,
                                   labelSets: ["class": try LabelSet(name: "class", codes: codes, names: classNames)])
        for g in groupings { dataset = try dataset.addingGrouping(g) }
        return dataset
    }

    private static func loadSplit(directory: URL, prefix: String, name: String, classNames: [String],
                                  groupings: [LabelGrouping], limit: Int?, limits: IDXLimits) throws -> ImageDataset {
        let imagesFile = try find(directory, stems: ["\(prefix)-images-idx3-ubyte", "\(prefix)-images.idx3-ubyte"])
        let labelsFile = try find(directory, stems: ["\(prefix)-labels-idx1-ubyte", "\(prefix)-labels.idx1-ubyte"])
        return try loadPair(imagesFile: imagesFile, labelsFile: labelsFile, name: name, classNames: classNames,
                            groupings: groupings, limit: limit, limits: limits)
    }

    /// Whether `directory` holds MNIST-layout training images (`train-images-idx3-ubyte`, with
    /// or without `.gz`, or the `train-images.idx3-ubyte` spelling).
    public static func isMNISTLayout(_ directory: URL) -> Bool {
        (try? find(directory, stems: ["train-images-idx3-ubyte", "train-images.idx3-ubyte"])) != nil
    }

    private static func find(_ directory: URL, stems: [String]) throws -> URL {
        let candidates = stems.flatMap { [$0 + ".gz", $0] }
        for c in candidates {
            let url = directory.appendingPathComponent(c)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw ImageDatasetError.missingFile(directory: directory.path, candidates: candidates)
    }
}

/// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 28×28 grey images of 10 clothing classes,
/// 60 000 train / 10 000 test; with the coarse grouping of SCIENCE.md §5.
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist")

    /// The 10 fine class names, by label code.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// Coarse groups: tops {0, 2, 4, 6}, bottoms {1, 3}, footwear {5, 7, 9}, bags {8}
    /// (label set "coarse", 4 classes).
    public static let coarseGrouping = LabelGrouping(groups: [
        .init(name: "tops", members: [0, 2, 4, 6]),
        .init(name: "bottoms", members: [1, 3]),
        .init(name: "footwear", members: [5, 7, 9]),
        .init(name: "bags", members: [8]),
    ])

    /// Loads Fashion-MNIST with label sets "class" (10) and "coarse" (4).
    /// - Parameters:
    ///   - directory: folder with the four IDX files (default: the Debian package's folder).
    ///   - trainLimit, testLimit: keep only the first so many examples.
    /// - Returns: train and test datasets, images `[n, 1, 28, 28]` in [0, 1].
    /// - Throws: `ImageDatasetError`, `IDXError` (each names the file).
    public static func load(directory: URL = defaultDirectory, trainLimit: Int? = nil, testLimit: Int? = nil,
                            limits: IDXLimits = IDXLimits()) throws -> (train: ImageDataset, test: ImageDataset) {
        try MNISTFormat.load(directory: directory, datasetName: "fashion-mnist", classNames: classNames,
                             groupings: [coarseGrouping], trainLimit: trainLimit, testLimit: testLimit, limits: limits)
    }
}

/// MNIST handwritten digits (LeCun et al., 1998), same file layout as Fashion-MNIST.
public enum MNIST {
    /// Digit names "0"…"9".
    public static let classNames = (0..<10).map { String($0) }

    /// Loads MNIST from `directory` with label set "class" (10 digits).
    /// - Throws: `ImageDatasetError`, `IDXError`.
    public static func load(directory: URL, trainLimit: Int? = nil, testLimit: Int? = nil,
                            limits: IDXLimits = IDXLimits()) throws -> (train: ImageDataset, test: ImageDataset) {
        try MNISTFormat.load(directory: directory, datasetName: "mnist", classNames: classNames,
                             trainLimit: trainLimit, testLimit: testLimit, limits: limits)
    }
}
