// Image augmentations for contrastive learning (SimCLR, Chen et al., ICML 2020, §3 and
// appendix A): random resized crop, horizontal flip, Gaussian noise, random erasing
// (Zhong et al., AAAI 2020). Parameter ranges and sampling follow torchvision's
// RandomResizedCrop / RandomErasing; the random numbers come from a `SeededGenerator`.
//
// Determinism: a batch's generator is split once per image, in image order, before any work;
// image i then draws only from its own stream, so the result does not depend on the number of
// threads (work is split over images, i.e. over output blocks).
import Foundation
import FeatureLensNumerics

/// An invalid augmentation parameter or overlay input.
public enum AugmentationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A parameter outside its allowed range.
    case invalidParameter(augmentation: String, parameter: String, value: String, expected: String)
    /// An overlay dataset or label set that does not fit the base dataset.
    case overlayMismatch(field: String, expected: String, found: String)

    public var description: String {
        switch self {
        case let .invalidParameter(aug, parameter, value, expected):
            return "\(aug): parameter \(parameter) is \(value), expected \(expected)"
        case let .overlayMismatch(field, expected, found):
            return "overlay: \(field): expected \(expected), found \(found)"
        }
    }
}

/// A random transformation of a batch of images into one view.
///
/// `apply` takes images `[n, c, h, w]` and returns a view `[n, c', h', w']` (most keep the
/// shape). Every random draw comes from `generator`: the same generator state gives the same
/// view.
public protocol ImageAugmentation: Sendable {
    /// One view of `images` (`[n, c, h, w]`).
    func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float>
    /// True when `apply` returns its input unchanged and draws nothing from the generator
    /// (default false).
    var isIdentity: Bool { get }
}

extension ImageAugmentation {
    public var isIdentity: Bool { false }
}

/// Applies augmentations in order (each sees the previous one's output), drawing from one generator.
public struct Compose: ImageAugmentation {
    /// The steps, first applied first.
    public var steps: [any ImageAugmentation]
    /// - Parameter steps: the augmentations, in order (empty: identity).
    public init(_ steps: [any ImageAugmentation]) { self.steps = steps }

    /// True when every step is the identity (in particular when there are none).
    public var isIdentity: Bool { steps.allSatisfy(\.isIdentity) }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        var x = images
        for s in steps { x = s.apply(to: x, using: &generator) }
        return x
    }
}

