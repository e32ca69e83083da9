// The README's shell examples, run as written, so the README cannot drift from the CLI.
//
// What is covered (the README's Development section says the same):
// * Every fenced block of README.md is classified by its info string: `sh` blocks are run,
//   whatever heading they sit under; `swift` blocks (the library API), `python` blocks (the
//   export helper's calls; PyTorchExportTests runs the helper and the `featurelens audit`
//   command of the block after them) and blocks without a language (sample output) are not run. Any other info string fails
//   `everyBlockIsRunOrSkippedWithAReason`: a new kind of block must be classified here first.
// * An `sh` block is read line by line: blank lines and `#` comment lines are dropped, a line
//   ending in `\` continues on the next, a `#` that starts a word begins a trailing comment,
//   words split on blanks with "…" and '…' quoting.
// * Each command of a block is one of (anything else fails the coverage test):
//     `featurelens ARGS`                 run; the README must put featurelens on the PATH
//                                        (an `export PATH=` line) before the first such command
//     `swift run [-c CONF] featurelens ARGS`   run as `featurelens ARGS`
//     `swift build …`                    not run: the binary under test is this build's product
//     `swift test …`                     not run: the test cannot run itself
//     `export PATH="DIR:$PATH"`          the products folder of this build goes first on PATH;
//                                        DIR must be `.build/CONF` of the `swift build` before it
//   Shell syntax beyond that (pipes, redirections, `;`, `&&`, `$` outside `export`) fails too.
// * How a block runs: in a fresh temporary folder that holds a symlink to every top-level
//   entry of the package (except `.build` and `.git`), so repo-relative paths in a command
//   resolve while everything a command writes stays in the temporary folder; plus the input
//   files the block names, made by the `fixtures` table. Its commands run in order; each must
//   exit 0.
// * Small runs: `run` and `sweep` commands get `--set` overrides appended after their own
//   arguments (`--set` is last-wins, so these take precedence):
//     synthetic presets and configs: d=500 n=100 n_test=200 steps=200 (the audit steps follow
//       `steps`; smaller n or d makes suppression-augmentation's lr 0.02 diverge on some seeds);
//     mini-batch (image-kind) configs: epochs=1; those reading Fashion-MNIST also
//       train_limit=256 test_limit=200.
//     `featurelens example NAME DIR` gets `--train-per-type 40 --test-per-type 20` (320
//       training and 160 test images of `defects`, so `run defects` on them is small too).
//   `featurelens demo` trains the four synthetic recipes in full (under a minute in release
//   mode), so it is not run: its arguments must parse, `featurelens demo --help` runs, and
//   every preset the demo runs is run with `featurelens run PRESET` (with the demo's `--seed`,
//   if any) and the synthetic small overrides. The demo's summary and index page are tested in-process (DemoSummaryTests).
// * Commands that read Fashion-MNIST run in `fashionMNISTCommandsRunAsWritten`, which is
//   enabled only when Debian's `dataset-fashion-mnist` folder exists; every other command
//   runs in `commandsRunAsWritten`. A command that runs a config file written by a command of
//   the other group (same block) is not supported; none does.
import ArgumentParser
import Foundation
import Testing
import FeatureLens
@testable import featurelens

// MARK: - Parsing README.md

/// One fenced block of the README.
struct READMEBlock: Sendable {
    /// The fence's info string (`sh`, `swift`, or empty).
    var language: String
    /// The nearest heading above the block (without `#`s).
    var heading: String
    /// The README line number (1-based) of the opening fence.
    var line: Int
    /// The block's lines (without the fences).
    var lines: [String]
    /// Where the block is, for messages.
    var label: String { "README.md:\(line) (\(heading), ```\(language))" }
}

/// One logical command line of an `sh` block.
struct READMECommand: Sendable {
    /// Its words, unquoted, with the trailing comment removed.
    var words: [String]
    /// The README line number (1-based) where it starts.
    var line: Int
    var text: String { words.joined(separator: " ") }
}

/// What the test does with one README command.
enum READMEAction: Equatable {
    /// Run `featurelens ARGS`.
    case featurelens([String])
    /// Put the built products folder first on PATH; the README's DIR is kept for the check.
    case exportPath(String)
    /// Not run, with the reason.
    case skip(String)
}

/// A README line the test cannot read or run, with its line number.
struct READMEError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

