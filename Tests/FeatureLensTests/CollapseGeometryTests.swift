import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensLinear
@testable import FeatureLensAudit

/// A tensor from rows.
private func matrix(_ rows: [[Double]]) -> Tensor<Double> { Tensor<Double>(rows: rows) }

/// The kNN purity of one group by brute force: every pair's cosine by a plain loop, neighbours
/// by a full sort (similarity descending, index ascending).
private func bruteForcePurity(_ x: Tensor<Double>, classes: [Int], k: Int) -> Double {
    let m = x.shape[0], p = x.shape[1]
    let u = x.l2NormalizedRows()
    let kk = min(k, m - 1)
    var total = 0.0
    for i in 0..<m {
        var sims: [(Double, Int)] = []
        for j in 0..<m where j != i {
            var d = 0.0
            for t in 0..<p { d += u.scalars[i * p + t] * u.scalars[j * p + t] }
            sims.append((d, j))
        }
        sims.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        total += Double(sims.prefix(kk).filter { classes[$0.1] == classes[i] }.count) / Double(kk)
    }
    return total / Double(m)
}

/// Gaussian clusters: `perCluster` rows around each of `centres` (rows of a `[c, p]` matrix)
/// with noise std `noise`; returns the rows and the cluster index of each row, in random order.
private func clusters(_ centres: [[Double]], perCluster: Int, noise: Double, seed: UInt64) -> (Tensor<Double>, [Int]) {
    var g = SeededGenerator(seed: seed)
    var rows: [[Double]] = [], ids: [Int] = []
    for (c, centre) in centres.enumerated() {
        for _ in 0..<perCluster {
            rows.append(centre.map { $0 + noise * g.nextNormal() })
            ids.append(c)
        }
    }
    let perm = g.permutation(rows.count)
    return (Tensor<Double>(rows: perm.map { rows[$0] }), perm.map { ids[$0] })
}

@Suite struct CollapseGeometryTests {
    /// Hand-computed shares: rows e1, e1, e2. Labels [0, 0, 1] put each class on one point
    /// (share 0). Labels [0, 1, 1]: SS within = SS({e1, e2}) = 1, SS total = 2·(2/9) + 8/9 =
    /// 4/3, share 3/4. Labels [0, 1, 2]: every class one row, share 0; labels [0, 0, 0]: 1.
    @Test func varianceShareMatchesHandComputedValues() throws {
        let z = matrix([[1, 0], [1, 0], [0, 1]])
        let g = try CollapseGeometry(embeddings: z, labels: ["a": [0, 0, 1], "b": [0, 1, 1], "c": [0, 1, 2], "d": [0, 0, 0]])
        #expect(g.varianceShare["a"] == 0)
        #expect(abs(g.varianceShare["b"]! - 0.75) < 1e-15, "\(g.varianceShare)")
        #expect(g.varianceShare["c"] == 0)
        #expect(abs(g.varianceShare["d"]! - 1) < 1e-15)
        #expect(g.within == nil && g.zeroRows == 0)
        // Four rows e1, e1, e2, e2: grouped by direction → 0; crossing the directions → exactly 1.
        let four = try CollapseGeometry(embeddings: matrix([[1, 0], [1, 0], [0, 1], [0, 1]]),
                                        labels: ["same": [0, 0, 1, 1], "cross": [0, 1, 0, 1]])
        #expect(four.varianceShare["same"] == 0)
        #expect(abs(four.varianceShare["cross"]! - 1) < 1e-15)
    }

    /// Groups collapsed to one direction each (rows of different lengths, so only the L2
    /// normalization makes them one point) have share 0; the total spread is not 0.
    @Test func groupsCollapsedToPointsHaveShareZero() throws {
        var g = SeededGenerator(seed: 3)
        let directions = (0..<4).map { _ in (0..<6).map { _ in g.nextNormal() } }
        var rows: [[Double]] = [], group: [Int] = []
        for i in 0..<200 {
            let c = i % 4
            let scale = 0.1 + 10 * g.nextUniform()
            rows.append(directions[c].map { $0 * scale }); group.append(c)
        }
        let geo = try CollapseGeometry(embeddings: matrix(rows), labels: ["coarse": group])
        #expect(geo.varianceShare["coarse"]! <= 1e-12, "\(geo.varianceShare)")
    }

