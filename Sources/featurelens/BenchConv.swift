import ArgumentParser
import Dispatch
import FeatureLens
import FeatureLensNumerics
import Foundation

/// `featurelens bench conv`: wall time of one training epoch of the ConvNet and of ResNet-18 on
/// Fashion-MNIST, each next to PyTorch doing the same work (Benchmarks/pytorch_conv_bench.py).
///
/// Workloads (two views per batch, each flipping every image left–right with probability 0.5 and
/// adding N(0, 0.1²) noise; NT-Xent τ = 0.5; no projection head; z is the encoder's h):
///
/// - ConvNet: the real-data presets' ConvNet (three 3×3 stride-2 convolutions with 32, 64, 64
///   channels, ReLU, a dense layer to 128), batch 512, SGD lr 0.1 momentum 0.9; the steps of the
///   whole epoch (or of `--images` images) after 2 warm-up steps.
/// - ResNet-18: `ImageEncoders.resnet18` at w = `--resnet-width` (64: the standard model) on
///   1 × 28 × 28 images with a dense layer 8w → 128 after the global average pooling, BatchNorm
///   in training mode, batch 128, SGD lr 0.01 momentum 0.9 (the optimizer of Xue et al. 2023's
///   real-data experiments); `--resnet-steps` steps after 1 warm-up step, scaled to the 468
///   steps of a 60 000-image epoch.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Seconds per ConvNet and ResNet-18 training epoch on Fashion-MNIST, next to PyTorch.",
        discussion: helpDiscussion("""
        Two workloads on the 60 000 Fashion-MNIST training images (last partial batch dropped), \
        each with NT-Xent (τ = 0.5) and no projection head; each of the two views flips every \
        image left–right with probability 0.5 and adds N(0, 0.1²) noise. \
        ConvNet (--encoder convnet): the real-data presets' ConvNet (three 3×3 stride-2 \
        convolutions with 32, 64, 64 channels, ReLU, a dense layer to 128), batches of 512 \
        (117 steps), SGD (lr 0.1, momentum 0.9); --images N times the steps of the first N \
        images and scales the time to the full epoch. \
        ResNet-18 (--encoder resnet18): the CIFAR-style ResNet-18 (3×3 stride-1 stem, no max-pool, \
        stages of w, 2w, 4w, 8w filters, w = --resnet-width, 64 being the standard model; \
        BatchNorm in training mode; global average pooling, then a dense layer 8w → 128) on \
        1 × 28 × 28 images, batches of 128, SGD (lr 0.01, momentum 0.9: the paper's optimizer); \
        a step takes seconds on a CPU, so only --resnet-steps steps are timed (after one warm-up \
        step on each side) and the time is scaled to the 468 steps of a 60 000-image epoch. \
        Benchmarks/pytorch_conv_bench.py does the same work with the same model in PyTorch; \
        when torch imports in the --python interpreter, the timed steps are cut into --rounds \
        chunks that alternate between the two.
        """, examples: [
            HelpExample("Both encoders, the ConvNet on the steps of 2048 images", "featurelens bench conv --images 2048"),
            HelpExample("ResNet-18 only, next to PyTorch", "featurelens bench conv --encoder resnet18 --python venv/bin/python"),
            HelpExample("The ConvNet on two threads, five rounds, one JSON object",
                        "featurelens bench conv --encoder convnet --threads 2 --rounds 5 --json"),
        ])
    )

    /// Which encoders to time.
    enum EncoderChoice: String, ExpressibleByArgument, CaseIterable {
        case convnet, resnet18, both
    }

    @Flag(name: .long, help: """
        Print one JSON object with a member per timed encoder, "conv" (ConvNet) and "resnet18", each \
        {"featurelens_s_per_epoch", "pytorch_s_per_epoch", "time_ratio"} ("resnet18" also "width", \
        "batch", "timed_steps").
        """)
    var json = false

    @Option(name: .long, help: "Encoders to time: convnet, resnet18 or both.")
    var encoder: EncoderChoice = .both

    @Option(name: .long, help: "Python interpreter for the PyTorch reference (skipped when torch does not import).")
    var python: String = "python3"

    @Option(name: .long, help: "Folder with the Fashion-MNIST IDX files.")
    var data: String = FashionMNIST.defaultDirectory.path

    @Option(name: .long, help: "Use only the first N training images (≥ 512); the ConvNet times their steps and scales to 60 000.")
    var images: Int?

    @Option(name: .long, help: "ResNet-18 steps timed (after one warm-up step), scaled to a 60 000-image epoch.")
    var resnetSteps: Int = 6

    @Option(name: .long, help: "ResNet-18's first-stage filters w (64: the standard model; small w for quick checks).")
    var resnetWidth: Int = 64

    @Option(name: .long, help: "Threads for FeatureLens and PyTorch (default: all cores).")
    var threads: Int = Parallel.availableCores

    @Option(name: .long, help: "Interleaved chunks the timed steps are cut into.")
    var rounds: Int = 3

    static let fullEpochImages = 60_000
    static let temperature = 0.5, noise = 0.1, momentum = 0.9, featureDimension = 128
    static let convBatch = 512, convLearningRate = 0.1, convWarmup = 2
    static let resnetBatch = 128, resnetLearningRate = 0.01, resnetWarmup = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1, got \(rounds)") }
        guard resnetSteps >= 1 else { throw ValidationError("--resnet-steps must be at least 1, got \(resnetSteps)") }
        guard resnetWidth >= 1 else { throw ValidationError("--resnet-width must be at least 1, got \(resnetWidth)") }
        if let images, images < Self.convBatch {
            throw ValidationError("--images must be at least \(Self.convBatch) (one ConvNet batch), got \(images)")
        }
    }

    /// Seconds of FeatureLens and of PyTorch (nil when not measured) for the same timed steps.
    struct Timing {
        var featureLens: Double
        var pyTorch: Double?
    }

    func run() throws {
        Parallel.threadCount = threads
        let progress = !json && isatty(fileno(stderr)) != 0
        let limit = images.map { min($0, Self.fullEpochImages) }
        let dataset = try FashionMNIST.load(directory: URL(fileURLWithPath: data), trainLimit: limit, testLimit: 0).train
        let n = dataset.count
        var members: [String] = []

        if encoder != .resnet18 {
            let steps = n / Self.convBatch
            var g = SeededGenerator(seed: 0)
            let model: Encoder<Float> = try ImageEncoders.convNet(inputChannels: dataset.channels, height: dataset.height,
                                                                   width: dataset.width, featureDimension: Self.featureDimension,
                                                                   using: &g)
            let trainer = try makeTrainer(model, dataset: dataset, batch: Self.convBatch, learningRate: Self.convLearningRate)
            let t = try time(trainer, label: "ConvNet", steps: steps, warmup: Self.convWarmup, progress: progress,
                             pythonArguments: ["--model", "convnet", "--batch", "\(Self.convBatch)",
                                               "--lr", "\(Self.convLearningRate)", "--warmup", "\(Self.convWarmup)"]
                                 + (limit.map { ["--images", "\($0)"] } ?? []))
            let fullSteps = Self.fullEpochImages / Self.convBatch
            let (fl, pt, ratio) = Self.perEpoch(t, steps: steps, fullSteps: fullSteps)
            if json {
                members.append(Self.jsonMember("conv", fl, pt, ratio))
            } else {
                let subset = n == Self.fullEpochImages ? "" : " (timed \(steps) steps of \(n) images, scaled to \(fullSteps))"
                print("Workload: ConvNet 32-64-64 → \(Self.featureDimension) on Fashion-MNIST, two views (flip + noise σ = \(Self.noise)), "
                      + "batch \(Self.convBatch), NT-Xent τ = \(Self.temperature), SGD lr \(Self.convLearningRate) momentum \(Self.momentum), "
                      + "\(threads) thread(s)\(subset)")
                printTimes(fl, pt, ratio, target: "target ≤ 0.65")
            }
        }

        if encoder != .convnet {
            guard n >= Self.resnetBatch else {
                throw BenchFailure("ResNet-18 needs at least \(Self.resnetBatch) training images, got \(n)")
            }
            var g = SeededGenerator(seed: 0)
            let model: Encoder<Float> = try ImageEncoders.resnet18(inputChannels: dataset.channels, height: dataset.height,
                                                                    width: dataset.width, baseWidth: resnetWidth,
                                                                    featureDimension: Self.featureDimension, using: &g)
            let trainer = try makeTrainer(model, dataset: dataset, batch: Self.resnetBatch, learningRate: Self.resnetLearningRate)
            let t = try time(trainer, label: "ResNet-18", steps: resnetSteps, warmup: Self.resnetWarmup, progress: progress,
                             pythonArguments: ["--model", "resnet18", "--width", "\(resnetWidth)", "--batch", "\(Self.resnetBatch)",
                                               "--lr", "\(Self.resnetLearningRate)", "--warmup", "\(Self.resnetWarmup)"]
                                 + (limit.map { ["--images", "\($0)"] } ?? []))
            let fullSteps = Self.fullEpochImages / Self.resnetBatch
            let (fl, pt, ratio) = Self.perEpoch(t, steps: resnetSteps, fullSteps: fullSteps)
            if json {
                members.append(Self.jsonMember("resnet18", fl, pt, ratio,
                                               extra: "\"width\": \(resnetWidth), \"batch\": \(Self.resnetBatch), \"timed_steps\": \(resnetSteps)"))
            } else {
                print("Workload: ResNet-18 (CIFAR-style, w = \(resnetWidth)) → \(Self.featureDimension) on Fashion-MNIST 1×28×28, "
                      + "BatchNorm in training mode, two views (flip + noise σ = \(Self.noise)), batch \(Self.resnetBatch), "
                      + "NT-Xent τ = \(Self.temperature), SGD lr \(Self.resnetLearningRate) momentum \(Self.momentum), "
                      + "\(threads) thread(s) (timed \(resnetSteps) steps after 1 warm-up step, scaled to the \(fullSteps) steps "
                      + "of a 60 000-image epoch)")
                printTimes(fl, pt, ratio, target: "target ≤ 0.9")
            }
        }
        if json { print("{" + members.joined(separator: ", ") + "}") }
    }

    /// The bench's trainer: two views (flip, noise), NT-Xent, SGD with momentum, seed 0.
    func makeTrainer(_ model: Encoder<Float>, dataset: ImageDataset, batch: Int, learningRate: Double) throws -> Trainer {
        let sgd = try SGD<Float>(parameters: model.parameters, learningRate: learningRate, momentum: Self.momentum)
        let views = TwoViewAugmenter(augmentation: Compose([try HorizontalFlip(probability: 0.5),
                                                            try GaussianNoise(standardDeviation: Self.noise, clip: false)]))
        return try Trainer(encoder: model, loss: try InfoNCELoss(temperature: Self.temperature), optimizer: sgd,
                           inputs: dataset.images, viewMaker: views,
                           configuration: TrainerConfiguration(batchSize: batch, seed: 0))
    }

    /// Starts the PyTorch script with `pythonArguments` (it warms up before it reports ready),
    /// runs `warmup` untimed steps here, then times `steps` steps in `--rounds` chunks that
    /// alternate between FeatureLens and PyTorch.
    func time(_ trainer: Trainer, label: String, steps: Int, warmup: Int, progress: Bool,
              pythonArguments: [String]) throws -> Timing {
        var reference: PythonReference?
        do {
            let args = ["--data", data, "--threads", "\(threads)", "--tau", "\(Self.temperature)", "--sigma", "\(Self.noise)",
                        "--momentum", "\(Self.momentum)"] + pythonArguments
            if progress { BenchScripts.status("\(label): starting PyTorch (\(warmup) warm-up step(s))…") }
            reference = try PythonReference(python: python, script: try BenchScripts.path("pytorch_conv_bench.py"),
                                            arguments: args)
        } catch {
            BenchScripts.warn("PyTorch reference skipped: \(error)")
        }
        defer { reference?.close() }

        // Warm-up (workspaces, page faults), as many steps as the PyTorch script's.
        if progress { BenchScripts.status("\(label): FeatureLens warm-up…") }
        try trainer.run(untilStep: trainer.step + warmup)
        let timedStart = trainer.step

        let chunks = min(rounds, steps)
        var timing = Timing(featureLens: 0, pyTorch: reference == nil ? nil : 0)
        for c in 0..<chunks {
            let k = (c + 1) * steps / chunks - c * steps / chunks
            if progress { BenchScripts.status("\(label) chunk \(c + 1)/\(chunks): FeatureLens, \(k) steps…") }
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.run(untilStep: trainer.step + k)
            timing.featureLens += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if let ref = reference {
                if progress { BenchScripts.status("\(label) chunk \(c + 1)/\(chunks): PyTorch, \(k) steps…") }
                do {
                    let reply = try ref.request("steps \(k)")
                    guard let s = reply["seconds"] as? Double else { throw BenchFailure("the PyTorch script replied \(reply)") }
                    timing.pyTorch? += s
                } catch {
                    BenchScripts.warn("PyTorch reference failed: \(error)")
                    reference?.close()
                    reference = nil
                    timing.pyTorch = nil
                }
            }
        }
        if progress { BenchScripts.status(nil) }
        precondition(trainer.step - timedStart == steps)
        return timing
    }

    /// Seconds per epoch of both and their ratio (FeatureLens / PyTorch), from `steps` timed steps
    /// of an epoch of `fullSteps`.
    static func perEpoch(_ t: Timing, steps: Int, fullSteps: Int) -> (featureLens: Double, pyTorch: Double?, ratio: Double?) {
        let scale = Double(fullSteps) / Double(steps)
        let fl = t.featureLens * scale
        let pt = t.pyTorch.map { $0 * scale }
        return (fl, pt, pt.map { fl / $0 })
    }

    /// `"name": {"featurelens_s_per_epoch": …, "pytorch_s_per_epoch": …, "time_ratio": …[, extra]}`.
    static func jsonMember(_ name: String, _ fl: Double, _ pt: Double?, _ ratio: Double?, extra: String? = nil) -> String {
        "\"\(name)\": {\"featurelens_s_per_epoch\": \(BenchScripts.number(fl)), \"pytorch_s_per_epoch\": \(BenchScripts.number(pt)), "
            + "\"time_ratio\": \(BenchScripts.number(ratio))\(extra.map { ", " + $0 } ?? "")}"
    }

    func printTimes(_ fl: Double, _ pt: Double?, _ ratio: Double?, target: String) {
        print("FeatureLens: \(String(format: "%.1f", fl)) s per epoch")
        if let pt, let ratio {
            print("PyTorch:     \(String(format: "%.1f", pt)) s per epoch")
            print("Time ratio:  \(String(format: "%.2f", ratio)) (FeatureLens / PyTorch; below 1 is faster; \(target))")
        } else {
            print("PyTorch:     not measured (torch does not import in \(python))")
        }
    }
}
