import Foundation
import Testing
@testable import FeatureLensIO
import FeatureLensNumerics

// Image folders: PNG/JPEG decoding through libpng and libjpeg, resizing, the folder reader,
// its cache and its errors. Every image is written by the encoders of `ImageCodecs`.

/// Writes `data` at `relative` below `root`, creating the folders.
@discardableResult
private func put(_ root: URL, _ relative: String, _ data: Data) throws -> URL {
    let url = root.appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try data.write(to: url)
    return url
}

/// 8-bit sample k of a test image: (37 k + 11 + seed) mod 256.
private func samples8(_ count: Int, seed: Int = 0) -> [UInt16] {
    (0..<count).map { UInt16((37 * $0 + 11 + seed) % 256) }
}

/// Interleaved samples `[h, w, c]` → planes `[c, h, w]`, each divided by `maxValue`.
private func planes(_ s: [UInt16], channels c: Int, keep: Int? = nil, maxValue: Float) -> [Float] {
    let k = keep ?? c
    let n = s.count / c
    var out = [Float](repeating: 0, count: k * n)
    for p in 0..<n { for ch in 0..<k { out[ch * n + p] = Float(s[p * c + ch]) / maxValue } }
    return out
}

/// A smooth 8-bit image `[h, w, c]` (gradients; w, h ≤ 16), which JPEG keeps to within a few levels.
private func smooth(_ w: Int, _ h: Int, _ c: Int) -> [UInt8] {
    var out: [UInt8] = []
    for y in 0..<h { for x in 0..<w { for ch in 0..<c { out.append(UInt8(20 + 6 * x + 5 * y + 25 * ch)) } } }
    return out
}

private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Largest error allowed between a JPEG's decoded pixels and the smooth image it encodes at
/// quality 95: 3/255 (libjpeg-turbo 2.1 gives 0 for grey and 1/255 for RGB with its 2×2
/// chroma subsampling; the margin covers other IDCT implementations).
private let jpegTolerance: Float = 3 / 255

@Suite struct ImageCodecTests {
    @Test func pngModesDecodeToExactValues() throws {
        let w = 5, h = 3, n = w * h
        // (colour type, bit depth, samples, channels in, channels out, divisor, mode)
        let grey = samples8(n), ga = samples8(2 * n, seed: 3), rgb = samples8(3 * n, seed: 7), rgba = samples8(4 * n, seed: 9)
        let grey16 = (0..<n).map { UInt16(($0 * 4099 + 17) % 65536) }
        let rgb16 = (0..<(3 * n)).map { UInt16(($0 * 2731 + 5) % 65536) }
        let rgba16 = (0..<(4 * n)).map { UInt16(($0 * 977 + 3) % 65536) }
        let cases: [(PNGColorType, Int, [UInt16], Int, Int, Float, String)] = [
            (.grey, 8, grey, 1, 1, 255, "grey 8-bit"),
            (.greyAlpha, 8, ga, 2, 1, 255, "grey+alpha 8-bit"),
            (.rgb, 8, rgb, 3, 3, 255, "RGB 8-bit"),
            (.rgba, 8, rgba, 4, 3, 255, "RGBA 8-bit"),
            (.grey, 16, grey16, 1, 1, 65535, "grey 16-bit"),
            (.rgb, 16, rgb16, 3, 3, 65535, "RGB 16-bit"),
            (.rgba, 16, rgba16, 4, 3, 65535, "RGBA 16-bit"),
        ]
        for (type, depth, s, cin, cout, divisor, mode) in cases {
            let data = try ImageCodecs.encodePNG(samples: s, width: w, height: h, colorType: type, bitDepth: depth)
            let image = try ImageCodecs.decode(data, file: "\(mode).png")
            #expect(image.width == w && image.height == h && image.channels == cout, "\(mode)")
            #expect(image.mode == mode)
            #expect(image.format == .png)
            #expect(image.pixels == planes(s, channels: cin, keep: cout, maxValue: divisor), "\(mode)")
        }
    }

