import Foundation

/// One number an advice quotes: what it is, its value and, when it has one, its standard error.
/// JSON keys: `quantity`, `value`, `standard_error` (omitted when none).
public struct AdviceNumber: Codable, Sendable, Equatable {
    /// What the number is (e.g. "subclass accuracy, backbone").
    public var quantity: String
    /// The value.
    public var value: Double
    /// Its standard error, when it has one.
    public var standardError: Double?

    enum CodingKeys: String, CodingKey {
        case quantity, value, standardError = "standard_error"
    }

    /// Creates the record.
    public init(_ quantity: String, _ value: Double, standardError: Double? = nil) {
        self.quantity = quantity
        self.value = value
        self.standardError = standardError
    }

    /// "0.958 ± 0.012" (or "0.958" without a standard error).
    public var text: String {
        let v = String(format: "%.3f", value)
        return standardError.map { v + " ± " + String(format: "%.3f", $0) } ?? v
    }
}

/// One piece of advice of an audit ("what to try next"): the rule that fired, the measured
/// trigger in words, the numbers behind it, the published source of the rule, and what to try.
/// JSON keys: `rule`, `trigger`, `numbers`, `source`, `text`. The rules are in docs/ADVICE.md
/// and `AuditAdvice`.
public struct Advice: Codable, Sendable, Equatable {
    /// The rule's identifier: `read-other-features`, `add-unsupervised-term`,
    /// `randomize-nuisance` or `grow-embedding`.
    public var rule: String
    /// The measured condition that fired the rule.
    public var trigger: String
    /// The numbers of the trigger (accuracies with their standard errors, differences with
    /// their paired standard errors, geometry, RankMe).
    public var numbers: [AdviceNumber]
    /// The publication the rule rests on.
    public var source: String
    /// What to try next.
    public var text: String

    /// Creates the record.
    public init(rule: String, trigger: String, numbers: [AdviceNumber], source: String, text: String) {
        self.rule = rule
        self.trigger = trigger
        self.numbers = numbers
        self.source = source
        self.text = text
    }
}

/// The rules that turn an audit's measurements into advice (docs/ADVICE.md). Every rule fires
/// only on significant evidence: a difference or a level at least `standardErrors` standard
/// errors away. With L a label set, a its accuracy with standard error s, c its chance level
/// and a_learned = c + `learned` · (1 − c) the accuracy of the verdicts' `learned` retention
/// (`VerdictThresholds.learned`; 0.9 for two classes):
///
/// 1. `read-other-features` (Xue et al. 2024): in a comparison, a label read within groups
///    whose paired difference between an encoder and the reference is significant
///    (`EncoderComparison`), the higher of the two reading it significantly above chance
///    (a − c > 2s): read that label from the higher encoder's features.
/// 2. `add-unsupervised-term` (Xue et al. 2023, class collapse): for a label read within
///    groups, its verdict is `collapsed`, or a pair of its subclasses is merged
///    (`SubclassMerging`) and significantly below the learned level (accuracy + 2·SE < 0.5 +
///    `learned` · 0.5): add an unsupervised term (the joint loss) and check augmentation.
///    Merged pairs of a label that no audit of the call reads more than 2 SE above chance give
///    the caveat `check-label-readable` instead (a label the inputs do not show merges too).
/// 3. `randomize-nuisance` (Chen, Luo & Li 2021; Xue et al. 2023, feature suppression): a
///    label marked as a nuisance is read at or above the learned level (a − 2s ≥ a_learned)
///    while another label is significantly below it (a + 2s < a_learned): an augmentation that
///    randomizes the nuisance, then a larger embedding.
/// 4. `grow-embedding` (Xue et al. 2023, feature suppression; RankMe of Garrido et al. 2023):
///    RankMe of the last audit ≥ `fullRankFraction` · p (p the embedding width) while a label
///    that is not a nuisance is significantly below the learned level: grow the embedding.
public enum AuditAdvice {
    /// Standard errors a difference or level must clear.
    public static let standardErrors = 2.0
    /// RankMe at or above this fraction of the embedding width counts as a full embedding.
    public static let fullRankFraction = 0.9