/// Runs a per-image kernel over a batch, one split generator per image, in parallel over images.
enum PerImage {
    /// - Parameters:
    ///   - outShape: `[c', h', w']` of each output image.
    ///   - body: (image generator, input image, output image).
    static func map(_ images: Tensor<Float>, outShape: [Int], using generator: inout SeededGenerator,
                    threads: Int = Parallel.threadCount,
                    _ body: (inout SeededGenerator, UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void)
        -> Tensor<Float> {
        precondition(images.rank == 4, "augmentations take images [n, c, h, w], got \(images.shape)")
        let n = images.shape[0]
        let inSize = images.rowWidth, outSize = outShape.reduce(1, *)
        var generators = [SeededGenerator]()
        generators.reserveCapacity(n)
        for _ in 0..<n { generators.append(generator.split()) }
        var out = [Float](repeating: 0, count: n * outSize)
        let block = 32
        let chunks = (n + block - 1) / block
        images.scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                generators.withUnsafeMutableBufferPointer { gens in
                    Parallel.forEach(chunks: chunks, threads: threads) { chunk in
                        for i in (chunk * block)..<min(n, (chunk + 1) * block) {
                            let s = UnsafeBufferPointer(rebasing: src[(i * inSize)..<((i + 1) * inSize)])
                            let d = UnsafeMutableBufferPointer(rebasing: dst[(i * outSize)..<((i + 1) * outSize)])
                            body(&gens[i], s, d)
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n] + outShape, scalars: out)
    }
}

// MARK: - Random resized crop

/// Random resized crop (torchvision `RandomResizedCrop`): a crop whose area is a fraction
/// `scale` of the image and whose aspect ratio w/h is log-uniform in `ratio`, resized back to
/// the output size by bilinear interpolation (half-pixel centres, as PyTorch's
/// `interpolate(mode="bilinear", align_corners=False)`; no antialiasing).
/// The same crop is used for every channel of an image.
public struct RandomResizedCrop: ImageAugmentation, Equatable {
    /// Range of the crop area as a fraction of the image area (default 0.08…1).
    public var scale: ClosedRange<Double>
    /// Range of the crop aspect ratio width/height (default 3/4…4/3), sampled log-uniformly.
    public var ratio: ClosedRange<Double>
    /// Output height and width in pixels (nil: the input size).
    public var outputSize: (height: Int, width: Int)?

    /// - Throws: `AugmentationError.invalidParameter` unless 0 < scale ≤ 1, 0 < ratio, output size ≥ 1.
    public init(scale: ClosedRange<Double> = 0.08...1.0, ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0),
                outputSize: (height: Int, width: Int)? = nil) throws {
        guard scale.lowerBound > 0 && scale.upperBound <= 1 else {
            throw AugmentationError.invalidParameter(augmentation: "RandomResizedCrop", parameter: "scale",
                                                     value: "\(scale)", expected: "a range inside (0, 1]")
        }
        guard ratio.lowerBound > 0 && ratio.upperBound.isFinite else {
            throw AugmentationError.invalidParameter(augmentation: "RandomResizedCrop", parameter: "ratio",
                                                     value: "\(ratio)", expected: "a finite range inside (0, ∞)")
        }
        if let o = outputSize, o.height < 1 || o.width < 1 {
            throw AugmentationError.invalidParameter(augmentation: "RandomResizedCrop", parameter: "outputSize",
                                                     value: "\(o)", expected: "height and width ≥ 1")
        }
        self.scale = scale
        self.ratio = ratio
        self.outputSize = outputSize
    }

    public static func == (l: RandomResizedCrop, r: RandomResizedCrop) -> Bool {
        l.scale == r.scale && l.ratio == r.ratio && l.outputSize?.height == r.outputSize?.height
            && l.outputSize?.width == r.outputSize?.width
    }

    /// Draws a crop box `(top, left, height, width)` for an image of `height × width` pixels,
    /// as torchvision's `RandomResizedCrop.get_params`: up to 10 attempts, then a centre crop
    /// clamped to the ratio range.
    public static func cropBox(height: Int, width: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                               using g: inout SeededGenerator) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(height * width)
        let logLo = Foundation.log(ratio.lowerBound), logHi = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * g.nextUniform())
            let aspect = Foundation.exp(logLo + (logHi - logLo) * g.nextUniform())
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = g.nextInt(below: height - h + 1)
                let left = g.nextInt(below: width - w + 1)
                return (top, left, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = max(1, min(height, Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))))
        } else if inRatio > ratio.upperBound {
            w = max(1, min(width, Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))))
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "RandomResizedCrop takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let oh = outputSize?.height ?? h, ow = outputSize?.width ?? w
        let scale = self.scale, ratio = self.ratio
        return PerImage.map(images, outShape: [c, oh, ow], using: &generator) { g, src, dst in
            let box = RandomResizedCrop.cropBox(height: h, width: w, scale: scale, ratio: ratio, using: &g)
            Bilinear.resize(src, channels: c, height: h, width: w, box: box, outHeight: oh, outWidth: ow, into: dst)
        }
    }

    /// Crops the same box from every image and resizes it bilinearly (deterministic; the
    /// kernel `apply` uses).
    /// - Returns: `[n, c, outputHeight, outputWidth]`.
    /// - Precondition: the box lies inside the image.
    public static func resizedCrop(_ images: Tensor<Float>, top: Int, left: Int, height: Int, width: Int,
                                   outputHeight: Int, outputWidth: Int) -> Tensor<Float> {
        precondition(images.rank == 4, "resizedCrop takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1], h = images.shape[2], w = images.shape[3]
        precondition(top >= 0 && left >= 0 && height >= 1 && width >= 1 && top + height <= h && left + width <= w,
                     "crop box outside the \(h)×\(w) image")
        var g = SeededGenerator(seed: 0)
        return PerImage.map(images, outShape: [c, outputHeight, outputWidth], using: &g) { _, src, dst in
            Bilinear.resize(src, channels: c, height: h, width: w, box: (top, left, height, width),
                            outHeight: outputHeight, outWidth: outputWidth, into: dst)
        }
    }
}

/// Bilinear resampling with half-pixel centres (PyTorch `align_corners=False`):
/// source coordinate `s = (d + 0.5) · in/out − 0.5`, clamped below at 0; neighbours
/// `⌊s⌋` and `min(⌊s⌋ + 1, in − 1)`.
enum Bilinear {
    static func taps(inCount: Int, outCount: Int) -> [(i0: Int, i1: Int, l1: Float)] {
        let scale = Float(inCount) / Float(outCount)
        return (0..<outCount).map { d in
            let s = max(0, scale * (Float(d) + 0.5) - 0.5)
            let i0 = min(Int(s), inCount - 1)
            let i1 = min(i0 + 1, inCount - 1)
            return (i0, i1, s - Float(i0))
        }
    }

