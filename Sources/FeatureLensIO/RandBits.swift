// RandBits (Chen, Luo & Li, "Intriguing Properties of Contrastive Losses", NeurIPS 2021,
// §4): k random bits per image, shown as k extra constant channels. When the bits are the
// same in both views they are an easy shortcut feature that an NT-Xent encoder learns in
// place of the object (feature suppression); redrawing them per view removes the shortcut.
import Foundation
import FeatureLensNumerics

/// k random bits per image appended as k constant channels (channel j filled with bit j, 0 or 1).
public struct RandBits: Codable, Equatable, Sendable {
    /// How the bits relate across views.
    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// The bits are a property of the example: drawn once per example (keyed by its dataset
        /// index and `seed`), identical in both views and at every epoch.
        case shared
        /// The bits are redrawn for each view from the batch generator ("perfect augmentation").
        case perView
    }

    /// Number of bits k (extra channels), 0…1024.
    public var bitCount: Int
    /// Shared by the views or redrawn per view.
    public var mode: Mode
    /// Seed of the per-example bits in `.shared` mode. Use a different seed for the test split.
    public var seed: UInt64

    /// - Throws: `AugmentationError.invalidParameter` unless 0 ≤ bitCount ≤ 1024.
    public init(bitCount: Int, mode: Mode = .shared, seed: UInt64 = 0) throws {
        guard (0...1024).contains(bitCount) else {
            throw AugmentationError.invalidParameter(augmentation: "RandBits", parameter: "bitCount",
                                                     value: "\(bitCount)", expected: "0…1024")
        }
        self.bitCount = bitCount
        self.mode = mode
        self.seed = seed
    }

    /// The bits of example `index` in `.shared` mode: a pure function of (`seed`, `index`),
    /// independent of batch composition, order and thread count.
    public func bits(forExample index: Int) -> [UInt8] {
        var g = RandBits.exampleGenerator(seed: seed, index: index)
        return RandBits.draw(bitCount, using: &g)
    }

    /// One label set per bit ("bit0"…"bit{k−1}", classes "0" and "1") for the examples
    /// `indices`, from the shared per-example bits (what a probe tries to read back).
    /// - Throws: nothing in practice (codes are 0 or 1); `DatasetError` from `LabelSet.init`.
    public func labelSets(forExamples indices: [Int]) throws -> [LabelSet] {
        let perExample = indices.map { self.bits(forExample: $0) }
        return try (0..<bitCount).map { j in
            try LabelSet(name: "bit\(j)", codes: perExample.map { Int($0[j]) }, names: ["0", "1"])
        }
    }

    /// Appends the bit channels to a view.
    /// - Parameters:
    ///   - images: `[n, c, h, w]`.
    ///   - exampleIndices: dataset index of each image (used in `.shared` mode).
    ///   - generator: source of the bits in `.perView` mode (k bits per image, image order).
    /// - Returns: `[n, c + k, h, w]`.
    public func appending(to images: Tensor<Float>, exampleIndices: [Int],
                          using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "RandBits takes [n, c, h, w], got \(images.shape)")
        precondition(exampleIndices.count == images.shape[0], "one example index per image")
        let bits: [[UInt8]]
        switch mode {
        case .shared: bits = exampleIndices.map { self.bits(forExample: $0) }
        case .perView: bits = exampleIndices.map { _ in RandBits.draw(bitCount, using: &generator) }
        }
        return RandBits.appendConstantChannels(images, bits: bits)
    }

    /// Appends one constant channel per bit: image i's channel c + j is filled with `bits[i][j]`.
    /// - Returns: `[n, c + k, h, w]`.
    public static func appendConstantChannels(_ images: Tensor<Float>, bits: [[UInt8]]) -> Tensor<Float> {
        precondition(images.rank == 4 && bits.count == images.shape[0], "one bit vector per image")
        let n = images.shape[0], c = images.shape[1], hw = images.shape[2] * images.shape[3]
        let k = bits.first?.count ?? 0
        precondition(bits.allSatisfy { $0.count == k }, "every image needs the same number of bits")
        var out = [Float](repeating: 0, count: n * (c + k) * hw)
        images.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let o = i * (c + k) * hw
                    for t in 0..<(c * hw) { dst[o + t] = src[i * c * hw + t] }
                    for j in 0..<k where bits[i][j] != 0 {
                        let p = o + (c + j) * hw
                        for t in 0..<hw { dst[p + t] = 1 }
                    }
                }
            }
        }
        return Tensor(shape: [n, c + k, images.shape[2], images.shape[3]], scalars: out)
    }

    /// A generator keyed by (seed, example index).
    static func exampleGenerator(seed: UInt64, index: Int) -> SeededGenerator {
        // SplitMix64 finalizer of the seed, combined with the index: distinct indices give
        // distinct generator seeds for a given seed.
        var z = seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return SeededGenerator(seed: z ^ UInt64(bitPattern: Int64(index)))
    }

    /// k bits from `g`, 64 per word, least significant bit first.
    static func draw(_ k: Int, using g: inout SeededGenerator) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: k)
        var word: UInt64 = 0
        for j in 0..<k {
            if j % 64 == 0 { word = g.next() }
            out[j] = UInt8((word >> UInt64(j % 64)) & 1)
        }
        return out
    }
}
