// A synthetic quality-inspection image folder (`featurelens example defects DIR`): grey 32×32
// "parts" with a machined texture, ok or with one of four small local defects, under a
// class-irrelevant lighting gradient. Written for the image-folder reader (`ImageFolder`).

import Foundation
import FeatureLensNumerics

/// A problem writing the defect-inspection example.
public enum DefectPartsError: Error, CustomStringConvertible, Equatable {
    /// The destination exists and is not an empty folder (a file, or a folder with entries).
    case destinationNotEmpty(path: String, reason: String)
    /// The destination's parent folder does not exist or is not a folder.
    case missingParent(path: String)
    /// A parameter out of range.
    case invalidParameter(field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .destinationNotEmpty(path, reason):
            return "\(path): \(reason); the example is written only into a new or empty folder (nothing was written)"
        case let .missingParent(path):
            return "\(path): parent folder does not exist (create it first; nothing was written)"
        case let .invalidParameter(field, value, expected):
            return "defect parts: \(field) is \(value), expected \(expected)"
        }
    }
}

/// The defect-inspection example dataset: deterministic, seeded grey 32×32 PNG images in the
/// layout `ImageFolder` reads, with label sets `status`, `type` and `lighting` (three folder
/// levels):
///
///     DIR/train/ok/good/{bottom,top}/NNNN.png
///     DIR/train/defect/{crack,dent,scratch,stain}/{bottom,top}/NNNN.png
///     DIR/test/… (the same layout)
///
/// `status` (ok/defect) is what an inspector labels and what SupCon trains on; `type` (within
/// `status`) is the fine label an encoder should keep; `lighting` (within `type`) is a
/// class-irrelevant nuisance, the side the part is lit from, drawn independently of the class:
/// in every (split, type) folder exactly ⌊n/2⌋ images (a seeded choice) are lit from the
/// bottom and the rest from the top. The nuisance is a folder level because the reader has no
/// other per-image label for a folder tree; its classes are paths like `defect/dent/top`, so
/// the meaningful probe is `lighting` within `type` (the image presets probe each level
/// within the one above it), which is the nuisance alone.
///
/// Each split has `perType` images of every defect type and `4 · perType` ok images (as many
/// ok as defect parts).
///
/// **Image formula.** With rows r and columns c in 0…31, pixel values in [0, 1]:
///
///     x(r, c) = clamp₀¹( μ + T(r, c) + L(r) + D(r, c) + ε(r, c) )
///
/// - μ ~ U(0.40, 0.60): the part's brightness.
/// - T = a_T · sin(2π (c cos θ + r sin θ) / λ + φ): machining marks, a_T = `textureAmplitude`,
///   θ ~ U(0, π), λ ~ U(3, 6) pixels, φ ~ U(0, 2π).
/// - L(r) = s · g · (r − 15.5) / 15.5: the lighting gradient, s = −1 for `top` (brighter at
///   the top), +1 for `bottom`; g = `lightingStrength` · U(0.8, 1.2).
/// - ε ~ N(0, `noise`²) per pixel.
/// - D = 0 for `ok`; for a defect, centred at (r₀, c₀) ~ U(10, 22)² (the middle of the part),
///   with contrast k = `defectContrast` · U(0.8, 1.2) and ρ² = (r − r₀)² + (c − c₀)²:
///   - scratch: +k where the distance to a straight segment through (r₀, c₀) of length
///     U(8, 12) at an angle U(0, π) is ≤ 0.6 px (a thin bright line);
///   - crack: −k on a jagged path of 10 one-pixel steps from (r₀, c₀) along a main direction
///     (one of 8, uniform) with each step's side offset −1, 0 or +1 (a thin dark zigzag),
///     and −k/2 on the pixel beside each step;
///   - dent: k · ((c − c₀)/σ) · exp(−ρ²/(2σ²)), σ = 1.6 (a small depression lit from the
///     side: a bright and a dark half);
///   - stain: −(k/2) · exp(−((r − r₀)²/(2σ_r²) + (c − c₀)²/(2σ_c²))), σ_r, σ_c ~ U(2, 3.5)
///     (a soft dark blotch).
///
/// Pixels are stored as round(255 · x) in an 8-bit grey PNG (libpng, `ImageCodecs.pngData`).
///
/// **Randomness.** One `SeededGenerator(seed:)` draws, in order, for each split (train, test)
/// and each type (ok/good, then crack, dent, scratch, stain): the lighting permutation of the
/// folder's images, then one child generator (`split()`) per image, which draws that image's
/// numbers in the order of the formula (μ, θ, λ, φ, g, defect, ε). The same seed and
/// parameters give the same bytes on every machine.
public enum DefectParts {
    /// Image side in pixels (images are `side × side`).
    public static let side = 32
    /// The defect types, in folder order.
    public static let defectTypes = ["crack", "dent", "scratch", "stain"]
    /// The type folder of ok parts.
    public static let okType = "good"
    /// The lighting (nuisance) folders: lit from the bottom or from the top.
    public static let lightings = ["bottom", "top"]
    /// The label-set names of the three folder levels (the `levels` config value).
    public static let levels = ["status", "type", "lighting"]