    @Test func lowBitDepthPaletteAndInterlacedPNG() throws {
        // 1-bit and 4-bit grey scale to 8 bits: v · 255 / (2^depth − 1).
        let bits = (0..<12).map { UInt16($0 % 2) }
        let one = try ImageCodecs.decode(ImageCodecs.encodePNG(samples: bits, width: 4, height: 3, colorType: .grey, bitDepth: 1), file: "1bit.png")
        #expect(one.pixels == bits.map { Float($0) })
        let nibbles = (0..<12).map { UInt16($0) }
        let four = try ImageCodecs.decode(ImageCodecs.encodePNG(samples: nibbles, width: 4, height: 3, colorType: .grey, bitDepth: 4), file: "4bit.png")
        #expect(four.pixels == nibbles.map { Float($0 * 17) / 255 })
        // Palette (2-bit indices into 3 colours) → RGB planes.
        let palette: [UInt8] = [255, 0, 0, 0, 128, 255, 10, 20, 30]
        let indices = (0..<12).map { UInt16($0 % 3) }
        let pal = try ImageCodecs.decode(ImageCodecs.encodePNG(samples: indices, width: 4, height: 3, colorType: .palette,
                                                               bitDepth: 2, palette: palette), file: "palette.png")
        #expect(pal.channels == 3 && pal.mode == "palette")
        var expected = [Float](repeating: 0, count: 36)
        for (p, i) in indices.enumerated() { for c in 0..<3 { expected[c * 12 + p] = Float(palette[3 * Int(i) + c]) / 255 } }
        #expect(pal.pixels == expected)
        // Adam7: a 9×7 image spans all seven passes; the pixels equal the non-interlaced ones.
        let s = samples8(9 * 7 * 3, seed: 1)
        let plain = try ImageCodecs.decode(ImageCodecs.encodePNG(samples: s, width: 9, height: 7, colorType: .rgb), file: "plain.png")
        let inter = try ImageCodecs.decode(ImageCodecs.encodePNG(samples: s, width: 9, height: 7, colorType: .rgb, interlaced: true), file: "adam7.png")
        #expect(inter.mode == "RGB 8-bit interlaced")
        #expect(inter.pixels == plain.pixels && plain.pixels == planes(s, channels: 3, maxValue: 255))
    }

    @Test func jpegGreyRGBCMYKAndProgressiveWithinTolerance() throws {
        let w = 16, h = 16
        for (components, mode) in [(1, "grey"), (3, "RGB")] {
            let s = smooth(w, h, components)
            let truth = planes(s.map(UInt16.init), channels: components, maxValue: 255)
            let base = try ImageCodecs.decode(ImageCodecs.encodeJPEG(samples: s, width: w, height: h, components: components, quality: 95), file: "\(mode).jpg")
            #expect(base.channels == components && base.mode == mode && base.format == .jpeg)
            #expect(maxDifference(base.pixels, truth) <= jpegTolerance, "\(mode): \(maxDifference(base.pixels, truth) * 255)/255")
            let prog = try ImageCodecs.decode(ImageCodecs.encodeJPEG(samples: s, width: w, height: h, components: components,
                                                                     quality: 95, progressive: true), file: "\(mode)-p.jpg")
            #expect(prog.mode == mode + " progressive")
            #expect(maxDifference(prog.pixels, truth) <= jpegTolerance)
        }
        // CMYK: constant inks C 0.2, M 0.5, Y 0, K 0.1 → R = 0.8·0.9, G = 0.5·0.9, B = 0.9.
        let inks: [UInt8] = [51, 128, 0, 26]
        let cmyk = try ImageCodecs.decode(ImageCodecs.encodeJPEG(samples: Array((0..<64).map { _ in inks }.joined()), width: 8,
                                                                 height: 8, components: 4, quality: 95), file: "cmyk.jpg")
        #expect(cmyk.channels == 3 && cmyk.mode == "CMYK")
        let k = 1 - Float(26) / 255
        let want = [(1 - Float(51) / 255) * k, (1 - Float(128) / 255) * k, k]
        for c in 0..<3 { #expect(abs(cmyk.pixels[c * 64 + 27] - want[c]) <= jpegTolerance, "CMYK channel \(c)") }
    }

    /// Files written by Pillow and Pillow's decoded pixels (Tools/golden/make_image_golden.py).
    @Test(arguments: ["grey.png", "grey1bit.png", "grey16.png", "grey_alpha.png", "rgb.png", "rgba.png",
                      "palette_transparent.png", "jpeg_grey.jpg", "jpeg_rgb.jpg", "jpeg_progressive.jpg", "jpeg_cmyk.jpg"])
    func agreesWithPillow(_ file: String) throws {
        let image = try ImageCodecs.decode(contentsOf: fixtureURL("golden/images/\(file)"))
        let stem = String(file.split(separator: ".")[0])
        let expected = try NPY.read(fixtureURL("golden/images/\(stem).npy"), as: Float.self)
        #expect([image.channels, image.height, image.width] == expected.shape)
        if file.hasSuffix(".png") {
            #expect(image.pixels == expected.scalars)
        } else {
            let worst = maxDifference(image.pixels, expected.scalars)
            #expect(worst <= 2 / 255, "\(file): largest difference \(worst * 255)/255")
        }
    }

    @Test func channelConversionUsesBT601Luma() {
        // One pixel each: pure red, green, blue, and (0.2, 0.4, 0.6).
        let image = DecodedImage(width: 4, height: 1, channels: 3,
                                 pixels: [1, 0, 0, 0.2, 0, 1, 0, 0.4, 0, 0, 1, 0.6], format: .png, mode: "RGB 8-bit")
        let y = image.pixels(channels: 1)
        #expect(y[0] == 0.299 && y[1] == 0.587 && y[2] == 0.114)
        #expect(abs(y[3] - (0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6)) < 1e-7)
        let grey = DecodedImage(width: 2, height: 1, channels: 1, pixels: [0.25, 0.5], format: .png, mode: "grey 8-bit")
        #expect(grey.pixels(channels: 3) == [0.25, 0.5, 0.25, 0.5, 0.25, 0.5])
        #expect(grey.pixels(channels: 1) == [0.25, 0.5])
    }

    @Test func tensorEncodersRoundTrip() throws {
        let t = Tensor<Float>(shape: [3, 2, 3], scalars: (0..<18).map { Float($0 * 15) / 255 })
        let back = try ImageCodecs.decode(ImageCodecs.pngData(t), file: "t.png")
        #expect(back.pixels == t.scalars)
        #expect(throws: ImageCodecError.self) { try ImageCodecs.pngData(Tensor<Float>(shape: [2, 2, 2], scalars: Array(repeating: 0, count: 8))) }
        let j = try ImageCodecs.decode(ImageCodecs.jpegData(Tensor<Float>(shape: [1, 8, 8], scalars: Array(repeating: 0.5, count: 64)), quality: 90), file: "t.jpg")
        #expect(maxDifference(j.pixels, Array(repeating: 0.5, count: 64)) <= 2 / 255)
    }

    @Test func truncationsAndByteFlipsNeverCrash() throws {
        let png = try ImageCodecs.encodePNG(samples: samples8(6 * 5 * 3), width: 6, height: 5, colorType: .rgb)
        let jpeg = try ImageCodecs.encodeJPEG(samples: smooth(8, 8, 3), width: 8, height: 8, components: 3, quality: 80)
        for (data, name) in [(png, "x.png"), (jpeg, "x.jpg")] {
            var failures = 0
            for cut in 0..<data.count {
                do { _ = try ImageCodecs.decode(data.prefix(cut), file: name) } catch is ImageCodecError { failures += 1 }
            }
            // Every prefix that ends before the image data does is refused (a PNG may lack only its IEND chunk).
            #expect(failures >= data.count - 12, "\(name): \(failures) of \(data.count) prefixes refused")
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<200 {
                var bad = data
                let i = Int.random(in: 0..<bad.count, using: &rng)
                bad[i] ^= UInt8.random(in: 1...255, using: &rng)
                _ = try? ImageCodecs.decode(bad, file: name)
            }
        }
        // A file cut inside its entropy-coded data (a 48×48 noisy image, so most bytes are data).
        let big = try ImageCodecs.encodeJPEG(samples: samples8(48 * 48 * 3).map { UInt8($0) }, width: 48, height: 48, components: 3)
        #expect(throws: ImageCodecError.corrupt(file: "cut.jpg", format: .jpeg,
                                                reason: "file ends early (truncated JPEG: Premature end of JPEG file)")) {
            try ImageCodecs.decode(big.prefix(big.count * 2 / 3), file: "cut.jpg")
        }
    }
}