    static let sourceProjectionHead = "Xue, Gan, Ni, Joshi & Mirzasoleiman, Investigating the Benefits of Projection Head for Representation Learning (ICLR 2024)"
    static let sourceCollapse = "Xue, Joshi, Gan, Chen & Mirzasoleiman, Which Features are Learnt by Contrastive Learning? (ICML 2023): class collapse and the joint loss"
    static let sourceShortcut = "Chen, Luo & Li, Intriguing Properties of Contrastive Losses (NeurIPS 2021): feature suppression by shortcut features; Xue et al. (ICML 2023): feature suppression"
    static let sourceFull = "Xue et al. (ICML 2023): feature suppression and the embedding size; RankMe: Garrido, Balestriero, Najman & LeCun (ICML 2023)"

    /// The accuracy of the `learned` retention for chance level `chance`.
    static func learnedAccuracy(chance: Double, thresholds: VerdictThresholds) -> Double {
        chance + thresholds.learned * (1 - chance)
    }

    /// The advice of an audit, rules in the order of the type's list, encoders in order.
    /// - Parameters:
    ///   - runs: (encoder name, report) per encoder; the name is nil for a one-encoder audit.
    ///   - comparison: the comparison of the runs, when there are several.
    ///   - nuisance: label sets the user marked as nuisances.
    public static func advise(runs: [(name: String?, report: RunReport)], comparison: EncoderComparison?,
                              nuisance: [String]) -> [Advice] {
        var out: [Advice] = []
        if let comparison, let thresholds = runs.first?.report.thresholds {
            out += readOtherFeatures(comparison, thresholds: thresholds)
        }
        let readable = readLabels(runs.map(\.report))
        for (name, run) in runs { out += addUnsupervisedTerm(run, name: name, readable: readable) }
        for (name, run) in runs { out += randomizeNuisance(run, name: name, nuisance: nuisance) }
        for (name, run) in runs { out += growEmbedding(run, name: name, nuisance: nuisance) }
        return out
    }

    /// " in `name`" or "".
    static func inEncoder(_ name: String?) -> String { name.map { " in \($0)" } ?? "" }

    /// Rule 1.
    static func readOtherFeatures(_ comparison: EncoderComparison, thresholds: VerdictThresholds) -> [Advice] {
        var out: [Advice] = []
        for l in comparison.labels where l.within != nil {
            let ref = l.encoders[0]
            for e in l.encoders.dropFirst() where e.significant {
                let (hi, lo) = e.difference > 0 ? (e, ref) : (ref, e)
                guard hi.accuracy - l.chance > standardErrors * hi.standardError else { continue }
                let name = "\(l.label) (within \(l.within!))"
                let numbers = [AdviceNumber("\(l.label) accuracy, \(hi.name)", hi.accuracy, standardError: hi.standardError),
                               AdviceNumber("\(l.label) accuracy, \(lo.name)", lo.accuracy, standardError: lo.standardError),
                               AdviceNumber("\(l.label) difference \(e.name) − \(ref.name) (paired)", e.difference,
                                            standardError: e.differenceStandardError),
                               AdviceNumber("\(l.label) chance", l.chance)]
                out.append(Advice(
                    rule: "read-other-features",
                    trigger: "\(name) is read at \(numbers[0].text) from \(hi.name) but \(numbers[1].text) from \(lo.name): the difference \(numbers[2].text) is more than 2 paired SE",
                    numbers: numbers, source: sourceProjectionHead,
                    text: "Read \(l.label) from the features of \(hi.name), which keep it (\(numbers[0].text)) where those of \(lo.name) lose part of it (\(numbers[1].text)): a projection head, or any later layer, can drop what the layer before it keeps."))
            }
        }
        return out
    }

    /// The labels some audit of `runs` reads significantly above chance (at step 0, the peak
    /// or the end: a − c > 2s), in any encoder or layer: evidence that the inputs show them.
    static func readLabels(_ runs: [RunReport]) -> Set<String> {
        var out: Set<String> = []
        for run in runs {
            for f in run.features {
                let read = [(f.baseline, f.baselineStandardError), (f.peak, f.peakStandardError), (f.final, f.finalStandardError)]
                if read.contains(where: { a, s in
                    guard let a, let s, a.isFinite, s.isFinite else { return false }
                    return a - f.chance > standardErrors * s
                }) { out.insert(f.label) }
            }
        }
        return out
    }

