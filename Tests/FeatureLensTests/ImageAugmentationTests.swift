import Foundation
import Testing
@testable import FeatureLens
@testable import FeatureLensIO
@testable import FeatureLensNN
@testable import FeatureLensLinear
@testable import FeatureLensAudit
import FeatureLensNumerics

private func randomImages(_ shape: [Int], seed: UInt64) -> Tensor<Float> {
    var g = SeededGenerator(seed: seed)
    return Tensor(randomUniform: shape, using: &g)
}

private struct BilinearGolden: Decodable {
    struct Case: Decodable {
        var top: Int, left: Int, height: Int, width: Int, outputHeight: Int, outputWidth: Int
        var output: [Float]
    }
    var inputShape: [Int]
    var input: [Float]
    var cases: [Case]
}

@Suite struct ImageAugmentationTests {
    // MARK: Random resized crop

    @Test func bilinearResizeMatchesPyTorch() throws {
        let data = try Data(contentsOf: fixtureURL("augmentation/bilinear_golden.json"))
        let golden = try JSONDecoder().decode(BilinearGolden.self, from: data)
        let x = Tensor(shape: golden.inputShape, scalars: golden.input)
        for c in golden.cases {
            let y = RandomResizedCrop.resizedCrop(x, top: c.top, left: c.left, height: c.height, width: c.width,
                                                  outputHeight: c.outputHeight, outputWidth: c.outputWidth)
            #expect(y.shape == [2, 3, c.outputHeight, c.outputWidth])
            let maxErr = zip(y.scalars, c.output).map { abs($0 - $1) }.max() ?? 0
            #expect(maxErr < 1e-6, "case \(c.top),\(c.left),\(c.height)x\(c.width)→\(c.outputHeight)x\(c.outputWidth): max error \(maxErr)")
        }
    }

    @Test func fullCropIsIdentity() throws {
        let x = randomImages([3, 2, 9, 9], seed: 1)
        let crop = try RandomResizedCrop(scale: 1...1, ratio: 1...1)
        var g = SeededGenerator(seed: 4)
        #expect(crop.apply(to: x, using: &g) == x)
    }