    /// The generator's parameters (amplitudes in units of the [0, 1] pixel range).
    public struct Parameters: Equatable, Sendable {
        /// Images of each defect type per split in `train/` (ok: 4×).
        public var trainPerType: Int
        /// Images of each defect type per split in `test/` (ok: 4×).
        public var testPerType: Int
        /// a_T, amplitude of the machining texture.
        public var textureAmplitude: Double
        /// Mean half-range of the lighting gradient (g's centre).
        public var lightingStrength: Double
        /// Mean defect contrast k.
        public var defectContrast: Double
        /// Standard deviation of the per-pixel noise ε.
        public var noise: Double

        /// Creates the parameters; defaults are the example's (`featurelens example defects`).
        public init(trainPerType: Int = 200, testPerType: Int = 100, textureAmplitude: Double = 0.04,
                    lightingStrength: Double = 0.03, defectContrast: Double = 0.3, noise: Double = 0.02) {
            self.trainPerType = trainPerType
            self.testPerType = testPerType
            self.textureAmplitude = textureAmplitude
            self.lightingStrength = lightingStrength
            self.defectContrast = defectContrast
            self.noise = noise
        }

        /// - Throws: `DefectPartsError.invalidParameter` naming the first bad field.
        public func validate() throws {
            // At least 2 per type so both lighting folders of every type hold an image.
            for (name, v) in [("train_per_type", trainPerType), ("test_per_type", testPerType)] where v < 2 {
                throw DefectPartsError.invalidParameter(field: name, value: "\(v)", expected: "an integer ≥ 2")
            }
            for (name, v) in [("texture_amplitude", textureAmplitude), ("lighting_strength", lightingStrength),
                              ("defect_contrast", defectContrast), ("noise", noise)] where !(v.isFinite && v >= 0 && v <= 1) {
                throw DefectPartsError.invalidParameter(field: name, value: "\(v)", expected: "a number in [0, 1]")
            }
        }
    }

    /// One generated image: its folder labels and pixels.
    public struct Part: Equatable, Sendable {
        /// `ok` or `defect`.
        public var status: String
        /// `good` for ok parts, else the defect type.
        public var type: String
        /// `bottom` or `top` (the nuisance).
        public var lighting: String
        /// Row-major pixels `[side · side]` in [0, 1] (before 8-bit quantization).
        public var pixels: [Float]
        /// The file's path relative to the dataset folder, e.g. `train/defect/dent/top/0003.png`.
        public var relativePath: String
    }

    /// Every image of the dataset, in the order of the type's "Randomness" paragraph.
    /// - Throws: `DefectPartsError.invalidParameter`.
    public static func parts(seed: UInt64, parameters: Parameters = Parameters()) throws -> [Part] {
        try parameters.validate()
        var g = SeededGenerator(seed: seed)
        var out: [Part] = []
        for (split, perType) in [("train", parameters.trainPerType), ("test", parameters.testPerType)] {
            for type in [okType] + defectTypes {
                let status = type == okType ? "ok" : "defect"
                let n = type == okType ? 4 * perType : perType
                let order = g.permutation(n)
                var bottom = [Bool](repeating: false, count: n)
                for i in order.prefix(n / 2) { bottom[i] = true }
                for i in 0..<n {
                    var child = g.split()
                    let lighting = bottom[i] ? "bottom" : "top"
                    let pixels = image(type: type, litFromTop: !bottom[i], parameters: parameters, generator: &child)
                    out.append(Part(status: status, type: type, lighting: lighting, pixels: pixels,
                                    relativePath: "\(split)/\(status)/\(type)/\(lighting)/" + String(format: "%04d.png", i)))
                }
            }
        }
        return out
    }

