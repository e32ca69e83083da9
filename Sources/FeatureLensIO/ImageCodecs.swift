// PNG and JPEG decoding and encoding through the system libpng and libjpeg (the C side is
// the CFeatureLensImageCodecs target, which keeps both libraries' setjmp/longjmp error
// handling inside C), pixel conversion to Float in [0, 1], channel conversion and resizing.
//
// Pixel values are the file's stored sample values divided by their maximum (255, or 65535
// for 16-bit PNG): no gamma, ICC profile or colour management is applied, which is what the
// usual ML image loaders (PIL, torchvision) give.
import Foundation
import CFeatureLensImageCodecs

/// An image file that could not be read or decoded. Every case names the file.
public enum ImageCodecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened or read (permissions, a dangling link, an I/O error).
    case unreadable(file: String, reason: String)
    /// The file is empty.
    case empty(file: String)
    /// The bytes are neither PNG nor JPEG (`firstBytes` shows up to 8 bytes in hex).
    case notAnImage(file: String, firstBytes: String)
    /// libpng or libjpeg rejected the data: corrupt, truncated or unsupported (`reason` is the
    /// library's message).
    case corrupt(file: String, format: ImageFileFormat, reason: String)
    /// width × height is above `maxPixels` (checked before the pixels are allocated).
    case tooLarge(file: String, maxPixels: Int)
    /// Memory for the pixels could not be allocated.
    case outOfMemory(file: String)
    /// An encoder was given samples that do not fit its arguments.
    case invalidEncoderInput(reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): return "\(file): cannot read image file: \(reason)"
        case let .empty(file): return "\(file): empty file (expected a PNG or JPEG image)"
        case let .notAnImage(file, bytes):
            return "\(file): not a PNG or JPEG image (first bytes \(bytes); expected the PNG signature 89 50 4E 47 0D 0A 1A 0A or the JPEG marker FF D8 FF)"
        case let .corrupt(file, format, reason):
            return "\(file): corrupt or unsupported \(format.displayName) image: \(reason)"
        case let .tooLarge(file, maxPixels):
            return "\(file): image has more than \(maxPixels) pixels (the reader's maxPixels limit); not decoded"
        case let .outOfMemory(file): return "\(file): out of memory while decoding the image"
        case let .invalidEncoderInput(reason): return "image encoder: \(reason)"
        }
    }
}

/// The two image file formats FeatureLens reads.
public enum ImageFileFormat: String, Sendable, Equatable, Codable {
    case png
    case jpeg

    /// "PNG" or "JPEG".
    public var displayName: String { self == .png ? "PNG" : "JPEG" }
}

/// A decoded image: `pixels` `[channels, height, width]` (channel-major), Float in [0, 1].
public struct DecodedImage: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// 1 (grey) or 3 (RGB). Alpha is dropped, palettes are expanded to RGB and CMYK is
    /// converted to RGB, so no other count occurs.
    public var channels: Int
    /// Samples `[channels, height, width]`, each stored value / (2^bitDepth − 1).
    public var pixels: [Float]
    /// The file's format.
    public var format: ImageFileFormat
    /// The file's pixel mode, e.g. "grey 8-bit", "RGBA 16-bit", "palette", "CMYK".
    public var mode: String
    /// libjpeg's first warning about recoverable corrupt data (the image was still decoded), or nil.
    public var warning: String?

    /// - Precondition: `pixels.count == channels · height · width`.
    public init(width: Int, height: Int, channels: Int, pixels: [Float], format: ImageFileFormat,
                mode: String, warning: String? = nil) {
        precondition(pixels.count == channels * height * width, "pixels must be [channels, height, width]")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.format = format
        self.mode = mode
        self.warning = warning
    }

    /// ITU-R BT.601 luma weights (R, G, B) = (0.299, 0.587, 0.114), applied to the stored
    /// (gamma-encoded) values as PIL's `convert("L")` and torchvision's `rgb_to_grayscale` do.
    public static let lumaWeights: (r: Float, g: Float, b: Float) = (0.299, 0.587, 0.114)

    /// The pixels with `channels` channels, `[channels, height, width]`: RGB → 1 channel is the
    /// luma Y = 0.299 R + 0.587 G + 0.114 B (`lumaWeights`); grey → 3 channels repeats the grey
    /// plane; an equal count returns the pixels unchanged.
    /// - Precondition: `channels` is 1 or 3.
    public func pixels(channels target: Int) -> [Float] {
        precondition(target == 1 || target == 3, "channels must be 1 or 3")
        if target == channels { return pixels }
        let plane = width * height
        if target == 3 { return pixels + pixels + pixels }
        let w = DecodedImage.lumaWeights
        var out = [Float](repeating: 0, count: plane)
        for i in 0..<plane {
            out[i] = w.r * pixels[i] + w.g * pixels[plane + i] + w.b * pixels[2 * plane + i]
        }
        return out
    }
}

