import Foundation
import FeatureLensNumerics

/// The synthetic data models of SCIENCE.md §2.
///
/// Inputs are sums of planted components along orthonormal coordinate axes plus isotropic
/// noise ξ ~ N(0, σ²/d · I_d):
///
///     x = a_c·y·e₀ [+ a_s·s·e₁] [+ Σ_{k<K} a_e·z_k·e_{2+k}] [+ ζ on the next m axes] + ξ
///
/// | kind       | components                 | label sets                         |
/// |------------|----------------------------|------------------------------------|
/// | `cc`       | class, subclass            | `class`, `subclass` (within class) |
/// | `fs-a`     | class, K easy features     | `class`, `easy0` … `easy{K-1}`     |
/// | `fs-b`     | class, ζ (m-dim, ‖ζ‖ = a_z) | `class`                            |
/// | `combined` | class, subclass, K easy    | `class`, `subclass`, `easy…`       |
///
/// Classes are exactly balanced; within each class a fraction ρ (rounded to the nearest
/// count) has s = +1. Easy bits z_k are independent fair ±1 draws; ζ = a_z · (uniform on the
/// unit sphere of its m-dimensional block).
public enum SyntheticDataKind: String, Codable, CaseIterable, Hashable, Sendable {
    /// Class collapse model (class + subclass).
    case cc
    /// Feature suppression by embedding size (class + K easy features).
    case fsA = "fs-a"
    /// Feature suppression by augmentation (class + high-dimensional ζ).
    case fsB = "fs-b"
    /// Class + subclass + easy features (the joint-loss illustration of SCIENCE.md §5).
    case combined

    package var hasSubclass: Bool { self == .cc || self == .combined }
    var hasEasy: Bool { self == .fsA || self == .combined }
    package var hasNuisance: Bool { self == .fsB }
}

/// How the two views of a training point are formed (SCIENCE.md §2, "Augmentation model").
public enum AugmentationKind: String, Codable, CaseIterable, Sendable {
    /// No augmentation: one input per point, and both views are that input (Z₁ = Z₂ = XWᵀ).
    case none
    /// Two views; every planted component (class, subclass, easy bits, ζ) is kept, noise is redrawn.
    case imperfect
    /// Two views; ζ is redrawn independently per view, the other components are kept, noise is redrawn.
    /// For data without ζ this equals `imperfect`.
    case perfect
}

/// Errors for invalid synthetic-model parameters.
public enum SyntheticModelError: Error, CustomStringConvertible, Equatable {
    /// Parameter `field` has an invalid value; `expected` says what is allowed.
    case invalidParameter(field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .invalidParameter(f, v, e): return "synthetic model: \(f) = \(v); expected \(e)"
        }
    }
}

/// Every parameter of a synthetic data model (SCIENCE.md §2). Amplitudes are in input units.
public struct SyntheticModel: Codable, Hashable, Sendable {
    /// Which model (which components are planted).
    public var kind: SyntheticDataKind
    /// Input dimension d.
    public var d: Int
    /// Number of training points n.
    public var n: Int
    /// Number of fresh test points (one view each).
    public var nTest: Int
    /// Noise scale σ: ξ ~ N(0, σ²/d · I_d).
    public var sigma: Double
    /// Class amplitude a_c.
    public var aC: Double
    /// Subclass amplitude a_s (used by `cc` and `combined`).
    public var aS: Double
    /// Fraction ρ of each class with subclass s = +1 (used by `cc` and `combined`).
    public var rho: Double
    /// Number of easy features K (used by `fs-a` and `combined`).
    public var k: Int
    /// Easy-feature amplitude a_e (used by `fs-a` and `combined`).
    public var aE: Double
    /// Norm a_z of the nuisance ζ (used by `fs-b`).
    public var aZ: Double
    /// Dimension m of ζ's block (used by `fs-b`).
    public var m: Int