    /// Subclasses at ±30° inside group 0 (hand-computable), identical points inside group 1,
    /// and a group with one subclass. Group 0: μ_c = (±cos 30°, 0), B = 4cos²30° = 3,
    /// W = 4 sin²30° = 1, Fisher ratio 3; each row's nearest other row (cosine cos 60° = 0.5)
    /// is its own subclass, so 1-NN purity is 1; with k = 10 capped at 3 every row sees all
    /// others, purity 1/3 = chance Σ n_c(n_c − 1)/(m(m − 1)) = 4/12. Group 1 (e3, e3 | −e3, −e3)
    /// has W = 0: it counts for the purity but not the Fisher mean. Group 2 does not qualify.
    @Test func fisherRatioAndPurityMatchHandComputedValues() throws {
        let c = 3.0.squareRoot() / 2, s = 0.5
        let rows: [[Double]] = [[c, s, 0], [c, -s, 0], [-c, s, 0], [-c, -s, 0],
                                [0, 0, 1], [0, 0, 1], [0, 0, -1], [0, 0, -1],
                                [1, 1, 1], [1, -1, 1], [-1, 1, 1]]
        let sub = [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0]
        let cls = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
        let one = try CollapseGeometry(embeddings: matrix(rows), labels: ["subclass": sub, "class": cls],
                                       within: ["subclass": "class"], k: 1)
        let w = try #require(one.within?["subclass"])
        #expect(w.group == "class" && w.groups == 2 && w.k == 1)
        #expect(abs(w.fisherRatio - 3) < 1e-12, "\(w)")
        #expect(w.knnPurity == 1)
        #expect(abs(w.knnChance - 1.0 / 3) < 1e-15)
        let capped = try CollapseGeometry(embeddings: matrix(rows), labels: ["subclass": sub, "class": cls],
                                          within: ["subclass": "class"], k: 10)
        let wc = try #require(capped.within?["subclass"])
        #expect(abs(wc.knnPurity - 1.0 / 3) < 1e-15, "\(wc)")
        #expect(wc.fisherRatio == w.fisherRatio && wc.knnChance == w.knnChance && wc.k == 10)
    }

    /// Two far-apart subclasses in each of two groups: purity 1 and a large Fisher ratio. The
    /// centres are e1, e2 (class 0) and e3, e4 (class 1): each point is 3/4 from the mean and
    /// 1/2 from its class mean in squared distance, so the class share is 2/3 (plus noise).
    @Test func wellSeparatedSubclassesHavePurityOneAndLargeSeparation() throws {
        var centres: [[Double]] = []
        for c in 0..<4 { var v = [Double](repeating: 0, count: 8); v[c] = 1; centres.append(v) }
        let (z, id) = clusters(centres, perCluster: 60, noise: 0.02, seed: 4)
        let geo = try CollapseGeometry(embeddings: z, labels: ["subclass": id, "class": id.map { $0 / 2 }],
                                       within: ["subclass": "class"])
        let w = try #require(geo.within?["subclass"])
        #expect(w.knnPurity == 1 && w.groups == 2)
        #expect(w.fisherRatio > 100, "\(w)")
        #expect(abs(w.knnChance - 59.0 / 119) < 1e-12)
        #expect(abs(geo.varianceShare["class"]! - 2.0 / 3) < 0.01, "\(geo.varianceShare)")
        #expect(geo.varianceShare["subclass"]! < 0.01, "\(geo.varianceShare)")
    }

    /// Labels drawn independently of the embeddings: purity within a few standard errors of
    /// chance, Fisher ratio near 0, variance share near 1.
    @Test func randomLabelsGivePurityNearChance() throws {
        let z = uniformSphere(n: 1500, dim: 8, seed: 5)
        var g = SeededGenerator(seed: 6)
        let group = (0..<1500).map { _ in g.nextInt(below: 2) }
        let sub = (0..<1500).map { _ in g.nextInt(below: 3) }
        let geo = try CollapseGeometry(embeddings: z, labels: ["subclass": sub, "class": group], within: ["subclass": "class"])
        let w = try #require(geo.within?["subclass"])
        #expect(abs(w.knnChance - 1.0 / 3) < 0.01)
        // 1500 rows × 10 neighbours: SE ≈ √(1/3 · 2/3 / 15 000) ≈ 0.004 (neighbour lists overlap, so allow 0.03).
        #expect(abs(w.knnPurity - w.knnChance) < 0.03, "\(w)")
        #expect(w.fisherRatio < 0.02, "\(w)")
        #expect(geo.varianceShare["class"]! > 0.99 && geo.varianceShare["subclass"]! > 0.99, "\(geo.varianceShare)")
    }