@Suite struct ImageResizeTests {
    @Test func sameSizeIsUnchanged() {
        let px = (0..<24).map { Float($0) }
        #expect(ImageResize.coverAndCentreCrop(px, channels: 2, height: 3, width: 4, toHeight: 3, toWidth: 4) == px)
    }

    @Test func enlargingInterpolatesBetweenPixelCentres() {
        // 1×2 row [0, 1] → 2×4 (scale 2): output centres at source −¼, ¼, ¾, 1¼ → 0, ¼, ¾, 1.
        let out = ImageResize.coverAndCentreCrop([0, 1], channels: 1, height: 1, width: 2, toHeight: 2, toWidth: 4)
        #expect(out == [0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1])
    }

    @Test func coverThenCentreCrop() {
        // 1×4 → 1×2: the scale is max(1/1, 2/4) = 1, so only the centre columns 1…2 remain.
        #expect(ImageResize.coverAndCentreCrop([0, 1, 2, 3], channels: 1, height: 1, width: 4, toHeight: 1, toWidth: 2) == [1, 2])
        // 4×8 → 4×4: columns 2…5 of every row.
        let px = (0..<32).map { Float($0) }
        let out = ImageResize.coverAndCentreCrop(px, channels: 1, height: 4, width: 8, toHeight: 4, toWidth: 4)
        #expect(out == (0..<4).flatMap { r in (2..<6).map { Float(8 * r + $0) } })
    }