    /// Resizes the crop `box` of a `[channels, height, width]` image to `[channels, outHeight, outWidth]`.
    static func resize(_ src: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int,
                       box: (top: Int, left: Int, height: Int, width: Int), outHeight: Int, outWidth: Int,
                       into dst: UnsafeMutableBufferPointer<Float>) {
        let ys = taps(inCount: box.height, outCount: outHeight)
        let xs = taps(inCount: box.width, outCount: outWidth)
        for ch in 0..<channels {
            let plane = ch * height * width
            let outPlane = ch * outHeight * outWidth
            for (oy, ty) in ys.enumerated() {
                let r0 = plane + (box.top + ty.i0) * width + box.left
                let r1 = plane + (box.top + ty.i1) * width + box.left
                let ly1 = ty.l1, ly0 = 1 - ty.l1
                for (ox, tx) in xs.enumerated() {
                    let lx1 = tx.l1, lx0 = 1 - tx.l1
                    let top = lx0 * src[r0 + tx.i0] + lx1 * src[r0 + tx.i1]
                    let bottom = lx0 * src[r1 + tx.i0] + lx1 * src[r1 + tx.i1]
                    dst[outPlane + oy * outWidth + ox] = ly0 * top + ly1 * bottom
                }
            }
        }
    }
}

// MARK: - Horizontal flip

/// Mirrors each image left–right with probability `probability` (one draw per image).
public struct HorizontalFlip: ImageAugmentation, Equatable {
    /// Probability of flipping an image (default 0.5).
    public var probability: Double
    /// - Throws: `AugmentationError.invalidParameter` unless 0 ≤ probability ≤ 1.
    public init(probability: Double = 0.5) throws {
        guard (0...1).contains(probability) else {
            throw AugmentationError.invalidParameter(augmentation: "HorizontalFlip", parameter: "probability",
                                                     value: "\(probability)", expected: "0…1")
        }
        self.probability = probability
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "HorizontalFlip takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let p = probability
        return PerImage.map(images, outShape: [c, h, w], using: &generator) { g, src, dst in
            let flip = g.nextUniform() < p
            for row in 0..<(c * h) {
                let o = row * w
                if flip {
                    for x in 0..<w { dst[o + x] = src[o + w - 1 - x] }
                } else {
                    for x in 0..<w { dst[o + x] = src[o + x] }
                }
            }
        }
    }
}

// MARK: - Gaussian noise

/// Adds i.i.d. N(0, σ²) noise to every pixel, optionally clipping the result to [0, 1]. The
/// draws are `NormalSampler`'s (Box–Muller in single precision, vectorized; one 64-bit word of
/// the image's own generator per pair of pixels, so |ξ| ≤ √(2 ln 2²⁴) ≈ 5.8).
public struct GaussianNoise: ImageAugmentation, Equatable {
    /// Noise standard deviation σ, in pixel units (images in [0, 1]).
    public var standardDeviation: Double
    /// Clip the result to [0, 1] (default true).
    public var clip: Bool
    /// - Throws: `AugmentationError.invalidParameter` unless σ ≥ 0 and finite.
    public init(standardDeviation: Double, clip: Bool = true) throws {
        guard standardDeviation >= 0 && standardDeviation.isFinite else {
            throw AugmentationError.invalidParameter(augmentation: "GaussianNoise", parameter: "standardDeviation",
                                                     value: "\(standardDeviation)", expected: "a finite value ≥ 0")
        }
        self.standardDeviation = standardDeviation
        self.clip = clip
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        let sigma = Float(standardDeviation), clip = self.clip
        return PerImage.map(images, outShape: Array(images.shape.dropFirst()), using: &generator) { g, src, dst in
            guard let s = src.baseAddress, let d = dst.baseAddress else { return }
            // d ← ξ, then d ← x + σ·ξ
            NormalSampler.fill(d, count: dst.count, using: &g)
            VectorMath.scaleAdd(d, scale: sigma, adding: s, count: dst.count)
            if clip { for i in 0..<dst.count { d[i] = Swift.min(1, Swift.max(0, d[i])) } }
        }
    }
}

// MARK: - Feature masking

/// Feature masking (feature dropout without rescaling): every value of every example is set
/// to 0 independently with probability `probability`, a new mask for each call (so the two
/// views of an example get independent masks). For standardized feature matrices (held as
/// `[n, 1, 1, d]`), 0 is the training mean of the feature, so a masked feature carries no
/// information about the example. Unlike `torch.nn.Dropout` the kept values are not scaled
/// by 1/(1 − p): a view is an input, not a regularized activation.
///
/// Random draws: one uniform per value from the example's own split generator (`PerImage`),
/// so the result does not depend on the thread count.
public struct FeatureMasking: ImageAugmentation, Equatable {
    /// Probability p that a value is zeroed, in [0, 1].
    public var probability: Double

