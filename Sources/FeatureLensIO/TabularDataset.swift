// A user's feature matrix and labels table as a training set for the mini-batch engine.
//
//   features  [n, d]  (.npy or .csv, TabularData.swift / NPY.swift)
//   labels    n rows, one column per label set (LabelTable.swift)
//      │  row counts must match
//      ▼
//   seeded split: π = SeededGenerator(seed: split_seed).permutation(n);
//                 the first n − n_test rows of π train, the last n_test = round(test_fraction · n) test
//      ▼
//   standardization on the training rows: x'_ij = (x_ij − μ_j) / σ_j with μ_j, σ_j the mean and
//   population standard deviation of column j over the training rows; a column that is constant
//   on the training rows is 0 in every row (train and test)
//      ▼
//   ImageDataset [n, 1, 1, d] per split (one channel, one row of d "pixels"), so the MLP
//   encoder, the augmentations and the Trainer take it unchanged.
import Foundation
import FeatureLensNumerics

/// A feature matrix and labels table that do not fit together or cannot be split.
public enum TabularDatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The labels table has a different number of rows from the feature matrix.
    case rowCountMismatch(featuresFile: String, featureRows: Int, labelsFile: String, labelRows: Int)
    /// `test_fraction` leaves fewer than 2 training or 2 test rows.
    case badSplit(testFraction: Double, rows: Int, train: Int, test: Int)
    /// The feature matrix has no columns.
    case noFeatures(file: String)
    /// A labels column that is not a label set: a distinct value on more than half the rows
    /// (an identifier or a continuous quantity; a probe would fit one class per row), or one
    /// value on every row (nothing to tell apart).
    case notALabelSet(file: String, column: String, distinct: Int, rows: Int)
    /// A labels file whose only column name holds `;` or a tab: a file with another separator
    /// (FeatureLens reads comma-separated values).
    case notCommaSeparated(file: String, header: String)

    public var description: String {
        switch self {
        case let .rowCountMismatch(ff, fr, lf, lr):
            return "\(lf) has \(lr) label rows but \(ff) has \(fr) feature rows (data and labels must match row for row)"
        case let .badSplit(f, n, tr, te):
            return "test_fraction = \(f) of \(n) rows gives \(tr) training and \(te) test rows; expected ≥ 2 of each"
        case let .noFeatures(file):
            return "\(file): the feature matrix has no columns (expected [n, d] with d ≥ 1)"
        case let .notALabelSet(file, column, distinct, rows) where distinct < 2:
            return "\(file): column '\(column)' has one value in all \(rows) rows: nothing to tell apart, not a label set; remove the column"
        case let .notALabelSet(file, column, distinct, rows):
            return "\(file): column '\(column)' has \(distinct) distinct values in \(rows) rows: an identifier or a "
                + "continuous value, not a label set (expected at most half as many classes as rows); remove the column"
        case let .notCommaSeparated(file, header):
            return "\(file): the header '\(header)' is one column holding ';' or a tab; expected comma-separated values "
                + "(save the file as CSV with commas)"
        }
    }
}

/// The per-column standardization fitted on the training rows: x' = (x − mean) / std, and
/// x' = 0 for a column that is constant on the training rows.
public struct FeatureStandardization: Codable, Equatable, Sendable {
    /// Mean μ_j of every column over the training rows, `[d]`.
    public var mean: [Double]
    /// Population standard deviation σ_j (divisor n_train) of every column over the training
    /// rows, `[d]`; 0 for a constant column.
    public var standardDeviation: [Double]
    /// Indices of the columns constant on the training rows (set to 0 everywhere).
    public var constantColumns: [Int]

    /// Fits μ and σ on the rows `rows` of `x` (`[n, d]`).
    public init(fitting x: Tensor<Double>, rows: [Int]) {
        let d = x.shape[1]
        var mean = [Double](repeating: 0, count: d), lo = [Double](repeating: .infinity, count: d)
        var hi = [Double](repeating: -.infinity, count: d)
        for r in rows {
            for j in 0..<d {
                let v = x.scalars[r * d + j]
                mean[j] += v; lo[j] = min(lo[j], v); hi[j] = max(hi[j], v)
            }
        }
        let n = Double(max(1, rows.count))
        for j in 0..<d { mean[j] /= n }
        var variance = [Double](repeating: 0, count: d)
        for r in rows {
            for j in 0..<d { let c = x.scalars[r * d + j] - mean[j]; variance[j] += c * c }
        }
        // Constant means equal values on every training row (an exact test: the mean of equal
        // values may differ from them by rounding, and dividing that by a tiny σ would blow it up).
        constantColumns = (0..<d).filter { lo[$0] == hi[$0] }
        standardDeviation = (0..<d).map { lo[$0] == hi[$0] ? 0 : (variance[$0] / n).squareRoot() }
        self.mean = mean
    }

