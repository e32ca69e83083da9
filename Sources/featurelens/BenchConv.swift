import ArgumentParser
import Dispatch
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench conv`: wall time of one training epoch of the ConvNet on Fashion-MNIST,
/// next to PyTorch doing the same work.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Seconds per ConvNet training epoch on Fashion-MNIST, next to PyTorch.",
        discussion: helpDiscussion("""
        The workload: one epoch over the 60 000 Fashion-MNIST training images (batches of 512, \
        last partial batch dropped: 117 steps) with the real-data presets' ConvNet (three 3×3 stride-2 \
        convolutions with 32, 64, 64 channels, ReLU, a dense layer to 128, no head), NT-Xent \
        (τ = 0.5) and SGD (lr 0.1, momentum 0.9); each of the two views flips every image \
        left–right with probability 0.5 and adds N(0, 0.1²) noise. \
        --images N times the steps of the first N images and scales the time to the full epoch. \
        Benchmarks/pytorch_conv_bench.py does the same work; when torch imports in the --python \
        interpreter, the epoch is cut into --rounds chunks that alternate between the two.
        """, examples: [
            HelpExample("The steps of 2048 images, scaled to the epoch", "featurelens bench conv --images 2048"),
            HelpExample("Next to PyTorch, with the data in another folder",
                        "featurelens bench conv --data data/fashion-mnist --python venv/bin/python"),
            HelpExample("Two threads, five rounds, one JSON object",
                        "featurelens bench conv --threads 2 --rounds 5 --json"),
        ])
    )

    @Flag(name: .long, help: "Print one JSON object: {\"conv\": {\"featurelens_s_per_epoch\", \"pytorch_s_per_epoch\", \"time_ratio\"}}.")
    var json = false

    @Option(name: .long, help: "Python interpreter for the PyTorch reference (skipped when torch does not import).")
    var python: String = "python3"

    @Option(name: .long, help: "Folder with the Fashion-MNIST IDX files.")
    var data: String = FashionMNIST.defaultDirectory.path

    @Option(name: .long, help: "Time only the steps of the first N training images (≥ 512) and scale to 60 000.")
    var images: Int?

    @Option(name: .long, help: "Threads for FeatureLens and PyTorch (default: all cores).")
    var threads: Int = Parallel.availableCores

    @Option(name: .long, help: "Interleaved chunks the timed steps are cut into.")
    var rounds: Int = 3

    static let batch = 512, fullEpochImages = 60_000
    static let temperature = 0.5, noise = 0.1, learningRate = 0.1, momentum = 0.9

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        if let images, images < Self.batch {
            throw ValidationError("--images must be at least \(Self.batch) (one batch), got \(images)")
        }
    }

    func run() throws {
        Parallel.threadCount = threads
        let progress = !json && isatty(fileno(stderr)) != 0
        let limit = images.map { min($0, Self.fullEpochImages) }
        let dataset = try FashionMNIST.load(directory: URL(fileURLWithPath: data), trainLimit: limit, testLimit: 0).train
        let n = dataset.count
        let steps = n / Self.batch
        let fullSteps = Self.fullEpochImages / Self.batch

        var g = SeededGenerator(seed: 0)
        let encoder: Encoder<Float> = try ImageEncoders.convNet(inputChannels: dataset.channels, height: dataset.height,
                                                                 width: dataset.width, using: &g)
        let sgd = try SGD<Float>(parameters: encoder.parameters, learningRate: Self.learningRate, momentum: Self.momentum)
        let views = TwoViewAugmenter(augmentation: Compose([try HorizontalFlip(probability: 0.5),
                                                            try GaussianNoise(standardDeviation: Self.noise, clip: false)]))
        let trainer = try Trainer(encoder: encoder, loss: try InfoNCELoss(temperature: Self.temperature), optimizer: sgd,
                                  inputs: dataset.images, viewMaker: views,
                                  configuration: TrainerConfiguration(batchSize: Self.batch, seed: 0))

        var reference: PythonReference?
        do {
            var args = ["--data", data, "--threads", "\(threads)", "--batch", "\(Self.batch)", "--tau", "\(Self.temperature)",
                        "--sigma", "\(Self.noise)", "--lr", "\(Self.learningRate)", "--momentum", "\(Self.momentum)"]
            if let limit { args += ["--images", "\(limit)"] }
            reference = try PythonReference(python: python, script: try BenchScripts.path("pytorch_conv_bench.py"),
                                            arguments: args)
        } catch {
            BenchScripts.warn("PyTorch reference skipped: \(error)")
        }
        defer { reference?.close() }

        // Warm-up: two steps (workspaces, page faults), as the PyTorch script does.
        try trainer.run(untilStep: 2)
        let timedStart = trainer.step

        let chunks = min(rounds, steps)
        var ours = 0.0, theirs: Double? = reference == nil ? nil : 0
        for c in 0..<chunks {
            let k = (c + 1) * steps / chunks - c * steps / chunks
            if progress { BenchScripts.status("chunk \(c + 1)/\(chunks): FeatureLens, \(k) steps…") }
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.run(untilStep: trainer.step + k)
            ours += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if let ref = reference {
                if progress { BenchScripts.status("chunk \(c + 1)/\(chunks): PyTorch, \(k) steps…") }
                do {
                    let reply = try ref.request("steps \(k)")
                    guard let s = reply["seconds"] as? Double else { throw BenchFailure("the PyTorch script replied \(reply)") }
                    theirs? += s
                } catch {
                    BenchScripts.warn("PyTorch reference failed: \(error)")
                    reference?.close()
                    reference = nil
                    theirs = nil
                }
            }
        }
        if progress { BenchScripts.status(nil) }
        precondition(trainer.step - timedStart == steps)

        let scale = Double(fullSteps) / Double(steps)
        let fl = ours * scale
        let pt = theirs.map { $0 * scale }
        let ratio = pt.map { fl / $0 }
        if json {
            print("{\"conv\": {\"featurelens_s_per_epoch\": \(BenchScripts.number(fl)), "
                  + "\"pytorch_s_per_epoch\": \(BenchScripts.number(pt)), \"time_ratio\": \(BenchScripts.number(ratio))}}")
        } else {
            let subset = n == Self.fullEpochImages ? "" : " (timed \(steps) steps of \(n) images, scaled to \(fullSteps))"
            print("Workload: ConvNet 32-64-64 → 128 on Fashion-MNIST, two views (flip + noise σ = \(Self.noise)), "
                  + "batch \(Self.batch), NT-Xent τ = \(Self.temperature), SGD lr \(Self.learningRate) momentum \(Self.momentum), "
                  + "\(threads) thread(s)\(subset)")
            print("FeatureLens: \(String(format: "%.1f", fl)) s per epoch")
            if let pt, let ratio {
                print("PyTorch:     \(String(format: "%.1f", pt)) s per epoch")
                print("Time ratio:  \(String(format: "%.2f", ratio)) (FeatureLens / PyTorch; below 1 is faster; target ≤ 1.5)")
            } else {
                print("PyTorch:     not measured (torch does not import in \(python))")
            }
        }
    }
}