    /// - Throws: `AugmentationError.invalidParameter` unless 0 ≤ p ≤ 1.
    public init(probability: Double) throws {
        guard probability >= 0 && probability <= 1 else {
            throw AugmentationError.invalidParameter(augmentation: "FeatureMasking", parameter: "probability",
                                                     value: "\(probability)", expected: "0…1")
        }
        self.probability = probability
    }

    /// Inputs `[n, c, h, w]` (a feature matrix as `[n, 1, 1, d]`); output of the same shape.
    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        let p = probability
        return PerImage.map(images, outShape: Array(images.shape.dropFirst()), using: &generator) { g, src, dst in
            for i in 0..<src.count { dst[i] = g.nextUniform() < p ? 0 : src[i] }
        }
    }
}

// MARK: - Random erasing

/// Random erasing (Zhong et al., AAAI 2020; torchvision `RandomErasing`): with probability
/// `probability`, a rectangle of area fraction in `scale` and aspect ratio h/w log-uniform in
/// `ratio` is filled (all channels) with a constant or with N(0, 1) noise. Up to 10 attempts to
/// fit the rectangle; if none fits the image is unchanged.
public struct RandomErasing: ImageAugmentation, Equatable {
    /// What fills the erased rectangle.
    public enum Fill: Equatable, Sendable {
        /// A constant value.
        case constant(Float)
        /// I.i.d. N(0, 1) per pixel and channel.
        case normal
    }
    /// Probability of erasing an image (default 0.5).
    public var probability: Double
    /// Range of the erased area as a fraction of the image (default 0.02…0.33).
    public var scale: ClosedRange<Double>
    /// Range of the aspect ratio height/width (default 0.3…3.3), sampled log-uniformly.
    public var ratio: ClosedRange<Double>
    /// Fill value (default constant 0).
    public var fill: Fill

    /// - Throws: `AugmentationError.invalidParameter` for a probability outside 0…1, a scale
    ///   outside (0, 1], or a non-positive ratio.
    public init(probability: Double = 0.5, scale: ClosedRange<Double> = 0.02...0.33,
                ratio: ClosedRange<Double> = 0.3...3.3, fill: Fill = .constant(0)) throws {
        guard (0...1).contains(probability) else {
            throw AugmentationError.invalidParameter(augmentation: "RandomErasing", parameter: "probability",
                                                     value: "\(probability)", expected: "0…1")
        }
        guard scale.lowerBound > 0 && scale.upperBound <= 1 else {
            throw AugmentationError.invalidParameter(augmentation: "RandomErasing", parameter: "scale",
                                                     value: "\(scale)", expected: "a range inside (0, 1]")
        }
        guard ratio.lowerBound > 0 && ratio.upperBound.isFinite else {
            throw AugmentationError.invalidParameter(augmentation: "RandomErasing", parameter: "ratio",
                                                     value: "\(ratio)", expected: "a finite range inside (0, ∞)")
        }
        self.probability = probability
        self.scale = scale
        self.ratio = ratio
        self.fill = fill
    }

    /// Draws the rectangle `(top, left, height, width)` to erase, or nil when no attempt fits.
    public static func eraseBox(height: Int, width: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                                using g: inout SeededGenerator) -> (top: Int, left: Int, height: Int, width: Int)? {
        let area = Double(height * width)
        let logLo = Foundation.log(ratio.lowerBound), logHi = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * g.nextUniform())
            let aspect = Foundation.exp(logLo + (logHi - logLo) * g.nextUniform())
            let h = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width && h > 0 && w > 0 else { continue }
            return (g.nextInt(below: height - h + 1), g.nextInt(below: width - w + 1), h, w)
        }
        return nil
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "RandomErasing takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let p = probability, scale = self.scale, ratio = self.ratio, fill = self.fill
        return PerImage.map(images, outShape: [c, h, w], using: &generator) { g, src, dst in
            for i in 0..<src.count { dst[i] = src[i] }
            guard g.nextUniform() < p,
                  let box = RandomErasing.eraseBox(height: h, width: w, scale: scale, ratio: ratio, using: &g)
            else { return }
            for ch in 0..<c {
                for y in box.top..<(box.top + box.height) {
                    for x in box.left..<(box.left + box.width) {
                        let v: Float
                        switch fill {
                        case let .constant(k): v = k
                        case .normal: v = Float(g.nextNormal())
                        }
                        dst[(ch * h + y) * w + x] = v
                    }
                }
            }
        }
    }
}

// MARK: - Two views