enum READMEParser {
    /// Every fenced block of `text`, with its heading and line number. A fence that is not
    /// closed is reported as an issue.
    static func blocks(_ text: String) -> [READMEBlock] {
        var blocks: [READMEBlock] = []
        var heading = "(top)"
        var open: READMEBlock?
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).enumerated() {
            if var b = open {
                if line.trimmingCharacters(in: .whitespaces) == "```" {
                    blocks.append(b); open = nil
                } else {
                    b.lines.append(line); open = b
                }
            } else if line.hasPrefix("```") {
                open = READMEBlock(language: String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces),
                                   heading: heading, line: i + 1, lines: [])
            } else if line.hasPrefix("#") {
                heading = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
            }
        }
        if let b = open { Issue.record("\(b.label): the fence is never closed") }
        return blocks
    }

    /// The logical command lines of an `sh` block (comments dropped, `\` continuations joined).
    /// - Throws: `READMEError` for an unterminated quote.
    static func commands(_ block: READMEBlock) throws -> [READMECommand] {
        var out: [READMECommand] = []
        var pending = "", start = 0
        for (i, raw) in block.lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty {
                if line.isEmpty || line.hasPrefix("#") { continue }
                start = block.line + 1 + i
            }
            if line.hasSuffix("\\") {
                pending += line.dropLast() + " "
                continue
            }
            pending += line
            let words = try words(pending, line: start)
            if !words.isEmpty { out.append(READMECommand(words: words, line: start)) }
            pending = ""
        }
        if !pending.isEmpty {
            out.append(READMECommand(words: try words(pending, line: start), line: start))
        }
        return out
    }

    /// Splits a shell line into words: blanks separate, "…" and '…' quote, a `#` at the start
    /// of a word begins a comment that runs to the end of the line.
    static func words(_ line: String, line number: Int) throws -> [String] {
        var words: [String] = []
        var word = "", inWord = false
        var quote: Character?
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(word); word = ""; inWord = false }
            } else if c == "#" && !inWord {
                break
            } else {
                word.append(c); inWord = true
            }
        }
        if quote != nil { throw READMEError("README.md:\(number): unterminated quote in '\(line)'") }
        if inWord { words.append(word) }
        return words
    }

    /// What to do with `command` (see the rules at the top of this file), or a description of
    /// why the test does not know how to run it.
    static func action(_ command: READMECommand) -> Result<READMEAction, READMEError> {
        let w = command.words
        let at = "README.md:\(command.line): '\(command.text)'"
        for word in w where word.contains(where: { "|<>;&`".contains($0) }) {
            return .failure(READMEError("\(at): shell syntax the test does not run ('\(word)')"))
        }
        if w.first == "export" {
            guard w.count == 2, w[1].hasPrefix("PATH="), w[1].hasSuffix(":$PATH") else {
                return .failure(READMEError("\(at): only `export PATH=\"DIR:$PATH\"` is understood"))
            }
            return .success(.exportPath(String(w[1].dropFirst(5).dropLast(6))))
        }
        if let dollar = w.first(where: { $0.contains("$") }) {
            return .failure(READMEError("\(at): shell variable in '\(dollar)'"))
        }
        if w.first == "featurelens" { return .success(.featurelens(Array(w.dropFirst()))) }
        guard w.first == "swift", w.count >= 2 else {
            return .failure(READMEError("\(at): not a featurelens, swift or export command"))
        }
        switch w[1] {
        case "build":
            return .success(.skip("`swift build`: the binary under test is the product of the build that runs this test"))
        case "test":
            return .success(.skip("`swift test`: the test cannot run itself"))
        case "run":
            // swift run [-c CONF | --configuration CONF] featurelens ARGS
            var rest = Array(w.dropFirst(2))
            while let first = rest.first, first.hasPrefix("-") {
                guard ["-c", "--configuration"].contains(first), rest.count >= 2 else {
                    return .failure(READMEError("\(at): unknown `swift run` option '\(first)'"))
                }
                rest.removeFirst(2)
            }
            guard rest.first == "featurelens" else {
                return .failure(READMEError("\(at): `swift run` of another product"))
            }
            return .success(.featurelens(Array(rest.dropFirst())))
        default:
            return .failure(READMEError("\(at): `swift \(w[1])` is not a step the test knows"))
        }
    }

    /// The build configuration of a `swift build` command (`debug` unless `-c`/`--configuration`).
    static func buildConfiguration(_ words: [String]) -> String {
        for (i, w) in words.enumerated() where (w == "-c" || w == "--configuration") && i + 1 < words.count {
            return words[i + 1]
        }
        for w in words where w.hasPrefix("--configuration=") { return String(w.dropFirst("--configuration=".count)) }
        return "debug"
    }
}