    /// The rows `rows` of `x` standardized, as Float `[rows.count, d]`.
    public func apply(_ x: Tensor<Double>, rows: [Int]) -> Tensor<Float> {
        let d = x.shape[1]
        var out = [Float](repeating: 0, count: rows.count * d)
        for (i, r) in rows.enumerated() {
            for j in 0..<d where standardDeviation[j] > 0 {
                out[i * d + j] = Float((x.scalars[r * d + j] - mean[j]) / standardDeviation[j])
            }
        }
        return Tensor(shape: [rows.count, d], scalars: out)
    }
}

/// A feature matrix with its label table, split into training and test rows and standardized
/// on the training rows (see the top of this file). Each split is an `ImageDataset` of shape
/// `[n_split, 1, 1, d]` with one label set per labels column.
public struct TabularDataset: Sendable {
    /// Training rows `[n − n_test, 1, 1, d]`, in the order of the split permutation.
    public var train: ImageDataset
    /// Test rows `[n_test, 1, 1, d]`, in the order of the split permutation.
    public var test: ImageDataset
    /// Label-set names in the labels file's column order.
    public var labelNames: [String]
    /// Feature column names (the CSV header, or x1…xd).
    public var featureNames: [String]
    /// Row indices (0-based, file order) of the training rows, then of the test rows.
    public var trainRows: [Int], testRows: [Int]
    /// μ and σ fitted on the training rows.
    public var standardization: FeatureStandardization
    /// What the readers converted or ignored (see `FeatureMatrix.notes`, `LabelTable.notes`).
    public var notes: [String]

    /// Reads `features` (`.npy`, `.csv` or `.txt`) and `labels` (CSV with a header row) and
    /// splits them.
    /// - Parameters:
    ///   - testFraction: fraction of the rows held out for testing, in (0, 1).
    ///   - splitSeed: seed of the split permutation.
    /// - Throws: `TabularDataError`, `NPYError`, `LabelTableError` for unreadable or malformed
    ///   files (each names its file); `TabularDatasetError` for a row-count mismatch (naming both
    ///   files and both counts) or a split with fewer than 2 rows on a side.
    public static func load(features: URL, labels: URL, testFraction: Double, splitSeed: UInt64) throws -> TabularDataset {
        let matrix = try TabularFeatures.read(contentsOf: features)
        let table = try LabelTable(contentsOf: labels)
        return try split(matrix, labels: table, testFraction: testFraction, splitSeed: splitSeed)
    }

    /// Splits and standardizes an already read matrix and table (see `load`).
    /// - Throws: `TabularDatasetError`.
    public static func split(_ matrix: FeatureMatrix, labels table: LabelTable, testFraction: Double,
                             splitSeed: UInt64) throws -> TabularDataset {
        let n = matrix.values.shape[0], d = matrix.values.shape[1]
        guard table.rowCount == n else {
            throw TabularDatasetError.rowCountMismatch(featuresFile: matrix.file, featureRows: n,
                                                       labelsFile: table.file, labelRows: table.rowCount)
        }
        guard d >= 1 else { throw TabularDatasetError.noFeatures(file: matrix.file) }
        if table.columns.count == 1, let only = table.columns.first, only.contains(";") || only.contains("\t") {
            throw TabularDatasetError.notCommaSeparated(file: table.file, header: only)
        }
        // An id or a measurement exported with the labels (one class per row or nearly), or a
        // column with a single value.
        for column in table.columns {
            guard let set = table.labelSets[column] else { continue }
            let distinct = Set(set.codes).count
            if distinct > n / 2 || distinct < 2 {
                throw TabularDatasetError.notALabelSet(file: table.file, column: column, distinct: distinct, rows: n)
            }
        }
        let nTest = testFraction > 0 && testFraction < 1 ? Int((testFraction * Double(n)).rounded()) : 0
        guard nTest >= 2, n - nTest >= 2 else {
            throw TabularDatasetError.badSplit(testFraction: testFraction, rows: n, train: n - nTest, test: nTest)
        }
        var g = SeededGenerator(seed: splitSeed)
        let order = g.permutation(n)
        let trainRows = Array(order[0..<(n - nTest)]), testRows = Array(order[(n - nTest)...])
        let standardization = FeatureStandardization(fitting: matrix.values, rows: trainRows)
        func dataset(_ rows: [Int], _ name: String) -> ImageDataset {
            let x = standardization.apply(matrix.values, rows: rows)
            return ImageDataset(name: name, images: x.reshaped([rows.count, 1, 1, d]),
                                labelSets: table.labelSets.mapValues { $0.gather(rows) })
        }
        let base = URL(fileURLWithPath: matrix.file).lastPathComponent
        return TabularDataset(train: dataset(trainRows, "\(base)/train"), test: dataset(testRows, "\(base)/test"),
                              labelNames: table.columns, featureNames: matrix.columnNames,
                              trainRows: trainRows, testRows: testRows, standardization: standardization,
                              notes: matrix.notes + table.notes)
    }
}