    @Test func shrinkingAveragesWithAWidenedTriangle() {
        // 1×4 row [0, 1, 2, 3] → scale ½ (2×4 → 1×2): output 0 is centred at source 0.5 with
        // radius 2: weights ¾, ¾, ¼ on pixels 0, 1, 2 (pixel −1 lies outside), normalized.
        let row: [Float] = [0, 1, 2, 3]
        let out = ImageResize.coverAndCentreCrop(row + row, channels: 1, height: 2, width: 4, toHeight: 1, toWidth: 2)
        #expect(abs(out[0] - Float((0.75 * 0 + 0.75 * 1 + 0.25 * 2) / 1.75)) < 1e-6)
        #expect(abs(out[1] - Float((0.25 * 1 + 0.75 * 2 + 0.75 * 3) / 1.75)) < 1e-6)
        // A constant image stays constant under any resize.
        let flat = ImageResize.coverAndCentreCrop(Array(repeating: 0.3, count: 3 * 7 * 11), channels: 3, height: 7, width: 11,
                                                  toHeight: 4, toWidth: 5)
        #expect(flat.count == 60 && flat.allSatisfy { abs($0 - 0.3) < 1e-6 })
    }
}

/// A small tree of every PNG mode and two JPEGs, each 4×4, and the expected pixel planes of the PNGs.
private func buildModeTree(_ root: URL) throws -> [String: (planes: [Float], channels: Int)] {
    var truth: [String: (planes: [Float], channels: Int)] = [:]
    func png(_ path: String, _ type: PNGColorType, _ depth: Int, _ s: [UInt16], keep: Int, palette: [UInt8] = []) throws {
        try put(root, path, ImageCodecs.encodePNG(samples: s, width: 4, height: 4, colorType: type, bitDepth: depth, palette: palette))
        if type != .palette { truth[path] = (planes(s, channels: type.samplesPerPixel, keep: keep, maxValue: depth == 16 ? 65535 : 255), keep) }
    }
    try png("cat/a-grey.png", .grey, 8, samples8(16), keep: 1)
    try png("cat/b-grey-alpha.png", .greyAlpha, 8, samples8(32, seed: 5), keep: 1)
    try png("cat/c-palette.png", .palette, 8, (0..<16).map { UInt16($0 % 2) }, keep: 3, palette: [0, 51, 102, 255, 204, 153])
    let colours: [[Float]] = [[0, 51, 102], [255, 204, 153]]
    var paletteTruth = [Float](repeating: 0, count: 48)
    for c in 0..<3 { for p in 0..<16 { paletteTruth[c * 16 + p] = colours[p % 2][c] / 255 } }
    truth["cat/c-palette.png"] = (paletteTruth, 3)
    try png("dog/d-rgb.png", .rgb, 8, samples8(48, seed: 2), keep: 3)
    try png("dog/e-rgba.png", .rgba, 8, samples8(64, seed: 4), keep: 3)
    try png("dog/f-16bit.png", .rgb, 16, (0..<48).map { UInt16(($0 * 1361 + 7) % 65536) }, keep: 3)
    try put(root, "fish/g-grey.jpg", ImageCodecs.encodeJPEG(samples: smooth(4, 4, 1), width: 4, height: 4, components: 1, quality: 95))
    try put(root, "fish/h-rgb.JPEG", ImageCodecs.encodeJPEG(samples: smooth(4, 4, 3), width: 4, height: 4, components: 3, quality: 95))
    // Hidden entries are ignored, whatever they hold.
    try put(root, ".DS_Store", Data("not an image".utf8))
    try put(root, "dog/.hidden.png", Data("not an image".utf8))
    try put(root, ".cache/x/y.png", Data("not an image".utf8))
    return truth
}