/// PNG colour types (the PNG specification's IHDR values), for `ImageCodecs.encodePNG`.
public enum PNGColorType: Int32, Sendable, CaseIterable {
    case grey = 0
    case rgb = 2
    case palette = 3
    case greyAlpha = 4
    case rgba = 6

    /// Samples per pixel in the encoder's input (a palette pixel is one index).
    public var samplesPerPixel: Int {
        switch self {
        case .grey, .palette: return 1
        case .greyAlpha: return 2
        case .rgb: return 3
        case .rgba: return 4
        }
    }
}

/// PNG and JPEG decoding and encoding (libpng, libjpeg).
public enum ImageCodecs {
    /// Default bound on width × height of one image (2²⁷ ≈ 134 million pixels), so a
    /// malicious header cannot make the decoder allocate gigabytes.
    public static let defaultMaxPixels = 1 << 27

    /// Reads and decodes an image file (format from its first bytes, not its extension).
    /// - Throws: `ImageCodecError` naming the file.
    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> DecodedImage {
        try decode(readFile(url.path), file: url.path, maxPixels: maxPixels)
    }

    /// Decodes a whole PNG or JPEG file held in memory; `file` names it in errors. PNG: grey,
    /// grey+alpha, RGB, RGBA, palette, 1/2/4/8/16-bit, interlaced; alpha and palette
    /// transparency are dropped. JPEG: grey, YCbCr/RGB, CMYK/YCCK (converted to RGB by
    /// R = (1 − C)(1 − K), G = (1 − M)(1 − K), B = (1 − Y)(1 − K) on the ink amounts, without an
    /// ICC profile; Adobe-marked files store inverted CMYK and are read as such).
    /// - Returns: channels 1 (grey) or 3 (everything else), values in [0, 1].
    /// - Throws: `ImageCodecError` (`.empty`, `.notAnImage`, `.corrupt` with the library's
    ///   message for corrupt or truncated data, `.tooLarge`, `.outOfMemory`).
    public static func decode(_ data: Data, file: String, maxPixels: Int = defaultMaxPixels) throws -> DecodedImage {
        if data.isEmpty { throw ImageCodecError.empty(file: file) }
        let limit = min(max(1, maxPixels), 1 << 40)   // keeps the C side's byte counts far from overflow
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> DecodedImage in
            let bytes = raw.bindMemory(to: UInt8.self)
            let base = bytes.baseAddress!
            let format: ImageFileFormat
            if fl_is_png(base, bytes.count) != 0 {
                format = .png
            } else if fl_is_jpeg(base, bytes.count) != 0 {
                format = .jpeg
            } else {
                let head = bytes.prefix(8).map { String(format: "%02X", $0) }.joined(separator: " ")
                throw ImageCodecError.notAnImage(file: file, firstBytes: head)
            }
            var image = FLDecodedImage()
            var message = [CChar](repeating: 0, count: Int(FL_CODEC_MESSAGE_SIZE))
            let status = message.withUnsafeMutableBufferPointer { m -> Int32 in
                format == .png
                    ? fl_png_decode(base, bytes.count, limit, &image, m.baseAddress!)
                    : fl_jpeg_decode(base, bytes.count, limit, &image, m.baseAddress!)
            }
            defer { fl_image_free(&image) }
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch status {
            case Int32(FL_CODEC_OK): break
            case Int32(FL_CODEC_TOO_LARGE): throw ImageCodecError.tooLarge(file: file, maxPixels: limit)
            case Int32(FL_CODEC_NO_MEMORY): throw ImageCodecError.outOfMemory(file: file)
            default: throw ImageCodecError.corrupt(file: file, format: format, reason: text)
            }
            return convert(image, format: format)
        }
    }

    /// Float planes from the C decoder's interleaved samples.
    private static func convert(_ image: FLDecodedImage, format: ImageFileFormat) -> DecodedImage {
        let w = Int(image.width), h = Int(image.height), c = Int(image.channels)
        let plane = w * h
        let src = UnsafeBufferPointer(start: image.pixels, count: image.pixel_bytes)
        let outChannels = c == 1 ? 1 : 3
        var out = [Float](repeating: 0, count: outChannels * plane)
        if image.bit_depth == 16 {
            for p in 0..<plane {
                for k in 0..<c {
                    let o = 2 * (p * c + k)
                    out[k * plane + p] = Float(UInt16(src[o]) << 8 | UInt16(src[o + 1])) / 65535
                }
            }
        } else if c == 4 {
            // CMYK: ink amounts in [0, 1]; Adobe files store 255 − ink.
            let inverted = image.adobe_inverted != 0
            func ink(_ i: Int) -> Float {
                let s = Float(src[i]) / 255
                return inverted ? 1 - s : s
            }
            for p in 0..<plane {
                let white = 1 - ink(4 * p + 3)
                for k in 0..<3 { out[k * plane + p] = (1 - ink(4 * p + k)) * white }
            }
        } else {
            for p in 0..<plane {
                for k in 0..<c { out[k * plane + p] = Float(src[p * c + k]) / 255 }
            }
        }
        var mode: String
        switch (format, c) {
        case (.jpeg, 4): mode = "CMYK"
        case (.jpeg, 3): mode = "RGB"
        case (.jpeg, _): mode = "grey"
        case (.png, _):
            if image.was_palette != 0 {
                mode = "palette"
            } else {
                mode = (c == 1 ? "grey" : "RGB") + (image.had_alpha != 0 ? (c == 1 ? "+alpha" : "A") : "")
                mode += " \(image.bit_depth == 16 ? 16 : 8)-bit"
            }
        }
        if image.interlaced != 0 { mode += format == .png ? " interlaced" : " progressive" }
        let warning = withUnsafeBytes(of: image.warning) { raw -> String? in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
        }
        return DecodedImage(width: w, height: h, channels: outChannels, pixels: out, format: format,
                            mode: mode, warning: warning)
    }

    /// The whole content of a regular file, read with POSIX calls so errors carry errno's text.
    /// - Throws: `ImageCodecError.unreadable`.
    static func readFile(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ImageCodecError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ImageCodecError.unreadable(file: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ImageCodecError.unreadable(file: path, reason: "not a regular file")
        }
        var data = Data(count: Int(info.st_size))
        var offset = 0
        var failure: String?
        data.withUnsafeMutableBytes { (buf: UnsafeMutableRawBufferPointer) in
            while offset < buf.count {
                let n = read(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno)); return
                }
                if n == 0 { break }
                offset += n
            }
        }
        if let failure { throw ImageCodecError.unreadable(file: path, reason: failure) }
        if offset < data.count { data.removeSubrange(offset...) }
        return data
    }

    /// Encodes a PNG (for tests and example data).
    /// - Parameters:
    ///   - samples: `height` rows of `width` pixels, `colorType.samplesPerPixel` interleaved
    ///     samples each; each below 2^bitDepth (palette images: an index below
    ///     `palette.count / 3`).
    ///   - bitDepth: 1, 2, 4, 8 or 16 as the PNG specification allows for the colour type
    ///     (1/2/4 only for grey and palette, 16 not for palette).
    ///   - interlaced: write Adam7 interlacing.
    ///   - palette: RGB triples for `.palette` (1…256 entries, at most 2^bitDepth).
    /// - Throws: `ImageCodecError.invalidEncoderInput` for samples that do not fit.
    public static func encodePNG(samples: [UInt16], width: Int, height: Int, colorType: PNGColorType,
                                 bitDepth: Int = 8, interlaced: Bool = false, palette: [UInt8] = []) throws -> Data {
        guard width > 0, height > 0, width <= Int(Int32.max), height <= Int(Int32.max) else {
            throw ImageCodecError.invalidEncoderInput(reason: "size \(width)×\(height): expected positive width and height")
        }
        let expected = width * height * colorType.samplesPerPixel
        guard samples.count == expected else {
            throw ImageCodecError.invalidEncoderInput(reason: "\(samples.count) samples for a \(width)×\(height) \(colorType) image, expected \(expected)")
        }
        if let bad = samples.first(where: { bitDepth < 16 && Int($0) >= 1 << bitDepth }) {
            throw ImageCodecError.invalidEncoderInput(reason: "sample \(bad) does not fit in \(bitDepth) bits")
        }
        guard palette.count % 3 == 0 else {
            throw ImageCodecError.invalidEncoderInput(reason: "palette has \(palette.count) bytes, expected RGB triples")
        }
        var bytes: [UInt8]
        if bitDepth == 16 {
            bytes = [UInt8](repeating: 0, count: 2 * samples.count)
            for (i, s) in samples.enumerated() { bytes[2 * i] = UInt8(s >> 8); bytes[2 * i + 1] = UInt8(s & 0xFF) }
        } else {
            bytes = samples.map { UInt8(truncatingIfNeeded: $0) }
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(FL_CODEC_MESSAGE_SIZE))
        let status = message.withUnsafeMutableBufferPointer { m in
            fl_png_encode(bytes, Int32(width), Int32(height), colorType.rawValue, Int32(bitDepth), interlaced ? 1 : 0,
                          palette.isEmpty ? nil : palette, Int32(palette.count / 3), &out, &size, m.baseAddress!)
        }
        defer { fl_buffer_free(out) }
        guard status == Int32(FL_CODEC_OK), let out else {
            throw ImageCodecError.invalidEncoderInput(reason: String(cString: message))
        }
        return Data(bytes: out, count: size)
    }

    /// Encodes a JPEG (for tests and example data).
    /// - Parameters:
    ///   - samples: `height` rows of `width` pixels with `components` interleaved 8-bit samples:
    ///     1 grey, 3 RGB (stored as YCbCr with 2×2 chroma subsampling, libjpeg's default),
    ///     4 CMYK ink amounts (255 = full ink; stored inverted with an Adobe marker, as Adobe
    ///     applications and PIL write CMYK JPEGs).
    ///   - quality: 1…100 on libjpeg's quality scale.
    ///   - progressive: write a progressive JPEG.
    /// - Throws: `ImageCodecError.invalidEncoderInput`.
    public static func encodeJPEG(samples: [UInt8], width: Int, height: Int, components: Int,
                                  quality: Int = 90, progressive: Bool = false) throws -> Data {
        guard width > 0, height > 0, width <= 65500, height <= 65500 else {
            throw ImageCodecError.invalidEncoderInput(reason: "size \(width)×\(height): expected 1…65500 pixels each way")
        }
        guard samples.count == width * height * components else {
            throw ImageCodecError.invalidEncoderInput(reason: "\(samples.count) samples for a \(width)×\(height) image with \(components) components, expected \(width * height * components)")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(FL_CODEC_MESSAGE_SIZE))
        let status = message.withUnsafeMutableBufferPointer { m in
            fl_jpeg_encode(samples, Int32(width), Int32(height), Int32(components), Int32(quality),
                           progressive ? 1 : 0, &out, &size, m.baseAddress!)
        }
        defer { fl_buffer_free(out) }
        guard status == Int32(FL_CODEC_OK), let out else {
            throw ImageCodecError.invalidEncoderInput(reason: String(cString: message))
        }
        return Data(bytes: out, count: size)
    }

    /// 8-bit samples of a `[c, h, w]` image (c = 1 or 3) in [0, 1]: round(255 · x), clamped,
    /// interleaved per pixel.
    static func interleavedBytes(_ image: Tensor<Float>) throws -> (samples: [UInt8], width: Int, height: Int, channels: Int) {
        guard image.rank == 3, image.shape[0] == 1 || image.shape[0] == 3 else {
            throw ImageCodecError.invalidEncoderInput(reason: "image shape \(image.shape), expected [1 or 3, h, w]")
        }
        let c = image.shape[0], h = image.shape[1], w = image.shape[2], plane = h * w
        var out = [UInt8](repeating: 0, count: c * plane)
        let s = image.scalars
        for p in 0..<plane {
            for k in 0..<c {
                let x = s[k * plane + p]
                out[p * c + k] = x.isNaN ? 0 : UInt8(min(255, max(0, (x * 255).rounded())))
            }
        }
        return (out, w, h, c)
    }

    /// An 8-bit grey or RGB PNG of a `[c, h, w]` image (c = 1 or 3) with values in [0, 1]
    /// (each sample round(255 · x), clamped to 0…255; NaN → 0).
    /// - Throws: `ImageCodecError.invalidEncoderInput` for another shape.
    public static func pngData(_ image: Tensor<Float>) throws -> Data {
        let b = try interleavedBytes(image)
        return try encodePNG(samples: b.samples.map(UInt16.init), width: b.width, height: b.height,
                             colorType: b.channels == 1 ? .grey : .rgb)
    }

    /// A grey or RGB JPEG of a `[c, h, w]` image (c = 1 or 3) with values in [0, 1], at
    /// `quality` 1…100 (samples quantized as in `pngData`).
    /// - Throws: `ImageCodecError.invalidEncoderInput`.
    public static func jpegData(_ image: Tensor<Float>, quality: Int = 90) throws -> Data {
        let b = try interleavedBytes(image)
        return try encodeJPEG(samples: b.samples, width: b.width, height: b.height, components: b.channels, quality: quality)
    }
}

