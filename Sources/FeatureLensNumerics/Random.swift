import Foundation

/// Seeded pseudo-random generator: **xoshiro256\*\*** (Blackman & Vigna, 2018), state seeded
/// from a 64-bit seed through SplitMix64.
///
/// Every random draw in FeatureLens comes from one of these, passed in explicitly, so the
/// same seed gives the same stream on every run and thread count. Value type: copying a
/// generator copies its state (use `split()` to derive an independent stream).
public struct SeededGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
    private init(rawState: (UInt64, UInt64, UInt64, UInt64)) { state = rawState }
    /// The four 64-bit words of xoshiro256** state (never all zero).
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds the state with four outputs of SplitMix64 started at `seed`.
    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// Restores a generator from saved state words (for checkpoints).
    /// - Throws: nothing; an all-zero state is replaced by the state of seed 0.
    public init(stateWords: [UInt64]) {
        precondition(stateWords.count == 4, "xoshiro256** state has 4 words")
        if stateWords.allSatisfy({ $0 == 0 }) {
            self.init(seed: 0)
        } else {
            self.init(rawState: (stateWords[0], stateWords[1], stateWords[2], stateWords[3]))
        }
    }

    /// The state as four words (for checkpoints).
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 { nextWord() }

    @usableFromInline
    mutating func nextWord() -> UInt64 {
        let result = SeededGenerator.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = SeededGenerator.rotl(state.3, 45)
        return result
    }

    /// An independent generator derived from this one's stream (advances `self`).
    public mutating func split() -> SeededGenerator {
        SeededGenerator(seed: next() ^ 0xD1B5_4A32_D192_ED03)
    }

    /// Uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform `Float` in [0, 1) with 24 random bits.
    public mutating func nextUniformFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// Standard normal N(0, 1) by the Box–Muller transform (two uniforms per draw; no cached
    /// second value, so the state alone determines the stream).
    public mutating func nextNormal() -> Double {
        // u1 in (0, 1] avoids log(0).
        let u1 = 1.0 - nextUniform()
        let u2 = nextUniform()
        return (-2.0 * Foundation.log(u1)).squareRoot() * Foundation.cos(2.0 * Double.pi * u2)
    }

    /// Normal N(mean, std²).
    public mutating func nextNormal(mean: Double, standardDeviation std: Double) -> Double {
        mean + std * nextNormal()
    }

    /// Rademacher variable: −1 or +1 with probability ½ each.
    public mutating func nextRademacher() -> Double {
        (next() >> 63) == 0 ? -1.0 : 1.0
    }

    /// Uniform integer in 0..<upperBound (unbiased, Lemire's method).
    public mutating func nextInt(below upperBound: Int) -> Int {
        precondition(upperBound > 0, "upperBound must be positive")
        return Int(next(upperBound: UInt64(upperBound)))
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<max(0, n))
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = nextInt(below: i + 1)
                p.swapAt(i, j)
            }
        }
        return p
    }

    /// `count` distinct indices drawn uniformly from 0..<n, in draw order.
    /// - Precondition: 0 ≤ count ≤ n.
    public mutating func sampleWithoutReplacement(_ count: Int, from n: Int) -> [Int] {
        precondition(count >= 0 && count <= n, "cannot sample \(count) of \(n) without replacement")
        // Partial Fisher–Yates on a sparse map: O(count) memory.
        var swapped: [Int: Int] = [:]
        var out: [Int] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let j = i + nextInt(below: n - i)
            let vj = swapped[j] ?? j
            let vi = swapped[i] ?? i
            swapped[j] = vi
            out.append(vj)
        }
        return out
    }

    /// Fills `buffer` with N(mean, std²) draws in order.
    public mutating func fillNormal<T: BinaryFloatingPoint>(
        _ buffer: inout [T], mean: Double = 0, standardDeviation std: Double = 1
    ) {
        for i in buffer.indices { buffer[i] = T(mean + std * nextNormal()) }
    }

    // MARK: Codable (state words)
    private enum CodingKeys: String, CodingKey { case state }
    public init(from decoder: Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let words = try c.decode([UInt64].self, forKey: .state)
        guard words.count == 4 else {
            throw DecodingError.dataCorruptedError(forKey: .state, in: c,
                debugDescription: "xoshiro256** state must have 4 words, found \(words.count)")
        }
        self.init(stateWords: words)
    }
    public func encode(to encoder: Swift.Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stateWords, forKey: .state)
    }
    public static func == (l: SeededGenerator, r: SeededGenerator) -> Bool { l.stateWords == r.stateWords }
}