    /// Creates a model description (validated by `validate()` and by `generate`).
    public init(kind: SyntheticDataKind, d: Int, n: Int, nTest: Int = 2000, sigma: Double = 1,
                aC: Double = 1, aS: Double = 0.6, rho: Double = 0.5, k: Int = 4, aE: Double = 2,
                aZ: Double = 20, m: Int = 100) {
        self.kind = kind; self.d = d; self.n = n; self.nTest = nTest; self.sigma = sigma
        self.aC = aC; self.aS = aS; self.rho = rho; self.k = k; self.aE = aE; self.aZ = aZ; self.m = m
    }

    /// Number of easy features actually planted (K for `fs-a`/`combined`, else 0).
    public var easyCount: Int { kind.hasEasy ? k : 0 }
    /// First coordinate of ζ's block.
    public var nuisanceStart: Int { 2 + easyCount }
    /// Number of coordinates used by planted components.
    public var plantedDimension: Int { nuisanceStart + (kind.hasNuisance ? m : 0) }

    /// Checks every parameter.
    /// - Throws: `SyntheticModelError.invalidParameter` naming the field and the allowed range.
    public func validate() throws {
        func bad(_ f: String, _ v: Any, _ e: String) -> SyntheticModelError {
            .invalidParameter(field: f, value: "\(v)", expected: e)
        }
        guard n >= 2 else { throw bad("n", n, "≥ 2") }
        guard nTest >= 2 else { throw bad("n_test", nTest, "≥ 2") }
        guard sigma.isFinite, sigma >= 0 else { throw bad("sigma", sigma, "finite and ≥ 0") }
        for (f, v) in [("a_c", aC), ("a_s", aS), ("a_e", aE), ("a_z", aZ)] where !v.isFinite {
            throw bad(f, v, "a finite number")
        }
        guard rho >= 0, rho <= 1 else { throw bad("rho", rho, "in [0, 1]") }
        if kind.hasEasy { guard k >= 0 else { throw bad("K", k, "≥ 0") } }
        if kind.hasNuisance { guard m >= 1 else { throw bad("m", m, "≥ 1") } }
        guard d >= plantedDimension else {
            throw bad("d", d, "≥ \(plantedDimension) (the planted coordinates of model \(kind.rawValue))")
        }
    }

    /// Label-set names this model plants, in report order.
    public var labelSetNames: [String] {
        var out = ["class"]
        if kind.hasSubclass { out.append("subclass") }
        for i in 0..<easyCount { out.append("easy\(i)") }
        return out
    }

    /// Planted directions by name, each `[k, d]` (coordinate axes): `class` → e₀,
    /// `subclass` → e₁, `easy{i}` → e_{2+i}, `zeta` → the m axes of ζ's block.
    public func plantedDirections() -> [String: Tensor<Double>] {
        func axes(_ idx: Range<Int>) -> Tensor<Double> {
            var t = Tensor<Double>(zeros: [idx.count, d])
            for (r, c) in idx.enumerated() { t[r, c] = 1 }
            return t
        }
        var out = ["class": axes(0..<1)]
        if kind.hasSubclass { out["subclass"] = axes(1..<2) }
        for i in 0..<easyCount { out["easy\(i)"] = axes((2 + i)..<(3 + i)) }
        if kind.hasNuisance { out["zeta"] = axes(nuisanceStart..<(nuisanceStart + m)) }
        return out
    }

    /// Draws the latent factors of `count` points: balanced classes, subclass fraction ρ
    /// within each class, independent easy bits, ζ on its sphere. Shuffled row order.
    public func drawLatents(count: Int, using g: inout SeededGenerator) -> SyntheticLatents {
        let perm = g.permutation(count)
        var y = [Double](repeating: 0, count: count)
        var s = [Double](repeating: 0, count: count)
        // Exactly balanced classes; within each class round(ρ·n_c) points with s = +1.
        let nPlus = count / 2 + count % 2
        let classCounts = [nPlus, count - nPlus]
        var pos = 0
        for (ci, nc) in classCounts.enumerated() {
            let plus = Int((rho * Double(nc)).rounded())
            for j in 0..<nc {
                let row = perm[pos + j]
                y[row] = ci == 0 ? 1 : -1
                s[row] = j < plus ? 1 : -1
            }
            pos += nc
        }
        var z = [[Double]](repeating: [], count: easyCount)
        for i in 0..<easyCount { z[i] = (0..<count).map { _ in g.nextRademacher() } }
        var zeta: Tensor<Double>? = nil
        if kind.hasNuisance { zeta = drawNuisance(count: count, using: &g) }
        return SyntheticLatents(y: y, s: kind.hasSubclass ? s : nil, z: z, zeta: zeta)
    }

