import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit

@Suite struct LabelGroupingTests {
    @Test func decodesJSONWithDefaultsAndMapsFineToCoarse() throws {
        let json = #"{"groups": [{"name": "even", "members": [0, 2, 4]}, {"name": "odd", "members": [3, 1]}]}"#
        let g = try LabelGrouping.decode(Data(json.utf8), file: "grouping.json")
        #expect(g.fineLabelSet == "class" && g.coarseLabelSet == "coarse")
        #expect(try g.table(fineClassCount: 5) == [0, 1, 0, 1, 0])
        let fine = try LabelSet(name: "class", codes: [4, 3, 0, 1], names: ["a", "b", "c", "d", "e"])
        let coarse = try g.coarseLabels(from: fine)
        #expect(coarse.name == "coarse" && coarse.codes == [0, 1, 0, 1] && coarse.names == ["even", "odd"])
        // Encoding and decoding again gives the same grouping.
        let again = try LabelGrouping.decode(JSONEncoder().encode(g), file: "again.json")
        #expect(again == g)
    }

    @Test func fashionGroupingMatchesScienceDoc() throws {
        let t = try FashionMNIST.coarseGrouping.table(fineClassCount: 10)
        #expect(t == [0, 1, 0, 1, 0, 2, 0, 2, 3, 2])
    }

    @Test func validationErrorsNameTheProblem() {
        func check(_ groups: [LabelGrouping.Group], fine: Int = 4, _ expected: LabelGroupingError) {
            #expect(throws: expected) { try LabelGrouping(groups: groups).validate(fineClassCount: fine, file: "g.json") }
            #expect(expected.description.hasPrefix("g.json: label grouping: "))
        }
        check([], .noGroups(file: "g.json"))
        check([.init(name: "a", members: [0, 1]), .init(name: "b", members: [2])],
              .unmappedFineLabels(file: "g.json", labels: [3]))
        check([.init(name: "a", members: [0, 1]), .init(name: "b", members: [1, 2, 3])],
              .fineLabelInTwoGroups(file: "g.json", label: 1, first: "a", second: "b"))
        check([.init(name: "a", members: [0, 1, 2, 3, 4])],
              .fineLabelOutOfRange(file: "g.json", group: "a", label: 4, fineClassCount: 4))
        check([.init(name: "a", members: [0, 1, 2, -1])],
              .fineLabelOutOfRange(file: "g.json", group: "a", label: -1, fineClassCount: 4))
        check([.init(name: "a", members: [0, 1]), .init(name: "a", members: [2, 3])],
              .duplicateGroupName(file: "g.json", name: "a"))
        check([.init(name: "a", members: [0, 1, 2, 3]), .init(name: "b", members: [])],
              .emptyGroup(file: "g.json", group: "b"))
        check([.init(name: "", members: [0, 1, 2, 3])], .emptyGroupName(file: "g.json", groupIndex: 0))
        #expect(throws: LabelGroupingError.badLabelSetNames(file: "g.json", fine: "x", coarse: "x")) {
            try LabelGrouping(fineLabelSet: "x", coarseLabelSet: "x", groups: [.init(name: "a", members: [0])])
                .validate(fineClassCount: 1, file: "g.json")
        }
    }
}
