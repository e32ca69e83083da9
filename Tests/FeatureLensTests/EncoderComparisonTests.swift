// Encoders side by side and the advice: two encoders' embeddings of 2 classes × 4 subclasses
// (the data of `SubclassMergingTests`), one keeping every subclass apart and one merging two
// subclasses of one class, audited on the same labels and split; and two encoders that keep
// every subclass (no significant difference, no advice).
import Foundation
import Testing
@testable import FeatureLensAudit
import FeatureLensIO
import FeatureLensNumerics

@Suite(.serialized) struct EncoderComparisonTests {
    static let subclassNames = ["scratch", "dent", "stain", "crack"], classNames = ["defect", "ok"]

    /// Writes `embeddings(perSubclass: 50, …)` of each (name, merge, seed) as NPY and one label
    /// CSV (`class`, `subclass`); the rows of every encoder are the same 400 labelled rows.
    static func folder(_ encoders: [(name: String, merge: Bool, seed: UInt64)]) throws -> (URL, ExternalAudit) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var named: [EncoderEmbeddings] = []
        var labels = ""
        for e in encoders {
            let (x, sub, cls) = SubclassMergingTests.embeddings(perSubclass: 50, mergeFirstPair: e.merge, seed: e.seed)
            let file = dir.appendingPathComponent("\(e.name).npy")
            try NPY.write(x, to: file)
            named.append(EncoderEmbeddings(name: e.name, embeddings: [file.path]))
            labels = "class,subclass\n" + zip(cls, sub).map { "\(classNames[$0]),\(subclassNames[$1])" }.joined(separator: "\n") + "\n"
        }
        let csv = dir.appendingPathComponent("labels.csv")
        try Data(labels.utf8).write(to: csv)
        let request = ExternalAudit(embeddings: [], labels: csv.path, split: 0.6, seed: 3,
                                    audit: AuditConfiguration(within: ["subclass": "class"]), encoders: named)
        return (dir, request)
    }

    @Test func mergedPairIsNamedTheDifferenceIsSignificantAndTheAdviceMatches() throws {
        let (dir, request) = try Self.folder([("keep", false, 1), ("merge", true, 1)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (runs, comparison) = try request.compare()
        #expect(comparison.reference == "keep" && comparison.encoders == ["keep", "merge"])
        #expect(runs.map { $0.settings["encoder"] } == [.string("keep"), .string("merge")])
        let sub = try #require(comparison.label("subclass"))
        let (keep, merge) = (sub.encoders[0], sub.encoders[1])
        // The merged pair is named, in the class where it was merged, and only in that encoder.
        // (The label table codes values in sorted order, so the pair reads "dent ↔ scratch".)
        #expect(merge.mergedPairs == ["defect: dent ↔ scratch"], "\(sub)")
        #expect(keep.mergedPairs == [])
        // The subclass difference is significant, negative, and equals the accuracy difference.
        #expect(merge.significant && merge.difference < 0, "\(merge)")
        #expect(abs(merge.difference - (merge.accuracy - keep.accuracy)) < 1e-12)
        #expect(merge.differenceStandardError > 0 && abs(merge.difference) > 2 * merge.differenceStandardError)
        #expect(!keep.significant && keep.difference == 0)
        // The class is read by both: no significant difference.
        #expect(comparison.label("class")?.encoders[1].significant == false)

        let advice = AuditAdvice.advise(runs: zip(["keep", "merge"], runs).map { ($0, $1) }, comparison: comparison, nuisance: [])
        #expect(Set(advice.map(\.rule)) == ["read-other-features", "add-unsupervised-term"], "\(advice)")
        let read = try #require(advice.first { $0.rule == "read-other-features" })
        #expect(read.text.hasPrefix("Read subclass from the features of keep"), "\(read.text)")
        // It quotes the paired difference and its SE, as measured.
        #expect(read.numbers.contains { $0.value == merge.difference && $0.standardError == merge.differenceStandardError })
        #expect(read.source.contains("Projection Head"))
        let collapse = try #require(advice.first { $0.rule == "add-unsupervised-term" })
        #expect(collapse.trigger.contains("in merge") && collapse.trigger.contains("defect: dent ↔ scratch"), "\(collapse.trigger)")
        #expect(collapse.source.contains("ICML 2023"))
        #expect(!advice.contains { $0.rule == "add-unsupervised-term" && $0.trigger.contains("in keep") })
    }

    @Test func noSignificantDifferenceGivesNoAdvice() throws {
        // Two encoders that keep every subclass, with independent noise.
        let (dir, request) = try Self.folder([("a", false, 1), ("b", false, 5)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let (runs, comparison) = try request.compare()
        for l in comparison.labels {
            #expect(!l.encoders.contains { $0.significant }, "\(l)")
        }
        #expect(comparison.label("subclass")?.encoders.allSatisfy { $0.mergedPairs == [] } == true)
        let advice = AuditAdvice.advise(runs: zip(["a", "b"], runs).map { ($0, $1) }, comparison: comparison, nuisance: [])
        #expect(advice.isEmpty, "\(advice)")
    }

    @Test func anEncoderWithCheckpointsHasItsTimelineAndIsComparedAtItsLast() throws {
        let (dir, request) = try Self.folder([("keep", false, 1), ("merge", true, 1)])
        defer { try? FileManager.default.removeItem(at: dir) }
        // "joint": first the merging checkpoint, then the keeping one; compared with "merge".
        var timeline = request
        timeline.encoders = [EncoderEmbeddings(name: "merge", embeddings: request.encoders[1].embeddings),
                             EncoderEmbeddings(name: "joint", embeddings: request.encoders[1].embeddings + request.encoders[0].embeddings)]
        let (runs, comparison) = try timeline.compare()
        #expect(runs[0].timeline.map(\.step) == [0] && runs[1].timeline.map(\.step) == [0, 1])
        let joint = try #require(comparison.label("subclass")?.encoders[1])
        #expect(joint.accuracy == runs[1].final.probes["subclass"] && joint.significant && joint.difference > 0, "\(joint)")
        // The same comparison as the keeping file alone against the merging one.
        let plain = try request.compare().comparison.label("subclass")!.encoders[1]
        #expect(abs(joint.difference + plain.difference) < 1e-12)
    }

    @Test func aScoreCapPairsTheSameSubsampledRows() throws {
        var (dir, request) = try Self.folder([("keep", false, 1), ("merge", true, 1)])
        defer { try? FileManager.default.removeItem(at: dir) }
        request.maxScoreRows = 100   // of the 160 test rows
        let (runs, comparison) = try request.compare()
        #expect(comparison.testRows == 100 && runs.allSatisfy { $0.rows?.scored == 100 })
        let merge = try #require(comparison.label("subclass")?.encoders[1])
        #expect(abs(merge.difference - (merge.accuracy - comparison.label("subclass")!.encoders[0].accuracy)) < 1e-12)
        #expect(merge.significant)
    }

    @Test func sameNumbersWithOneOrTwoThreads() throws {
        let (dir, request) = try Self.folder([("keep", false, 1), ("merge", true, 1)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = try request.compare().comparison
        Parallel.threadCount = 2
        let two = try request.compare().comparison
        #expect(one == two)
    }

    @Test func pairedDifferenceFollowsItsFormula() {
        // Class 0: 4 rows, x = (+1, 0, 0, −1) → mean 0, mean(x²) 0.5; class 1: 2 rows, x = (+1, +1)
        // → mean 1, variance 0. Balanced: Δ = (0 + 1)/2, SE = √(0.5/4 + 0/2)/2.
        let truth = [0, 0, 0, 0, 1, 1]
        let a = [0, 0, 1, 1, 1, 1]      // right, right, wrong, wrong, right, right
        let ref = [1, 0, 1, 0, 0, 0]    // wrong, right, wrong, right, wrong, wrong
        let d = EncoderComparison.pairedDifference(predicted: a, reference: ref, truth: truth, measure: .balanced)
        #expect(abs(d.difference - 0.5) < 1e-15)
        #expect(abs(d.standardError - (0.5 / 4).squareRoot() / 2) < 1e-15)
        let sa = ProbeScore(predicted: a, truth: truth, measure: .balanced)
        let sr = ProbeScore(predicted: ref, truth: truth, measure: .balanced)
        #expect(abs(d.difference - (sa.accuracy - sr.accuracy)) < 1e-15)
        // Plain: x over all 6 rows = (1, 0, 0, −1, 1, 1): mean 1/3, mean(x²) 2/3.
        let p = EncoderComparison.pairedDifference(predicted: a, reference: ref, truth: truth, measure: .plain)
        #expect(abs(p.difference - 1.0 / 3) < 1e-15)
        #expect(abs(p.standardError - ((2.0 / 3 - 1.0 / 9) / 6).squareRoot()) < 1e-15)
        // Identical predictions: no difference and no variance.
        let same = EncoderComparison.pairedDifference(predicted: a, reference: a, truth: truth, measure: .balanced)
        #expect(same.difference == 0 && same.standardError == 0)
        // Errors on the same rows: the paired SE is far below the independent-samples one.
        let t = Array(repeating: 0, count: 100)
        let x = (0..<100).map { $0 < 70 ? 0 : 1 }, y = (0..<100).map { $0 < 60 ? 0 : 1 }
        let paired = EncoderComparison.pairedDifference(predicted: x, reference: y, truth: t, measure: .balanced)
        let independent = (ProbeScore(predicted: x, truth: t, measure: .balanced).standardError.squared
                           + ProbeScore(predicted: y, truth: t, measure: .balanced).standardError.squared).squareRoot()
        #expect(paired.standardError < 0.7 * independent)
    }

    @Test func namedEmbeddingsParse() throws {
        #expect(try EncoderEmbeddings.parse(["a.npy", "b.npy"], flag: "--embeddings") == nil)
        let named = try #require(try EncoderEmbeddings.parse(["head=z.npy", "backbone=h0.npy,h1.npy"], flag: "--embeddings"))
        #expect(named.map(\.name) == ["head", "backbone"] && named[1].files == ["h0.npy", "h1.npy"])
        func message(_ values: [String]) -> String? {
            do { _ = try EncoderEmbeddings.parse(values, flag: "--embeddings"); return nil } catch { return "\(error)" }
        }
        #expect(message(["a=x.npy", "a=y.npy"])?.contains("the name 'a' is given twice") == true)
        #expect(message(["a="])?.hasPrefix("--embeddings 'a=': a file after 'a=' is empty") == true)
        #expect(message(["=x.npy"])?.contains("the name before '=' is empty") == true)
        #expect(message(["a=x.npy", "y.npy"])?.hasPrefix("--embeddings 'y.npy'") == true)
        #expect(message(["a=x.npy,"])?.contains("is empty") == true)
        // Test files: the same names in the same order.
        #expect(throws: AuditError.self) {
            try EncoderEmbeddings.encoders(embeddings: ["a=x", "b=y"], testEmbeddings: ["b=tx", "a=ty"])
        }
        let pairs = try #require(try EncoderEmbeddings.encoders(embeddings: ["a=x", "b=y"], testEmbeddings: ["a=tx", "b=ty"]))
        #expect(pairs[1] == EncoderEmbeddings(name: "b", embeddings: ["y"], testEmbeddings: ["ty"]))
    }

    @Test func anEncoderWithOtherRowsIsNamedInTheError() throws {
        let (dir, request) = try Self.folder([("keep", false, 1), ("merge", true, 1)])
        defer { try? FileManager.default.removeItem(at: dir) }
        let short = dir.appendingPathComponent("short.npy")
        try NPY.write(Tensor<Double>(shape: [10, 6], scalars: (0..<60).map(Double.init)), to: short)
        var bad = request
        bad.encoders[1].embeddings = [short.path]
        do {
            _ = try bad.compare()
            Issue.record("expected an error")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix("--embeddings merge=…:") && text.contains(short.path) && text.contains("10"), "\(text)")
        }
    }
}

private extension Double {
    var squared: Double { self * self }
}
