import Foundation
import FeatureLensNumerics

/// Errors raised when a dataset or label set does not fit together.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    /// A label set has `count` labels but the features have `expected` rows.
    case labelCountMismatch(labelSet: String, count: Int, expected: Int)
    /// A label value is negative (labels must be class indices 0, 1, 2, …).
    case negativeLabel(labelSet: String, index: Int, value: Int)
    /// `names` was given but does not have one entry per class index.
    case nameCountMismatch(labelSet: String, names: Int, classes: Int)
    /// The features are not a rank-2 `[n, d]` tensor.
    case featuresNotRank2(shape: [Int])
    /// A label set is nested `within` a parent that the dataset does not hold.
    case unknownParent(labelSet: String, parent: String)
    /// A planted-direction matrix has the wrong number of columns.
    case plantedShape(name: String, shape: [Int], expectedColumns: Int)

    public var description: String {
        switch self {
        case let .labelCountMismatch(l, c, e):
            return "label set '\(l)': \(c) labels, expected one per feature row (\(e))"
        case let .negativeLabel(l, i, v):
            return "label set '\(l)': label \(v) at row \(i) is negative; expected a class index ≥ 0"
        case let .nameCountMismatch(l, n, c):
            return "label set '\(l)': \(n) names for \(c) classes; expected one name per class index"
        case let .featuresNotRank2(s):
            return "dataset features: shape \(s); expected a rank-2 [n, d] tensor"
        case let .unknownParent(l, p):
            return "label set '\(l)': within '\(p)', which is not a label set of this dataset"
        case let .plantedShape(n, s, e):
            return "planted direction '\(n)': shape \(s); expected [k, \(e)] with orthonormal rows"
        }
    }
}

/// One named labelling of a dataset's rows: an integer class code per row, optional class
/// names and, optionally, the label set it is nested `within`.
///
/// The one label-set type of FeatureLens: synthetic datasets (`Dataset`), image datasets
/// (`ImageDataset`), RandBits, CSV label tables (`LabelTable`) and the audit all use it.
/// "Which features did the encoder learn" is answered per label set: a probe is fit to read
/// each label set from the embedding (SCIENCE.md §5).
public struct LabelSet: Codable, Equatable, Sendable {
    /// Label-set name (e.g. `class`, `subclass`, `coarse`, `bit3`, a CSV column name).
    public var name: String
    /// Class code of every row, `[n]`, values in `0..<classCount`.
    public var codes: [Int]
    /// Optional human-readable class names, indexed by code (at least one per code in use).
    public var names: [String]?
    /// When set, the label set is probed **within each group** of this other label set, by the
    /// rule of `WithinGroups` (e.g. `subclass` within `class`, SCIENCE.md §5).
    public var within: String?

    /// Creates a label set.
    /// - Parameters:
    ///   - name: the label-set name (used in errors and reports).
    ///   - codes: class code per row, each ≥ 0 (and below `names.count` when names are given).
    ///   - names: class names by code, or nil.
    ///   - within: the label set whose groups this one is probed within, or nil.
    /// - Throws: `DatasetError.negativeLabel` for a negative code, and
    ///   `DatasetError.nameCountMismatch` when `names` does not cover every code in use.
    public init(name: String, codes: [Int], names: [String]? = nil, within: String? = nil) throws {
        if let i = codes.firstIndex(where: { $0 < 0 }) {
            throw DatasetError.negativeLabel(labelSet: name, index: i, value: codes[i])
        }
        let classes = (codes.max() ?? -1) + 1
        if let names = names, names.count < classes {
            throw DatasetError.nameCountMismatch(labelSet: name, names: names.count, classes: classes)
        }
        self.name = name
        self.codes = codes
        self.names = names
        self.within = within
    }

    /// Encodes raw string values, for example a CSV column. Codes follow the sorted order of
    /// the distinct values: numerically when every value is an integer (so `"2" < "10"`),
    /// otherwise by string comparison; `names` holds the value of each code.
    public init(name: String, values: [String]) {
        let unique = Array(Set(values))
        let trimmed = { (v: String) in v.trimmingCharacters(in: .whitespaces) }
        let sorted: [String]
        if unique.allSatisfy({ Int(trimmed($0)) != nil }) {
            sorted = unique.sorted { Int(trimmed($0))! < Int(trimmed($1))! }
        } else {
            sorted = unique.sorted()
        }
        var index: [String: Int] = [:]
        for (k, v) in sorted.enumerated() { index[v] = k }
        self.name = name
        self.codes = values.map { index[$0]! }
        self.names = sorted
        self.within = nil
    }