@Suite struct ImageFolderTests {
    @Test func readsEveryModeWithLabelsShapesAndPixels() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let truth = try buildModeTree(folder.url)
        let contents = try ImageFolder.load(directory: folder.url, name: "modes")
        let d = try #require(contents.whole)
        #expect(contents.train == nil && !contents.fromCache && contents.warnings.isEmpty)
        #expect(d.name == "modes")
        #expect(d.images.shape == [8, 3, 4, 4])   // some image has colour → 3 channels; first image's size
        #expect(contents.files == [["cat/a-grey.png", "cat/b-grey-alpha.png", "cat/c-palette.png", "dog/d-rgb.png",
                                    "dog/e-rgba.png", "dog/f-16bit.png", "fish/g-grey.jpg", "fish/h-rgb.JPEG"]])
        let cls = try d.labels("class")
        #expect(cls.codes == [0, 0, 0, 1, 1, 1, 2, 2] && cls.names == ["cat", "dog", "fish"] && cls.within == nil)
        #expect(d.labelSets.count == 1)
        for (row, file) in contents.files[0].enumerated() {
            let got = Array(d.images.scalars[(row * 48)..<((row + 1) * 48)])
            if let t = truth[file] {
                let want = t.channels == 3 ? t.planes : t.planes + t.planes + t.planes
                #expect(got == want, "\(file)")
            } else {
                let s = smooth(4, 4, file.hasSuffix("jpg") ? 1 : 3).map(UInt16.init)
                let p = planes(s, channels: file.hasSuffix("jpg") ? 1 : 3, maxValue: 255)
                let want = p.count == 16 ? p + p + p : p
                #expect(maxDifference(got, want) <= jpegTolerance, "\(file)")
            }
        }
        // Grey output: colour images become their BT.601 luma, grey ones are unchanged.
        let grey = try #require(ImageFolder.load(directory: folder.url, options: ImageFolderOptions(channels: 1)).whole)
        #expect(grey.images.shape == [8, 1, 4, 4])
        #expect(Array(grey.images.scalars[0..<16]) == truth["cat/a-grey.png"]!.planes)
        let rgb = truth["dog/d-rgb.png"]!.planes
        let luma = (0..<16).map { 0.299 * rgb[$0] + 0.587 * rgb[16 + $0] + 0.114 * rgb[32 + $0] as Float }
        #expect(Array(grey.images.scalars[(3 * 16)..<(4 * 16)]) == luma)
    }

    @Test func nestedFoldersAreNestedLabelSets() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let img = try ImageCodecs.encodePNG(samples: samples8(4), width: 2, height: 2, colorType: .grey)
        for p in ["vehicles/car/1.png", "animals/dog/2.png", "animals/cat/3.png", "vehicles/car/0.png", "animals/cat/4.png"] {
            try put(folder.url, p, img)
        }
        let plain = try #require(ImageFolder.load(directory: folder.url).whole)
        #expect(plain.labelSets.keys.sorted() == ["class", "subclass"])
        let named = try ImageFolder.load(directory: folder.url, options: ImageFolderOptions(labelSetNames: ["coarse", "fine"]))
        let d = try #require(named.whole)
        #expect(named.files[0] == ["animals/cat/3.png", "animals/cat/4.png", "animals/dog/2.png", "vehicles/car/0.png", "vehicles/car/1.png"])
        let coarse = try d.labels("coarse"), fine = try d.labels("fine")
        #expect(coarse.codes == [0, 0, 0, 1, 1] && coarse.names == ["animals", "vehicles"] && coarse.within == nil)
        #expect(fine.codes == [0, 0, 1, 2, 2] && fine.names == ["animals/cat", "animals/dog", "vehicles/car"])
        #expect(fine.within == "coarse")
        #expect(d.images.shape == [5, 1, 2, 2])
    }

    @Test func trainAndTestFoldersShareOneLabelCoding() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        let img = try ImageCodecs.encodePNG(samples: samples8(12), width: 2, height: 2, colorType: .rgb)
        for p in ["train/b/1.png", "train/a/1.png", "train/a/2.png", "test/c/1.png", "test/b/9.png"] { try put(folder.url, p, img) }
        let contents = try ImageFolder.load(directory: folder.url, name: "tt")
        let train = try #require(contents.train), test = try #require(contents.test)
        #expect(contents.whole == nil)
        #expect(train.name == "tt/train" && test.name == "tt/test")
        #expect(contents.files == [["a/1.png", "a/2.png", "b/1.png"], ["b/9.png", "c/1.png"]])
        #expect(try train.labels("class").codes == [0, 0, 1] && test.labels("class").codes == [1, 2])
        #expect(try train.labels("class").names == ["a", "b", "c"] && test.labels("class").names == ["a", "b", "c"])
    }

    @Test func mixedSizesAreResizedToTheFirstOrTheGivenSize() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        // First image 4×6; a constant 8×8 grey image and a constant 3×2 RGB image.
        try put(folder.url, "a/0.png", ImageCodecs.encodePNG(samples: samples8(24), width: 6, height: 4, colorType: .grey))
        try put(folder.url, "a/1.png", ImageCodecs.encodePNG(samples: Array(repeating: 51, count: 64), width: 8, height: 8, colorType: .grey))
        try put(folder.url, "b/2.png", ImageCodecs.encodePNG(samples: Array(Array(repeating: [255, 102, 0] as [UInt16], count: 6).joined()), width: 2, height: 3, colorType: .rgb))
        let c = try ImageFolder.load(directory: folder.url)
        let d = try #require(c.whole)
        #expect(d.images.shape == [3, 3, 4, 6])
        #expect(Array(d.images.scalars[0..<24]) == planes(samples8(24), channels: 1, maxValue: 255))
        #expect(Array(d.images.scalars[72..<144]).allSatisfy { abs($0 - 0.2) < 1e-6 })
        let third = Array(d.images.scalars[144..<216])
        #expect(third[0..<24].allSatisfy { abs($0 - 1) < 1e-6 } && third[24..<48].allSatisfy { abs($0 - 0.4) < 1e-6 }
                && third[48..<72].allSatisfy { abs($0) < 1e-6 })
        #expect(c.notes[0].contains("2 resized") && c.notes[0].contains("2 converted from grey to RGB"))
        let sized = try #require(ImageFolder.load(directory: folder.url, options: ImageFolderOptions(size: ImageSize(height: 2, width: 2))).whole)
        #expect(sized.images.shape == [3, 3, 2, 2])
    }

    @Test func cacheHitsUntilAFileChanges() throws {
        let folder = try TemporaryFolder(), cache = try TemporaryFolder()
        defer { folder.cleanup(); cache.cleanup() }
        try put(folder.url, "a/0.png", ImageCodecs.encodePNG(samples: samples8(4), width: 2, height: 2, colorType: .grey))
        let touched = try put(folder.url, "b/1.png", ImageCodecs.encodePNG(samples: samples8(4, seed: 1), width: 2, height: 2, colorType: .grey))
        let options = ImageFolderOptions(cacheDirectory: cache.url.appendingPathComponent("c"))
        let first = try ImageFolder.load(directory: folder.url, options: options)
        #expect(!first.fromCache)
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.url.appendingPathComponent("c").path).sorted()
        #expect(files.count == 2 && files[0].hasSuffix(".json") && files[1].hasSuffix(".npy"))
        let second = try ImageFolder.load(directory: folder.url, options: options)
        #expect(second.fromCache)
        #expect(second.split == first.split && second.files == first.files)
        // Other options are another entry.
        #expect(!(try ImageFolder.load(directory: folder.url, options: ImageFolderOptions(channels: 3, cacheDirectory: options.cacheDirectory)).fromCache))
        // Touching a file (same bytes, new modification time) re-reads.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 5)], ofItemAtPath: touched.path)
        #expect(!(try ImageFolder.load(directory: folder.url, options: options).fromCache))
        // New content is read, not the cached pixels.
        try put(folder.url, "b/1.png", ImageCodecs.encodePNG(samples: [0, 0, 0, 255], width: 2, height: 2, colorType: .grey))
        let changed = try ImageFolder.load(directory: folder.url, options: options)
        #expect(!changed.fromCache && Array(changed.whole!.images.scalars[4..<8]) == [0, 0, 0, 1])
        #expect(try ImageFolder.load(directory: folder.url, options: options).fromCache)
        // A damaged entry (NPY cut short, as after an interrupted copy) is not used: the images are read again.
        let dir = options.cacheDirectory!
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".npy") {
            let u = dir.appendingPathComponent(f)
            try Data(try Data(contentsOf: u).prefix(100)).write(to: u)
        }
        let repaired = try ImageFolder.load(directory: folder.url, options: options)
        #expect(!repaired.fromCache && repaired.notes.contains { $0.contains("not used") })
        #expect(repaired.split == changed.split)
    }

    /// Writing a cache entry removes all but the `cacheEntriesKept` entries used last (a hit
    /// counts as a use), with a note; the entries kept still hit.
    @Test func cacheKeepsTheEntriesUsedLast() throws {
        #expect(ImageFolder.cacheEntriesKept == 3)
        let folder = try TemporaryFolder(), cache = try TemporaryFolder()
        defer { folder.cleanup(); cache.cleanup() }
        try put(folder.url, "a/0.png", ImageCodecs.encodePNG(samples: samples8(16), width: 4, height: 4, colorType: .grey))
        try put(folder.url, "b/1.png", ImageCodecs.encodePNG(samples: samples8(16, seed: 1), width: 4, height: 4, colorType: .grey))
        let dir = cache.url.appendingPathComponent("c")
        func options(_ side: Int) -> ImageFolderOptions {
            ImageFolderOptions(size: ImageSize(height: side, width: side), cacheDirectory: dir)
        }
        func entries() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: dir.path).count / 2 }
        for side in [4, 3, 2] {  // three entries: A (4×4), B (3×3), C (2×2)
            #expect(!(try ImageFolder.load(directory: folder.url, options: options(side)).fromCache))
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(try entries() == 3)
        #expect(try ImageFolder.load(directory: folder.url, options: options(4)).fromCache)  // A used again
        Thread.sleep(forTimeInterval: 0.01)
        let d = try ImageFolder.load(directory: folder.url, options: options(1))  // D: B, used least lately, goes
        #expect(d.notes.contains { $0.hasPrefix("removed 1 older cache entry (") && $0.contains("the 3 used last are kept") }, "\(d.notes)")
        #expect(try entries() == 3)
        #expect(try ImageFolder.load(directory: folder.url, options: options(4)).fromCache)
        #expect(try ImageFolder.load(directory: folder.url, options: options(2)).fromCache)
        #expect(try ImageFolder.load(directory: folder.url, options: options(1)).fromCache)
        #expect(!(try ImageFolder.load(directory: folder.url, options: options(3)).fromCache))
    }

    @Test func identicalForOneAndTwoThreads() throws {
        let folder = try TemporaryFolder()
        defer { folder.cleanup() }
        for i in 0..<12 {
            let w = 3 + i % 4, h = 2 + i % 3
            let data = i % 3 == 0
                ? try ImageCodecs.encodeJPEG(samples: smooth(w, h, 3), width: w, height: h, components: 3, quality: 90)
                : try ImageCodecs.encodePNG(samples: samples8(w * h * 3, seed: i), width: w, height: h, colorType: .rgb)
            try put(folder.url, "c\(i % 3)/\(i).\(i % 3 == 0 ? "jpg" : "png")", data)
        }
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 1
        let one = try ImageFolder.load(directory: folder.url)
        Parallel.threadCount = 2
        let two = try ImageFolder.load(directory: folder.url)
        #expect(one.split == two.split && one.files == two.files)
        #expect(one.whole!.count == 12)
    }
}