    /// Rule 2; for a label with merged pairs that no audit of the call reads above chance
    /// (`readable`), the caveat `check-label-readable` instead.
    static func addUnsupervisedTerm(_ run: RunReport, name: String?, readable: Set<String>) -> [Advice] {
        var out: [Advice] = []
        let merging = run.timeline.last?.subclassMerging ?? []
        let geometry = run.timeline.last?.geometry
        for f in run.features {
            guard let group = f.within else { continue }
            let level = 0.5 + run.thresholds.learned * 0.5
            let pairs = merging.filter { $0.label == f.label }.flatMap(\.rankedPairs)
                .filter { $0.pair.merged && $0.pair.accuracy + standardErrors * $0.pair.standardError < level }
            guard f.verdict == .collapsed || !pairs.isEmpty else { continue }
            if f.verdict != .collapsed && !readable.contains(f.label) {
                out.append(checkLabelReadable(f, group: group, pairs: pairs, level: level, name: name))
                continue
            }
            var numbers: [AdviceNumber] = []
            var evidence: [String] = []
            if f.verdict == .collapsed {
                if let b = f.baseline {
                    numbers.append(AdviceNumber("\(f.label) accuracy at step 0", b, standardError: f.baselineStandardError))
                }
                numbers.append(AdviceNumber("\(f.label) peak accuracy (step \(f.peakStep))", f.peak, standardError: f.peakStandardError))
                numbers.append(AdviceNumber("\(f.label) final accuracy", f.final, standardError: f.finalStandardError))
                evidence.append("the verdict of \(f.label) within \(group) is collapsed (peak \(numbers[numbers.count - 2].text), final \(numbers.last!.text))")
            }
            numbers += pairNumbers(f.label, pairs)
            if !pairs.isEmpty {
                evidence.append("merged pairs " + mergedPairsText(pairs)
                                + String(format: " (chance 0.50; each pair more than 2 SE below %.2f)", level))
            }
            if let s = geometry?.varianceShare[group] {
                numbers.append(AdviceNumber("within-\(group) variance share", s))
                evidence.append("within-\(group) variance share \(String(format: "%.3f", s))"
                                + (f.baseline == nil ? "" : f.baselineGroupShare.map { String(format: " (step 0: %.3f)", $0) } ?? ""))
            }
            if let w = geometry?.within?[f.label] {
                numbers.append(AdviceNumber("\(f.label) kNN purity within \(group)", w.knnPurity))
                numbers.append(AdviceNumber("\(f.label) kNN chance within \(group)", w.knnChance))
                evidence.append("kNN purity \(String(format: "%.3f", w.knnPurity)) (chance \(String(format: "%.3f", w.knnChance)))")
            }
            out.append(Advice(
                rule: "add-unsupervised-term",
                trigger: "subclasses of \(f.label) merged within \(group)\(inEncoder(name)): " + evidence.joined(separator: "; "),
                numbers: numbers, source: sourceCollapse,
                text: "If\(inEncoder(name).isEmpty ? " the encoder" : " " + name!) was trained with a supervised contrastive loss, add an unsupervised term: the joint loss β·L_SCL + (1 − β)·L_UCL with β < 1 keeps subclass features that the supervised loss alone collapses; and check that augmentation is on (two different views of each example)."))
        }
        return out
    }

    /// The two-subclass accuracies ± SE of the first three `pairs` of `label`, as quoted numbers.
    static func pairNumbers(_ label: String, _ pairs: [(group: String, pair: SubclassMerging.Pair)]) -> [AdviceNumber] {
        pairs.prefix(3).map { g, p in
            AdviceNumber("\(label) pair \(p.a) ↔ \(p.b) within \(g), two-subclass accuracy", p.accuracy, standardError: p.standardError)
        }
    }

    /// "GROUP: A ↔ B acc ± se, …" for the first three `pairs`, then "and N more".
    static func mergedPairsText(_ pairs: [(group: String, pair: SubclassMerging.Pair)]) -> String {
        pairs.prefix(3).map { "\($0.group): \($0.pair.a) ↔ \($0.pair.b) \(AdviceNumber("", $0.pair.accuracy, standardError: $0.pair.standardError).text)" }
            .joined(separator: ", ") + (pairs.count > 3 ? " and \(pairs.count - 3) more" : "")
    }

