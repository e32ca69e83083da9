import ArgumentParser
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench decode`: images per second reading a generated folder of PNG and one of
/// JPEG files into the dataset a run trains on, next to Pillow on the same files in the same run.
///
/// `--json` prints `{"decode": {...}}` with the workload (`images_per_format`, `size`,
/// `channels`, `classes`, `jpeg_quality`, `threads`, `repeats`, `statistic`: "best",
/// `pillow_threads`: 1, `pillow_version`, `pillow_skipped`: the reason or null) and per format
/// (`png`, `jpeg`): `images` (rows FeatureLens read), `featurelens_images_per_s` keyed by thread
/// count, `featurelens_cache_hit_images_per_s`, `identical` (every load gave the first load's
/// dataset), `pillow_images`, `pillow_images_per_s`, `speedup` (FeatureLens on `threads`
/// threads ÷ Pillow, images/s) and `max_pixel_difference` (largest |FeatureLens − Pillow| over
/// all samples, in steps of 1/255); the Pillow fields are null when it is skipped. images/s is
/// images ÷ the shortest wall time of the repeats.
struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Images per second decoding 10 000 PNG and 10 000 JPEG files of 32×32 into a dataset, next to Pillow.",
        discussion: helpDiscussion("""
        Data: for each format, --images RGB images of --size × --size in 10 class folders \
        (ImageFolderBenchmark.writeSyntheticFolder: 8-bit PNG, or JPEG of quality 90), written once \
        to a temporary folder that is removed at the end. FeatureLens: ImageFolder.load without \
        a cache (listing, decoding, conversion to the [n, 3, size, size] Float dataset in \
        [0, 1] with its labels: what a run pays) on 1 thread and on --threads threads; and the \
        same load when it reads its cache (written by one untimed load before the timed \
        ones). Pillow (Benchmarks/pillow_decode_bench.py, in the --python interpreter when PIL \
        and numpy import; skipped otherwise): its own listing of the same files in the same \
        order, \
        then PIL.Image.open(path).convert("RGB") and np.asarray for each file, stacked with \
        np.stack into one uint8 array; one process, so Pillow decodes on one thread. Each side \
        runs --repeats times, alternating FeatureLens and Pillow; the report gives the best \
        (largest) images/s of the repeats per side and format, the speedup (FeatureLens on \
        --threads threads ÷ Pillow, in images/s), and the largest pixel difference between \
        the two decodings, in steps of 1/255.
        """, examples: [
            HelpExample("10 000 PNG and 10 000 JPEG images of 32×32, next to Pillow",
                        "featurelens bench decode --python venv/bin/python"),
            HelpExample("On 2 threads, 1000 images of 64×64 per format, one JSON object",
                        "featurelens bench decode --threads 2 --images 1000 --size 64 --json"),
        ])
    )

    /// Class folders per format.
    static let classes = 10
    /// Quality of the written JPEG files (`writeSyntheticFolder`).
    static let jpegQuality = 90

    @Flag(name: .long, help: "Print one JSON object: {\"decode\": {..., \"png\": {...}, \"jpeg\": {...}}}.")
    var json = false

    @Option(name: .long, help: "Python interpreter for the Pillow reference (skipped when PIL or numpy does not import).")
    var python: String = "python3"

    @Option(name: .long, help: "Images per format (a multiple of 10: 10 class folders of equal size).")
    var images: Int = 10_000

    @Option(name: .long, help: "Side of the square RGB images, in pixels.")
    var size: Int = 32

    @Option(name: .long, help: "Timed loads per side and format; the best is reported.")
    var repeats: Int = 3

    /// `--threads N` (FeatureLens is timed on 1 and N threads; default all cores), `--quiet`.
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard images >= Self.classes, images % Self.classes == 0 else {
            throw ValidationError("--images must be a positive multiple of \(Self.classes) (\(Self.classes) class folders of equal size), got \(images)")
        }
        guard (1...1024).contains(size) else { throw ValidationError("--size must be in 1...1024, got \(size)") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }

    /// What was measured for one format.
    struct FormatResult {
        var format: ImageFileFormat
        /// Rows of the dataset FeatureLens read.
        var images = 0
        /// Seconds of each timed load without cache, per thread count.
        var seconds: [Int: [Double]] = [:]
        /// Seconds of each timed load from the cache.
        var cacheHitSeconds: [Double] = []
        /// Every load gave the same dataset as the first.
        var identical = true
        /// Rows Pillow read (nil: not measured).
        var pillowImages: Int?
        /// Seconds of each Pillow run.
        var pillowSeconds: [Double] = []
        /// Largest |FeatureLens − Pillow| over all samples, in steps of 1/255 (nil: not compared).
        var maxPixelDifference: Double?

        func rate(_ seconds: [Double]) -> Double? {
            guard let best = seconds.min(), best > 0 else { return nil }
            return Double(images) / best
        }
        var pillowRate: Double? {
            guard let n = pillowImages, let best = pillowSeconds.min(), best > 0 else { return nil }
            return Double(n) / best
        }
    }

    func run() throws {
        _ = global.apply()
        let threads = global.threads ?? Parallel.availableCores
        let threadCounts = threads == 1 ? [1] : [1, threads]
        let progress = !json && !global.quiet
        func status(_ message: String?) { if progress { BenchScripts.status(message) } }

        let pillow = pillowVersion()
        let script = pillow.version == nil ? nil : try BenchScripts.path("pillow_decode_bench.py")

        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("featurelens-bench-decode-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let imageSize = ImageSize(height: size, width: size)
        let formats: [ImageFileFormat] = [.png, .jpeg]
        var results: [FormatResult] = []
        var reference: [ImageFolderContents] = []
        for format in formats {
            let folder = root.appendingPathComponent(format.rawValue, isDirectory: true)
            status("writing \(images) \(format.displayName) files of \(imageSize)…")
            try ImageFolderBenchmark.writeSyntheticFolder(at: folder, classes: Self.classes, perClass: images / Self.classes,
                                                          size: imageSize, format: format)
            // Untimed: the load that writes the cache; its dataset is what every later load must give.
            status("\(format.displayName): first load (writes the cache)…")
            let first = try ImageFolderBenchmark.timedLoad(directory: folder, options: cacheOptions(format, root), threads: threads)
            guard let dataset = first.contents.whole else { throw BenchFailure("\(folder.path): expected one dataset") }
            reference.append(first.contents)
            results.append(FormatResult(format: format, images: dataset.count))
        }

        for r in 0..<repeats {
            for (k, format) in formats.enumerated() {
                let folder = root.appendingPathComponent(format.rawValue, isDirectory: true)
                let round = "round \(r + 1)/\(repeats), \(format.displayName)"
                for t in threadCounts {
                    status("\(round): FeatureLens on \(t) thread(s)…")
                    let load = try ImageFolderBenchmark.timedLoad(directory: folder, threads: t)
                    results[k].seconds[t, default: []].append(load.seconds)
                    results[k].identical = results[k].identical && load.contents.split == reference[k].split
                }
                status("\(round): FeatureLens cache hit…")
                let hit = try ImageFolderBenchmark.timedLoad(directory: folder, options: cacheOptions(format, root), threads: threads)
                results[k].cacheHitSeconds.append(hit.seconds)
                results[k].identical = results[k].identical && hit.contents.fromCache && hit.contents.split == reference[k].split
                if let script {
                    status("\(round): Pillow…")
                    // The first run also saves Pillow's pixels (after its timed part) for the comparison.
                    let saved = r == 0 ? root.appendingPathComponent("pillow-\(format.rawValue).npy") : nil
                    let run = try runPillow(script: script, folder: folder, save: saved)
                    results[k].pillowImages = run.images
                    results[k].pillowSeconds.append(run.seconds)
                    if let saved {
                        results[k].maxPixelDifference = try maxDifference(reference[k].whole!.images, saved)
                        try? FileManager.default.removeItem(at: saved)
                    }
                }
            }
        }
        status(nil)

        if json {
            print(jsonReport(results, threads: threads, threadCounts: threadCounts, pillow: pillow))
        } else {
            print(textReport(results, threads: threads, threadCounts: threadCounts, pillow: pillow))
        }
    }

    private func cacheOptions(_ format: ImageFileFormat, _ root: URL) -> ImageFolderOptions {
        ImageFolderOptions(cacheDirectory: root.appendingPathComponent("cache-\(format.rawValue)", isDirectory: true))
    }

    // MARK: Pillow

    /// Pillow's version when `import PIL, numpy` works in `python`, else the reason it is skipped.
    private func pillowVersion() -> (version: String?, skipped: String?) {
        let out: (status: Int32, stdout: String, stderr: String)
        do {
            out = try ChildProcess.run("/usr/bin/env", [python, "-c", "import numpy, PIL; print(PIL.__version__)"])
        } catch {
            return (nil, "cannot run \(python): \(error.localizedDescription)")
        }
        guard out.status == 0 else {
            let last = out.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(out.status)"
            return (nil, "PIL or numpy does not import in \(python) (\(last))")
        }
        return (out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), nil)
    }

    /// Runs the Pillow script on `folder` (saving its pixels to `save` when given) and returns its
    /// timed seconds and image count.
    /// - Throws: `BenchFailure` when the script fails or prints no `{seconds, images}` object.
    private func runPillow(script: String, folder: URL, save: URL?) throws -> (seconds: Double, images: Int) {
        var arguments = [python, script, folder.path]
        if let save { arguments += ["--save", save.path] }
        let out = try ChildProcess.run("/usr/bin/env", arguments)
        guard out.status == 0, let line = out.stdout.split(separator: "\n").last,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let seconds = (object["seconds"] as? NSNumber)?.doubleValue, let n = object["images"] as? Int else {
            throw BenchFailure("Pillow reference failed (exit \(out.status)): \(out.stderr.suffix(400))")
        }
        return (seconds, n)
    }

    /// Largest |a − b| over all samples of FeatureLens's images and Pillow's saved array, × 255;
    /// infinity when the shapes differ.
    private func maxDifference(_ ours: Tensor<Float>, _ file: URL) throws -> Double {
        let theirs = try NPY.read(file, as: Float.self)
        guard theirs.shape == ours.shape else { return .infinity }
        var worst: Float = 0
        for i in 0..<ours.scalars.count { worst = max(worst, abs(ours.scalars[i] - theirs.scalars[i])) }
        return (Double(worst) * 255).rounded()
    }

    // MARK: Reports

    private func jsonReport(_ results: [FormatResult], threads: Int, threadCounts: [Int],
                            pillow: (version: String?, skipped: String?)) -> String {
        let n = BenchScripts.number
        var fields = ["\"images_per_format\": \(images)", "\"size\": \(size)", "\"channels\": 3",
                      "\"classes\": \(Self.classes)", "\"jpeg_quality\": \(Self.jpegQuality)", "\"threads\": \(threads)",
                      "\"repeats\": \(repeats)", "\"statistic\": \"best\"", "\"pillow_threads\": 1",
                      "\"pillow_version\": \(pillow.version.map(jsonStringLiteral) ?? "null")",
                      "\"pillow_skipped\": \(pillow.skipped.map(jsonStringLiteral) ?? "null")"]
        for r in results {
            let rates = threadCounts.map { "\"\($0)\": \(n(r.rate(r.seconds[$0] ?? [])))" }.joined(separator: ", ")
            let ours = r.rate(r.seconds[threads] ?? [])
            let speedup = ours.flatMap { o in r.pillowRate.map { o / $0 } }
            fields.append("\"\(r.format.rawValue)\": {\"images\": \(r.images), "
                          + "\"featurelens_images_per_s\": {\(rates)}, "
                          + "\"featurelens_cache_hit_images_per_s\": \(n(r.rate(r.cacheHitSeconds))), "
                          + "\"identical\": \(r.identical), "
                          + "\"pillow_images\": \(r.pillowImages.map(String.init) ?? "null"), "
                          + "\"pillow_images_per_s\": \(n(r.pillowRate)), "
                          + "\"speedup\": \(n(speedup)), "
                          + "\"max_pixel_difference\": \(n(r.maxPixelDifference))}")
        }
        return "{\"decode\": {" + fields.joined(separator: ", ") + "}}"
    }

    private func textReport(_ results: [FormatResult], threads: Int, threadCounts: [Int],
                            pillow: (version: String?, skipped: String?)) -> String {
        func rate(_ x: Double?) -> String { x.map { String(format: "%.0f", $0) } ?? "-" }
        func pad(_ s: String, _ width: Int) -> String {
            s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
        }
        var lines: [String] = []
        lines.append("Workload: \(images) PNG and \(images) JPEG (quality \(Self.jpegQuality)) RGB \(size)×\(size) images, "
                     + "\(Self.classes) class folders per format; best images/s of \(repeats) repeat(s), FeatureLens and Pillow alternating")
        lines.append("FeatureLens: ImageFolder.load without cache (listing, decoding, [n, 3, \(size), \(size)] Float in [0, 1] and labels); "
                     + "cache hit: the same load reading its cache, on \(threads) thread(s)")
        if let version = pillow.version {
            lines.append("Pillow \(version): listing, Image.open(path).convert(\"RGB\"), np.asarray, np.stack into uint8 [n, \(size), \(size), 3]; "
                         + "one process: Pillow decodes on one thread")
        }
        lines.append("")
        var header = "format" + threadCounts.map { pad("FeatureLens \($0) thread\($0 == 1 ? "" : "s")", 24) }.joined()
        header += pad("cache hit", 12) + pad("Pillow 1 thread", 18) + "   (images/s)"
        lines.append(header)
        for r in results {
            var line = r.format.displayName.padding(toLength: 6, withPad: " ", startingAt: 0)
            line += threadCounts.map { pad(rate(r.rate(r.seconds[$0] ?? [])), 24) }.joined()
            line += pad(rate(r.rate(r.cacheHitSeconds)), 12) + pad(rate(r.pillowRate), 18)
            lines.append(line)
        }
        lines.append("")
        for r in results {
            var line = "\(r.format.displayName): \(r.images) images"
            if !r.identical { line += "; WARNING: the loads did not all give the same dataset" }
            if let ours = r.rate(r.seconds[threads] ?? []), let theirs = r.pillowRate, let n = r.pillowImages {
                let speedup = ours / theirs
                let verdict = speedup >= 1 ? String(format: "%.2f× faster than", speedup)
                                           : String(format: "%.2f× slower than", 1 / speedup)
                line += String(format: "; FeatureLens on %d thread%@ %@ Pillow (images/s ratio %.2f)",
                               threads, threads == 1 ? "" : "s", verdict, speedup)
                if n != r.images { line += "; WARNING: Pillow read \(n) images" }
                if let d = r.maxPixelDifference {
                    line += d == 0 ? "; pixels identical"
                        : d.isFinite ? String(format: "; pixels differ by at most %.0f/255", d)
                        : "; WARNING: Pillow's array has another shape"
                }
            }
            lines.append(line)
        }
        if let reason = pillow.skipped { lines.append("Pillow: not measured (\(reason))") }
        return lines.joined(separator: "\n")
    }
}