    /// `count` draws of ζ = a_z · (uniform on the unit sphere of ℝ^m): `[count, m]`.
    func drawNuisance(count: Int, using g: inout SeededGenerator) -> Tensor<Double> {
        var t = [Double](repeating: 0, count: count * m)
        fillGaussian(&t, standardDeviation: 1, using: &g)
        for i in 0..<count {
            var norm2 = 0.0
            for j in 0..<m { norm2 += t[i * m + j] * t[i * m + j] }
            let scale = norm2 > 0 ? aZ / norm2.squareRoot() : 0
            for j in 0..<m { t[i * m + j] *= scale }
        }
        return Tensor(shape: [count, m], scalars: t)
    }

    /// One view of the points with latents `lat`: planted components + fresh noise. ζ is
    /// taken from `lat` when `zeta` is nil, else from `zeta` (a redrawn nuisance). `[count, d]`.
    func view(_ lat: SyntheticLatents, zeta: Tensor<Double>?, using g: inout SeededGenerator) -> Tensor<Double> {
        let count = lat.y.count
        var x = [Double](repeating: 0, count: count * d)
        let noiseStd = sigma / Double(d).squareRoot()
        if noiseStd > 0 { fillGaussian(&x, standardDeviation: noiseStd, using: &g) }
        let zetaT = zeta ?? lat.zeta
        for i in 0..<count {
            let r = i * d
            x[r] += aC * lat.y[i]
            if let s = lat.s { x[r + 1] += aS * s[i] }
            for kk in 0..<easyCount { x[r + 2 + kk] += aE * lat.z[kk][i] }
            if let zt = zetaT {
                for j in 0..<m { x[r + nuisanceStart + j] += zt[i, j] }
            }
        }
        return Tensor(shape: [count, d], scalars: x)
    }

    /// Label sets of the points with latents `lat` (±1 mapped to class index: −1 → 0, +1 → 1).
    func labelSets(_ lat: SyntheticLatents) throws -> [String: LabelSet] {
        func idx(_ v: [Double]) -> [Int] { v.map { $0 > 0 ? 1 : 0 } }
        let names = ["-1", "+1"]
        var out = ["class": try LabelSet(name: "class", codes: idx(lat.y), names: names)]
        if let s = lat.s { out["subclass"] = try LabelSet(name: "subclass", codes: idx(s), names: names, within: "class") }
        for (kk, z) in lat.z.enumerated() { out["easy\(kk)"] = try LabelSet(name: "easy\(kk)", codes: idx(z), names: names) }
        return out
    }

    /// Generates the training set (its views drawn once) and a fresh test set (one view each).
    ///
    /// Random streams, all derived from `seed` in this order by `SeededGenerator.split()`:
    /// training latents, training views, test set. (`SyntheticStreams` names them.)
    /// - Throws: `SyntheticModelError` for invalid parameters; `DatasetError` never in practice.
    public func generate(augmentation: AugmentationKind, seed: UInt64) throws -> SyntheticData {
        try validate()
        var streams = SyntheticStreams(seed: seed)
        let lat = drawLatents(count: n, using: &streams.latents)
        var views: [Tensor<Double>] = []
        let viewCount = augmentation == .none ? 1 : 2
        for _ in 0..<viewCount {
            let z: Tensor<Double>? = (augmentation == .perfect && kind.hasNuisance)
                ? drawNuisance(count: n, using: &streams.views) : nil
            views.append(view(lat, zeta: z, using: &streams.views))
        }
        let planted = plantedDirections()
        let train = try Dataset(features: views[0], labels: labelSets(lat), plantedDirections: planted)
        let testLat = drawLatents(count: nTest, using: &streams.test)
        let test = try Dataset(features: view(testLat, zeta: nil, using: &streams.test),
                               labels: labelSets(testLat), plantedDirections: planted)
        return SyntheticData(model: self, augmentation: augmentation, train: train, trainViews: views,
                             test: test, trainLatents: lat)
    }
}