/// Resizing to a fixed size by scaling to cover it and cropping the centre.
public enum ImageResize {
    /// Resizes `[channels, height, width]` pixels to `[channels, toHeight, toWidth]`.
    ///
    /// The image is scaled by s = max(toHeight / height, toWidth / width), so the scaled image
    /// covers the target (for a square target: the shorter side becomes the target side), and
    /// the centre toHeight × toWidth window is kept (the crop offset (s·height − toHeight) / 2
    /// is not rounded, so the crop is exactly centred).
    ///
    /// Pixel-centre convention: source pixel k covers [k, k + 1) and has its centre at k + ½;
    /// output pixel i samples the source at the continuous coordinate
    /// u = (offset + i + ½) / s − ½ in units of source pixel indices. Each axis is filtered
    /// separately with the bilinear (triangle) kernel max(0, 1 − |k − u| / r), r = max(1, 1/s):
    /// plain bilinear interpolation between the two nearest pixels when enlarging, and, when
    /// shrinking, a triangle widened by the shrink factor so every source pixel contributes
    /// (no aliasing; the same filter as PIL's `Image.resize` with `BILINEAR`). Weights are
    /// normalized over the pixels inside the image, so edges are not darkened. Horizontal pass
    /// first, then vertical. An image already of the target size is returned unchanged.
    /// - Precondition: all sizes positive and `pixels.count == channels · height · width`.
    public static func coverAndCentreCrop(_ pixels: [Float], channels: Int, height: Int, width: Int,
                                          toHeight: Int, toWidth: Int) -> [Float] {
        precondition(channels > 0 && height > 0 && width > 0 && toHeight > 0 && toWidth > 0, "sizes must be positive")
        precondition(pixels.count == channels * height * width, "pixels must be [channels, height, width]")
        if height == toHeight && width == toWidth { return pixels }
        let s = max(Double(toHeight) / Double(height), Double(toWidth) / Double(width))
        let rows = weights(input: height, output: toHeight, scale: s)
        let cols = weights(input: width, output: toWidth, scale: s)
        // Horizontal: [c, height, width] → [c, height, toWidth].
        var mid = [Float](repeating: 0, count: channels * height * toWidth)
        for c in 0..<channels {
            for y in 0..<height {
                let src = (c * height + y) * width, dst = (c * height + y) * toWidth
                for (x, taps) in cols.enumerated() {
                    var acc: Float = 0
                    for t in taps { acc += t.weight * pixels[src + t.index] }
                    mid[dst + x] = acc
                }
            }
        }
        // Vertical: [c, height, toWidth] → [c, toHeight, toWidth].
        var out = [Float](repeating: 0, count: channels * toHeight * toWidth)
        for c in 0..<channels {
            for (y, taps) in rows.enumerated() {
                let dst = (c * toHeight + y) * toWidth
                for t in taps {
                    let src = (c * height + t.index) * toWidth
                    for x in 0..<toWidth { out[dst + x] += t.weight * mid[src + x] }
                }
            }
        }
        return out
    }

    /// Filter taps of one axis: for each output index, the source indices and normalized
    /// weights (see `coverAndCentreCrop`).
    static func weights(input n: Int, output m: Int, scale s: Double) -> [[(index: Int, weight: Float)]] {
        let offset = (Double(n) * s - Double(m)) / 2
        let r = max(1, 1 / s)
        return (0..<m).map { i in
            let u = (offset + Double(i) + 0.5) / s - 0.5
            let lo = max(0, Int((u - r).rounded(.up))), hi = min(n - 1, Int((u + r).rounded(.down)))
            var taps: [(index: Int, weight: Double)] = []
            if lo <= hi {
                for k in lo...hi {
                    let w = 1 - abs(Double(k) - u) / r
                    if w > 0 { taps.append((k, w)) }
                }
            }
            if taps.isEmpty { taps = [(min(n - 1, max(0, Int(u.rounded()))), 1)] }
            let total = taps.reduce(0) { $0 + $1.weight }
            return taps.map { ($0.index, Float($0.weight / total)) }
        }
    }
}