    /// The pixels `[side · side]` of one part by the type's formula, drawing from `g`.
    /// - Parameters:
    ///   - type: `good` or one of `defectTypes` (another name draws no defect).
    ///   - litFromTop: the sign of the lighting gradient (true: brighter at the top).
    public static func image(type: String, litFromTop: Bool, parameters p: Parameters,
                             generator g: inout SeededGenerator) -> [Float] {
        let n = side
        func u(_ a: Double, _ b: Double) -> Double { a + (b - a) * g.nextUniform() }
        let mu = u(0.40, 0.60)
        let theta = u(0, .pi), lambda = u(3, 6), phi = u(0, 2 * .pi)
        let strength = p.lightingStrength * u(0.8, 1.2) * (litFromTop ? -1 : 1)
        let half = Double(n - 1) / 2
        var x = [Double](repeating: 0, count: n * n)
        for r in 0..<n {
            for c in 0..<n {
                let t = p.textureAmplitude * sin(2 * .pi * (Double(c) * cos(theta) + Double(r) * sin(theta)) / lambda + phi)
                x[r * n + c] = mu + t + strength * (Double(r) - half) / half
            }
        }
        if type != okType && defectTypes.contains(type) {
            let r0 = u(10, 22), c0 = u(10, 22)
            let k = p.defectContrast * u(0.8, 1.2)
            switch type {
            case "scratch":
                let length = u(8, 12), angle = u(0, .pi)
                let (dr, dc) = (sin(angle), cos(angle))
                for r in 0..<n {
                    for c in 0..<n {
                        let (vr, vc) = (Double(r) - r0, Double(c) - c0)
                        let along = max(-length / 2, min(length / 2, vr * dr + vc * dc))
                        let (er, ec) = (vr - along * dr, vc - along * dc)
                        if er * er + ec * ec <= 0.36 { x[r * n + c] += k }
                    }
                }
            case "crack":
                let directions = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
                let d = directions[g.nextInt(below: 8)]
                let perp = (-d.1, d.0)  // perpendicular to the main direction
                var (r, c) = (Int(r0.rounded()), Int(c0.rounded()))
                for _ in 0..<10 {
                    let offset = g.nextInt(below: 3) - 1
                    r += d.0 + offset * perp.0
                    c += d.1 + offset * perp.1
                    guard (0..<n).contains(r), (0..<n).contains(c) else { break }
                    x[r * n + c] -= k
                    let (sr, sc) = (r + perp.0, c + perp.1)
                    if (0..<n).contains(sr), (0..<n).contains(sc) { x[sr * n + sc] -= k / 2 }
                }
            case "dent":
                let sigma = 1.6
                for r in 0..<n {
                    for c in 0..<n {
                        let (vr, vc) = (Double(r) - r0, Double(c) - c0)
                        x[r * n + c] += k * (vc / sigma) * exp(-(vr * vr + vc * vc) / (2 * sigma * sigma))
                    }
                }
            default:  // stain
                let sr = u(2, 3.5), sc = u(2, 3.5)
                for r in 0..<n {
                    for c in 0..<n {
                        let (vr, vc) = (Double(r) - r0, Double(c) - c0)
                        x[r * n + c] -= k / 2 * exp(-(vr * vr / (2 * sr * sr) + vc * vc / (2 * sc * sc)))
                    }
                }
            }
        }
        return x.map { v in Float(min(1, max(0, v + p.noise * g.nextNormal()))) }
    }

    /// What `write` wrote.
    public struct Summary: Equatable, Sendable {
        /// Images per split and type folder, e.g. `["train/ok/good": 800, "test/defect/dent": 100, …]`.
        public var counts: [String: Int]
        /// Total number of images.
        public var total: Int
    }

    /// Writes the dataset into `directory`, which must not exist or be an empty folder; its
    /// parent must exist. Files are written into a hidden sibling folder
    /// (`.NAME.partial-PID`) that is renamed to `directory` at the end, so an error or an
    /// interruption leaves no half-written dataset at `directory` (the partial folder is
    /// removed on error).
    /// - Throws: `DefectPartsError` for the destination or the parameters; `OutputError` or
    ///   `ImageCodecError` when writing fails.
    @discardableResult
    public static func write(to directory: URL, seed: UInt64, parameters: Parameters = Parameters()) throws -> Summary {
        let fm = FileManager.default
        let dest = directory.standardizedFileURL
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dest.path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw DefectPartsError.destinationNotEmpty(path: dest.path, reason: "exists and is not a folder")
            }
            let entries = (try? fm.contentsOfDirectory(atPath: dest.path)) ?? ["?"]
            guard entries.isEmpty else {
                throw DefectPartsError.destinationNotEmpty(path: dest.path, reason: "folder is not empty (\(entries.count) entries)")
            }
        }
        let parent = dest.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw DefectPartsError.missingParent(path: dest.path)
        }
        let all = try parts(seed: seed, parameters: parameters)
        let partial = parent.appendingPathComponent(".\(dest.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: partial)
        do {
            var counts: [String: Int] = [:]
            for part in all {
                let file = partial.appendingPathComponent(part.relativePath)
                let folder = file.deletingLastPathComponent()
                if !fm.fileExists(atPath: folder.path) {
                    do { try fm.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                        throw OutputError(path: folder.path, reason: "cannot create folder (\(error.localizedDescription))")
                    }
                }
                let png = try ImageCodecs.pngData(Tensor(shape: [1, side, side], scalars: part.pixels))
                do { try png.write(to: file) } catch {
                    throw OutputError(path: file.path, reason: error.localizedDescription)
                }
                let key = part.relativePath.split(separator: "/").prefix(3).joined(separator: "/")
                counts[key, default: 0] += 1
            }
            // rename(2) replaces an empty folder atomically; a non-empty one (filled meanwhile) fails.
            guard rename(partial.path, dest.path) == 0 else {
                throw OutputError(path: dest.path, reason: "cannot move the written example into place: \(String(cString: strerror(errno)))")
            }
            return Summary(counts: counts, total: all.count)
        } catch {
            try? fm.removeItem(at: partial)
            throw error
        }
    }
}