@Suite struct ImageFolderBenchmarkTests {
    @Test func smallRunIsConsistent() throws {
        let r = try ImageFolderBenchmark.run(classes: 2, perClass: 3, size: ImageSize(height: 8, width: 6), format: .jpeg, threads: 2)
        #expect(r.images == 6 && r.threads == 2 && r.identical)
        #expect([r.serialSeconds, r.parallelSeconds, r.cacheWriteSeconds, r.cacheHitSeconds].allSatisfy { $0 > 0 })
        #expect(r.summary.contains("6 JPEG images 8×6"))
    }
}

@Suite struct MalformedImageFolderTests {
    private func goodPNG(_ seed: Int = 0) throws -> Data {
        try ImageCodecs.encodePNG(samples: samples8(12, seed: seed), width: 2, height: 2, colorType: .rgb)
    }

    /// A folder with classes a and b holding one good PNG each, plus `extra` files.
    private func tree(_ extra: [String: Data]) throws -> TemporaryFolder {
        let folder = try TemporaryFolder()
        try put(folder.url, "a/good.png", goodPNG(0))
        try put(folder.url, "b/good.png", goodPNG(1))
        for (p, d) in extra { try put(folder.url, p, d) }
        return folder
    }

    private func expectError<E: Error & Equatable>(_ expected: E, _ extra: [String: Data],
                                                   options: ImageFolderOptions = ImageFolderOptions(),
                                                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try tree(extra)
        defer { folder.cleanup() }
        do {
            _ = try ImageFolder.load(directory: folder.url, options: options)
            Issue.record("expected \(expected)", sourceLocation: sourceLocation)
        } catch let e as E {
            // Paths in the expected error are relative to the folder.
            #expect("\(e)" == "\(expected)".replacingOccurrences(of: "ROOT", with: folder.url.standardizedFileURL.path),
                    sourceLocation: sourceLocation)
        }
    }

    @Test func corruptTruncatedAndNonImageFiles() throws {
        let png = try goodPNG()
        var corrupt = png
        corrupt.replaceSubrange(20..<28, with: [UInt8](repeating: 0xAB, count: 8))   // inside IHDR: CRC fails
        try expectError(ImageCodecError.corrupt(file: "ROOT/a/bad.png", format: .png, reason: "IHDR: CRC error"), ["a/bad.png": corrupt])
        try expectError(ImageCodecError.corrupt(file: "ROOT/a/cut.png", format: .png, reason: "file ends early (truncated PNG)"),
                        ["a/cut.png": png.prefix(png.count / 2)])
        let jpeg = try ImageCodecs.encodeJPEG(samples: samples8(48 * 48 * 3).map { UInt8($0) }, width: 48, height: 48, components: 3)
        try expectError(ImageCodecError.corrupt(file: "ROOT/b/cut.jpg", format: .jpeg,
                                                reason: "file ends early (truncated JPEG: Premature end of JPEG file)"),
                        ["b/cut.jpg": jpeg.prefix(jpeg.count * 2 / 3)])
        try expectError(ImageCodecError.notAnImage(file: "ROOT/b/notes.png", firstBytes: "68 65 6C 6C 6F"), ["b/notes.png": Data("hello".utf8)])
        try expectError(ImageCodecError.empty(file: "ROOT/b/empty.jpeg"), ["b/empty.jpeg": Data()])
        try expectError(ImageCodecError.tooLarge(file: "ROOT/a/good.png", maxPixels: 3), [:], options: ImageFolderOptions(maxPixels: 3))
    }

    @Test func layoutErrors() throws {
        let png = try goodPNG()
        // An empty class folder (hidden files do not count).
        try expectError(ImageFolderError.emptyFolder(path: "ROOT/c"), ["c/.keep": Data()])
        // One class.
        let one = try TemporaryFolder()
        defer { one.cleanup() }
        try put(one.url, "only/x.png", png)
        try put(one.url, "only/y.png", png)
        #expect(throws: ImageFolderError.oneClass(directory: one.url.standardizedFileURL.path, labelSet: "class", classes: ["only"])) {
            try ImageFolder.load(directory: one.url)
        }
        try expectError(ImageFolderError.mixedDepths(file: "ROOT/b/deeper/x.png", levels: 2, otherFile: "ROOT/a/good.png", otherLevels: 1),
                        ["b/deeper/x.png": png])
        try expectError(ImageFolderError.otherFiles(directory: "ROOT", files: ["ROOT/a/labels.csv", "ROOT/readme.txt"], count: 2),
                        ["readme.txt": Data("x".utf8), "a/labels.csv": Data("x".utf8)])
        try expectError(ImageFolderError.ambiguousSplit(directory: "ROOT", folders: ["a/", "b/", "train/"]), ["train/a/x.png": png])
        let flat = try TemporaryFolder()
        defer { flat.cleanup() }
        try put(flat.url, "x.png", png)
        #expect(throws: ImageFolderError.noClassFolders(directory: flat.url.standardizedFileURL.path, file: "x.png")) {
            try ImageFolder.load(directory: flat.url)
        }
        #expect(throws: ImageFolderError.notAFolder(path: flat.url.appendingPathComponent("x.png").path)) {
            try ImageFolder.load(directory: flat.url.appendingPathComponent("x.png"))
        }
        #expect(throws: ImageFolderError.self) { try ImageFolder.load(directory: flat.url, options: ImageFolderOptions(channels: 2)) }
        // Other files are ignored on request, and counted in a note.
        let ignoring = try tree(["readme.txt": Data("x".utf8)])
        defer { ignoring.cleanup() }
        let c = try ImageFolder.load(directory: ignoring.url, options: ImageFolderOptions(ignoreOtherFiles: true))
        #expect(c.whole?.count == 2 && c.notes.contains { $0.contains("ignored 1 file") })
    }

    @Test func unreadableFilesAndNonUTF8Names() throws {
        let folder = try tree([:])
        defer { folder.cleanup() }
        let root = folder.url.standardizedFileURL.path
        // A dangling symbolic link cannot be examined (this also stands in for a permission
        // error when the tests run as root, who may read anything).
        try FileManager.default.createSymbolicLink(atPath: root + "/a/link.png", withDestinationPath: root + "/missing.png")
        #expect(throws: ImageFolderError.unreadableEntry(path: root + "/a/link.png", reason: "No such file or directory")) {
            try ImageFolder.load(directory: folder.url)
        }
        try FileManager.default.removeItem(atPath: root + "/a/link.png")
        if geteuid() != 0 {
            let locked = try put(folder.url, "b/locked.png", goodPNG())
            chmod(locked.path, 0)
            #expect(throws: ImageCodecError.unreadable(file: locked.path, reason: "Permission denied")) { try ImageFolder.load(directory: folder.url) }
            chmod(locked.path, 0o644)
            try FileManager.default.removeItem(at: locked)
        }
        // A file name with the byte FF, which is not UTF-8.
        var path = Array((root + "/b/").utf8) + [0x78, 0xFF] + Array(".png".utf8) + [0]
        let fd = path.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(fd >= 0)
        close(fd)
        #expect(throws: ImageFolderError.nonUTF8Name(directory: root + "/b", name: "x\u{FFFD}.png (bytes 78 FF 2E 70 6E 67)")) {
            try ImageFolder.load(directory: folder.url)
        }
        let skipped = try ImageFolder.load(directory: folder.url, options: ImageFolderOptions(skipBadImages: true))
        #expect(skipped.whole?.count == 2 && skipped.warnings.count == 1 && skipped.warnings[0].contains("not valid UTF-8"))
    }

    @Test func skipBadImagesListsEverySkippedFile() throws {
        let png = try goodPNG()
        let folder = try tree(["a/cut.png": png.prefix(30), "b/text.jpg": Data("text".utf8), "b/empty.png": Data(),
                               "b/more.png": try goodPNG(3)])
        defer { folder.cleanup() }
        let root = folder.url.standardizedFileURL.path
        let c = try ImageFolder.load(directory: folder.url, options: ImageFolderOptions(skipBadImages: true))
        #expect(c.files == [["a/good.png", "b/good.png", "b/more.png"]])
        #expect(try c.whole!.labels("class").codes == [0, 1, 1])
        #expect(c.warnings.count == 3)
        for (w, f) in zip(c.warnings, ["a/cut.png", "b/empty.png", "b/text.jpg"]) { #expect(w.hasPrefix("skipped \(root)/\(f): ")) }
        // Without the flag the first bad file in row order is the error.
        #expect(throws: ImageCodecError.corrupt(file: root + "/a/cut.png", format: .png, reason: "file ends early (truncated PNG)")) {
            try ImageFolder.load(directory: folder.url)
        }
        // When skipping leaves one class, that is still an error.
        let lonely = try tree(["b/good.png": Data("garbage".utf8)])   // overwrites b's only image
        defer { lonely.cleanup() }
        #expect(throws: ImageFolderError.self) { try ImageFolder.load(directory: lonely.url, options: ImageFolderOptions(skipBadImages: true)) }
    }
}
