/// One example of a command's help: what it does (one short line) and the command line.
struct HelpExample {
    /// What the example does, shown as a `# …` comment line above the command.
    var what: String
    /// The command, `featurelens …`, as one or more lines (continued with ` \` in the help),
    /// with no shell quoting: tests split it on spaces and parse it.
    var lines: [String]

    init(_ what: String, _ command: String, _ more: String...) {
        self.what = what
        self.lines = [command] + more
    }

    /// The command as the help shows it: two-space indent, continuation lines six.
    var rendered: String { "  " + lines.joined(separator: " \\\n      ") }
}

/// The `EXAMPLES:` block of a help text: each example as a `# what` line and the command,
/// indented, so both can be pasted into a shell. Keep every line within 80 columns (the
/// help's default width), so the help never wraps one.
func helpExamples(_ examples: [HelpExample]) -> String {
    "EXAMPLES:\n" + examples.map { "  # \($0.what)\n\($0.rendered)" }.joined(separator: "\n")
}

/// A command's discussion followed by its examples (`helpExamples`).
func helpDiscussion(_ text: String, examples: [HelpExample]) -> String {
    text.isEmpty ? helpExamples(examples) : text + "\n\n" + helpExamples(examples)
}
