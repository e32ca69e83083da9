// The advice rules of one encoder (docs/ADVICE.md): class collapse read from a timeline, a
// nuisance read near perfectly while the class is lost, and a full embedding; each fires on
// its trigger and stays silent without it.
import Foundation
import Testing
@testable import FeatureLensAudit
import FeatureLensIO
import FeatureLensNumerics

@Suite struct AuditAdviceTests {
    /// 400 rows: `class` and `colour` (two values each, independent), p = `width`, N(0, 1)
    /// noise from `seed`, plus `colourShift` · (±1) on dimension 0 and `classShift` · (±1) on
    /// dimension 1 (when p > 1).
    static func write(width: Int, colourShift: Double, classShift: Double, seed: UInt64) throws -> (URL, ExternalAudit) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-advice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: seed)
        var x: [Double] = [], rows: [String] = []
        for i in 0..<400 {
            let cls = i % 2, colour = (i / 2) % 2
            var v = (0..<width).map { _ in g.nextNormal() }
            v[0] += colourShift * (colour == 0 ? -1 : 1)
            if width > 1 { v[1] += classShift * (cls == 0 ? -1 : 1) }
            x += v
            rows.append("\(cls),\(colour == 0 ? "red" : "blue")")
        }
        let npy = dir.appendingPathComponent("z.npy"), csv = dir.appendingPathComponent("labels.csv")
        try NPY.write(Tensor(shape: [400, width], scalars: x), to: npy)
        try Data(("class,colour\n" + rows.joined(separator: "\n") + "\n").utf8).write(to: csv)
        return (dir, ExternalAudit(embeddings: [npy.path], labels: csv.path, seed: 2))
    }

    @Test func aNuisanceReadPerfectlyWhileTheClassIsLostAdvisesToRandomizeIt() throws {
        // 8 dimensions, colour in a strong direction, class absent: RankMe stays well below 8.
        let (dir, request) = try Self.write(width: 8, colourShift: 6, classShift: 0, seed: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        var marked = request
        marked.nuisance = ["colour"]
        let run = try marked.run()
        let advice = AuditAdvice.advise(runs: [(nil, run)], comparison: nil, nuisance: ["colour"])
        #expect(advice.map(\.rule) == ["randomize-nuisance"], "\(advice)")
        let a = try #require(advice.first)
        let last = run.timeline.last!
        #expect(a.numbers[0].value == last.probes["colour"] && a.numbers[0].standardError == last.standardError?["colour"])
        #expect(a.numbers.contains { $0.quantity == "class accuracy" && $0.value == last.probes["class"] })
        #expect(a.text.contains("randomizes colour") && a.source.contains("Chen, Luo & Li"))
        // Without the mark, nothing is a nuisance: no advice.
        #expect(AuditAdvice.advise(runs: [(nil, run)], comparison: nil, nuisance: []).isEmpty)
    }

    @Test func aFullEmbeddingThatLosesALabelAdvisesToGrowIt() throws {
        // 4 dimensions of isotropic noise plus a colour shift: RankMe near 4, class at chance.
        let (dir, request) = try Self.write(width: 4, colourShift: 1, classShift: 0, seed: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try request.run()
        let rankme = try #require(run.final.metrics?.rankme)
        #expect(rankme >= AuditAdvice.fullRankFraction * 4, "RankMe \(rankme)")
        let advice = AuditAdvice.advise(runs: [(nil, run)], comparison: nil, nuisance: [])
        #expect(advice.map(\.rule) == ["grow-embedding"], "\(advice)")
        #expect(advice.first?.numbers.first { $0.quantity == "RankMe" }?.value == rankme)
        // The same width with both labels read: the embedding is full but loses nothing.
        let (dir2, readable) = try Self.write(width: 4, colourShift: 6, classShift: 6, seed: 3)
        defer { try? FileManager.default.removeItem(at: dir2) }
        let run2 = try readable.run()
        #expect(AuditAdvice.advise(runs: [(nil, run2)], comparison: nil, nuisance: []).isEmpty)
    }

    @Test func aCollapsedTimelineAdvisesTheJointLoss() throws {
        // The checked-in timeline in which the subclass is learned, then collapses.
        let request = ExternalAudit(embeddings: (0..<3).map { auditFixture("ckpt\($0).npy").path },
                                    labels: auditFixture("labels.csv").path, split: 0.75, seed: 1,
                                    audit: AuditConfiguration(within: ["subclass": "class"]))
        let run = try request.run()
        #expect(run.verdicts["subclass"] == .collapsed)
        let advice = AuditAdvice.advise(runs: [(nil, run)], comparison: nil, nuisance: [])
        let a = try #require(advice.first { $0.rule == "add-unsupervised-term" }, "\(advice)")
        #expect(a.trigger.contains("collapsed") && a.text.contains("joint loss"), "\(a.trigger)")
        let f = try #require(run.features.first { $0.label == "subclass" })
        #expect(a.numbers.contains { $0.value == f.peak && $0.standardError == f.peakStandardError })
        #expect(a.numbers.contains { $0.value == f.final && $0.standardError == f.finalStandardError })
    }

    /// A within label that no audit reads (drawn at random, independent of the embedding) has
    /// merged pairs, but they are no evidence of class collapse: the advice is the caveat
    /// `check-label-readable`, not `add-unsupervised-term`; once another encoder reads the
    /// label, the merged pairs of the one that does not are class collapse again.
    @Test func mergedPairsOfALabelNoAuditReadsAreACaveatNotCollapse() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurelens-advice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 5)
        var blind: [Double] = [], sighted: [Double] = [], rows: [String] = []
        for i in 0..<600 {
            let colour = i % 2, shade = g.nextUniform() < 0.5 ? 0 : 1  // shade: random, within colour
            var v = (0..<4).map { _ in g.nextNormal() }
            v[0] += colour == 0 ? -4 : 4
            blind += v
            v[1] += shade == 0 ? -4 : 4
            sighted += v
            rows.append("\(colour == 0 ? "red" : "blue"),\(shade)")
        }
        let z = dir.appendingPathComponent("blind.npy"), z2 = dir.appendingPathComponent("sighted.npy")
        let csv = dir.appendingPathComponent("labels.csv")
        try NPY.write(Tensor(shape: [600, 4], scalars: blind), to: z)
        try NPY.write(Tensor(shape: [600, 4], scalars: sighted), to: z2)
        try Data(("colour,shade\n" + rows.joined(separator: "\n") + "\n").utf8).write(to: csv)
        let audit = AuditConfiguration(within: ["shade": "colour"])
        let run = try ExternalAudit(embeddings: [z.path], labels: csv.path, seed: 2, audit: audit).run()
        let f = try #require(run.features.first { $0.label == "shade" })
        #expect(f.final - f.chance <= 2 * (f.finalStandardError ?? 0), "shade read at \(f.final)")
        let merged = run.timeline.last?.subclassMerging?.first { $0.label == "shade" }?.rankedPairs ?? []
        #expect(merged.contains { $0.pair.merged }, "\(merged)")
        let advice = AuditAdvice.advise(runs: [(nil, run)], comparison: nil, nuisance: [])
        #expect(advice.map(\.rule) == ["check-label-readable"], "\(advice)")
        let a = try #require(advice.first)
        #expect(a.trigger.contains("no audit reads shade") && a.text.contains("raw inputs"), "\(a.trigger)")
        #expect(a.numbers.contains { $0.value == f.final && $0.standardError == f.finalStandardError })
        // The encoder that reads shade is evidence the inputs show it: the blind one collapsed it.
        let sightedRun = try ExternalAudit(embeddings: [z2.path], labels: csv.path, seed: 2, audit: audit).run()
        let both = AuditAdvice.advise(runs: [("blind", run), ("sighted", sightedRun)], comparison: nil, nuisance: [])
        #expect(both.map(\.rule) == ["add-unsupervised-term"], "\(both)")
        #expect(both.first?.trigger.contains("in blind") == true)
    }
}
