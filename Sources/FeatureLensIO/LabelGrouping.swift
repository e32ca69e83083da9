// A label grouping: a map from fine labels to coarse groups, given in a config file.
//
// Used to train on coarse labels and probe the fine ones (class collapse, Xue et al.,
// ICML 2023, §4; SCIENCE.md §5 "Real data": Fashion-MNIST tops / bottoms / footwear / bags).
import Foundation

/// A label grouping that does not fit the fine label set, or a config file that does not decode.
public enum LabelGroupingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The config holds no groups.
    case noGroups(file: String)
    /// A group has an empty name.
    case emptyGroupName(file: String, groupIndex: Int)
    /// Two groups share a name.
    case duplicateGroupName(file: String, name: String)
    /// A group lists no fine labels.
    case emptyGroup(file: String, group: String)
    /// A fine label outside `0..<fineClassCount`.
    case fineLabelOutOfRange(file: String, group: String, label: Int, fineClassCount: Int)
    /// A fine label listed in two groups.
    case fineLabelInTwoGroups(file: String, label: Int, first: String, second: String)
    /// Fine labels that no group lists.
    case unmappedFineLabels(file: String, labels: [Int])
    /// The fine and coarse label-set names are empty or equal.
    case badLabelSetNames(file: String, fine: String, coarse: String)
    /// The config file could not be read or decoded (`detail` names the JSON path).
    case invalidConfig(file: String, detail: String)

    public var description: String {
        switch self {
        case let .noGroups(file):
            return "\(file): label grouping: field groups is empty (expected at least one group)"
        case let .emptyGroupName(file, i):
            return "\(file): label grouping: groups[\(i)].name is empty (expected a name)"
        case let .duplicateGroupName(file, name):
            return "\(file): label grouping: group name \"\(name)\" appears twice (expected unique names)"
        case let .emptyGroup(file, group):
            return "\(file): label grouping: group \"\(group)\" lists no fine labels (expected at least one)"
        case let .fineLabelOutOfRange(file, group, label, count):
            return "\(file): label grouping: group \"\(group)\" lists fine label \(label), expected 0…\(count - 1)"
        case let .fineLabelInTwoGroups(file, label, first, second):
            return "\(file): label grouping: fine label \(label) is in both \"\(first)\" and \"\(second)\" (expected exactly one group)"
        case let .unmappedFineLabels(file, labels):
            return "\(file): label grouping: fine labels \(labels) belong to no group (expected every fine label in one group)"
        case let .badLabelSetNames(file, fine, coarse):
            return "\(file): label grouping: fineLabelSet \"\(fine)\" and coarseLabelSet \"\(coarse)\" must be non-empty and different"
        case let .invalidConfig(file, detail):
            return "\(file): label grouping: \(detail)"
        }
    }
}

/// A fine → coarse label map. Coarse label `g` is the group at position `g` of `groups`.
///
/// JSON form:
/// ```json
/// {"fineLabelSet": "class", "coarseLabelSet": "coarse",
///  "groups": [{"name": "tops", "members": [0, 2, 4, 6]}, {"name": "bottoms", "members": [1, 3]}]}
/// ```
/// `fineLabelSet` and `coarseLabelSet` are optional (defaults "class" and "coarse").
public struct LabelGrouping: Codable, Equatable, Sendable {
    /// One coarse group: its name and the fine labels it holds.
    public struct Group: Codable, Equatable, Sendable {
        /// Coarse class name (e.g. "tops").
        public var name: String
        /// Fine label codes in this group.
        public var members: [Int]
        /// - Parameters: see the properties.
        public init(name: String, members: [Int]) {
            self.name = name
            self.members = members
        }
    }

    /// Name of the fine label set the grouping reads (default "class").
    public var fineLabelSet: String
    /// Name of the coarse label set it produces (default "coarse").
    public var coarseLabelSet: String
    /// The groups, in coarse-label order.
    public var groups: [Group]

    /// - Parameters: see the properties.
    public init(fineLabelSet: String = "class", coarseLabelSet: String = "coarse", groups: [Group]) {
        self.fineLabelSet = fineLabelSet
        self.coarseLabelSet = coarseLabelSet
        self.groups = groups
    }

    private enum CodingKeys: String, CodingKey { case fineLabelSet, coarseLabelSet, groups }