    /// The caveat of rule 2: pairs of `f` merged, but no audit reads `f` above chance, so the
    /// pairs cannot tell class collapse from a label the inputs do not show.
    static func checkLabelReadable(_ f: FeatureSummary, group: String, pairs: [(group: String, pair: SubclassMerging.Pair)],
                                   level: Double, name: String?) -> Advice {
        let final = AdviceNumber("\(f.label) final accuracy", f.final, standardError: f.finalStandardError)
        var numbers = [final, AdviceNumber("\(f.label) chance", f.chance)]
        if f.peak != f.final {
            numbers.insert(AdviceNumber("\(f.label) peak accuracy (step \(f.peakStep))", f.peak, standardError: f.peakStandardError), at: 0)
        }
        numbers += pairNumbers(f.label, pairs)
        return Advice(
            rule: "check-label-readable",
            trigger: "subclasses of \(f.label) merged within \(group)\(inEncoder(name)) (\(mergedPairsText(pairs)); each more than 2 SE below "
                + String(format: "%.2f", level) + "), but no audit reads \(f.label) more than 2 SE above chance: final "
                + "\(final.text), chance \(String(format: "%.3f", f.chance))",
            numbers: numbers, source: sourceCollapse,
            text: "Merged subclasses of a label that no encoder, layer or step reads cannot tell class collapse from a label the inputs do not show. Probe \(f.label) on the raw inputs or on an encoder trained without labels: if one of them reads it, this encoder lost it (add an unsupervised term, the joint loss β·L_SCL + (1 − β)·L_UCL with β < 1); if none does, \(f.label) is not visible in the data as given.")
    }

    /// Labels (not nuisances) significantly below the learned level at the last audit, lowest first.
    static func lowLabels(_ run: RunReport, excluding: Set<String>) -> [(label: String, accuracy: Double, se: Double)] {
        let last = run.timeline.last!
        return run.labels.compactMap { l -> (String, Double, Double)? in
            guard !excluding.contains(l), let a = last.probes[l], let c = last.chance?[l], let s = last.standardError?[l],
                  a.isFinite, s.isFinite, a + standardErrors * s < learnedAccuracy(chance: c, thresholds: run.thresholds) else { return nil }
            return (l, a, s)
        }.sorted { $0.1 < $1.1 }
    }

    /// Rule 3.
    static func randomizeNuisance(_ run: RunReport, name: String?, nuisance: [String]) -> [Advice] {
        var out: [Advice] = []
        let last = run.timeline.last!
        for n in nuisance {
            guard let a = last.probes[n], let c = last.chance?[n], let s = last.standardError?[n], a.isFinite, s.isFinite,
                  a - standardErrors * s >= learnedAccuracy(chance: c, thresholds: run.thresholds) else { continue }
            let low = lowLabels(run, excluding: Set(nuisance))
            guard !low.isEmpty else { continue }
            let numbers = [AdviceNumber("\(n) accuracy (nuisance)", a, standardError: s)]
                + low.map { AdviceNumber("\($0.label) accuracy", $0.accuracy, standardError: $0.se) }
            let lowText = low.map { "\($0.label) \(AdviceNumber("", $0.accuracy, standardError: $0.se).text)" }.joined(separator: ", ")
            out.append(Advice(
                rule: "randomize-nuisance",
                trigger: "the nuisance \(n) is read at \(numbers[0].text)\(inEncoder(name)), at least 2 SE above the learned level, while \(lowText) \(low.count == 1 ? "is" : "are") more than 2 SE below it",
                numbers: numbers, source: sourceShortcut,
                text: "\(n) may be a shortcut that suppresses \(low.map(\.label).joined(separator: ", ")): add an augmentation that randomizes \(n) between the two views of an example; if \(low.count == 1 ? "it stays" : "they stay") low, grow the embedding."))
        }
        return out
    }

    /// Rule 4.
    static func growEmbedding(_ run: RunReport, name: String?, nuisance: [String]) -> [Advice] {
        guard let m = run.final.metrics, let p = m.spectrum?.count, p > 0, m.rankme >= fullRankFraction * Double(p) else { return [] }
        let low = lowLabels(run, excluding: Set(nuisance))
        guard !low.isEmpty else { return [] }
        let numbers = [AdviceNumber("RankMe", m.rankme), AdviceNumber("embedding width p", Double(p))]
            + low.map { AdviceNumber("\($0.label) accuracy", $0.accuracy, standardError: $0.se) }
        let lowText = low.map { "\($0.label) \(AdviceNumber("", $0.accuracy, standardError: $0.se).text)" }.joined(separator: ", ")
        return [Advice(
            rule: "grow-embedding",
            trigger: String(format: "RankMe %.2f of p = %d dimensions (≥ %.0f %%)", m.rankme, p, fullRankFraction * 100)
                + "\(inEncoder(name)) while \(lowText) \(low.count == 1 ? "is" : "are") more than 2 SE below the learned level",
            numbers: numbers, source: sourceFull,
            text: "The embedding\(inEncoder(name)) uses nearly all of its dimensions: grow it (a larger p) so that the harder features have room.")]
    }
}
