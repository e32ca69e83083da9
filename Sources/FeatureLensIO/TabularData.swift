// Plain feature matrices from CSV, so users can train on their own tabular data.
//
// Format: comma-separated numbers, one example per line; an optional header row (detected
// when any field of the first row is not a number); blank lines are skipped; CRLF accepted.
// A header whose first field alone is empty (pandas' `to_csv` with its row index) marks an
// index column: it is dropped, with a note.
// No quoting inside numeric rows. Labels come from a separate labels CSV (LabelTable.swift);
// NPY feature files are read by NPY.swift.
import Foundation
import FeatureLensNumerics

/// A malformed feature-matrix file. Every case names the file and, where it applies, the
/// line (1-based) and column (1-based).
public enum TabularDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be read.
    case unreadable(file: String, reason: String)
    /// The file has no bytes (or only blank lines).
    case empty(file: String)
    /// The file is not valid UTF-8.
    case notUTF8(file: String)
    /// A header but no data rows.
    case noDataRows(file: String)
    /// A row with a different number of fields from the first row.
    case raggedRow(file: String, line: Int, expected: Int, found: Int)
    /// A field that is not a number.
    case notANumber(file: String, line: Int, column: Int, text: String)
    /// A field that is NaN or infinite.
    case nonFinite(file: String, line: Int, column: Int, text: String)
    /// An element of a binary (NPY) feature matrix that is NaN or infinite; `row` and `column`
    /// count from 1.
    case nonFiniteElement(file: String, row: Int, column: Int, text: String)
    /// A file extension this reader does not handle.
    case unsupportedFormat(file: String, extension: String, supported: [String])

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read feature file: \(reason)"
        case let .empty(file):
            return "\(file): empty feature file (expected comma-separated numbers, one example per line)"
        case let .notUTF8(file):
            return "\(file): feature file is not valid UTF-8 text"
        case let .noDataRows(file):
            return "\(file): feature file has a header but no data rows"
        case let .raggedRow(file, line, expected, found):
            return "\(file):\(line): expected \(expected) fields (as in the first row), found \(found)"
        case let .notANumber(file, line, column, text):
            return "\(file):\(line): column \(column) is \"\(text.prefix(40))\", expected a number"
        case let .nonFinite(file, line, column, text):
            return "\(file):\(line): column \(column) is \"\(text)\", expected a finite number"
        case let .nonFiniteElement(file, row, column, text):
            return "\(file): row \(row), column \(column) (counting from 1) is \(text), expected a finite number"
        case let .unsupportedFormat(file, ext, supported):
            return "\(file): unsupported feature file extension \".\(ext)\" (supported: \(supported.joined(separator: ", ")))"
        }
    }
}

/// A feature matrix read from a file: `values` is `[n, d]`.
public struct FeatureMatrix: Equatable, Sendable {
    /// Source file (for error messages downstream).
    public var file: String
    /// Column names from the header row, or "x1"…"xd" when there is none.
    public var columnNames: [String]
    /// The features, `[n, d]`, all finite.
    public var values: Tensor<Double>
    /// What the reader converted or ignored (float16 or Fortran-order NPY data, a pandas index
    /// column), one sentence each naming the file; empty when the file was read as stored.
    public var notes: [String] = []
}

/// Readers for plain feature matrices.
public enum TabularFeatures {
    /// Whether the first CSV row is a header.
    public enum Header: Sendable {
        /// A header when any field of the first row does not parse as a number.
        case auto
        /// The first row is a header.
        case present
        /// The first row is data.
        case absent
    }

