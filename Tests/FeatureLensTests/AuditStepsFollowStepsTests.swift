// `--set steps=N` on a synthetic preset without `audit_steps`: the audit steps follow (the
// preset's audit steps below N, then N); with explicit audit steps beyond N the error's hint
// is a value that validates.
import Foundation
import Testing
@testable import FeatureLens

@Suite struct AuditStepsFollowStepsTests {
    /// Every config of every synthetic preset is valid after `--set steps=N`, for N from 0 to
    /// above the preset's own steps, and its audit steps are the preset's below N, then N.
    @Test func stepsAloneGivesValidFittedAuditSteps() throws {
        for name in SyntheticPreset.names {
            let preset = try SyntheticPreset.named(name)
            for steps in [0, 1, 7, 500, 50_000] {
                let fitted = try preset.applying(set: [("steps", String(steps))], grid: [])
                try Experiment.synthetic(fitted).validate()
                for i in fitted.settings.indices {
                    let before = try preset.config(setting: i).auditSteps
                    let after = try fitted.config(setting: i).auditSteps
                    #expect(after.last == steps, "\(name) steps=\(steps): \(after)")
                    #expect(after.dropLast() == before.filter { $0 < steps }[...], "\(name) steps=\(steps): \(before) → \(after)")
                }
            }
        }
        // The case of the report, and one worked example.
        let cc = try SyntheticPreset.named("class-collapse")
        #expect(try cc.applying(set: [("steps", "0")], grid: []).config(setting: 0).auditSteps == [0])
        #expect(try cc.applying(set: [("steps", "500")], grid: []).config(setting: 1).auditSteps == [0, 10, 30, 100, 300, 500])
    }

    /// The steps may come from a grid axis or a coupled recipe: each setting fits its own.
    @Test func eachSettingFitsItsOwnSteps() throws {
        let cc = try SyntheticPreset.named("class-collapse").applying(set: [], grid: [("steps", ["20", "2000"])])
        try Experiment.synthetic(cc).validate()
        for i in cc.settings.indices {
            let c = try cc.config(setting: i)
            #expect(c.auditSteps == (c.steps == 20 ? [0, 10, 20] : [0, 10, 30, 100, 300, 1000, 2000]), "\(c.steps): \(c.auditSteps)")
        }
        // joint-loss brings 20 000 or 30 000 steps per data model with their audit steps.
        let joint = try SyntheticPreset.named("joint-loss").applying(set: [("steps", "100")], grid: [])
        try Experiment.synthetic(joint).validate()
        for i in joint.settings.indices { #expect(try joint.config(setting: i).auditSteps == [0, 100]) }
    }

    /// Explicit audit steps are the user's: kept when valid, an error with a working hint when not.
    @Test func explicitAuditStepsWinAndTheirHintWorks() throws {
        let cc = try SyntheticPreset.named("class-collapse")
        let mine = try cc.applying(set: [("steps", "500"), ("audit_steps", "0,500")], grid: [])
        #expect(try mine.config(setting: 0).auditSteps == [0, 500])
        for (steps, audits) in [(0, "0,1,0"), (0, "0,1000"), (1, "0,100,1000"), (250, "0,100,1000,20000"), (9, "-1,3,12")] {
            let bad = try cc.applying(set: [("steps", String(steps)), ("audit_steps", audits)], grid: [])
            var message = ""
            do { try Experiment.synthetic(bad).validate(); Issue.record("steps=\(steps), audit_steps=\(audits) validated") } catch {
                message = String(describing: error)
            }
            #expect(message.contains("audit_steps"), "\(message)")
            let marker = "--set audit_steps="
            let start = try #require(message.range(of: marker), "no hint: \(message)")
            let hint = String(message[start.upperBound...].prefix { $0 != ")" && !$0.isWhitespace })
            let followed = try cc.applying(set: [("steps", String(steps)), ("audit_steps", hint)], grid: [])
            try Experiment.synthetic(followed).validate()
            #expect(try followed.config(setting: 0).auditSteps.last == steps, "\(hint)")
        }
    }

    /// Image configs: audit steps beyond the run's total steps are an error whose hint works.
    @Test func imageAuditStepsHintWorks() throws {
        var c = ImageExperimentConfig()
        try c.set(key: "audit_steps", value: "0,50,5000")
        var message = ""
        do { _ = try c.resolvedAuditSteps(totalSteps: 100); Issue.record("audit step 5000 of 100 accepted") } catch {
            message = String(describing: error)
        }
        let marker = "--set audit_steps="
        let start = try #require(message.range(of: marker), "no hint: \(message)")
        let hint = String(message[start.upperBound...].prefix { $0 != ")" && !$0.isWhitespace })
        try c.set(key: "audit_steps", value: hint)
        #expect(try c.resolvedAuditSteps(totalSteps: 100) == [0, 1, 2, 3, 6, 13, 25, 50, 100])   // 0 and T/128 … T/2, T, rounded
    }
}