    /// Number of classes: `max(code) + 1`, or `names.count` if larger.
    public var classCount: Int { max((codes.max() ?? -1) + 1, names?.count ?? 0) }
    /// Number of rows n.
    public var count: Int { codes.count }
    /// The class names, or the codes written as decimal strings ("0", "1", …) when the label
    /// set has none: `[classCount]`.
    public var classNames: [String] { names ?? (0..<classCount).map { String($0) } }
    /// The class name of every row: `[n]`.
    public var values: [String] { let n = classNames; return codes.map { n[$0] } }

    /// The rows at `indices`, in that order (same name, names and `within`).
    public func gather(_ indices: [Int]) -> LabelSet {
        var out = self
        out.codes = indices.map { codes[$0] }
        return out
    }

    /// Re-encodes two label sets of the same name (say from a train and a test table) over the
    /// union of their values, so that equal values get equal codes in both (see
    /// `init(name:values:)` for the code order).
    public static func unified(_ a: LabelSet, _ b: LabelSet) -> (LabelSet, LabelSet) {
        let joint = LabelSet(name: a.name, values: a.values + b.values)
        var x = joint, y = joint
        x.codes = Array(joint.codes[0..<a.count]); x.within = a.within
        y.codes = Array(joint.codes[a.count...]); y.within = b.within
        return (x, y)
    }
}

/// A feature matrix with named label sets, plus (for synthetic data) the planted direction of
/// each labelled factor.
///
/// The synthetic models of docs/SCIENCE.md §2 fill `labels` with
/// every latent factor they plant and `plantedDirections` with the directions they use.
public struct Dataset: Sendable {
    /// Inputs, `[n, d]`.
    public var features: Tensor<Double>
    /// Label sets by name (`class`, `subclass`, `easy0`, …), each with `n` codes (the key is
    /// the name reports use).
    public var labels: [String: LabelSet]
    /// For synthetic data: the orthonormal directions each factor is planted along, by name,
    /// each `[k, d]` (k = 1 for a single direction, k = m for a block such as ζ). A name may
    /// also denote a factor without a label set (e.g. `zeta`, the FS-b nuisance block).
    public var plantedDirections: [String: Tensor<Double>]

    /// Creates a dataset, checking that every label set has one label per row.
    /// - Throws: `DatasetError` naming the label set and the expected value.
    public init(features: Tensor<Double>, labels: [String: LabelSet],
                plantedDirections: [String: Tensor<Double>] = [:]) throws {
        guard features.rank == 2 else { throw DatasetError.featuresNotRank2(shape: features.shape) }
        let n = features.shape[0], d = features.shape[1]
        for (name, set) in labels {
            guard set.codes.count == n else {
                throw DatasetError.labelCountMismatch(labelSet: name, count: set.codes.count, expected: n)
            }
            if let names = set.names, names.count < set.classCount {
                throw DatasetError.nameCountMismatch(labelSet: name, names: names.count, classes: set.classCount)
            }
            if let parent = set.within, labels[parent] == nil {
                throw DatasetError.unknownParent(labelSet: name, parent: parent)
            }
        }
        for (name, dir) in plantedDirections where dir.rank != 2 || dir.shape[1] != d {
            throw DatasetError.plantedShape(name: name, shape: dir.shape, expectedColumns: d)
        }
        self.features = features
        self.labels = labels
        self.plantedDirections = plantedDirections
    }

    /// Number of rows n.
    public var count: Int { features.shape[0] }
    /// Input dimension d.
    public var dimension: Int { features.shape[1] }
    /// Label-set names in a stable order (`class`, `subclass`, `easy0`, … first, then the rest sorted).
    public var labelSetNames: [String] { orderedLabelNames(Array(labels.keys)) }
}

/// Orders label-set names for reports: `class`, `subclass`, then `easy0…` numerically, then the rest.
func orderedLabelNames(_ names: [String]) -> [String] {
    func key(_ s: String) -> (Int, Int, String) {
        if s == "class" { return (0, 0, s) }
        if s == "subclass" { return (1, 0, s) }
        if s.hasPrefix("easy"), let k = Int(s.dropFirst(4)) { return (2, k, s) }
        return (3, 0, s)
    }
    return names.sorted { key($0) < key($1) }
}