    /// Reads a feature matrix, choosing the reader by extension (`.csv`, `.txt`).
    /// NPY files go through `NPY` (NPY.swift); this entry point covers the text formats.
    /// - Throws: `TabularDataError` (including `.unsupportedFormat` for other extensions).
    public static func read(contentsOf url: URL, header: Header = .auto) throws -> FeatureMatrix {
        let ext = url.pathExtension.lowercased()
        if ext == "npy" {
            var notes: [String] = []
            let values = try NPY.readMatrix(url, notes: &notes)
            if let bad = values.scalars.firstIndex(where: { !$0.isFinite }) {
                let d = max(1, values.shape[1])
                throw TabularDataError.nonFiniteElement(file: url.path, row: bad / d + 1, column: bad % d + 1,
                                                        text: String(describing: values.scalars[bad]))
            }
            return FeatureMatrix(file: url.path, columnNames: (0..<values.shape[1]).map { "x\($0 + 1)" }, values: values,
                                 notes: notes)
        }
        guard ext == "csv" || ext == "txt" else {
            throw TabularDataError.unsupportedFormat(file: url.path, extension: ext, supported: ["csv", "txt", "npy"])
        }
        return try readCSV(contentsOf: url, header: header)
    }

    /// Reads a CSV feature matrix.
    /// - Returns: `[n, d]` finite Doubles and the column names.
    /// - Throws: `TabularDataError` naming the file, line and column.
    public static func readCSV(contentsOf url: URL, header: Header = .auto) throws -> FeatureMatrix {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TabularDataError.unreadable(file: url.path, reason: (error as NSError).localizedDescription)
        }
        return try parseCSV(data, file: url.path, header: header)
    }

    /// Parses CSV bytes into a feature matrix.
    /// - Throws: `TabularDataError` naming `file`, the line and the column.
    public static func parseCSV(_ data: Data, file: String, header: Header = .auto) throws -> FeatureMatrix {
        if data.isEmpty { throw TabularDataError.empty(file: file) }
        guard let text = String(data: data, encoding: .utf8) else { throw TabularDataError.notUTF8(file: file) }
        var rows: [(line: Int, fields: [Substring])] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift, so split on both forms.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = rawLine
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            rows.append((lineNumber, line.split(separator: ",", omittingEmptySubsequences: false)))
        }
        guard let first = rows.first else { throw TabularDataError.empty(file: file) }
        let d = first.fields.count
        let firstIsHeader: Bool
        switch header {
        case .present: firstIsHeader = true
        case .absent: firstIsHeader = false
        case .auto: firstIsHeader = first.fields.contains { parseNumber($0) == nil }
        }
        var names = firstIsHeader
            ? first.fields.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"")) }
            : (1...max(1, d)).map { "x\($0)" }
        // pandas' index column: the first header field alone is empty.
        let skip = firstIsHeader && d >= 2 && names[0].isEmpty && !names[1...].contains(where: \.isEmpty) ? 1 : 0
        var notes: [String] = []
        if skip == 1 {
            names.removeFirst()
            notes.append("\(file): the first column has no name (the row index pandas' to_csv writes); it was ignored")
        }
        let body = firstIsHeader ? rows.dropFirst() : rows[...]
        guard !body.isEmpty else { throw TabularDataError.noDataRows(file: file) }
        var values: [Double] = []
        values.reserveCapacity(body.count * (d - skip))
        for row in body {
            guard row.fields.count == d else {
                throw TabularDataError.raggedRow(file: file, line: row.line, expected: d, found: row.fields.count)
            }
            for (j, f) in row.fields.enumerated() where j >= skip {
                guard let v = parseNumber(f) else {
                    throw TabularDataError.notANumber(file: file, line: row.line, column: j + 1,
                                                      text: f.trimmingCharacters(in: .whitespaces))
                }
                guard v.isFinite else {
                    throw TabularDataError.nonFinite(file: file, line: row.line, column: j + 1,
                                                     text: f.trimmingCharacters(in: .whitespaces))
                }
                values.append(v)
            }
        }
        return FeatureMatrix(file: file, columnNames: names, values: Tensor(shape: [body.count, d - skip], scalars: values),
                             notes: notes)
    }

    /// A number, or nil; surrounding spaces are allowed; "nan"/"inf" parse (and are then
    /// rejected as non-finite with their own message).
    static func parseNumber(_ s: Substring) -> Double? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        return Double(t)
    }
}