    /// The blocked kNN (several 256-row blocks, one thread or two) equals a brute-force search.
    @Test func blockedNeighbourSearchMatchesBruteForce() throws {
        let (z, id) = clusters([[1, 0, 0, 0], [0.8, 0.6, 0, 0], [0, 0, 1, 0]], perCluster: 230, noise: 0.4, seed: 7)
        let blocked = CollapseGeometry.knnPurity(z.l2NormalizedRows(), classes: id, k: 7, threads: 1)
        let reference = bruteForcePurity(z, classes: id, k: 7)
        #expect(abs(blocked - reference) < 1e-15, "blocked \(blocked), reference \(reference)")
        #expect(blocked > 0.4 && blocked < 0.99, "not a trivial case: \(blocked)")
        // Ties go to the lower index: six identical rows, classes 0 0 1 1 1 1, k = 2. Row 0's
        // neighbours are rows 1 and 2 (purity 1/2); row 1's 0 and 2 (1/2); rows 2…5 take the
        // two lowest others: row 2 → 0, 1 (0); row 3 → 0, 1 (0); row 4 → 0, 1; row 5 → 0, 1.
        let tied = Tensor<Double>(rows: Array(repeating: [0.6, 0.8], count: 6))
        let purity = CollapseGeometry.knnPurity(tied, classes: [0, 0, 1, 1, 1, 1], k: 2, threads: 1)
        #expect(abs(purity - 1.0 / 6) < 1e-15, "\(purity)")
    }

