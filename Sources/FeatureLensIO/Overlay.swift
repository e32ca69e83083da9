// Digit overlay: a shortcut feature built by drawing one dataset's digit on another's image
// (Chen, Luo & Li, NeurIPS 2021, §4: MNIST digits on ImageNet images; here e.g. an MNIST
// digit on a Fashion-MNIST image). The digit is a property of the example (the same in both
// views, since augmentations are applied to the composite), independent of the base class,
// and comes with its own label set so a probe can tell whether the encoder learned the
// digit, the object, or both.
import Foundation
import FeatureLensNumerics

/// Overlays a randomly chosen digit image on every image of a base dataset.
///
/// Composite (lighten blend, for bright strokes on a dark background):
/// `out[c, y, x] = max(base[c, y, x], opacity · digit[y − top, x − left])` inside the digit's box,
/// `base` elsewhere. A one-channel digit is drawn on every channel of the base.
public struct DigitOverlay: Sendable, Equatable {
    /// Where the digit goes.
    public enum Placement: Sendable, Equatable {
        /// Top-left corner of the digit at (top, left).
        case fixed(top: Int, left: Int)
        /// A uniformly random position where the digit fits (drawn once per example).
        case random
    }

    /// Side of the (square) digit after bilinear resizing, in pixels (nil: the digit's own size).
    public var digitSize: Int?
    /// Where the digit goes (default: random).
    public var placement: Placement
    /// Stroke strength in (0, 1] (default 1).
    public var opacity: Float
    /// Name of the label set that records each example's digit (default "digit").
    public var labelSetName: String

    /// - Throws: `AugmentationError.invalidParameter` for a digit size < 1, an opacity outside
    ///   (0, 1], negative fixed coordinates, or an empty label-set name.
    public init(digitSize: Int? = nil, placement: Placement = .random, opacity: Float = 1,
                labelSetName: String = "digit") throws {
        if let s = digitSize, s < 1 {
            throw AugmentationError.invalidParameter(augmentation: "DigitOverlay", parameter: "digitSize",
                                                     value: "\(s)", expected: "≥ 1")
        }
        guard opacity > 0 && opacity <= 1 else {
            throw AugmentationError.invalidParameter(augmentation: "DigitOverlay", parameter: "opacity",
                                                     value: "\(opacity)", expected: "(0, 1]")
        }
        if case let .fixed(top, left) = placement, top < 0 || left < 0 {
            throw AugmentationError.invalidParameter(augmentation: "DigitOverlay", parameter: "placement",
                                                     value: "(\(top), \(left))", expected: "coordinates ≥ 0")
        }
        guard !labelSetName.isEmpty else {
            throw AugmentationError.invalidParameter(augmentation: "DigitOverlay", parameter: "labelSetName",
                                                     value: "\"\"", expected: "a non-empty name")
        }
        self.digitSize = digitSize
        self.placement = placement
        self.opacity = opacity
        self.labelSetName = labelSetName
    }

    /// Builds the overlaid dataset.
    /// - Parameters:
    ///   - base: images `[n, c, h, w]` (e.g. Fashion-MNIST).
    ///   - digits: images `[m, 1 or c, h', w']` (e.g. MNIST) with label set `digitLabelSet`.
    ///   - generator: draws, per base example in order, the digit index (uniform over `m`) and,
    ///     with `.random` placement, the top then the left coordinate.
    /// - Returns: `[n, c, h, w]` with the base's label sets plus `labelSetName` (the digit's
    ///   label, with the digit dataset's class names).
    /// - Throws: `AugmentationError.overlayMismatch` (empty digit set, channel mismatch, digit
    ///   larger than the image or outside it, label-set name already used),
    ///   `ImageDatasetError.missingLabelSet`.
    public func apply(to base: ImageDataset, digits: ImageDataset, digitLabelSet: String = "class",
                      using generator: inout SeededGenerator) throws -> ImageDataset {
        guard digits.count > 0 else {
            throw AugmentationError.overlayMismatch(field: "digit dataset \(digits.name)", expected: "at least one image", found: "0")
        }
        let digitLabels = try digits.labels(digitLabelSet)
        guard digits.channels == 1 || digits.channels == base.channels else {
            throw AugmentationError.overlayMismatch(field: "digit channels", expected: "1 or \(base.channels)",
                                                    found: "\(digits.channels)")
        }
        guard base.labelSets[labelSetName] == nil else {
            throw AugmentationError.overlayMismatch(field: "label set name", expected: "a name not in \(base.name)",
                                                    found: labelSetName)
        }
        let dh = digitSize ?? digits.height, dw = digitSize ?? digits.width
        let h = base.height, w = base.width, c = base.channels
        guard dh <= h && dw <= w else {
            throw AugmentationError.overlayMismatch(field: "digit size", expected: "at most \(h)×\(w)", found: "\(dh)×\(dw)")
        }
        if case let .fixed(top, left) = placement, top + dh > h || left + dw > w {
            throw AugmentationError.overlayMismatch(field: "placement", expected: "a \(dh)×\(dw) box inside \(h)×\(w)",
                                                    found: "top \(top), left \(left)")
        }
        // Resize the digits once (only those used would suffice; all keeps it simple and exact).
        let glyphs = (dh == digits.height && dw == digits.width) ? digits.images
            : RandomResizedCrop.resizedCrop(digits.images, top: 0, left: 0, height: digits.height, width: digits.width,
                                            outputHeight: dh, outputWidth: dw)
        let dc = digits.channels
        var out = base.images.scalars
        var codes = [Int](repeating: 0, count: base.count)
        glyphs.scalars.withUnsafeBufferPointer { g in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<base.count {
                    let j = generator.nextInt(below: digits.count)
                    let top: Int, left: Int
                    switch placement {
                    case let .fixed(t, l): (top, left) = (t, l)
                    case .random:
                        top = generator.nextInt(below: h - dh + 1)
                        left = generator.nextInt(below: w - dw + 1)
                    }
                    codes[i] = digitLabels.codes[j]
                    for ch in 0..<c {
                        let gp = (j * dc + (dc == 1 ? 0 : ch)) * dh * dw
                        let op = (i * c + ch) * h * w
                        for y in 0..<dh {
                            for x in 0..<dw {
                                let idx = op + (top + y) * w + left + x
                                o[idx] = max(o[idx], opacity * g[gp + y * dw + x])
                            }
                        }
                    }
                }
            }
        }
        var sets = base.labelSets
        sets[labelSetName] = try LabelSet(name: labelSetName, codes: codes, names: digitLabels.names)
        return ImageDataset(name: "\(base.name)+\(digits.name)", images: Tensor(shape: base.images.shape, scalars: out),
                            labelSets: sets)
    }
}
