import Foundation
import SwiftCSV

/// Errors raised while reading a CSV label table. Every case names the file.
public enum LabelTableError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read or is not valid UTF-8.
    case unreadable(file: String, reason: String)
    /// The CSV could not be parsed (SwiftCSV's message).
    case malformed(file: String, reason: String)
    /// The header row is missing or has an empty or duplicated column name.
    case badHeader(file: String, reason: String)
    /// The table has no data rows.
    case empty(file: String)
    /// A row has a different number of fields than the header.
    case raggedRow(file: String, line: Int, expected: Int, found: Int)
    /// A label cell is empty.
    case emptyCell(file: String, line: Int, column: String)
    /// A requested column is not in the header.
    case missingColumn(file: String, column: String, available: [String])
    /// The number of label rows differs from the number of embedding rows.
    case rowCountMismatch(file: String, rows: Int, embeddingsFile: String, embeddingRows: Int)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read label table: \(r)"
        case .malformed(let f, let r): return "\(f): malformed CSV: \(r)"
        case .badHeader(let f, let r): return "\(f): bad header row: \(r)"
        case .empty(let f): return "\(f): label table has a header but no data rows"
        case .raggedRow(let f, let l, let e, let n):
            return "\(f): line \(l) has \(n) fields, expected \(e) (one per header column)"
        case .emptyCell(let f, let l, let c): return "\(f): line \(l): empty label in column '\(c)'"
        case .missingColumn(let f, let c, let a):
            return "\(f): no column '\(c)' (columns: \(a.joined(separator: ", ")))"
        case .rowCountMismatch(let f, let r, let ef, let er):
            return "\(f): \(r) label rows, but \(ef) has \(er) embedding rows (they must match row for row)"
        }
    }
}

/// A table of label sets read from a CSV file with a header row: one column per label set,
/// one row per embedding row. Integer and string labels are both accepted (see
/// `LabelSet.init(name:values:)` for the code order). Parsing uses SwiftCSV (delimiter `,`; quoted fields allowed).
///
/// A first column with an empty name while every other column is named is the row index that
/// pandas' `DataFrame.to_csv` writes by default (header `,class,coarse`): it is ignored, and
/// `notes` says so. An empty name anywhere else is an error.
public struct LabelTable: Sendable, Equatable {
    /// The file the table came from (used in error messages).
    public var file: String
    /// Column names in header order.
    public var columns: [String]
    /// The label sets by column name.
    public var labelSets: [String: LabelSet]
    /// Number of data rows.
    public var rowCount: Int
    /// What the reader did beyond reading (an ignored index column), one sentence each naming
    /// the file; empty for a plain table.
    public var notes: [String] = []

    /// Reads a CSV label table.
    /// - Throws: `LabelTableError` naming the file and the problem (unreadable file, bad
    ///   header, no rows, a row with the wrong field count, an empty cell).
    public init(contentsOf url: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw LabelTableError.unreadable(file: url.path, reason: "a directory, not a CSV file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw LabelTableError.unreadable(file: url.path, reason: (error as NSError).localizedDescription)
        }
        try self.init(csvData: data, file: url.path)
    }