/// Produces the two views of a batch for a contrastive loss: `[view1; view2]`, i.e. rows
/// `0..<n` are view 1 and rows `n..<2n` view 2, with row `i` and row `n + i` a positive pair.
///
/// Each view applies `augmentation` independently (view 1 draws first); then, if `randBits`
/// is set, its k constant bit channels are appended to both views (identical in both in
/// `.shared` mode, redrawn for each view in `.perView` mode).
public struct TwoViewAugmenter: Sendable {
    /// The augmentation applied to each view.
    public var augmentation: any ImageAugmentation
    /// Optional RandBits channels (Chen, Luo & Li, NeurIPS 2021).
    public var randBits: RandBits?

    /// - Parameters: see the properties.
    public init(augmentation: any ImageAugmentation, randBits: RandBits? = nil) {
        self.augmentation = augmentation
        self.randBits = randBits
    }

    /// True when both views are the batch itself and no random draw is made: no RandBits and
    /// an identity augmentation.
    public var viewsEqualInput: Bool { randBits == nil && augmentation.isIdentity }

    /// The two views of `batch`.
    /// - Parameters:
    ///   - batch: images `[n, c, h, w]`.
    ///   - exampleIndices: dataset index of each image (keys the shared RandBits); `n` of them.
    /// - Returns: `[2n, c + k, h', w']` (k = `randBits?.bitCount ?? 0`).
    public func views(of batch: Tensor<Float>, exampleIndices: [Int],
                      using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(exampleIndices.count == batch.shape[0], "one example index per image")
        var v1 = augmentation.apply(to: batch, using: &generator)
        var v2 = augmentation.apply(to: batch, using: &generator)
        if let rb = randBits {
            v1 = rb.appending(to: v1, exampleIndices: exampleIndices, using: &generator)
            v2 = rb.appending(to: v2, exampleIndices: exampleIndices, using: &generator)
        }
        precondition(v1.shape == v2.shape, "the two views have different shapes \(v1.shape), \(v2.shape)")
        var shape = v1.shape
        shape[0] *= 2
        return Tensor(shape: shape, scalars: v1.scalars + v2.scalars)
    }
}

// MARK: - Colour distortion (SimCLR appendix A: colour jitter, then random greyscale)

/// The luma weights (R, G, B) of torchvision's tensor `rgb_to_grayscale`: (0.2989, 0.587,
/// 0.114), ITU-R BT.601's (0.299, 0.587, 0.114) with the red weight rounded down as torchvision
/// writes it (they sum to 0.9999, so white maps to 0.9999). Used by `ColorJitter` (contrast
/// mean, saturation) and `RandomGrayscale`, so both match torchvision's float-tensor path.
public enum TorchvisionLuma {
    public static let red: Float = 0.2989
    public static let green: Float = 0.587
    public static let blue: Float = 0.114

    /// Luma of one pixel, computed in single precision in torchvision's order
    /// (0.2989·R + 0.587·G, then + 0.114·B).
    @inline(__always)
    static func luma(_ r: Float, _ g: Float, _ b: Float) -> Float { (red * r + green * g) + blue * b }
}

/// Colour jitter (torchvision `ColorJitter` on float images in [0, 1], applied with a
/// probability as SimCLR's `RandomApply([ColorJitter(…)], p = 0.8)`; Chen et al., ICML 2020,
/// appendix A). Per image, with probability `probability`:
///
/// 1. a random order of the four adjustments (a uniform permutation), then four factors drawn
///    in the fixed order brightness b ~ U[max(0, 1 − s_b), 1 + s_b], contrast c ~ U[max(0, 1 − s_c),
///    1 + s_c], saturation s ~ U[max(0, 1 − s_s), 1 + s_s], hue shift h ~ U[−s_h, s_h];
/// 2. the adjustments in that order, each skipped when its strength is 0 (as torchvision):
///    - brightness: x ← clamp(b·x, 0, 1);
///    - contrast: x ← clamp(c·x + (1 − c)·m, 0, 1), m the mean over the image of its luma
///      (`TorchvisionLuma`; of the image itself for 1 channel);
///    - saturation: x ← clamp(s·x + (1 − s)·Y, 0, 1), Y the pixel's luma;
///    - hue: RGB → HSV (torchvision's `_rgb2hsv`), H ← (H + h) mod 1, HSV → RGB (`_hsv2rgb`).
///
/// Channels: 3 (RGB) or 1 (grey). On a 1-channel image saturation and hue are no-ops (as in
/// torchvision: a grey image has no colour to change), so colour jitter reduces to brightness
/// and contrast; the same numbers are drawn either way.
///
/// Random draws per image, from the image's own split generator (`PerImage`): one uniform for
/// the probability; when applied, 3 for the permutation (Fisher–Yates) and 4 for the factors.
public struct ColorJitter: ImageAugmentation, Equatable {
    /// Brightness strength s_b ≥ 0 (SimCLR: 0.8·strength; 0.4 for CIFAR).
    public var brightness: Double
    /// Contrast strength s_c ≥ 0.
    public var contrast: Double
    /// Saturation strength s_s ≥ 0.
    public var saturation: Double
    /// Hue strength s_h in [0, 0.5] (a shift of the hue circle, whose period is 1).
    public var hue: Double
    /// Probability that an image is jittered at all (SimCLR: 0.8).
    public var probability: Double