    /// Decodes the JSON form; the label-set names default to "class" and "coarse".
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fineLabelSet = try c.decodeIfPresent(String.self, forKey: .fineLabelSet) ?? "class"
        coarseLabelSet = try c.decodeIfPresent(String.self, forKey: .coarseLabelSet) ?? "coarse"
        groups = try c.decode([Group].self, forKey: .groups)
    }

    /// Coarse class names, in coarse-label order.
    public var coarseNames: [String] { groups.map(\.name) }

    /// Checks that every fine label in `0..<fineClassCount` is in exactly one group.
    /// - Parameter file: the config file named in errors.
    /// - Throws: `LabelGroupingError`.
    public func validate(fineClassCount: Int, file: String = "<label grouping>") throws {
        if fineLabelSet.isEmpty || coarseLabelSet.isEmpty || fineLabelSet == coarseLabelSet {
            throw LabelGroupingError.badLabelSetNames(file: file, fine: fineLabelSet, coarse: coarseLabelSet)
        }
        if groups.isEmpty { throw LabelGroupingError.noGroups(file: file) }
        var seenNames: Set<String> = []
        var owner = [String?](repeating: nil, count: max(0, fineClassCount))
        for (i, g) in groups.enumerated() {
            if g.name.isEmpty { throw LabelGroupingError.emptyGroupName(file: file, groupIndex: i) }
            if !seenNames.insert(g.name).inserted { throw LabelGroupingError.duplicateGroupName(file: file, name: g.name) }
            if g.members.isEmpty { throw LabelGroupingError.emptyGroup(file: file, group: g.name) }
            for m in g.members {
                guard m >= 0 && m < fineClassCount else {
                    throw LabelGroupingError.fineLabelOutOfRange(file: file, group: g.name, label: m, fineClassCount: fineClassCount)
                }
                if let first = owner[m] {
                    throw LabelGroupingError.fineLabelInTwoGroups(file: file, label: m, first: first, second: g.name)
                }
                owner[m] = g.name
            }
        }
        let unmapped = owner.indices.filter { owner[$0] == nil }
        if !unmapped.isEmpty { throw LabelGroupingError.unmappedFineLabels(file: file, labels: unmapped) }
    }

    /// The map as an array: `table[fine] = coarse`.
    /// - Throws: `LabelGroupingError` if the grouping does not validate for `fineClassCount`.
    public func table(fineClassCount: Int, file: String = "<label grouping>") throws -> [Int] {
        try validate(fineClassCount: fineClassCount, file: file)
        var t = [Int](repeating: 0, count: fineClassCount)
        for (g, group) in groups.enumerated() { for m in group.members { t[m] = g } }
        return t
    }

    /// The coarse label set derived from a fine one.
    /// - Parameters:
    ///   - fine: the fine labels (codes in `0..<fine.classCount`).
    ///   - file: the config file named in errors.
    /// - Returns: a label set named `coarseLabelSet` with the group names.
    /// - Throws: `LabelGroupingError` if the grouping does not cover the fine label set.
    public func coarseLabels(from fine: LabelSet, file: String = "<label grouping>") throws -> LabelSet {
        let t = try table(fineClassCount: fine.classCount, file: file)
        return try LabelSet(name: coarseLabelSet, codes: fine.codes.map { t[$0] }, names: coarseNames)
    }

    /// Reads a grouping from a JSON file (it is not validated until it meets a label set).
    /// - Throws: `LabelGroupingError.invalidConfig` naming the file and the JSON path.
    public static func load(contentsOf url: URL) throws -> LabelGrouping {
        let file = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw LabelGroupingError.invalidConfig(file: file, detail: "cannot read: \((error as NSError).localizedDescription)")
        }
        return try decode(data, file: file)
    }

    /// Decodes a grouping from JSON bytes.
    /// - Throws: `LabelGroupingError.invalidConfig` naming `file` and the JSON path.
    public static func decode(_ data: Data, file: String) throws -> LabelGrouping {
        if data.isEmpty { throw LabelGroupingError.invalidConfig(file: file, detail: "empty file (expected a JSON object)") }
        do {
            return try FeatureLensJSON.decoder().decode(LabelGrouping.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw LabelGroupingError.invalidConfig(file: file, detail: "missing field \(path(ctx.codingPath + [key]))")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw LabelGroupingError.invalidConfig(file: file, detail: "field \(path(ctx.codingPath)): expected \(type)")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw LabelGroupingError.invalidConfig(file: file, detail: "field \(path(ctx.codingPath)): expected \(type), found null")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw LabelGroupingError.invalidConfig(file: file, detail: "not valid JSON at \(path(ctx.codingPath)): \(ctx.debugDescription)")
        } catch {
            throw LabelGroupingError.invalidConfig(file: file, detail: "\(error)")
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "<root>" : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}