    /// Parses the bytes of a CSV file (UTF-8, an optional byte-order mark is skipped); `file`
    /// names the source in errors.
    /// - Throws: `LabelTableError.unreadable` naming the offset of the first byte that is not
    ///   UTF-8, or the errors of `init(csv:file:)`.
    public init(csvData data: Data, file: String) throws {
        var bytes = [UInt8](data)
        let bom = bytes.starts(with: [0xEF, 0xBB, 0xBF])
        if bom { bytes.removeFirst(3) }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = bom ? 3 : 0
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: break decoding
            case .error:
                throw LabelTableError.unreadable(file: file, reason: "not valid UTF-8 (first invalid byte at offset \(offset))")
            }
        }
        try self.init(csv: String(decoding: bytes, as: UTF8.self), file: file)
    }

    /// Parses CSV text; `file` names the source in errors.
    /// - Throws: `LabelTableError` (`.malformed` for a quoted field that never closes).
    public init(csv text: String, file: String) throws {
        // SwiftCSV silently takes an unterminated quote as a field running to the end of the
        // file (merging every row after it into one label); reject it instead.
        var inQuotes = false, line = 1, openedOn = 0
        for u in text.utf8 {
            if u == UInt8(ascii: "\"") {
                inQuotes.toggle()
                if inQuotes { openedOn = line }
            } else if u == UInt8(ascii: "\n") {
                line += 1
            }
        }
        if inQuotes {
            throw LabelTableError.malformed(file: file, reason: "unterminated quoted field starting on line \(openedOn)")
        }
        let parsed: EnumeratedCSV
        do {
            parsed = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw LabelTableError.malformed(file: file, reason: "\(error)")
        }
        var header = parsed.header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !header.isEmpty, !(header.count == 1 && header[0].isEmpty) else {
            throw LabelTableError.badHeader(file: file, reason: "no header row")
        }
        // pandas' index column: unnamed first column, every other column named.
        let skip = header.count >= 2 && header[0].isEmpty && !header[1...].contains(where: \.isEmpty) ? 1 : 0
        var notes: [String] = []
        if skip == 1 {
            header.removeFirst()
            notes.append("\(file): the first column has no name (the row index pandas' to_csv writes); it was ignored, "
                         + "the label columns are \(header.joined(separator: ", "))")
        }
        if let i = header.firstIndex(where: { $0.isEmpty }) {
            throw LabelTableError.badHeader(file: file, reason: "column \(i + 1 + skip) has an empty name")
        }
        if Set(header).count != header.count {
            let dup = header.first { name in header.filter { $0 == name }.count > 1 }!
            throw LabelTableError.badHeader(file: file, reason: "column name '\(dup)' appears twice")
        }
        var rows = parsed.rows
        // A trailing blank line is not a row.
        while let last = rows.last, last.allSatisfy({ $0.isEmpty }) { rows.removeLast() }
        guard !rows.isEmpty else { throw LabelTableError.empty(file: file) }
        // SwiftCSV pads every row to the longest one; a row longer than the header shows as
        // extra fields, a short row as empty trailing fields (reported as an empty cell below).
        var values = Array(repeating: [String](), count: header.count)
        for v in values.indices { values[v].reserveCapacity(rows.count) }
        let width = header.count + skip   // fields per row, the index column included
        for (r, row) in rows.enumerated() {
            let line = r + 2
            if row.count > width, row[width...].contains(where: { !$0.isEmpty }) {
                throw LabelTableError.raggedRow(file: file, line: line, expected: width,
                                                found: row.lastIndex(where: { !$0.isEmpty })! + 1)
            }
            for c in 0..<header.count {
                let cell = c + skip < row.count ? row[c + skip].trimmingCharacters(in: .whitespaces) : ""
                if cell.isEmpty { throw LabelTableError.emptyCell(file: file, line: line, column: header[c]) }
                values[c].append(cell)
            }
        }
        for (c, name) in header.enumerated() {
            if let note = Self.mostlyNumericNote(values[c], column: name, file: file) { notes.append(note) }
        }
        self.file = file
        self.columns = header
        self.rowCount = rows.count
        self.notes = notes
        var sets: [String: LabelSet] = [:]
        for (c, name) in header.enumerated() { sets[name] = LabelSet(name: name, values: values[c]) }
        self.labelSets = sets
    }

    /// A note for a column whose cells are numbers except a few (at most a tenth of them): such
    /// a column is read as text labels, each distinct value its own class, so a typo such as
    /// `1.5.0` or `abc` among numbers is likely a mistake worth a look. Names up to three of the
    /// cells with their line numbers (line 1 is the header). Nil for a column of numbers only,
    /// of text, or of mostly text.
    static func mostlyNumericNote(_ cells: [String], column: String, file: String) -> String? {
        var odd: [Int] = []
        for (r, cell) in cells.enumerated() where Double(cell) == nil {
            odd.append(r)
            if odd.count * 10 > cells.count { return nil }
        }
        guard !odd.isEmpty else { return nil }
        let shown = odd.prefix(3).map { "line \($0 + 2): '\(cells[$0])'" }.joined(separator: ", ")
        let more = odd.count > 3 ? " and \(odd.count - 3) more" : ""
        return "\(file): column '\(column)' holds numbers except \(odd.count) of its \(cells.count) cells (\(shown)\(more)); "
            + "it is read as text labels, each distinct value a class of its own"
    }

    /// The label set in column `name`.
    /// - Throws: `LabelTableError.missingColumn` naming the file and the available columns.
    public func labels(_ name: String) throws -> LabelSet {
        guard let l = labelSets[name] else {
            throw LabelTableError.missingColumn(file: file, column: name, available: columns)
        }
        return l
    }

    /// Checks that the table has exactly `rows` rows (one per embedding row of `embeddingsFile`).
    /// - Throws: `LabelTableError.rowCountMismatch`.
    public func requireRowCount(_ rows: Int, embeddingsFile: String) throws {
        guard rowCount == rows else {
            throw LabelTableError.rowCountMismatch(file: file, rows: rowCount, embeddingsFile: embeddingsFile, embeddingRows: rows)
        }
    }
}