    /// The adjustments, by their index in torchvision's `ColorJitter` (0…3).
    public enum Adjustment: Int, Sendable, CaseIterable { case brightness, contrast, saturation, hue }

    /// - Throws: `AugmentationError.invalidParameter` naming the parameter unless every
    ///   strength is finite and ≥ 0, hue ≤ 0.5 and 0 ≤ probability ≤ 1.
    public init(brightness: Double = 0.4, contrast: Double = 0.4, saturation: Double = 0.4, hue: Double = 0.1,
                probability: Double = 0.8) throws {
        for (name, v) in [("brightness", brightness), ("contrast", contrast), ("saturation", saturation)]
        where !(v >= 0 && v.isFinite) {
            throw AugmentationError.invalidParameter(augmentation: "ColorJitter", parameter: name, value: "\(v)",
                                                     expected: "a finite value ≥ 0")
        }
        guard hue >= 0 && hue <= 0.5 else {
            throw AugmentationError.invalidParameter(augmentation: "ColorJitter", parameter: "hue", value: "\(hue)",
                                                     expected: "0…0.5")
        }
        guard (0...1).contains(probability) else {
            throw AugmentationError.invalidParameter(augmentation: "ColorJitter", parameter: "probability",
                                                     value: "\(probability)", expected: "0…1")
        }
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.probability = probability
    }

    /// One image's draws: whether it is jittered, the order of the adjustments and the four
    /// factors (brightness, contrast, saturation, hue shift).
    public func draw(using g: inout SeededGenerator)
        -> (apply: Bool, order: [Adjustment], factors: (b: Float, c: Float, s: Float, h: Float)) {
        guard g.nextUniform() < probability else { return (false, [], (1, 1, 1, 0)) }
        var order = Adjustment.allCases
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, g.nextInt(below: i + 1)) }
        func factor(_ s: Double) -> Float {
            let lo = max(0, 1 - s), hi = 1 + s
            return Float(lo + (hi - lo) * g.nextUniform())
        }
        let b = factor(brightness), c = factor(contrast), s = factor(saturation)
        let h = Float(-hue + 2 * hue * g.nextUniform())
        return (true, order, (b, c, s, h))
    }

    /// Applies the adjustments `order` with `factors` to one `[channels, height, width]` image
    /// in place (deterministic; the kernel `apply` uses). Adjustments whose strength is 0 are skipped.
    /// - Precondition: channels is 1 or 3.
    public func adjust(_ x: UnsafeMutableBufferPointer<Float>, channels: Int, order: [Adjustment],
                       factors: (b: Float, c: Float, s: Float, h: Float)) {
        precondition(channels == 1 || channels == 3, "ColorJitter takes 1 or 3 channels, got \(channels)")
        for a in order {
            switch a {
            case .brightness where brightness > 0:
                ColorOps.blend(x, factors.b, with: { _ in 0 }, channels: channels)
            case .contrast where contrast > 0:
                let m = ColorOps.meanLuma(x, channels: channels)
                ColorOps.blend(x, factors.c, with: { _ in m }, channels: channels)
            case .saturation where saturation > 0 && channels == 3:
                let plane = x.count / 3
                var y = [Float](repeating: 0, count: plane)
                for i in 0..<plane { y[i] = TorchvisionLuma.luma(x[i], x[plane + i], x[2 * plane + i]) }
                ColorOps.blend(x, factors.s, with: { y[$0] }, channels: channels)
            case .hue where hue > 0 && channels == 3:
                ColorOps.shiftHue(x, by: factors.h)
            default:
                break
            }
        }
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "ColorJitter takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1]
        precondition(c == 1 || c == 3, "ColorJitter takes 1 or 3 channels, got \(c)")
        return PerImage.map(images, outShape: Array(images.shape.dropFirst()), using: &generator) { g, src, dst in
            for i in 0..<src.count { dst[i] = src[i] }
            let d = draw(using: &g)
            if d.apply { adjust(dst, channels: c, order: d.order, factors: d.factors) }
        }
    }
}

