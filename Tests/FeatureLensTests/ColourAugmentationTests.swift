import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
import FeatureLensNumerics

/// Golden values of `Tools/golden/make_colour_golden.py` (torchvision's float-tensor formulas in NumPy).
private struct ColourGolden: Decodable {
    struct Image: Decodable { var shape: [Int]; var data: [Float] }
    struct Case: Decodable {
        var image: String
        var order: [String]
        var factors: [String: Float]
        var output: [Float]
    }
    struct Normalize: Decodable { var shape: [Int]; var input: [Float]; var mean: [Double]; var std: [Double]; var output: [Float] }
    var images: [String: Image]
    var cases: [Case]
    var grayscale: [String: [Float]]
    var normalize: Normalize
}

private func loadGolden() throws -> ColourGolden {
    try JSONDecoder().decode(ColourGolden.self, from: Data(contentsOf: fixtureURL("augmentation/colour_golden.json")))
}

private func randomImages(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
    var g = SeededGenerator(seed: seed)
    return Tensor(randomUniform: shape, using: &g)
}

private func maxError(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

/// Colour jitter, random greyscale and per-channel normalization: each operation against the
/// torchvision formulas on tiny images, seeding and thread-count invariance, probabilities 0 and 1.
@Suite struct ColourAugmentationTests {
    @Test func eachJitterAdjustmentMatchesTheTorchvisionFormula() throws {
        let golden = try loadGolden()
        #expect(golden.cases.count >= 20)
        let jitter = try ColorJitter(brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.5, probability: 1)
        for c in golden.cases {
            let image = golden.images[c.image]!
            var x = image.data
            let order = c.order.map { name in ColorJitter.Adjustment.allCases.first { "\($0)" == name }! }
            let f = (b: c.factors["brightness"] ?? 1, c: c.factors["contrast"] ?? 1,
                     s: c.factors["saturation"] ?? 1, h: c.factors["hue"] ?? 0)
            x.withUnsafeMutableBufferPointer { jitter.adjust($0, channels: image.shape[0], order: order, factors: f) }
            #expect(x.count == c.output.count)
            let err = maxError(x, c.output)
            #expect(err <= 2e-6, "\(c.image) \(c.order) \(c.factors): max error \(err)")
        }
    }

    @Test func oneChannelJitterIsBrightnessAndContrastOnly() throws {
        let golden = try loadGolden()
        let grey = golden.images["grey"]!
        let jitter = try ColorJitter(brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.5, probability: 1)
        var x = grey.data
        x.withUnsafeMutableBufferPointer { jitter.adjust($0, channels: 1, order: [.saturation, .hue], factors: (1, 1, 0.3, 0.25)) }
        #expect(x == grey.data)
        // Brightness does act on a grey image (0.1 → 0.05).
        x.withUnsafeMutableBufferPointer { jitter.adjust($0, channels: 1, order: [.brightness], factors: (0.5, 1, 1, 0)) }
        #expect(x[0] == 0.05)
    }

    @Test func zeroStrengthSkipsAnAdjustmentAsTorchvision() throws {
        // Hue strength 0: the HSV round trip (which is not bit-exact) is not run at all.
        let golden = try loadGolden()
        let rgb = golden.images["rgb"]!
        let jitter = try ColorJitter(brightness: 0, contrast: 0, saturation: 0, hue: 0, probability: 1)
        var x = rgb.data
        x.withUnsafeMutableBufferPointer { jitter.adjust($0, channels: 3, order: ColorJitter.Adjustment.allCases, factors: (2, 2, 2, 0.3)) }
        #expect(x == rgb.data)
    }

    @Test func greyscaleMatchesTheLumaAndHasEqualChannels() throws {
        let golden = try loadGolden()
        let always = try RandomGrayscale(probability: 1)
        for name in ["rgb", "grey"] {
            let image = golden.images[name]!
            var g = SeededGenerator(seed: 1)
            let y = always.apply(to: Tensor(shape: [1] + image.shape, scalars: image.data), using: &g)
            #expect(maxError(y.scalars, golden.grayscale[name]!) <= 1e-7, "\(name)")
        }
        // A batch of random RGB images: every converted image has three equal channels.
        let x = randomImages([40, 3, 5, 6], seed: 3)
        var g = SeededGenerator(seed: 2)
        let y = always.apply(to: x, using: &g)
        let plane = 30
        for i in 0..<40 {
            let base = i * 3 * plane
            for j in 0..<plane {
                #expect(y.scalars[base + j] == y.scalars[base + plane + j] && y.scalars[base + j] == y.scalars[base + 2 * plane + j])
            }
        }
        // p = 0.5: some images are converted and some are not.
        var h = SeededGenerator(seed: 4)
        let half = try RandomGrayscale(probability: 0.5).apply(to: x, using: &h)
        let converted = (0..<40).filter { i in half.scalars[(i * 3 * plane)..<((i + 1) * 3 * plane)] != x.scalars[(i * 3 * plane)..<((i + 1) * 3 * plane)] }
        #expect(converted.count > 5 && converted.count < 35)
    }

    @Test func probabilityZeroIsTheIdentity() throws {
        let x = randomImages([10, 3, 4, 4], seed: 5)
        var g = SeededGenerator(seed: 6)
        #expect(try ColorJitter(probability: 0).apply(to: x, using: &g) == x)
        #expect(try RandomGrayscale(probability: 0).apply(to: x, using: &g) == x)
        // p = 1 does change the images (the test above is not vacuous).
        #expect(try ColorJitter(probability: 1).apply(to: x, using: &g) != x)
    }

    @Test func sameSeedSameBytesAnyThreadCount() throws {
        let x = randomImages([70, 3, 6, 5], seed: 7)  // more than two blocks of 32 images
        let aug = Compose([try ColorJitter(), try RandomGrayscale(probability: 0.3)])
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        func run(seed: UInt64, threads: Int) -> Tensor<Float> {
            Parallel.threadCount = threads
            var g = SeededGenerator(seed: seed)
            return aug.apply(to: x, using: &g)
        }
        let a = run(seed: 11, threads: 1), b = run(seed: 11, threads: 2), c = run(seed: 12, threads: 2)
        #expect(a.scalars.withUnsafeBytes { Data($0) } == b.scalars.withUnsafeBytes { Data($0) })
        #expect(a != c)
        #expect(a.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    @Test func drawsFactorsInTheirRangesAndEveryOrder() throws {
        let jitter = try ColorJitter(brightness: 0.4, contrast: 0.8, saturation: 1.5, hue: 0.1, probability: 0.8)
        var g = SeededGenerator(seed: 9)
        var applied = 0, orders: Set<[ColorJitter.Adjustment]> = []
        for _ in 0..<2000 {
            let d = jitter.draw(using: &g)
            guard d.apply else { continue }
            applied += 1
            orders.insert(d.order)
            #expect(Set(d.order) == Set(ColorJitter.Adjustment.allCases))
            #expect(d.factors.b >= 0.6 && d.factors.b <= 1.4)
            #expect(d.factors.c >= 0.2 && d.factors.c <= 1.8)
            #expect(d.factors.s >= 0 && d.factors.s <= 2.5)
            #expect(d.factors.h >= -0.1 && d.factors.h <= 0.1)
        }
        #expect(abs(Double(applied) / 2000 - 0.8) < 0.04)
        #expect(orders.count == 24)
    }

    @Test func badParametersNameTheParameter() {
        for (parameter, make) in [("brightness", { try ColorJitter(brightness: -0.1) }),
                                  ("hue", { try ColorJitter(hue: 0.6) }),
                                  ("probability", { try ColorJitter(probability: 1.5) })] as [(String, () throws -> ColorJitter)] {
            #expect(throws: AugmentationError.self) { _ = try make() }
            do { _ = try make() } catch let AugmentationError.invalidParameter(_, p, _, _) { #expect(p == parameter) } catch {}
        }
        #expect(throws: AugmentationError.self) { _ = try RandomGrayscale(probability: -1) }
        #expect(throws: AugmentationError.self) { _ = try ChannelNormalization(mean: [0.5], standardDeviation: [0]) }
        #expect(throws: AugmentationError.self) { _ = try ChannelNormalization(mean: [0.5, 0.5], standardDeviation: [1]) }
    }

    @Test func perChannelNormalizationFitsAndApplies() throws {
        let golden = try loadGolden().normalize
        let x = Tensor(shape: golden.shape, scalars: golden.input)
        let fit = ChannelNormalization.fit(x)
        for c in 0..<3 {
            #expect(abs(fit.mean[c] - golden.mean[c]) < 1e-9)
            #expect(abs(fit.standardDeviation[c] - golden.std[c]) < 1e-9)
        }
        let n = try ChannelNormalization(mean: fit.mean, standardDeviation: fit.standardDeviation)
        var g = SeededGenerator(seed: 0)
        let before = g
        let y = n.apply(to: x, using: &g)
        #expect(g == before)  // draws nothing
        #expect(maxError(y.scalars, golden.output) <= 1e-6)
        // A channel constant over the images: σ = 1, the channel becomes 0.
        let constant = Tensor<Float>(shape: [2, 1, 2, 2], scalars: [Float](repeating: 0.25, count: 8))
        #expect(ChannelNormalization.fit(constant).standardDeviation == [1])
    }
}
