// Which subclasses merged: two encoders' embeddings of 2 classes × 4 subclasses, one keeping
// every subclass apart and one merging two subclasses of the first class.
import Foundation
import Testing
@testable import FeatureLensAudit
import FeatureLensIO
import FeatureLensNumerics

@Suite struct SubclassMergingTests {
    /// Rows of 2 classes × 4 subclasses (`perSubclass` rows each, in blocks), p = 6:
    /// dimension 0 carries the class (±3), dimensions 1–3 place the subclass at a vertex of a
    /// corner of a cube of side 5 (subclass 0 at the origin), N(0, 1) noise everywhere. With `mergeFirstPair`, subclasses 0 and 1
    /// of class 0 share one position.
    static func embeddings(perSubclass: Int, mergeFirstPair: Bool, seed: UInt64) -> (Tensor<Double>, subclass: [Int], cls: [Int]) {
        var g = SeededGenerator(seed: seed)
        let noise = Tensor<Double>(randomNormal: [8 * perSubclass, 6], using: &g)
        var x = noise.scalars, sub: [Int] = [], cls: [Int] = []
        for c in 0..<2 {
            for s in 0..<4 {
                let position = mergeFirstPair && c == 0 && s == 1 ? 0 : s
                for _ in 0..<perSubclass {
                    let r = sub.count
                    x[r * 6] += c == 0 ? -3 : 3
                    if position > 0 { x[r * 6 + position] += 5 }
                    sub.append(s); cls.append(c)
                }
            }
        }
        return (Tensor(shape: [8 * perSubclass, 6], scalars: x), sub, cls)
    }

    static func merging(mergeFirstPair: Bool) throws -> SubclassMerging {
        let (train, trSub, trCls) = embeddings(perSubclass: 60, mergeFirstPair: mergeFirstPair, seed: 1)
        let (test, teSub, teCls) = embeddings(perSubclass: 40, mergeFirstPair: mergeFirstPair, seed: 2)
        let names = ["scratch", "dent", "stain", "crack"], groups = ["defect", "ok"]
        return try SubclassMerging.measure(
            probe: LogisticProbe(), train: train,
            trainLabels: try LabelSet(name: "type", codes: trSub, names: names),
            trainGroups: try LabelSet(name: "status", codes: trCls, names: groups), test: test,
            testLabels: try LabelSet(name: "type", codes: teSub, names: names),
            testGroups: try LabelSet(name: "status", codes: teCls, names: groups))
    }

    @Test func namesTheMergedPairFirstAndOnlyIt() throws {
        let m = try Self.merging(mergeFirstPair: true)
        #expect(m.label == "type" && m.group == "status" && m.groups.map(\.name) == ["defect", "ok"])
        let ranked = m.rankedPairs
        #expect(ranked.count == 12)  // 6 pairs per group
        let first = ranked[0]
        #expect(first.group == "defect" && first.pair.a == "scratch" && first.pair.b == "dent", "\(ranked[0])")
        #expect(first.pair.merged && abs(first.pair.accuracy - 0.5) < 0.1, "\(first.pair)")
        #expect(ranked.dropFirst().allSatisfy { !$0.pair.merged && $0.pair.accuracy > 0.9 }, "\(ranked)")
        // The within-group probe confuses scratch and dent with each other, not with the rest.
        let defect = m.groups[0]
        #expect(defect.subclasses == ["scratch", "dent", "stain", "crack"] && defect.testRows == [40, 40, 40, 40])
        #expect(defect.confusion[0][0] + defect.confusion[0][1] >= 38 && defect.confusion[1][0] + defect.confusion[1][1] >= 38)
        #expect(defect.recall[0] < 0.8 && defect.recall[1] < 0.8 && defect.recall[2] > 0.9 && defect.recall[3] > 0.9, "\(defect.recall)")
        for i in 0..<4 { #expect(defect.recall[i] == Double(defect.confusion[i][i]) / 40 && defect.confusion[i].reduce(0, +) == 40) }
        let line = m.lines()[0]
        #expect(line.hasPrefix("within defect: scratch ↔ dent 0.") && line.contains(" merged,"), "\(line)")
        let short = m.lines(maxPairs: 2)[0]
        #expect(short.contains("scratch ↔ dent") && short.contains("4 more pairs;") && short.components(separatedBy: " ↔ ").count == 3, "\(short)")
    }

    @Test func keptSubclassesHaveNoMergedPair() throws {
        let m = try Self.merging(mergeFirstPair: false)
        #expect(m.rankedPairs.allSatisfy { !$0.pair.merged && $0.pair.accuracy > 0.9 }, "\(m.rankedPairs)")
        #expect(m.groups.allSatisfy { $0.recall.allSatisfy { $0 > 0.8 } })
    }

    @Test func sameResultWithOneAndTwoThreads() throws {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = try Self.merging(mergeFirstPair: true)
        Parallel.threadCount = 2
        #expect(try Self.merging(mergeFirstPair: true) == one)
    }

    @Test func mergedRuleIsTwoStandardErrorsAboveChance() {
        #expect(SubclassMerging.Pair.isMerged(accuracy: 0.55, standardError: 0.03, chance: 0.5))
        #expect(!SubclassMerging.Pair.isMerged(accuracy: 0.57, standardError: 0.03, chance: 0.5))
        #expect(SubclassMerging.Pair.isMerged(accuracy: 0.5, standardError: 0, chance: 0.5))
        #expect(SubclassMerging.Pair.isMerged(accuracy: 0.4, standardError: 0, chance: 0.5))
    }

    /// A group with a single subclass in its test rows does not qualify (the within-group rule)
    /// and is left out, not reported with made-up numbers.
    @Test func groupsThatDoNotQualifyAreLeftOut() throws {
        let (train, trSub, trCls) = Self.embeddings(perSubclass: 20, mergeFirstPair: false, seed: 3)
        let (test, teSub, teCls) = Self.embeddings(perSubclass: 10, mergeFirstPair: false, seed: 4)
        // Keep only subclass 0 of class 1 in the test rows.
        let keep = teSub.indices.filter { teCls[$0] == 0 || teSub[$0] == 0 }
        let m = try SubclassMerging.measure(
            probe: LogisticProbe(), train: train, trainLabels: try LabelSet(name: "type", codes: trSub),
            trainGroups: try LabelSet(name: "status", codes: trCls), test: test.gatherRows(keep),
            testLabels: try LabelSet(name: "type", codes: keep.map { teSub[$0] }),
            testGroups: try LabelSet(name: "status", codes: keep.map { teCls[$0] }))
        #expect(m.groups.map(\.name) == ["0"])
    }
}