/// Random greyscale (torchvision `RandomGrayscale`; SimCLR appendix A uses p = 0.2): with
/// probability `probability` every channel of an RGB image becomes its luma
/// Y = 0.2989 R + 0.587 G + 0.114 B (`TorchvisionLuma`), so the three channels are equal and the
/// shape is kept. A 1-channel image is already grey and stays unchanged. One uniform per image
/// from its own split generator.
public struct RandomGrayscale: ImageAugmentation, Equatable {
    /// Probability of converting an image (default 0.2).
    public var probability: Double

    /// - Throws: `AugmentationError.invalidParameter` unless 0 ≤ probability ≤ 1.
    public init(probability: Double = 0.2) throws {
        guard (0...1).contains(probability) else {
            throw AugmentationError.invalidParameter(augmentation: "RandomGrayscale", parameter: "probability",
                                                     value: "\(probability)", expected: "0…1")
        }
        self.probability = probability
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        precondition(images.rank == 4, "RandomGrayscale takes [n, c, h, w], got \(images.shape)")
        let c = images.shape[1]
        precondition(c == 1 || c == 3, "RandomGrayscale takes 1 or 3 channels, got \(c)")
        let p = probability
        return PerImage.map(images, outShape: Array(images.shape.dropFirst()), using: &generator) { g, src, dst in
            let grey = g.nextUniform() < p
            guard grey && c == 3 else {
                for i in 0..<src.count { dst[i] = src[i] }
                return
            }
            let plane = src.count / 3
            for i in 0..<plane {
                let y = TorchvisionLuma.luma(src[i], src[plane + i], src[2 * plane + i])
                dst[i] = y; dst[plane + i] = y; dst[2 * plane + i] = y
            }
        }
    }
}

/// The pixel kernels of `ColorJitter`, on one `[c, h, w]` image in place.
enum ColorOps {
    /// x ← clamp(f·x + (1 − f)·other(pixel), 0, 1) for every channel (torchvision `_blend`;
    /// `other` takes the pixel index within a plane).
    @inline(__always)
    static func blend(_ x: UnsafeMutableBufferPointer<Float>, _ f: Float, with other: (Int) -> Float, channels: Int) {
        let plane = x.count / channels
        for ch in 0..<channels {
            for i in 0..<plane {
                let v = f * x[ch * plane + i] + (1 - f) * other(i)
                x[ch * plane + i] = min(1, max(0, v))
            }
        }
    }

    /// Mean over the image of its luma (3 channels) or of its values (1 channel), summed in
    /// double precision and rounded to single (torchvision: `mean(rgb_to_grayscale(img))`).
    static func meanLuma(_ x: UnsafeMutableBufferPointer<Float>, channels: Int) -> Float {
        let plane = x.count / channels
        var sum = 0.0
        if channels == 3 {
            for i in 0..<plane { sum += Double(TorchvisionLuma.luma(x[i], x[plane + i], x[2 * plane + i])) }
        } else {
            for i in 0..<plane { sum += Double(x[i]) }
        }
        return Float(sum / Double(plane))
    }

    /// Shifts the hue of an RGB image by `shift` (a fraction of the hue circle), through
    /// torchvision's HSV conversion: V = max, S = (max − min)/max (0 when max = min), H from
    /// the sector of the largest channel (red first, then green), H ← (H/6 + 1) mod 1; then
    /// H ← (H + shift) mod 1 (floor modulo), and back with sector i = ⌊6H⌋ mod 6,
    /// f = 6H − ⌊6H⌋, p = clamp(V(1 − S)), q = clamp(V(1 − S·f)), t = clamp(V(1 − S(1 − f))).
    static func shiftHue(_ x: UnsafeMutableBufferPointer<Float>, by shift: Float) {
        let plane = x.count / 3
        for i in 0..<plane {
            let r = x[i], g = x[plane + i], b = x[2 * plane + i]
            let maxc = max(r, max(g, b)), minc = min(r, min(g, b))
            let equal = maxc == minc
            let cr = maxc - minc
            let s = cr / (equal ? 1 : maxc)
            let divisor = equal ? 1 : cr
            let rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor
            var h: Float
            if maxc == r {
                h = bc - gc
            } else if maxc == g {
                h = 2 + rc - bc
            } else {
                h = 4 + gc - rc
            }
            h = fmodf(h / 6 + 1, 1)
            h += shift
            h -= h.rounded(.down)
            let v = maxc
            let h6 = h * 6
            let sector = h6.rounded(.down)
            let f = h6 - sector
            let p = min(1, max(0, v * (1 - s)))
            let q = min(1, max(0, v * (1 - s * f)))
            let t = min(1, max(0, v * (1 - s * (1 - f))))
            let rgb: (Float, Float, Float)
            switch ((Int(sector) % 6) + 6) % 6 {
            case 0: rgb = (v, t, p)
            case 1: rgb = (q, v, p)
            case 2: rgb = (p, v, t)
            case 3: rgb = (p, q, v)
            case 4: rgb = (t, p, v)
            default: rgb = (v, p, q)
            }
            x[i] = rgb.0; x[plane + i] = rgb.1; x[2 * plane + i] = rgb.2
        }
    }
}

