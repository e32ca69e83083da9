// Timing of the image-folder reader on a generated folder: decoding on one thread, on all
// threads, and a cache hit.
import Foundation
import FeatureLensNumerics

/// Writes a synthetic image folder and times `ImageFolder.load` on it.
public enum ImageFolderBenchmark {
    /// The measured times, in seconds (wall clock).
    public struct Result: Sendable, Equatable {
        /// Images in the folder.
        public var images: Int
        /// Each image's size.
        public var size: ImageSize
        /// The file format written.
        public var format: ImageFileFormat
        /// Threads used for `parallelSeconds`.
        public var threads: Int
        /// Load without a cache on one thread.
        public var serialSeconds: Double
        /// Load without a cache on `threads` threads.
        public var parallelSeconds: Double
        /// Load with a cache: the first load (decodes and writes the cache) …
        public var cacheWriteSeconds: Double
        /// … and the second (reads the cache).
        public var cacheHitSeconds: Double
        /// The serial, parallel and cached loads gave identical datasets.
        public var identical: Bool

        /// One line: images per second for each way of loading.
        public var summary: String {
            func rate(_ s: Double) -> String { String(format: "%.0f images/s (%.3f s)", Double(images) / max(s, 1e-9), s) }
            return "\(images) \(format.displayName) images \(size): 1 thread \(rate(serialSeconds)); \(threads) threads \(rate(parallelSeconds)); "
                + "first load with cache \(rate(cacheWriteSeconds)); cache hit \(rate(cacheHitSeconds)); identical: \(identical)"
        }
    }

    /// Writes `classes` class folders of `perClass` RGB images each to `directory` (created):
    /// image i of class c has pixel (y, x, channel) = (31 c + 7 i + 3 y + 5 x + 60 channel) mod 256,
    /// as PNG or as JPEG of quality 90.
    /// - Throws: `OutputError` when a file cannot be written, `ImageCodecError` from the encoders.
    public static func writeSyntheticFolder(at directory: URL, classes: Int, perClass: Int, size: ImageSize,
                                            format: ImageFileFormat) throws {
        for c in 0..<classes {
            let folder = directory.appendingPathComponent(String(format: "class%03d", c))
            try AtomicFile.prepareDirectory(folder)
            for i in 0..<perClass {
                var samples = [UInt8](repeating: 0, count: size.height * size.width * 3)
                for y in 0..<size.height {
                    for x in 0..<size.width {
                        for ch in 0..<3 {
                            samples[(y * size.width + x) * 3 + ch] = UInt8((31 * c + 7 * i + 3 * y + 5 * x + 60 * ch) % 256)
                        }
                    }
                }
                let data: Data
                let name: String
                switch format {
                case .png:
                    data = try ImageCodecs.encodePNG(samples: samples.map(UInt16.init), width: size.width, height: size.height, colorType: .rgb)
                    name = String(format: "%05d.png", i)
                case .jpeg:
                    data = try ImageCodecs.encodeJPEG(samples: samples, width: size.width, height: size.height, components: 3, quality: 90)
                    name = String(format: "%05d.jpg", i)
                }
                try AtomicFile.write(data, to: folder.appendingPathComponent(name))
            }
        }
    }

    /// `ImageFolder.load(directory:options:)` on `threads` threads (`Parallel.threadCount` is set
    /// for the call and restored afterwards), and its wall time in seconds.
    /// - Throws: what `ImageFolder.load` throws.
    public static func timedLoad(directory: URL, options: ImageFolderOptions = ImageFolderOptions(),
                                 threads: Int) throws -> (contents: ImageFolderContents, seconds: Double) {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = threads
        let start = DispatchTime.now().uptimeNanoseconds
        let contents = try ImageFolder.load(directory: directory, options: options)
        return (contents, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Generates a folder in a new temporary directory (removed afterwards) and times loading it.
    /// - Parameters:
    ///   - classes, perClass, size, format: the folder (see `writeSyntheticFolder`).
    ///   - threads: threads for the parallel load (default `Parallel.threadCount`).
    /// - Throws: what writing or loading throws.
    public static func run(classes: Int = 10, perClass: Int = 100, size: ImageSize = ImageSize(height: 32, width: 32),
                           format: ImageFileFormat = .png, threads: Int = Parallel.threadCount) throws -> Result {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("featurelens-imagefolder-benchmark-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("data"), cache = root.appendingPathComponent("cache")
        try writeSyntheticFolder(at: data, classes: classes, perClass: perClass, size: size, format: format)
        let (serial, serialSeconds) = try timedLoad(directory: data, threads: 1)
        let (parallel, parallelSeconds) = try timedLoad(directory: data, threads: threads)
        let options = ImageFolderOptions(cacheDirectory: cache)
        let (written, writeSeconds) = try timedLoad(directory: data, options: options, threads: threads)
        let (hit, hitSeconds) = try timedLoad(directory: data, options: options, threads: threads)
        return Result(images: classes * perClass, size: size, format: format, threads: threads,
                      serialSeconds: serialSeconds, parallelSeconds: parallelSeconds, cacheWriteSeconds: writeSeconds,
                      cacheHitSeconds: hitSeconds,
                      identical: serial.split == parallel.split && parallel.split == written.split
                        && written.split == hit.split && hit.fromCache)
    }
}
