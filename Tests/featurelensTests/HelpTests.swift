// The help of every command: an EXAMPLES section whose commands parse (and, for `run` and
// `sweep`, give a valid config), required options shown as required in the usage line, and
// error hints that work when followed.
import ArgumentParser
import Foundation
import Testing
import FeatureLens
@testable import featurelens

/// Every command of the tree under `root`, depth first (the root included).
private func commandTree(_ root: ParsableCommand.Type) -> [ParsableCommand.Type] {
    [root] + root.configuration.subcommands.flatMap { commandTree($0) }
}

/// The command names from the root to each command type, e.g. "bench gemm" (root: "").
private func commandPaths(_ root: ParsableCommand.Type, prefix: [String] = []) -> [(path: [String], type: ParsableCommand.Type)] {
    [(prefix, root)] + root.configuration.subcommands.flatMap {
        commandPaths($0, prefix: prefix + [$0.configuration.commandName!])
    }
}

/// The example commands of a help text: the lines after `EXAMPLES:` that start with
/// `  featurelens `, joined with their ` \` continuation lines, split on spaces. Records an
/// issue for any line of the section that is not a `# comment`, a command or a continuation
/// (a line the help wrapped would be one).
private func exampleCommands(_ help: String, command: String) -> [[String]] {
    let lines = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(of: "EXAMPLES:") else { return [] }
    var commands: [[String]] = []
    var continuing = false
    for line in lines[(start + 1)...] {
        if line.trimmingCharacters(in: .whitespaces).isEmpty { break }
        if continuing && line.hasPrefix("      ") && !line.hasPrefix("       ") {
            commands[commands.count - 1] += line.split(separator: " ").map(String.init)
        } else if line.hasPrefix("  featurelens ") {
            commands.append(line.split(separator: " ").map(String.init))
        } else if line.hasPrefix("  # ") {
            // What the next example does.
        } else {
            Issue.record("\(command): unexpected line in EXAMPLES: '\(line)'")
            break
        }
        continuing = line.hasSuffix(" \\")
        if continuing { commands[commands.count - 1].removeLast() }
    }
    return commands
}

@Suite("featurelens help")
struct HelpTests {
    @Test func everyCommandHasTwoOrThreeExamplesThatParse() throws {
        for (path, command) in commandPaths(FeatureLensCommand.self) {
            let name = (["featurelens"] + path).joined(separator: " ")
            // The default width (80 columns): no example line may be wrapped.
            let help = FeatureLensCommand.helpMessage(for: command, columns: 80)
            let examples = exampleCommands(help, command: name)
            #expect((2...3).contains(examples.count), "\(name): \(examples.count) examples in\n\(help)")
            let allowed = commandTree(command).map { ObjectIdentifier($0) }
            for tokens in examples {
                let text = tokens.joined(separator: " ")
                #expect(tokens.first == "featurelens" && !text.contains("\"") && !text.contains("'"), "\(name): \(text)")
                let parsed: ParsableCommand
                do {
                    parsed = try FeatureLensCommand.parseAsRoot(Array(tokens.dropFirst()))
                } catch {
                    Issue.record("\(name): example '\(text)' does not parse: \(FeatureLensCommand.message(for: error))")
                    continue
                }
                // The example runs this command (or, for a command with subcommands, one of them).
                #expect(allowed.contains(ObjectIdentifier(type(of: parsed))), "\(name): '\(text)' runs \(type(of: parsed))")
                // A preset example must also give a valid config (the same path as `run`/`sweep`).
                if let run = parsed as? RunCommand {
                    try resolveExperiment(run.preset).applying(set: try run.assignments.map(parseAssignment),
                                                               grid: try run.grid.map(parseGridAxis)).validate()
                }
                if let sweep = parsed as? SweepCommand {
                    try resolveExperiment(sweep.preset).applying(set: try sweep.assignments.map(parseAssignment),
                                                                 grid: try sweep.grid.map(parseGridAxis)).validate()
                }
                if let presets = parsed as? PresetsCommand, let key = presets.keys {
                    _ = try resolveExperiment(key)
                }
            }
        }
    }