// MARK: - Per-channel normalization

/// Per-channel normalization (torchvision `Normalize`): x_c ← (x_c − μ_c) / σ_c for every pixel
/// of channel c, with μ and σ usually the per-channel mean and standard deviation of the
/// training images (`fit`). Deterministic: draws nothing from the generator. Applied to a
/// view after the random augmentations (which work on [0, 1] pixels), as torchvision pipelines
/// put `Normalize` last.
public struct ChannelNormalization: ImageAugmentation, Equatable {
    /// μ_c per channel.
    public var mean: [Float]
    /// σ_c per channel (> 0).
    public var standardDeviation: [Float]

    /// - Throws: `AugmentationError.invalidParameter` unless both lists have the same non-zero
    ///   length, the means are finite and every σ is finite and > 0.
    public init(mean: [Double], standardDeviation: [Double]) throws {
        guard !mean.isEmpty, mean.count == standardDeviation.count else {
            throw AugmentationError.invalidParameter(augmentation: "ChannelNormalization", parameter: "standardDeviation",
                                                     value: "\(standardDeviation.count) values",
                                                     expected: "one per channel, as many as the \(mean.count) means (≥ 1)")
        }
        guard mean.allSatisfy(\.isFinite) else {
            throw AugmentationError.invalidParameter(augmentation: "ChannelNormalization", parameter: "mean",
                                                     value: "\(mean)", expected: "finite values")
        }
        guard standardDeviation.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw AugmentationError.invalidParameter(augmentation: "ChannelNormalization", parameter: "standardDeviation",
                                                     value: "\(standardDeviation)", expected: "finite values > 0")
        }
        self.mean = mean.map(Float.init)
        self.standardDeviation = standardDeviation.map(Float.init)
    }

    /// The per-channel mean μ_c and population standard deviation σ_c of `images` `[n, c, h, w]`
    /// over all n·h·w values of the channel (double-precision sums). A channel constant over the
    /// images gets σ_c = 1 (it becomes 0 everywhere, as a constant column of a feature matrix).
    /// - Precondition: at least one image.
    public static func fit(_ images: Tensor<Float>) -> (mean: [Double], standardDeviation: [Double]) {
        precondition(images.rank == 4 && images.shape[0] > 0, "fit takes images [n, c, h, w] with n ≥ 1, got \(images.shape)")
        let n = images.shape[0], c = images.shape[1], plane = images.shape[2] * images.shape[3]
        var mean = [Double](repeating: 0, count: c), std = [Double](repeating: 0, count: c)
        images.scalars.withUnsafeBufferPointer { x in
            for ch in 0..<c {
                var sum = 0.0
                for i in 0..<n { let o = (i * c + ch) * plane; for j in 0..<plane { sum += Double(x[o + j]) } }
                let m = sum / Double(n * plane)
                var ss = 0.0
                for i in 0..<n { let o = (i * c + ch) * plane; for j in 0..<plane { let d = Double(x[o + j]) - m; ss += d * d } }
                let s = (ss / Double(n * plane)).squareRoot()
                mean[ch] = m
                std[ch] = s > 0 ? s : 1
            }
        }
        return (mean, std)
    }

    /// `images` `[n, c, h, w]` normalized (the same shape).
    /// - Precondition: c equals the number of channels of the normalization.
    public func normalized(_ images: Tensor<Float>) -> Tensor<Float> {
        precondition(images.rank == 4 && images.shape[1] == mean.count,
                     "ChannelNormalization of \(mean.count) channels takes [n, \(mean.count), h, w], got \(images.shape)")
        let c = mean.count, plane = images.shape[2] * images.shape[3]
        var out = images.scalars
        out.withUnsafeMutableBufferPointer { x in
            for row in 0..<(images.shape[0] * c) {
                let ch = row % c, m = mean[ch], s = standardDeviation[ch]
                for j in (row * plane)..<((row + 1) * plane) { x[j] = (x[j] - m) / s }
            }
        }
        return Tensor(shape: images.shape, scalars: out)
    }

    public func apply(to images: Tensor<Float>, using generator: inout SeededGenerator) -> Tensor<Float> {
        normalized(images)
    }
}