/// The latent factors of a set of synthetic points (±1 values as `Double`).
public struct SyntheticLatents: Sendable {
    /// Class y ∈ {±1}, `[count]`.
    public var y: [Double]
    /// Subclass s ∈ {±1}, `[count]`, or nil when the model has none.
    public var s: [Double]?
    /// Easy bits z_k ∈ {±1}: `K` arrays of `[count]`.
    public var z: [[Double]]
    /// Nuisance ζ, `[count, m]`, or nil when the model has none.
    public var zeta: Tensor<Double>?
}

/// The independent random streams of one synthetic run, all derived from one seed by
/// successive `split()`s in this order: latents, views, test, init, online.
public struct SyntheticStreams {
    /// Training latents (labels, easy bits, ζ).
    public var latents: SeededGenerator
    /// Training views (noise, redrawn ζ).
    public var views: SeededGenerator
    /// Test set.
    public var test: SeededGenerator
    /// Encoder initialization.
    public var initialization: SeededGenerator
    /// Fresh views for online augmentation.
    public var online: SeededGenerator

    /// Derives the streams from `seed`.
    public init(seed: UInt64) {
        var root = SeededGenerator(seed: seed)
        latents = root.split(); views = root.split(); test = root.split()
        initialization = root.split(); online = root.split()
    }
}

/// A generated synthetic experiment: training views, train and test datasets.
public struct SyntheticData: Sendable {
    /// The model that produced the data.
    public var model: SyntheticModel
    /// The augmentation used for the training views.
    public var augmentation: AugmentationKind
    /// Training dataset; `features` is view 1, `[n, d]` (the probe's training embeddings are
    /// read from it, SCIENCE.md §5).
    public var train: Dataset
    /// The training views drawn once at generation: one `[n, d]` input for `.none`
    /// (Z₁ = Z₂), else two.
    public var trainViews: [Tensor<Double>]
    /// Fresh test points, one view each, `[n_test, d]`.
    public var test: Dataset
    /// The training points' latent factors (needed to redraw views for online augmentation).
    public var trainLatents: SyntheticLatents

    /// Fresh views of the training points (online augmentation): kept components from the
    /// latents, noise redrawn, ζ redrawn per view under `.perfect`. Returns 1 view for
    /// `.none` (new noise, used for both branches) or 2 views, each `[n, d]`.
    public func drawViews(using g: inout SeededGenerator) -> [Tensor<Double>] {
        let count = augmentation == .none ? 1 : 2
        return (0..<count).map { _ in
            let z: Tensor<Double>? = (augmentation == .perfect && model.kind.hasNuisance)
                ? model.drawNuisance(count: model.n, using: &g) : nil
            return model.view(trainLatents, zeta: z, using: &g)
        }
    }
}

/// Fills `buffer` with i.i.d. N(0, std²) draws from `g` by the Box–Muller transform, using
/// both outputs of each pair of uniforms (u₁ ∈ (0, 1], u₂ ∈ [0, 1)): r = √(−2 ln u₁),
/// x = r·cos 2πu₂, y = r·sin 2πu₂. Deterministic for a given generator state.
func fillGaussian(_ buffer: inout [Double], standardDeviation std: Double, using g: inout SeededGenerator) {
    let count = buffer.count
    var i = 0
    while i < count {
        let u1 = 1.0 - g.nextUniform()
        let u2 = g.nextUniform()
        let r = std * (-2.0 * Foundation.log(u1)).squareRoot()
        let angle = 2.0 * Double.pi * u2
        buffer[i] = r * Foundation.cos(angle)
        if i + 1 < count { buffer[i + 1] = r * Foundation.sin(angle) }
        i += 2
    }
}