    /// Rescaling rows by positive factors changes nothing (up to rounding of the normalization).
    @Test func invariantToRowScaling() throws {
        let (z, id) = clusters([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], perCluster: 80, noise: 0.3, seed: 8)
        var g = SeededGenerator(seed: 9)
        let n = z.shape[0], p = z.shape[1]
        var scaled = z.scalars
        for i in 0..<n { let f = Foundation.exp(8 * g.nextUniform() - 4); for j in 0..<p { scaled[i * p + j] *= f } }
        let labels = ["subclass": id, "class": id.map { $0 / 2 }]
        let a = try CollapseGeometry(embeddings: z, labels: labels, within: ["subclass": "class"])
        let b = try CollapseGeometry(embeddings: Tensor<Double>(shape: [n, p], scalars: scaled), labels: labels,
                                     within: ["subclass": "class"])
        for l in ["subclass", "class"] { #expect(abs(a.varianceShare[l]! - b.varianceShare[l]!) < 1e-12) }
        let wa = try #require(a.within?["subclass"]), wb = try #require(b.within?["subclass"])
        #expect(wa.knnPurity == wb.knnPurity && wa.knnChance == wb.knnChance)
        #expect(abs(wa.fisherRatio - wb.fisherRatio) < 1e-9 * wa.fisherRatio)
        // Float embeddings give the same numbers to Float precision.
        let f = try CollapseGeometry(embeddings: Tensor<Float>(z), labels: labels, within: ["subclass": "class"])
        #expect(abs(f.varianceShare["class"]! - a.varianceShare["class"]!) < 1e-5)
    }

    /// The same numbers, bit for bit, with one thread or two.
    @Test func independentOfThreadCount() throws {
        let (z, id) = clusters([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], perCluster: 150, noise: 0.5, seed: 10)
        let labels = ["subclass": id, "class": id.map { $0 % 2 }]
        let one = try CollapseGeometry(embeddings: z, labels: labels, within: ["subclass": "class"], threads: 1)
        let two = try CollapseGeometry(embeddings: z, labels: labels, within: ["subclass": "class"], threads: 2)
        #expect(one == two)
    }

    /// Zero rows are left out and counted; identical rows give NaN shares; a pair with no
    /// qualifying group gives NaN; bad inputs throw errors that name the culprit.
    @Test func degenerateInputs() throws {
        let (z, id) = clusters([[1, 0, 0], [0, 1, 0]], perCluster: 20, noise: 0.3, seed: 11)
        let labels = ["subclass": id, "class": id.map { _ in 0 }]
        let base = try CollapseGeometry(embeddings: z, labels: labels, within: ["subclass": "class"])
        // Two zero rows appended (and a tiny row that must not count as zero).
        var rows = (0..<z.shape[0]).map { z.row($0) }
        rows += [[0, 0, 0], [0, 0, 0], [1e-300, 0, 0]]
        let padded = try CollapseGeometry(embeddings: matrix(rows), labels: labels.mapValues { $0 + [0, 1, 0] },
                                          within: ["subclass": "class"])
        #expect(padded.zeroRows == 2)
        let withTiny = try CollapseGeometry(embeddings: matrix(Array(rows.prefix(z.shape[0])) + [[1, 0, 0]]),
                                            labels: labels.mapValues { $0 + [0] }, within: ["subclass": "class"])
        #expect(padded.varianceShare == withTiny.varianceShare && padded.within == withTiny.within)
        #expect(base.zeroRows == 0 && base.varianceShare["class"] == 1)

        // Every row the same direction: no spread to share.
        let same = try CollapseGeometry(embeddings: matrix([[1, 2], [2, 4], [0.5, 1]]), labels: ["a": [0, 1, 1]])
        #expect(same.varianceShare["a"]!.isNaN)
        // All rows zero: NaN everywhere, no qualifying group.
        let zeros = try CollapseGeometry(embeddings: Tensor<Double>(zeros: [3, 2]), labels: ["a": [0, 1, 1], "g": [0, 0, 0]],
                                         within: ["a": "g"])
        #expect(zeros.zeroRows == 3 && zeros.varianceShare["a"]!.isNaN)
        let zw = try #require(zeros.within?["a"])
        #expect(zw.groups == 0 && zw.knnPurity.isNaN && zw.knnChance.isNaN && zw.fisherRatio.isNaN)
        // NaN survives the JSON round trip as "nan".
        let json = try FeatureLensJSON.encode(zeros)
        #expect(String(decoding: json, as: UTF8.self).contains("\"nan\""))
        let back = try FeatureLensJSON.decoder().decode(CollapseGeometry.self, from: json)
        #expect(back.zeroRows == 3 && back.within?["a"]?.knnPurity.isNaN == true)

        #expect(throws: ProbeError.nonFinite("embeddings of the collapse geometry")) {
            try CollapseGeometry(embeddings: matrix([[1, .nan], [0, 1]]), labels: ["a": [0, 1]])
        }
        #expect(throws: ProbeError.labelCount(what: "label set 'b'", labels: 3, rows: 2)) {
            try CollapseGeometry(embeddings: matrix([[1, 0], [0, 1]]), labels: ["a": [0, 1], "b": [0, 1, 1]])
        }
        #expect(throws: AuditError.unknownLabel("g", available: ["a"])) {
            try CollapseGeometry(embeddings: matrix([[1, 0], [0, 1]]), labels: ["a": [0, 1]], within: ["a": "g"])
        }
        #expect(throws: AuditError.badWithin("'a' cannot be probed within itself")) {
            try CollapseGeometry(embeddings: matrix([[1, 0], [0, 1]]), labels: ["a": [0, 1]], within: ["a": "a"])
        }
        #expect(throws: ProbeError.invalidParameter("collapse geometry k must be ≥ 1, got 0")) {
            try CollapseGeometry(embeddings: matrix([[1, 0], [0, 1]]), labels: ["a": [0, 1]], k: 0)
        }
    }

    /// The auditor records the geometry of the test embeddings over every audited label set
    /// and its `within` pairs, and none when metrics are off.
    @Test func auditorRecordsTheGeometryOfTheTestEmbeddings() throws {
        let (train, trainID) = clusters([[1, 0, 0], [0.7, 0.7, 0], [0, 0, 1], [0, 0.7, 0.7]], perCluster: 30, noise: 0.3, seed: 12)
        let (test, testID) = clusters([[1, 0, 0], [0.7, 0.7, 0], [0, 0, 1], [0, 0.7, 0.7]], perCluster: 25, noise: 0.3, seed: 13)
        func sets(_ id: [Int]) throws -> [LabelSet] {
            [try LabelSet(name: "subclass", codes: id, within: "coarse"), try LabelSet(name: "coarse", codes: id.map { $0 / 2 })]
        }
        let entry = try EmbeddingAuditor().audit(step: 0, train: train, trainLabels: try sets(trainID), test: test,
                                                 testLabels: try sets(testID))
        let expected = try CollapseGeometry(embeddings: test, labels: ["subclass": testID, "coarse": testID.map { $0 / 2 }],
                                            within: ["subclass": "coarse"])
        #expect(entry.geometry == expected)
        var off = AuditConfiguration()
        off.computeMetrics = false
        let bare = try EmbeddingAuditor(configuration: off).audit(step: 0, train: train, trainLabels: try sets(trainID),
                                                                  test: test, testLabels: try sets(testID))
        #expect(bare.geometry == nil)
    }

    /// `featurelens audit` on the NumPy fixtures (checkpoint 1 reads the subclass, checkpoint 2
    /// has collapsed it): with two probes the geometry is computed once and copied, the group
    /// label `class` has a variance share though it is not a reported label, and the kNN
    /// purity falls from well above chance to near it, as the probe does.
    @Test func externalAuditRecordsTheGeometryAtEveryCheckpoint() throws {
        let request = ExternalAudit(embeddings: (0..<3).map { auditFixture("ckpt\($0).npy").path },
                                    labels: auditFixture("labels.csv").path, split: 0.75, seed: 1, columns: ["subclass"],
                                    audit: AuditConfiguration(within: ["subclass": "class"]), probes: [.ridge, .centroid])
        let runs = try request.runAll()
        #expect(runs.count == 2 && runs[0].labels == ["subclass"])
        #expect(runs[0].timeline.map(\.geometry) == runs[1].timeline.map(\.geometry))
        let g = try runs[0].timeline.map { try #require($0.geometry) }
        #expect(g.allSatisfy { Set($0.varianceShare.keys) == ["class", "subclass"] && $0.within?["subclass"]?.group == "class" })
        let w1 = try #require(g[1].within?["subclass"]), w2 = try #require(g[2].within?["subclass"])
        #expect(w1.knnPurity > w1.knnChance + 0.3, "\(w1)")
        #expect(w2.knnPurity < w2.knnChance + 0.1, "\(w2)")
        #expect(w2.fisherRatio < w1.fisherRatio / 5, "\(w1) \(w2)")
        #expect(FeatureTable.render(runs[0]).contains("subclass within class: kNN purity"))
    }

    /// A synthetic preset run through the runner (few steps) writes the geometry at every audit
    /// into report.json, metrics.csv, the terminal table and report.html; the step-0 geometry
    /// is that of the initial encoder's test embeddings.
    @Test func syntheticRunReportsTheGeometry() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("geometry-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let reduced = [("d", "120"), ("n", "40"), ("n_test", "200"), ("steps", "40"), ("audit_steps", "0,20,40")]
        var preset = try SyntheticPreset.classCollapse.applying(set: reduced, grid: [])
        preset.settings = Array(preset.settings.prefix(1))
        let result = try ExperimentRunner(concurrency: 1, recordsRepresentation: true)
            .run(.synthetic(preset), writingTo: folder)
        let json = try Data(contentsOf: folder.appendingPathComponent("report.json"))
        let doc = try FeatureLensJSON.decoder().decode(ReportDocument<SyntheticPreset>.self, from: json)
        let run = try #require(doc.runs.first)
        #expect(run.timeline.map(\.step) == [0, 20, 40])
        for e in run.timeline {
            let g = try #require(e.geometry, "step \(e.step)")
            #expect(Set(g.varianceShare.keys) == ["class", "subclass"])
            #expect(g.varianceShare.values.allSatisfy { $0 > 0 && $0 < 1 }, "\(g.varianceShare)")
            let w = try #require(g.within?["subclass"])
            #expect(w.group == "class" && w.groups == 2 && w.k == CollapseGeometry.defaultNeighbours)
            #expect(w.knnPurity >= 0 && w.knnPurity <= 1 && w.knnChance > 0.3 && w.knnChance < 0.7)
        }
        // Step 0 is the initial encoder W₀: recompute its geometry directly.
        let config = try preset.config(setting: 0)
        let engine = try LinearEngine(config: config)
        let testZ = embed(engine.prepared.data.test.features, engine.initial, threads: 1)
        let direct = try CollapseGeometry(embeddings: testZ, labels: engine.prepared.data.test.labels.mapValues(\.codes),
                                          within: ["subclass": "class"])
        #expect(run.timeline[0].geometry == direct)
        #expect(result.runs[0].timeline.map(\.geometry) == run.timeline.map(\.geometry))

        let csv = try String(contentsOf: folder.appendingPathComponent("metrics.csv"), encoding: .utf8)
        let header = csv.split(separator: "\n")[0].split(separator: ",").map(String.init)
        for column in ["variance_share_class", "variance_share_subclass", "fisher_ratio_subclass", "knn_purity_subclass", "knn_chance_subclass"] {
            #expect(header.contains(column), "\(column) missing from \(header)")
        }
        let html = try String(contentsOf: folder.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("Collapse geometry") && html.contains("within-class variance share"))
        let charts = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("charts").path)
        #expect(charts.contains { $0.hasSuffix("-geometry.svg") }, "\(charts)")
        let table = ReportText.table(run)
        #expect(table.contains("share class") && table.contains("kNN subclass") && table.contains("Fisher subclass"))
    }
}
