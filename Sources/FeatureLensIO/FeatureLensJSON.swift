import Foundation

/// The one configured JSON coder of the project: every JSON file FeatureLens writes or reads
/// (config.json, report.json, checkpoint metadata, `--json` output, label groupings) goes
/// through it, so all of them agree on the format:
///
/// - keys sorted, text pretty-printed (two-space indent; `pretty: false` gives one line, for
///   JSON embedded in another file such as a checkpoint's metadata);
/// - non-finite reals written as the strings `"nan"`, `"inf"` and `"-inf"`, and read back from
///   them (plain JSON has no NaN or ∞);
/// - reals in their shortest round-trip form (Foundation's default), so they read back bit
///   for bit.
///
/// Depends on Foundation only.
public enum FeatureLensJSON {
    /// A new encoder with the project's settings.
    /// - Parameter pretty: pretty-printed (default) or one line; keys are sorted either way.
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// A new decoder with the project's settings (reads `"nan"`, `"inf"`, `"-inf"` as reals).
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The project's spelling of a non-finite real (`"nan"`, `"inf"`, `"-inf"`, as the
    /// encoder writes it), or nil for a finite one. Also used for CSV cells.
    public static func nonFiniteText(_ x: Double) -> String? {
        x.isFinite ? nil : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
    }

    /// A JSON object built of dictionaries, arrays, strings and numbers (`--json` summaries)
    /// as JSON bytes in the project's format: keys sorted, pretty-printed unless `pretty` is
    /// false, and every non-finite `Double` or `Float`, at any depth, written as its string
    /// (`nonFiniteText`), which JSONSerialization alone refuses.
    /// - Throws: JSONSerialization's error for a value that is not JSON (e.g. a `Date`).
    public static func data(jsonObject: Any, pretty: Bool = true) throws -> Data {
        try JSONSerialization.data(withJSONObject: replacingNonFinite(jsonObject),
                                   options: pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys])
    }

    /// `value` with every non-finite `Double` or `Float` replaced by its string.
    static func replacingNonFinite(_ value: Any) -> Any {
        switch value {
        case let d as Double where !d.isFinite: return nonFiniteText(d)!
        case let f as Float where !f.isFinite: return nonFiniteText(Double(f))!
        case let array as [Any]: return array.map(replacingNonFinite)
        case let dictionary as [String: Any]: return dictionary.mapValues(replacingNonFinite)
        default: return value
        }
    }

    /// `value` as JSON bytes (see `encoder(pretty:)`).
    /// - Throws: `EncodingError` from the value's `encode(to:)`.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        try encoder(pretty: pretty).encode(value)
    }

    /// `value` as JSON text (see `encoder(pretty:)`).
    /// - Throws: `EncodingError` from the value's `encode(to:)`.
    public static func string<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
        String(decoding: try encode(value, pretty: pretty), as: UTF8.self)
    }

    /// Decodes `type` from `data`. With `file`, any decoding error becomes a `JSONFileError`
    /// naming the file and the field (`base.lr`, `runs[0].timeline`).
    /// - Throws: `JSONFileError` when `file` is given, else the decoder's `DecodingError`.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, file: String? = nil) throws -> T {
        do { return try decoder().decode(type, from: data) } catch let e as DecodingError {
            guard let file else { throw e }
            throw JSONFileError(file: file, error: e)
        }
    }

    /// The field a decoding error is about, as a dotted path (`base.lr`, `runs[0].step`),
    /// or nil at the top level.
    public static func fieldPath(_ error: DecodingError) -> String? {
        let keys: [CodingKey]
        switch error {
        case let .keyNotFound(k, c): keys = c.codingPath + [k]
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): keys = c.codingPath
        @unknown default: return nil
        }
        if keys.isEmpty { return nil }
        var out = ""
        for k in keys {
            if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
        }
        return out
    }

    /// One line describing a decoding error without its field path (see `fieldPath(_:)`).
    public static func message(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(k, _): return "missing key '\(k.stringValue)'"
        case let .typeMismatch(t, c): return "wrong type: expected \(typeName(t)) (\(c.debugDescription))"
        case let .valueNotFound(t, _): return "missing value: expected \(typeName(t))"
        case let .dataCorrupted(c):
            if let u = c.underlyingError as NSError?, c.codingPath.isEmpty {
                return "not valid JSON (\(u.userInfo[NSDebugDescriptionErrorKey] as? String ?? u.localizedDescription))"
            }
            return c.debugDescription
        @unknown default: return "\(error)"
        }
    }

    private static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type, is UInt64.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(t)"
        }
    }
}

/// A JSON file that could not be decoded: names the file, the field (a dotted path such as
/// `base.temperature`, nil for the whole file) and what is wrong.
public struct JSONFileError: Error, CustomStringConvertible, Equatable {
    /// Path of the file as the caller gave it.
    public var file: String
    /// The field, as a dotted path; nil when the error is about the whole file.
    public var field: String?
    /// What is wrong, in one line.
    public var message: String

    /// An error for `file`, `field` and `message`.
    public init(file: String, field: String?, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    /// The error for `file` made from a decoding error (field path and message extracted).
    public init(file: String, error: DecodingError) {
        self.init(file: file, field: FeatureLensJSON.fieldPath(error), message: FeatureLensJSON.message(error))
    }

    public var description: String {
        if let field { return "\(file): field '\(field)': \(message)" }
        return "\(file): \(message)"
    }
}