    /// Every non-optional option or argument (as ArgumentParser's own help dump reports it)
    /// appears without brackets in its command's usage line.
    @Test func requiredOptionsAreRequiredInTheUsageLine() throws {
        let (code, out, err) = try runCLI(["--experimental-dump-help"])
        #expect(code == 0, "stderr: \(err)")
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let types = Dictionary(commandPaths(FeatureLensCommand.self).map { ($0.path.joined(separator: " "), $0.type) },
                               uniquingKeysWith: { a, _ in a })
        var required: [String: [String]] = [:]
        func walk(_ command: [String: Any], path: [String]) {
            let key = path.joined(separator: " ")
            if let type = types[key] {
                let usage = FeatureLensCommand.usageString(for: type)
                for arg in command["arguments"] as? [[String: Any]] ?? [] {
                    guard arg["isOptional"] as? Bool == false, arg["shouldDisplay"] as? Bool != false else { continue }
                    let kind = arg["kind"] as? String
                    let token: String
                    if kind == "positional" {
                        token = "<\(arg["valueName"] as? String ?? "")>"
                    } else if let name = (arg["preferredName"] as? [String: Any])?["name"] as? String {
                        token = (((arg["preferredName"] as? [String: Any])?["kind"] as? String) == "short" ? "-" : "--") + name
                    } else { continue }
                    required[key, default: []].append(token)
                    #expect(usage.contains(token), "\(key): usage lacks \(token): \(usage)")
                    #expect(!usage.contains("[" + token), "\(key): \(token) is required but shown optional: \(usage)")
                }
            }
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                walk(sub, path: path + [sub["commandName"] as? String ?? ""])
            }
        }
        walk(try #require(dump["command"] as? [String: Any]), path: [])
        // The check is not vacuous: audit's two required options were found (and run/sweep's PRESET).
        #expect(required["audit"] == ["--embeddings", "--labels"], "\(required)")
        #expect(required["run"] == ["<preset>"] && required["sweep run"] == ["<preset>"], "\(required)")
        // And the command line enforces it.
        let (code2, _, err2) = try runCLI(["audit", "--labels", "labels.csv"])
        #expect(code2 != 0 && err2.contains("--embeddings"), "stderr: \(err2)")
    }
}

@Suite("featurelens steps hint", .serialized)
struct StepsHintTests {
    /// The exact case of the report: `--set steps=0` with explicit audit steps beyond it fails
    /// with a hint, and the run with the hint's `audit_steps` succeeds.
    @Test func followingTheAuditStepsHintWorks() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = ["--set", "d=200", "--set", "n=40", "--set", "n_test=200", "--quiet"]
        for steps in [0, 7] {
            let (code, _, err) = try runCLI(["run", "class-collapse", "--set", "steps=\(steps)", "--set", "audit_steps=0,50,1000"]
                                            + small + ["--out", dir.appendingPathComponent("bad-\(steps)").path])
            #expect(code != 0 && err.contains("audit_steps"), "stderr: \(err)")
            // "… (e.g. --set audit_steps=0,7)": the value up to the closing parenthesis.
            let marker = "--set audit_steps="
            let hintStart = try #require(err.range(of: marker), "no hint in: \(err)")
            let hint = String(err[hintStart.upperBound...].prefix { $0 != ")" && !$0.isWhitespace })
            let out = dir.appendingPathComponent("ok-\(steps)")
            let (code2, _, err2) = try runCLI(["run", "class-collapse", "--set", "steps=\(steps)", "--set", "audit_steps=\(hint)"]
                                              + small + ["--out", out.path])
            #expect(code2 == 0, "following the hint '\(marker)\(hint)' failed: \(err2)")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
            let timeline = (json["runs"] as! [[String: Any]])[0]["timeline"] as! [[String: Any]]
            #expect(timeline.map { $0["step"] as! Int }.last == steps)
        }
    }

    /// `--set steps=N` alone: the audit steps follow (the preset's below N, then N), with a note.
    @Test func stepsAloneRunsWithFittedAuditSteps() throws {
        let dir = try tempFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cc")
        let (code, _, err) = try runCLI(["run", "class-collapse", "--set", "steps=50", "--set", "d=200", "--set", "n=40",
                                         "--set", "n_test=200", "--out", out.path])
        #expect(code == 0, "stderr: \(err)")
        // class-collapse audits at 0, 10, 30, 100, …: below 50 that is 0, 10, 30.
        #expect(err.contains("note: audit_steps follow steps: 0,10,30,50 (steps=50)"), "stderr: \(err)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        for run in json["runs"] as! [[String: Any]] {
            #expect((run["timeline"] as! [[String: Any]]).map { $0["step"] as! Int } == [0, 10, 30, 50])
        }
    }
}