    @Test func cropBoxesStayInsideWithAreaInRange() {
        var g = SeededGenerator(seed: 11)
        var areas: [Double] = []
        for _ in 0..<2000 {
            let b = RandomResizedCrop.cropBox(height: 28, width: 28, scale: 0.2...0.9, ratio: 0.75...(4.0 / 3.0), using: &g)
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= 28 && b.left + b.width <= 28)
            let area = Double(b.height * b.width) / 784
            areas.append(area)
            let aspect = Double(b.width) / Double(b.height)
            // Rounding to whole pixels can move the area and aspect a little outside the ranges.
            #expect(area > 0.15 && area < 0.97)
            #expect(aspect > 0.6 && aspect < 1.6)
        }
        let mean = areas.reduce(0, +) / Double(areas.count)
        #expect(abs(mean - 0.55) < 0.03, "mean crop area \(mean), expected ≈ (0.2 + 0.9) / 2")
    }

    @Test func sameSeedSameViewOtherSeedOtherView() throws {
        let x = randomImages([8, 3, 12, 10], seed: 2)
        let aug = Compose([try RandomResizedCrop(scale: 0.3...1), try HorizontalFlip(),
                           try GaussianNoise(standardDeviation: 0.05), try RandomErasing(probability: 0.5)])
        var g1 = SeededGenerator(seed: 99), g2 = SeededGenerator(seed: 99), g3 = SeededGenerator(seed: 100)
        let a = aug.apply(to: x, using: &g1), b = aug.apply(to: x, using: &g2), c = aug.apply(to: x, using: &g3)
        #expect(a.shape == x.shape)
        #expect(a == b)
        #expect(a != c)
        #expect(g1 == g2)  // the generators advanced identically
    }

    @Test func perImageWorkIsThreadCountInvariant() throws {
        let x = randomImages([70, 1, 8, 8], seed: 3)  // more than two blocks of 32 images
        let crop = try RandomResizedCrop(scale: 0.1...1)
        func run(threads: Int) -> Tensor<Float> {
            var g = SeededGenerator(seed: 5)
            return PerImage.map(x, outShape: [1, 8, 8], using: &g, threads: threads) { g, src, dst in
                let b = RandomResizedCrop.cropBox(height: 8, width: 8, scale: crop.scale, ratio: crop.ratio, using: &g)
                Bilinear.resize(src, channels: 1, height: 8, width: 8, box: b, outHeight: 8, outWidth: 8, into: dst)
                for i in 0..<dst.count { dst[i] += Float(g.nextNormal()) }
            }
        }
        #expect(run(threads: 1) == run(threads: 2))
    }

    @Test func resizedCropRejectsBadParameters() {
        #expect(throws: AugmentationError.self) { try RandomResizedCrop(scale: 0...1) }
        #expect(throws: AugmentationError.self) { try RandomResizedCrop(scale: 0.5...1.5) }
        #expect(throws: AugmentationError.self) { try RandomResizedCrop(ratio: 0...1) }
        #expect(throws: AugmentationError.self) { try RandomResizedCrop(outputSize: (0, 4)) }
        #expect(throws: AugmentationError.self) { try HorizontalFlip(probability: 1.5) }
        #expect(throws: AugmentationError.self) { try GaussianNoise(standardDeviation: -1) }
        #expect(throws: AugmentationError.self) { try RandomErasing(probability: -0.1) }
        #expect(throws: AugmentationError.self) { try RandBits(bitCount: -1) }
        #expect(throws: AugmentationError.self) { try DigitOverlay(opacity: 0) }
    }

    @Test func resizedCropToAnotherSize() throws {
        let x = randomImages([2, 3, 28, 28], seed: 6)
        var g = SeededGenerator(seed: 1)
        let y = try RandomResizedCrop(outputSize: (16, 20)).apply(to: x, using: &g)
        #expect(y.shape == [2, 3, 16, 20])
        #expect(y.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })  // bilinear is a convex combination
    }

    // MARK: Flip, noise, erasing

    @Test func horizontalFlip() throws {
        let x = randomImages([40, 2, 3, 5], seed: 7)
        var g = SeededGenerator(seed: 0)
        let always = try HorizontalFlip(probability: 1).apply(to: x, using: &g)
        for i in 0..<40 { for c in 0..<2 { for y in 0..<3 { for xx in 0..<5 {
            #expect(always.scalars[((i * 2 + c) * 3 + y) * 5 + xx] == x.scalars[((i * 2 + c) * 3 + y) * 5 + 4 - xx])
        } } } }
        #expect(try HorizontalFlip(probability: 0).apply(to: x, using: &g) == x)
        let half = try HorizontalFlip(probability: 0.5).apply(to: x, using: &g)
        let flipped = (0..<40).filter { half.rows($0..<($0 + 1)) == always.rows($0..<($0 + 1)) }.count
        #expect(flipped > 8 && flipped < 32, "\(flipped) of 40 flipped at p = 0.5")
    }

    @Test func gaussianNoiseStatistics() throws {
        let x = Tensor<Float>(repeating: 0.5, shape: [10, 1, 32, 32])
        var g = SeededGenerator(seed: 8)
        let y = try GaussianNoise(standardDeviation: 0.1, clip: false).apply(to: x, using: &g)
        let d = zip(y.scalars, x.scalars).map { Double($0 - $1) }
        let mean = d.reduce(0, +) / Double(d.count)
        let std = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)).squareRoot()
        #expect(abs(mean) < 0.006 && abs(std - 0.1) < 0.004, "mean \(mean), std \(std)")
        // Neighbouring pixels (the two outputs of one Box–Muller pair, and across pairs) are uncorrelated.
        let lag1 = zip(d.dropLast(), d.dropFirst()).map { ($0 - mean) * ($1 - mean) }.reduce(0, +) / Double(d.count - 1) / (std * std)
        #expect(abs(lag1) < 0.03, "lag-1 correlation \(lag1)")
        let fourth = d.map { pow(($0 - mean) / std, 4) }.reduce(0, +) / Double(d.count)
        #expect(abs(fourth - 3) < 0.25, "kurtosis \(fourth), expected 3 for a normal")
        let clipped = try GaussianNoise(standardDeviation: 2).apply(to: x, using: &g)
        #expect(clipped.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(clipped.scalars.contains(0) && clipped.scalars.contains(1))
    }

    @Test func randomErasingErasesOneRectangle() throws {
        let x = Tensor<Float>(repeating: 1, shape: [50, 3, 20, 20])
        var g = SeededGenerator(seed: 9)
        let y = try RandomErasing(probability: 1, fill: .constant(0)).apply(to: x, using: &g)
        for i in 0..<50 {
            let plane = Array(y.scalars[(i * 1200)..<(i * 1200 + 400)])
            let zeros = (0..<400).filter { plane[$0] == 0 }
            #expect(!zeros.isEmpty)
            let ys = zeros.map { $0 / 20 }, xs = zeros.map { $0 % 20 }
            let h = ys.max()! - ys.min()! + 1, w = xs.max()! - xs.min()! + 1
            #expect(zeros.count == h * w, "image \(i): erased pixels form a rectangle")
            let frac = Double(zeros.count) / 400
            #expect(frac >= 0.01 && frac <= 0.36, "erased fraction \(frac)")
            // Every channel is erased at the same place.
            for c in 1..<3 { #expect(Array(y.scalars[(i * 1200 + c * 400)..<(i * 1200 + c * 400 + 400)]) == plane) }
        }
        #expect(try RandomErasing(probability: 0).apply(to: x, using: &g) == x)
    }

    @Test func composeAppliesInOrderFromOneGenerator() throws {
        let x = randomImages([5, 1, 6, 6], seed: 10)
        let flip = try HorizontalFlip(probability: 1)
        var g = SeededGenerator(seed: 0)
        #expect(Compose([flip, flip]).apply(to: x, using: &g) == x)
        let noise = try GaussianNoise(standardDeviation: 0.1), erase = try RandomErasing(probability: 1)
        var g1 = SeededGenerator(seed: 3), g2 = SeededGenerator(seed: 3)
        let composed = Compose([noise, erase]).apply(to: x, using: &g1)
        let manual = erase.apply(to: noise.apply(to: x, using: &g2), using: &g2)
        #expect(composed == manual)
    }

    // MARK: RandBits and two views

    @Test func sharedRandBitsArePropertiesOfTheExample() throws {
        let rb = try RandBits(bitCount: 20, mode: .shared, seed: 42)
        #expect(rb.bits(forExample: 7) == rb.bits(forExample: 7))
        #expect(rb.bits(forExample: 7) != rb.bits(forExample: 8))
        #expect(try RandBits(bitCount: 20, seed: 43).bits(forExample: 7) != rb.bits(forExample: 7))
        // Balanced bits.
        let ones = (0..<500).flatMap { rb.bits(forExample: $0) }.filter { $0 == 1 }.count
        #expect(abs(Double(ones) / 10_000 - 0.5) < 0.03)
        // Appended channels are constant and carry the example's bits, whatever the batch order.
        let x = randomImages([3, 1, 4, 4], seed: 0)
        var g = SeededGenerator(seed: 1)
        let y = rb.appending(to: x, exampleIndices: [12, 5, 900], using: &g)
        #expect(y.shape == [3, 21, 4, 4])
        for (i, ex) in [12, 5, 900].enumerated() {
            let bits = rb.bits(forExample: ex)
            #expect(Array(y.scalars[(i * 21 * 16)..<(i * 21 * 16 + 16)]) == Array(x.scalars[(i * 16)..<(i * 16 + 16)]))
            for j in 0..<20 {
                let ch = y.scalars[((i * 21 + 1 + j) * 16)..<((i * 21 + 2 + j) * 16)]
                #expect(ch.allSatisfy { $0 == Float(bits[j]) })
            }
        }
        let sets = try rb.labelSets(forExamples: [12, 5, 900])
        #expect(sets.count == 20 && sets[3].name == "bit3" && sets[3].codes == [12, 5, 900].map { Int(rb.bits(forExample: $0)[3]) })
    }

    @Test func twoViewsShareOrRedrawTheBits() throws {
        let n = 16, k = 10
        let x = randomImages([n, 1, 8, 8], seed: 3)
        let aug = Compose([try RandomResizedCrop(scale: 0.5...1), try HorizontalFlip()])
        func bitChannels(_ v: Tensor<Float>, row: Int) -> [Float] {
            (0..<k).map { v.scalars[((row * (1 + k)) + 1 + $0) * 64] }
        }
        let indices = Array(100..<(100 + n))
        for mode in RandBits.Mode.allCases {
            let two = TwoViewAugmenter(augmentation: aug, randBits: try RandBits(bitCount: k, mode: mode, seed: 5))
            var g = SeededGenerator(seed: 77)
            let v = two.views(of: x, exampleIndices: indices, using: &g)
            #expect(v.shape == [2 * n, 1 + k, 8, 8])
            let identical = (0..<n).filter { bitChannels(v, row: $0) == bitChannels(v, row: n + $0) }.count
            if mode == .shared {
                #expect(identical == n)
            } else {
                #expect(identical <= 1, "per-view bits agreed on \(identical) of \(n) pairs")
            }
            // View 1 is the augmentation applied first, view 2 second, from the same generator.
            var h = SeededGenerator(seed: 77)
            let v1 = aug.apply(to: x, using: &h)
            let v2 = aug.apply(to: x, using: &h)
            #expect(v.scalars[0..<64] == v1.scalars[0..<64])
            #expect(v.scalars[(n * (1 + k) * 64)..<(n * (1 + k) * 64 + 64)] == v2.scalars[0..<64])
            #expect(v1 != v2)
        }
    }

    // MARK: Overlay

    @Test func digitOverlayComposesAndLabels() throws {
        let base = ImageDataset(name: "base", images: Tensor(repeating: 0.25, shape: [6, 2, 10, 10]),
                                labelSets: ["class": try LabelSet(name: "class", codes: [0, 1, 0, 1, 0, 1], names: ["a", "b"])])
        var glyphs = [Float](repeating: 0, count: 3 * 16)
        for d in 0..<3 { glyphs[d * 16 + d] = 1; glyphs[d * 16 + 15] = 0.1 * Float(d + 1) }  // digit d: pixel d bright
        let digits = ImageDataset(name: "digits", images: Tensor(shape: [3, 1, 4, 4], scalars: glyphs),
                                  labelSets: ["class": try LabelSet(name: "class", codes: [7, 8, 9], names: (0..<10).map { "\($0)" })])
        let overlay = try DigitOverlay(placement: .fixed(top: 2, left: 3))
        var g = SeededGenerator(seed: 4)
        let out = try overlay.apply(to: base, digits: digits, using: &g)
        #expect(out.images.shape == [6, 2, 10, 10])
        let digitCodes = try out.labels("digit").codes
        #expect(try out.labels("class") == base.labels("class"))
        #expect(Set(digitCodes).isSubset(of: [7, 8, 9]))
        for i in 0..<6 {
            let d = digitCodes[i] - 7
            for c in 0..<2 {
                let p = (i * 2 + c) * 100
                // Bright pixel d of the glyph (row 0, column d) lands at (2, 3 + d); max keeps 0.25 elsewhere.
                #expect(out.images.scalars[p + 2 * 10 + 3 + d] == 1)
                #expect(out.images.scalars[p + 5 * 10 + 6] == max(0.25, 0.1 * Float(d + 1)))
                #expect(out.images.scalars[p + 0] == 0.25)
            }
        }
        var g2 = SeededGenerator(seed: 4)
        #expect(try overlay.apply(to: base, digits: digits, using: &g2) == out)
        // Random placement keeps the glyph inside; a resized glyph larger than the image is an error.
        var g3 = SeededGenerator(seed: 5)
        let random = try DigitOverlay(digitSize: 8).apply(to: base, digits: digits, using: &g3)
        #expect(random.images.scalars.max()! > 0.5)  // the upsampled stroke is drawn somewhere
        #expect(throws: AugmentationError.self) {
            try DigitOverlay(digitSize: 11).apply(to: base, digits: digits, using: &g3)
        }
        #expect(throws: AugmentationError.self) {
            try DigitOverlay(placement: .fixed(top: 7, left: 0)).apply(to: base, digits: digits, using: &g3)
        }
    }
}