// MARK: - Running commands

enum READMERun {
    /// The package root: the folder above `Tests/` that holds Package.swift and README.md.
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    }

    static func readme() throws -> String {
        try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
    }

    static let fashionMNISTPresent = FileManager.default.fileExists(
        atPath: FashionMNIST.defaultDirectory.appendingPathComponent("train-images-idx3-ubyte.gz").path)
        || FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory.appendingPathComponent("train-images-idx3-ubyte").path)

    /// Small `--set` values, by kind (see the rules at the top of this file).
    static let syntheticSmall = ["d=500", "n=100", "n_test=200", "steps=200"]
    static let miniBatchSmall = ["epochs=1"]
    static let fashionMNISTSmall = ["train_limit=256", "test_limit=200"]
    static let exampleSmall = ["--train-per-type", "40", "--test-per-type", "20"]

    /// Input files the README's examples name, by file name, and how the test makes them.
    /// README example → fixture:
    ///   "Audit your own embeddings" (`featurelens audit --embeddings ckpt0.npy … --labels labels.csv
    ///   --within subclass:class`): `ckpt0.npy`, `ckpt1.npy`, `ckpt2.npy` are three checkpoints of a
    ///   [120, 6] float32 embedding, and `labels.csv` has the columns `class` and `subclass` (two
    ///   values each, subclass balanced inside each class).
    /// A block gets every fixture whose name is one of its words.
    static let fixtures: [(name: String, build: @Sendable (URL) throws -> Void)] = [
        ("ckpt0.npy", { try auditCheckpoint(0).write(to: $0) }),
        ("ckpt1.npy", { try auditCheckpoint(1).write(to: $0) }),
        ("ckpt2.npy", { try auditCheckpoint(2).write(to: $0) }),
        ("labels.csv", { try auditLabels().write(to: $0) }),
    ]

    static let auditRows = 120

    /// Checkpoint `k` of the audit example: column 0 carries the class, column 1 the subclass
    /// with a weight that grows with k, the other columns a fixed label-free pattern.
    static func auditCheckpoint(_ k: Int) -> Data {
        let n = auditRows, p = 6
        let scalars = (0..<n).flatMap { i -> [Double] in
            let cls = Double(i % 2), sub = Double((i / 2) % 2)
            return (0..<p).map { j in
                let pattern = sin(Double(i * (j + 3) + 7 * k))   // deterministic, label-free
                switch j {
                case 0: return 2 * cls + 0.5 * pattern
                case 1: return Double(k) * sub + 0.5 * pattern
                default: return pattern
                }
            }
        }
        return NPY.encode(Tensor<Double>(shape: [n, p], scalars: scalars), dtype: .float32)
    }

    static func auditLabels() -> Data {
        let rows = (0..<auditRows).map { i in "\(i % 2 == 0 ? "top" : "shoe"),\((i / 2) % 2)" }
        return Data((["class,subclass"] + rows).joined(separator: "\n").appending("\n").utf8)
    }

    /// A fresh working folder for one block: symlinks to the package's top-level entries, and
    /// the fixtures the block's commands name.
    static func workingFolder(for commands: [READMECommand]) throws -> URL {
        let dir = try tempFolder()
        let fm = FileManager.default
        for entry in try fm.contentsOfDirectory(atPath: packageRoot.path) where ![".build", ".git"].contains(entry) {
            try fm.createSymbolicLink(at: dir.appendingPathComponent(entry),
                                      withDestinationURL: packageRoot.appendingPathComponent(entry))
        }
        // A fixture is named as a word or inside one (`--embeddings NAME=FILE1,FILE2`).
        let words = Set(commands.flatMap(\.words).flatMap { w in
            [w] + (w.split(separator: "=", maxSplits: 1).dropFirst().first.map { $0.split(separator: ",").map(String.init) } ?? [])
        })
        for f in fixtures where words.contains(f.name) {
            try? fm.removeItem(at: dir.appendingPathComponent(f.name))
            try f.build(dir.appendingPathComponent(f.name))
        }
        return dir
    }

    /// The values of every `--set` (as `KEY=VALUE`) and `--grid` option in `args`.
    static func options(_ name: String, in args: [String]) -> [String] {
        var out: [String] = []
        for (i, a) in args.enumerated() {
            if a == name, i + 1 < args.count { out.append(args[i + 1]) }
            if a.hasPrefix(name + "=") { out.append(String(a.dropFirst(name.count + 1))) }
        }
        return out
    }

    /// The experiment a `run`/`sweep` command runs (with its `--set`/`--grid`), resolved in
    /// `cwd`; nil when it does not resolve (the command then reports the error itself).
    static func experiment(_ args: [String], cwd: URL) -> Experiment? {
        guard args.count >= 2 else { return nil }
        var target = args[1]
        if !Experiment.presetNames.contains(target) && !target.hasPrefix("/") {
            target = cwd.appendingPathComponent(target).path
        }
        do {
            return try Experiment.resolve(target).applying(
                set: try options("--set", in: args).map(parseAssignment),
                grid: try options("--grid", in: args).map(parseGridAxis))
        } catch {
            return nil
        }
    }

    /// Whether a command reads Fashion-MNIST: an image-kind run whose data folder is the
    /// default one.
    static func readsFashionMNIST(_ args: [String], cwd: URL) -> Bool {
        guard ["run", "sweep"].contains(args.first), case let .image(p)? = experiment(args, cwd: cwd) else { return false }
        return p.settings.indices.contains { i in
            (try? p.config(setting: i).data).map {
                URL(fileURLWithPath: $0).standardizedFileURL.path == FashionMNIST.defaultDirectory.standardizedFileURL.path
            } ?? false
        }
    }

    /// The command lines the test runs for `featurelens ARGS` (small overrides appended; the
    /// demo replaced by its parts).
    static func invocations(_ args: [String], cwd: URL) throws -> [[String]] {
        switch args.first {
        case "run", "sweep":
            var small: [String] = []
            switch experiment(args, cwd: cwd) {
            case .synthetic?: small = syntheticSmall
            case .image?:
                small = miniBatchSmall + (readsFashionMNIST(args, cwd: cwd) ? fashionMNISTSmall : [])
            case nil: small = []
            }
            return [args + small.flatMap { ["--set", $0] }]
        case "example":
            return [args + exampleSmall]
        case "demo":
            // The arguments as written must parse; then the demo's help and its presets, small.
            if args.contains("--help") || args.contains("-h") { return [args] }
            let parsed = try FeatureLensCommand.parseAsRoot(args)
            #expect(parsed is DemoCommand, "'featurelens \(args.joined(separator: " "))' does not run the demo")
            let seed = options("--seed", in: args).suffix(1).flatMap { ["--seed", $0] }
            return [["demo", "--help"]] + SyntheticPreset.names.map { name in
                ["run", name, "--out", "demo-presets/\(name)", "--quiet"] + seed + syntheticSmall.flatMap { ["--set", $0] }
            }
        default:
            return [args]
        }
    }

    /// Runs the `sh` blocks' `featurelens` commands that read Fashion-MNIST (`fashion: true`)
    /// or the others (`false`), each block in its own working folder; records an issue for
    /// every command that does not exit 0. Returns the command lines run.
    @discardableResult
    static func runBlocks(fashion: Bool) throws -> [[String]] {
        let blocks = READMEParser.blocks(try readme()).filter { $0.language == "sh" }
        #expect(!blocks.isEmpty, "README.md has no ```sh block")
        var ran: [[String]] = []
        var path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for block in blocks {
            let commands = try READMEParser.commands(block)
            let cwd = try workingFolder(for: commands)
            defer { try? FileManager.default.removeItem(at: cwd) }
            for command in commands {
                guard case let .success(action) = READMEParser.action(command) else { continue }   // the coverage test reports it
                switch action {
                case .exportPath:
                    path = productsDirectory.path + ":" + path
                case .skip:
                    break
                case let .featurelens(args):
                    guard readsFashionMNIST(args, cwd: cwd) == fashion else { continue }
                    for invocation in try invocations(args, cwd: cwd) {
                        let (code, out, err) = try runCLI(invocation, cwd: cwd, environment: ["PATH": path])
                        ran.append(invocation)
                        #expect(code == 0, """
                            \(block.label), line \(command.line): `featurelens \(invocation.joined(separator: " "))` \
                            exited \(code)
                            stderr: \(err.suffix(2000))
                            stdout: \(out.suffix(1000))
                            """)
                    }
                }
            }
        }
        return ran
    }
}

// MARK: - Tests

@Suite("README commands", .serialized)
struct READMETests {
    @Test func parserReadsBlocksContinuationsCommentsAndQuotes() throws {
        let text = """
        # Title
        ## Start
        ```sh
        # a comment line
        swift run -c release featurelens demo     # trailing comment
        featurelens audit --embeddings a.npy \\
            --labels "my labels.csv" --out audit/
        ```
        text
        ```
        output
        ```
        ### Other
        ```swift
        let x = 1
        ```
        """
        let blocks = READMEParser.blocks(text)
        #expect(blocks.map(\.language) == ["sh", "", "swift"])
        #expect(blocks.map(\.heading) == ["Start", "Start", "Other"])
        #expect(blocks[0].line == 3)
        let commands = try READMEParser.commands(blocks[0])
        #expect(commands.map(\.words) == [
            ["swift", "run", "-c", "release", "featurelens", "demo"],
            ["featurelens", "audit", "--embeddings", "a.npy", "--labels", "my labels.csv", "--out", "audit/"],
        ])
        #expect(commands.map(\.line) == [5, 6])
        #expect(try READMEParser.action(commands[0]).get() == .featurelens(["demo"]))
        #expect(throws: READMEError.self) { try READMEParser.words("featurelens run \"open", line: 1) }
    }

    @Test func parserMapsSwiftAndExportLinesAndRejectsTheRest() throws {
        func action(_ line: String) throws -> Result<READMEAction, READMEError> {
            READMEParser.action(READMECommand(words: try READMEParser.words(line, line: 1), line: 1))
        }
        #expect(try action("swift test -c release").get() == .skip("`swift test`: the test cannot run itself"))
        if case .skip = try action("swift build -c release --product featurelens").get() {} else { Issue.record("swift build is not skipped") }
        #expect(try action(#"export PATH="$PWD/.build/release:$PATH""#).get() == .exportPath("$PWD/.build/release"))
        #expect(try action("swift run featurelens presets --keys class-collapse").get() == .featurelens(["presets", "--keys", "class-collapse"]))
        #expect(READMEParser.buildConfiguration(["swift", "build", "-c", "release"]) == "release")
        #expect(READMEParser.buildConfiguration(["swift", "build"]) == "debug")
        for unknown in ["python train.py", "featurelens run x | tee log", "featurelens run $PRESET",
                        "swift package resolve", "export FOO=1", "swift run other-tool"] {
            if case .success = try action(unknown) { Issue.record("'\(unknown)' should not be understood") }
        }
    }

    @Test func smallOverridesFollowTheKindOfTheResolvedRun() throws {
        let cwd = try tempFolder()
        defer { try? FileManager.default.removeItem(at: cwd) }
        let synthetic = try READMERun.invocations(["run", "class-collapse", "--set", "steps=2000"], cwd: cwd)
        #expect(synthetic == [["run", "class-collapse", "--set", "steps=2000",
                               "--set", "d=500", "--set", "n=100", "--set", "n_test=200", "--set", "steps=200"]])
        let fashion = try READMERun.invocations(["run", "fashion-collapse"], cwd: cwd)
        #expect(fashion == [["run", "fashion-collapse", "--set", "epochs=1", "--set", "train_limit=256", "--set", "test_limit=200"]])
        #expect(READMERun.readsFashionMNIST(["run", "fashion-collapse"], cwd: cwd))
        #expect(!READMERun.readsFashionMNIST(["run", "fashion-collapse", "--set", "data=\(cwd.path)"], cwd: cwd))
        #expect(!READMERun.readsFashionMNIST(["run", "class-collapse"], cwd: cwd))
        #expect(try READMERun.invocations(["presets"], cwd: cwd) == [["presets"]])
        // A config file named relative to the working folder: its kind picks the overrides.
        try FileManager.default.createDirectory(at: cwd.appendingPathComponent("cfg"), withIntermediateDirectories: true)
        try Data(#"{"p": 4, "steps": 20}"#.utf8).write(to: cwd.appendingPathComponent("cfg/flat.json"))
        try Data(#"{"encoder": "mlp", "loss": "supcon"}"#.utf8).write(to: cwd.appendingPathComponent("cfg/image.json"))
        #expect(try READMERun.invocations(["run", "cfg/flat.json"], cwd: cwd)
                == [["run", "cfg/flat.json"] + READMERun.syntheticSmall.flatMap { ["--set", $0] }])
        #expect(READMERun.readsFashionMNIST(["run", "cfg/image.json"], cwd: cwd))
        #expect(try READMERun.invocations(["run", "cfg/image.json", "--set", "data=\(cwd.path)"], cwd: cwd)
                == [["run", "cfg/image.json", "--set", "data=\(cwd.path)", "--set", "epochs=1"]])
        // A run that does not resolve gets no overrides: it fails with its own message.
        #expect(try READMERun.invocations(["run", "cfg/missing.json"], cwd: cwd) == [["run", "cfg/missing.json"]])
        // The working folder of a block: the package's top-level entries and the fixtures it names.
        let folder = try READMERun.workingFolder(for: [READMECommand(words: ["featurelens", "audit", "--labels", "labels.csv"], line: 1)])
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("labels.csv").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("ckpt0.npy").path))
        let demo = try READMERun.invocations(["demo"], cwd: cwd)
        #expect(demo.first == ["demo", "--help"])
        #expect(demo.dropFirst().map { $0[1] } == SyntheticPreset.names)
        let seeded = try READMERun.invocations(["demo", "--seed", "1", "--details"], cwd: cwd)
        #expect(seeded.dropFirst().allSatisfy { $0.contains("--seed") && $0[$0.firstIndex(of: "--seed")! + 1] == "1" })
        #expect(try READMERun.invocations(["demo", "--help"], cwd: cwd) == [["demo", "--help"]])
        #expect(throws: (any Error).self) { try READMERun.invocations(["demo", "--no-such-option"], cwd: cwd) }
    }

    /// Every fenced block is run or not run for a stated reason, and every line of every `sh`
    /// block is a command the test knows; the README puts featurelens on the PATH (from the
    /// build configuration it names) before it calls featurelens by name.
    @Test func everyBlockIsRunOrSkippedWithAReason() throws {
        let blocks = READMEParser.blocks(try READMERun.readme())
        let notRun = ["swift": "Swift API example (library code, not a shell command)",
                      "python": "Python calling the export helper (PyTorchExportTests runs the helper and the audit command shown after it)",
                      "": "sample output"]
        var pathExported = false
        var lastBuild: String?
        var featurelensCommands = 0
        #expect(blocks.contains { $0.language == "sh" }, "README.md has no ```sh block")
        for block in blocks {
            if block.language != "sh" {
                #expect(notRun[block.language] != nil,
                        "\(block.label): a block the test neither runs nor skips; classify ```\(block.language) in READMETests")
                continue
            }
            let commands = try READMEParser.commands(block)
            #expect(!commands.isEmpty, "\(block.label): an sh block without commands")
            for command in commands {
                switch READMEParser.action(command) {
                case let .failure(error):
                    Issue.record("\(error.description) — make it a command READMETests runs, or teach the test")
                case .success(.skip):
                    if command.words.dropFirst().first == "build" { lastBuild = READMEParser.buildConfiguration(command.words) }
                case let .success(.exportPath(dir)):
                    #expect(lastBuild != nil, "README.md:\(command.line): PATH is set before any `swift build`")
                    if let conf = lastBuild {
                        #expect(dir.hasSuffix(".build/\(conf)"),
                                "README.md:\(command.line): PATH gets \(dir), but `swift build` above writes .build/\(conf)")
                    }
                    pathExported = true
                case .success(.featurelens):
                    featurelensCommands += 1
                    if command.words.first == "featurelens" {
                        #expect(pathExported, "README.md:\(command.line): `featurelens` is called by name before the README puts it on the PATH")
                    }
                }
            }
        }
        #expect(featurelensCommands > 0, "no featurelens command found in the README's sh blocks")
    }

    @Test func commandsRunAsWritten() throws {
        let ran = try READMERun.runBlocks(fashion: false)
        #expect(!ran.isEmpty, "no README command ran")
    }

    @Test(.enabled(if: READMERun.fashionMNISTPresent,
                   "Fashion-MNIST is absent (Debian's dataset-fashion-mnist installs it in /usr/share/datasets/fashion-mnist)"))
    func fashionMNISTCommandsRunAsWritten() throws {
        try READMERun.runBlocks(fashion: true)
    }
}
