// A folder tree of PNG and JPEG images whose sub-folders are the labels (the layout of
// torchvision's `ImageFolder`, extended to nested folders: one label set per folder level),
// read into `ImageDataset`s, with an optional cache of the decoded pixels.
import Foundation
import FeatureLensNumerics

/// An image size in pixels.
public struct ImageSize: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// Rows.
    public var height: Int
    /// Columns.
    public var width: Int
    /// - Parameters: see the properties.
    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }
    public var description: String { "\(height)×\(width)" }
}

/// How `ImageFolder.load` reads a folder.
public struct ImageFolderOptions: Equatable, Sendable {
    /// Names of the label sets, one per folder level: the first folder level below the root
    /// (or below `train/`, `test/`) is `labelSetNames[0]`, the next `labelSetNames[1]`, and
    /// so on; a level beyond the list is named `level3`, `level4`, …. Each label set after
    /// the first is nested `within` the one before it. Default `["class", "subclass"]`; a
    /// CIFAR-100-like `coarse/fine` tree reads well as `["coarse", "class"]`.
    public var labelSetNames: [String]
    /// Output size of every image (height × width); nil: the size of the first image (the
    /// first file in row order that decodes). Other sizes are resized by
    /// `ImageResize.coverAndCentreCrop`.
    public var size: ImageSize?
    /// Output channels, 1 (grey; colour images become their BT.601 luma) or 3 (RGB; grey
    /// images are repeated in each channel); nil: 3 if any image has colour, else 1.
    public var channels: Int?
    /// Skip images that cannot be read or decoded (and entries whose names are not UTF-8)
    /// instead of failing; every skipped file is listed in `ImageFolderContents.warnings`.
    public var skipBadImages: Bool
    /// Ignore files that are not `.png`, `.jpg` or `.jpeg` (a README, a labels.csv) instead of
    /// failing; they are counted in `ImageFolderContents.notes`.
    public var ignoreOtherFiles: Bool
    /// Upper bound on width × height of one image, checked from its header before decoding.
    public var maxPixels: Int
    /// Folder for the cache of decoded datasets (created when missing); nil: no cache.
    public var cacheDirectory: URL?

    /// - Parameters: see the properties.
    public init(labelSetNames: [String] = ["class", "subclass"], size: ImageSize? = nil, channels: Int? = nil,
                skipBadImages: Bool = false, ignoreOtherFiles: Bool = false,
                maxPixels: Int = ImageCodecs.defaultMaxPixels, cacheDirectory: URL? = nil) {
        self.labelSetNames = labelSetNames
        self.size = size
        self.channels = channels
        self.skipBadImages = skipBadImages
        self.ignoreOtherFiles = ignoreOtherFiles
        self.maxPixels = maxPixels
        self.cacheDirectory = cacheDirectory
    }
}

/// The datasets of an image folder.
public enum ImageFolderSplit: Sendable, Equatable {
    /// No `train/` and `test/` at the top: every image in one dataset (the caller splits it).
    case whole(ImageDataset)
    /// `train/` and `test/` at the top (torchvision's layout), with one label coding for both.
    case trainTest(train: ImageDataset, test: ImageDataset)
}

/// What `ImageFolder.load` returns.
public struct ImageFolderContents: Sendable, Equatable {
    /// The dataset or the train and test datasets: images `[n, c, h, w]` in [0, 1], and one
    /// label set per folder level (see `ImageFolderOptions.labelSetNames`).
    public var split: ImageFolderSplit
    /// Per dataset (one, or train then test), the image file of every row as a path relative
    /// to the dataset's folder, components joined by "/".
    public var files: [[String]]
    /// One line per file that was skipped (`skipBadImages`) or decoded despite libjpeg
    /// warnings, naming the file and the problem; empty when all was well.
    public var warnings: [String]
    /// What the reader did beyond plain decoding (resized or converted images, ignored files,
    /// a cache read or written), one sentence each.
    public var notes: [String]
    /// The datasets came from the cache rather than from decoding the images.
    public var fromCache: Bool

    /// The single dataset, or nil for a train/test folder.
    public var whole: ImageDataset? { if case .whole(let d) = split { return d }; return nil }
    /// The train dataset, or nil for a folder without `train/` and `test/`.
    public var train: ImageDataset? { if case .trainTest(let t, _) = split { return t }; return nil }
    /// The test dataset, or nil for a folder without `train/` and `test/`.
    public var test: ImageDataset? { if case .trainTest(_, let t) = split { return t }; return nil }
}

/// An image folder whose layout does not fit. Every case names the folder or file.
public enum ImageFolderError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path is not a folder.
    case notAFolder(path: String)
    /// A folder could not be listed (permissions, an I/O error).
    case unreadableFolder(path: String, reason: String)
    /// An entry could not be examined (a dangling symbolic link, permissions).
    case unreadableEntry(path: String, reason: String)
    /// An entry's name is not valid UTF-8 (`name` shows it with U+FFFD and its bytes in hex).
    case nonUTF8Name(directory: String, name: String)
    /// Image files at different folder depths: every image must sit exactly one folder level
    /// per label set below the root.
    case mixedDepths(file: String, levels: Int, otherFile: String, otherLevels: Int)
    /// A folder holding no image file (in it or below it).
    case emptyFolder(path: String)
    /// Images directly in the root, with no label folder above them.
    case noClassFolders(directory: String, file: String)
    /// No image file at all (or, with `skipBadImages`, none that decoded).
    case noImages(directory: String)
    /// Fewer than two classes in the first label set: nothing to tell apart.
    case oneClass(directory: String, labelSet: String, classes: [String])
    /// Files that are not `.png`, `.jpg` or `.jpeg` (up to 10 listed; `count` in all).
    case otherFiles(directory: String, files: [String], count: Int)
    /// `train/` or `test/` at the top beside other folders, or one without the other.
    case ambiguousSplit(directory: String, folders: [String])
    /// Folders nested deeper than `limit` levels (also what a symbolic-link loop gives).
    case tooDeep(path: String, limit: Int)
    /// An option out of range.
    case invalidOption(field: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .notAFolder(path): return "\(path): not a folder (expected a folder of class sub-folders holding .png/.jpg images)"
        case let .unreadableFolder(path, reason): return "\(path): cannot list folder: \(reason)"
        case let .unreadableEntry(path, reason): return "\(path): cannot read: \(reason)"
        case let .nonUTF8Name(directory, name):
            return "\(directory): entry \"\(name)\" has a name that is not valid UTF-8 (rename it, or set skipBadImages)"
        case let .mixedDepths(file, levels, other, otherLevels):
            return "\(file) is \(levels) folder level\(levels == 1 ? "" : "s") below the root but \(other) is \(otherLevels) (every image must be at the same depth: one folder level per label set)"
        case let .emptyFolder(path): return "\(path): folder holds no .png/.jpg image (remove it or add images)"
        case let .noClassFolders(directory, file):
            return "\(directory): image \(file) is not in a class folder (expected \(directory)/<class>/<image>)"
        case let .noImages(directory): return "\(directory): no readable .png/.jpg image found"
        case let .oneClass(directory, labelSet, classes):
            return "\(directory): label set '\(labelSet)' has \(classes.count) class\(classes.count == 1 ? "" : "es") (\(classes.joined(separator: ", "))); expected at least 2 class folders"
        case let .otherFiles(directory, files, count):
            return "\(directory): \(count) file\(count == 1 ? " is not a .png/.jpg/.jpeg image" : "s are not .png/.jpg/.jpeg images"): \(files.joined(separator: ", "))\(count > files.count ? ", …" : "") (remove them or move them out of the folder)"
        case let .ambiguousSplit(directory, folders):
            return "\(directory): top-level folders \(folders.joined(separator: ", ")): a train/test folder needs exactly train/ and test/ at the top (rename a class folder called train or test)"
        case let .tooDeep(path, limit): return "\(path): folders nested more than \(limit) levels (a symbolic-link loop?)"
        case let .invalidOption(field, value, expected): return "image folder option \(field) is \(value), expected \(expected)"
        }
    }
}

/// Reads an image folder: every sub-folder level is a label set, the images are PNG or JPEG.
///
/// Layout: `root/<class>/<image>` gives label set `class`; `root/<class>/<subclass>/<image>`
/// adds `subclass` within `class`; and so on (names in `ImageFolderOptions.labelSetNames`).
/// If the root holds exactly the folders `train/` and `test/` (torchvision's layout), each
/// is read as a split with the same layout and one label coding for both.
///
/// Rules:
/// - Images are the regular files (symbolic links followed) named `*.png`, `*.jpg`,
///   `*.jpeg`, any letter case; the format is taken from the file's first bytes. Entries
///   whose names start with "." are ignored (hidden files, `.DS_Store`, a cache folder).
///   Any other file is an error listing it, unless `ignoreOtherFiles`.
/// - Rows are in the order of the files' relative paths compared component by component,
///   each component by its UTF-8 bytes; so the rows of one class are contiguous.
/// - Label codes: level k's classes are its distinct folder paths (up to level k), sorted the
///   same way, over both splits; class names are those paths joined with "/" (level 1: the
///   folder name; level 2: "cat/siamese"). A class whose images all fail to decode (with
///   `skipBadImages`) keeps its code and has no rows.
/// - Every image must be at the same depth, every folder must hold at least one image, and the
///   first label set must have at least two classes; each violation is an
///   `ImageFolderError` naming the file or folder.
/// - Pixels: `ImageCodecs.decode` (stored values / 255 or / 65535; alpha dropped), then
///   `ImageResize.coverAndCentreCrop` to the size, then the channel conversion of
///   `DecodedImage.pixels(channels:)`.
/// - Decoding runs on `Parallel.threadCount` threads, one image per job; each image's result
///   depends only on its file, so the datasets are identical for any thread count.
///
/// Cache (when `cacheDirectory` is set): the decoded images of all splits are stored as one
/// float32 NPY file `imagefolder-<key>.npy` `[n, c, h, w]` (train rows then test rows) and the
/// labels, file names and messages as `imagefolder-<key>.json`. The key is a 128-bit hash of
/// every image's relative path, byte size and modification time (nanoseconds), the options
/// that change the output (label-set names, size, channels, skipBadImages,
/// ignoreOtherFiles, maxPixels) and the cache format version; adding, removing, replacing
/// or touching a file changes it, so a changed folder is read again. Both files are written
/// atomically (`AtomicFile`), the JSON last, and a cache entry counts only when its JSON
/// exists and its NPY has the recorded shape, so an interrupted write is a cache miss, never
/// a half-read dataset. The cache keeps the `cacheEntriesKept` entries used last (a hit marks
/// its entry as used): writing a new entry removes the older ones, so editing a large folder
/// again and again does not fill the disk with stale copies of it.
public enum ImageFolder {
    /// File extensions read as images (compared in lower case).
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]
    /// Deepest folder nesting followed.
    public static let maxDepth = 32
    /// Version of the cache files' layout; part of the cache key.
    static let cacheFormatVersion = 1
    /// Cache entries kept per cache folder (the ones used last); older ones are removed when a
    /// new entry is written.
    public static let cacheEntriesKept = 3

    /// Reads the folder at `directory`.
    /// - Parameters:
    ///   - directory: the root folder.
    ///   - options: label-set names, size, channels, bad-input handling, cache.
    ///   - name: the dataset name (default: the folder's name; splits get "/train", "/test").
    /// - Returns: the dataset(s) with images `[n, c, h, w]` in [0, 1], the files of the rows,
    ///   warnings (skipped files) and notes.
    /// - Throws: `ImageFolderError` for the layout, `ImageCodecError` for the first image (in
    ///   row order) that cannot be read or decoded unless `skipBadImages`, and
    ///   `ImageFolderError.invalidOption` for options out of range.
    public static func load(directory: URL, options: ImageFolderOptions = ImageFolderOptions(),
                            name: String? = nil) throws -> ImageFolderContents {
        try validate(options)
        let root = directory.standardizedFileURL.path
        var info = stat()
        guard stat(root, &info) == 0 else {
            throw ImageFolderError.unreadableFolder(path: root, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw ImageFolderError.notAFolder(path: root) }
        let datasetName = name ?? directory.standardizedFileURL.lastPathComponent

        // 1. The tree: splits, files, depth, labels.
        var warnings: [String] = [], notes: [String] = []
        var topWarnings: [String] = []
        let top = try listFolder(root, options: options, warnings: &topWarnings)
        let topFolders = top.folders.map(\.name)
        var splitRoots: [(name: String, path: String)]
        var scans: [Scan] = []
        if topFolders.contains("train") || topFolders.contains("test") {
            guard Set(topFolders) == ["train", "test"] else {
                throw ImageFolderError.ambiguousSplit(directory: root, folders: topFolders.map { $0 + "/" })
            }
            splitRoots = [("train", root + "/train"), ("test", root + "/test")]
            warnings += topWarnings   // (a folder without splits is listed again by walk)
            var topOthers = top.others
            topOthers += top.images.map(\.name)   // images beside train/ and test/ belong to no split
            var scanTop = Scan()
            scanTop.others = topOthers.map { root + "/" + $0 }
            try checkOthers(scanTop, directory: root, options: options, notes: &notes)
            for s in splitRoots {
                var scan = Scan()
                try walk(s.path, components: [], depth: 0, scan: &scan, options: options, warnings: &warnings)
                scans.append(scan)
            }
            scans[0].skipped += top.skipped
        } else {
            splitRoots = [("whole", root)]
            var scan = Scan()
            try walk(root, components: [], depth: 0, scan: &scan, options: options, warnings: &warnings)
            scans.append(scan)
        }
        for (scan, s) in zip(scans, splitRoots) { try checkOthers(scan, directory: s.path, options: options, notes: &notes) }
        guard let first = scans.lazy.flatMap(\.files).first else { throw ImageFolderError.noImages(directory: root) }
        let depth = first.components.count
        for (scan, s) in zip(scans, splitRoots) {
            if let bad = scan.files.first(where: { $0.components.count != depth }) {
                let firstRoot = splitRoots[scans.firstIndex { !$0.files.isEmpty }!].path
                throw ImageFolderError.mixedDepths(file: s.path + "/" + bad.relative, levels: bad.components.count - 1,
                                                   otherFile: firstRoot + "/" + first.relative, otherLevels: depth - 1)
            }
            if scan.files.isEmpty { throw ImageFolderError.noImages(directory: s.path) }
        }
        let levels = depth - 1
        guard levels >= 1 else {
            throw ImageFolderError.noClassFolders(directory: splitRoots[0].path, file: first.relative)
        }
        let labelNames = (0..<levels).map { $0 < options.labelSetNames.count ? options.labelSetNames[$0] : "level\($0 + 1)" }
        if Set(labelNames).count != labelNames.count {
            throw ImageFolderError.invalidOption(field: "labelSetNames", value: "\(options.labelSetNames)",
                                                 expected: "distinct names (levels beyond the list are named level3, level4, …): \(labelNames)")
        }
        // Class paths of each level, over both splits, in component-wise byte order.
        var classPaths = [[[String]]](repeating: [], count: levels)
        for k in 0..<levels {
            var seen = Set<[String]>()
            for scan in scans { for f in scan.files { seen.insert(Array(f.components[0...k])) } }
            classPaths[k] = seen.sorted(by: componentsPrecede)
        }
        if classPaths[0].count < 2 {
            throw ImageFolderError.oneClass(directory: root, labelSet: labelNames[0], classes: classPaths[0].map { $0[0] })
        }
        let codeOf = classPaths.map { paths in
            Dictionary(uniqueKeysWithValues: paths.enumerated().map { ($0.element, $0.offset) })
        }
        let classNames = classPaths.map { $0.map { $0.joined(separator: "/") } }

        // 2. The cache.
        let key = cacheKey(scans: scans, splits: splitRoots.map(\.name), options: options)
        if let dir = options.cacheDirectory {
            switch readCache(dir, key: key, datasetName: datasetName) {
            case .hit(var contents):
                markUsed(dir, key: key)
                contents.notes.append("decoded images read from the cache \(cacheURL(dir, key, "npy").path)")
                return contents
            case .miss: break
            case .unusable(let why): notes.append("cache entry \(cacheURL(dir, key, "json").path) not used (\(why)); the images were read again")
            }
        }

        // 3. Decode: the target size from the first image that decodes, then every image in parallel.
        let all = zip(scans.indices, splitRoots).flatMap { (i, s) in scans[i].files.map { (split: i, path: s.path + "/" + $0.relative) } }
        var results = [Decoded?](repeating: nil, count: all.count)
        var target = options.size
        if target == nil {
            for (i, f) in all.enumerated() {
                results[i] = decodeOne(f.path, target: nil, maxPixels: options.maxPixels)
                if case .image(_, let size, _, _)? = results[i] { target = size; break }
                if !options.skipBadImages { break }
            }
        }
        if let target {
            let todo = results.indices.filter { results[$0] == nil }
            results.withUnsafeMutableBufferPointer { buffer in
                let out = buffer
                Parallel.forEachJob(todo.count, workers: Parallel.threadCount) { job, _ in
                    let i = todo[job]
                    out[i] = decodeOne(all[i].path, target: target, maxPixels: options.maxPixels)
                }
            }
            // The image decoded before the size was known has the target size by definition.
        }
        // 4. Bad images: the first one is an error, or every one is skipped with a warning.
        var keep = [Bool](repeating: true, count: all.count)
        for (i, r) in results.enumerated() {
            guard case .failure(let error)? = r else { continue }
            if !options.skipBadImages { throw error }
            keep[i] = false
            warnings.append("skipped \(error)")
        }
        for (i, r) in results.enumerated() {
            if case .image(_, _, _, let info)? = r, let w = info.warning {
                warnings.append("\(all[i].path): libjpeg warning (image decoded): \(w)")
            }
        }
        guard let size = target, keep.contains(true) else { throw ImageFolderError.noImages(directory: root) }
        let anyColour = results.contains { if case .image(_, _, 3, _)? = $0 { return true }; return false }
        let channels = options.channels ?? (anyColour ? 3 : 1)

        // 5. Datasets.
        var resized = 0, converted = 0
        var modes: [String: Int] = [:]
        var datasets: [ImageDataset] = [], files: [[String]] = []
        var offset = 0
        for (si, scan) in scans.enumerated() {
            let rows = (0..<scan.files.count).filter { keep[offset + $0] }
            let plane = channels * size.height * size.width
            var pixels = [Float](repeating: 0, count: rows.count * plane)
            for (r, j) in rows.enumerated() {
                guard case .image(let px, let original, let ch, let info)? = results[offset + j] else { continue }
                if original != size { resized += 1 }
                if ch != channels { converted += 1 }
                modes[info.mode, default: 0] += 1
                let image = DecodedImage(width: size.width, height: size.height, channels: ch, pixels: px,
                                         format: info.format, mode: info.mode)
                let out = image.pixels(channels: channels)
                pixels.replaceSubrange(r * plane..<(r + 1) * plane, with: out)
            }
            var labelSets: [String: LabelSet] = [:]
            for k in 0..<levels {
                let codes = rows.map { codeOf[k][Array(scan.files[$0].components[0...k])]! }
                labelSets[labelNames[k]] = try LabelSet(name: labelNames[k], codes: codes, names: classNames[k],
                                                        within: k == 0 ? nil : labelNames[k - 1])
            }
            let dsName = splitRoots[si].name == "whole" ? datasetName : datasetName + "/" + splitRoots[si].name
            datasets.append(ImageDataset(name: dsName, images: Tensor(shape: [rows.count, channels, size.height, size.width], scalars: pixels),
                                         labelSets: labelSets))
            files.append(rows.map { scan.files[$0].relative })
            offset += scan.files.count
        }
        let survivingClasses = Set(datasets.flatMap { $0.labelSets[labelNames[0]]!.codes })
        if survivingClasses.count < 2 {
            throw ImageFolderError.oneClass(directory: root, labelSet: labelNames[0],
                                            classes: survivingClasses.sorted().map { classNames[0][$0] })
        }
        for (c, n) in classNames[0].enumerated() where !survivingClasses.contains(c) {
            warnings.append("\(root): class '\(n)' has no readable image left after skipping")
        }
        notes.insert("\(all.count - keep.filter { !$0 }.count) images (\(modes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))) as \(channels == 1 ? "grey" : "RGB") \(size)"
                     + (resized > 0 ? "; \(resized) resized (scaled to cover, centre-cropped)" : "")
                     + (converted > 0 ? "; \(converted) converted \(channels == 1 ? "to luma" : "from grey to RGB")" : ""), at: 0)
        let split: ImageFolderSplit = datasets.count == 1 ? .whole(datasets[0]) : .trainTest(train: datasets[0], test: datasets[1])
        var contents = ImageFolderContents(split: split, files: files, warnings: warnings, notes: notes, fromCache: false)
        if let dir = options.cacheDirectory {
            do {
                try writeCache(dir, key: key, contents: contents, splitNames: splitRoots.map(\.name))
                contents.notes.append("decoded images cached in \(cacheURL(dir, key, "npy").path)")
                let (removed, bytes) = pruneCache(dir, keeping: cacheEntriesKept)
                if removed > 0 {
                    contents.notes.append("removed \(removed) older cache entr\(removed == 1 ? "y" : "ies") (\(String(format: "%.1f", Double(bytes) / 1e6)) MB) "
                                          + "from \(dir.path); the \(cacheEntriesKept) used last are kept")
                }
            } catch {
                contents.warnings.append("cache not written: \(error)")
            }
        }
        return contents
    }

    static func validate(_ o: ImageFolderOptions) throws {
        if let c = o.channels, c != 1 && c != 3 {
            throw ImageFolderError.invalidOption(field: "channels", value: "\(c)", expected: "1 (grey) or 3 (RGB), or nil for automatic")
        }
        if let s = o.size, s.height < 1 || s.width < 1 {
            throw ImageFolderError.invalidOption(field: "size", value: "\(s)", expected: "positive height and width")
        }
        if o.maxPixels < 1 {
            throw ImageFolderError.invalidOption(field: "maxPixels", value: "\(o.maxPixels)", expected: "≥ 1")
        }
        if o.labelSetNames.contains(where: { $0.isEmpty }) {
            throw ImageFolderError.invalidOption(field: "labelSetNames", value: "\(o.labelSetNames)", expected: "non-empty names")
        }
    }

    // MARK: - The tree

    /// One image file found in the tree.
    struct FoundFile {
        /// Path components below the split root, the file name last.
        var components: [String]
        var size: Int64
        var modified: Int64
        var relative: String { components.joined(separator: "/") }
    }

    /// What a walk found.
    struct Scan {
        var files: [FoundFile] = []
        /// Full paths of other (non-image) files.
        var others: [String] = []
        /// Entries skipped for non-UTF-8 names or stat failures (part of the cache key).
        var skipped: [String] = []
    }

    /// One folder's entries (hidden ones left out), sorted by name bytes.
    struct Listing {
        struct Entry { var name: String; var size: Int64; var modified: Int64 }
        var folders: [Entry] = []
        var images: [Entry] = []
        var others: [String] = []
        var skipped: [String] = []
    }

    /// Lists one folder. Non-UTF-8 names and entries that cannot be examined are errors, or with
    /// `skipBadImages` warnings.
    static func listFolder(_ path: String, options: ImageFolderOptions, warnings: inout [String]) throws -> Listing {
        guard let dir = opendir(path) else {
            throw ImageFolderError.unreadableFolder(path: path, reason: String(cString: strerror(errno)))
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw ImageFolderError.unreadableFolder(path: path, reason: String(cString: strerror(errno))) }
                break
            }
            let bytes: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes.first == UInt8(ascii: ".") { continue }   // ".", "..", hidden entries
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        var listing = Listing()
        for bytes in names {
            guard let name = validUTF8(bytes) else {
                let shown = String(decoding: bytes, as: UTF8.self) + " (bytes " + bytes.map { String(format: "%02X", $0) }.joined(separator: " ") + ")"
                let error = ImageFolderError.nonUTF8Name(directory: path, name: shown)
                guard options.skipBadImages else { throw error }
                warnings.append("skipped \(error)")
                listing.skipped.append(path + "/" + shown)
                continue
            }
            let full = path + "/" + name
            var info = stat()
            guard stat(full, &info) == 0 else {
                let error = ImageFolderError.unreadableEntry(path: full, reason: String(cString: strerror(errno)))
                guard options.skipBadImages else { throw error }
                warnings.append("skipped \(error)")
                listing.skipped.append(full)
                continue
            }
            let kind = info.st_mode & S_IFMT
            #if os(Linux)
            let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            #else
            let modified = Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
            #endif
            let e = Listing.Entry(name: name, size: Int64(info.st_size), modified: modified)
            if kind == S_IFDIR {
                listing.folders.append(e)
            } else if kind == S_IFREG, let dot = name.lastIndex(of: "."),
                      imageExtensions.contains(name[name.index(after: dot)...].lowercased()) {
                listing.images.append(e)
            } else {
                listing.others.append(name)
            }
        }
        return listing
    }

    /// `bytes` as a string, or nil when they are not valid UTF-8.
    static func validUTF8(_ bytes: [UInt8]) -> String? {
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return String(decoding: bytes, as: UTF8.self)
            case .error: return nil
            }
        }
    }

    /// Walks the tree below `path` depth-first in name order, collecting image files.
    static func walk(_ path: String, components: [String], depth: Int, scan: inout Scan,
                     options: ImageFolderOptions, warnings: inout [String]) throws {
        guard depth <= maxDepth else { throw ImageFolderError.tooDeep(path: path, limit: maxDepth) }
        let listing = try listFolder(path, options: options, warnings: &warnings)
        let before = scan.files.count
        scan.others += listing.others.map { path + "/" + $0 }
        scan.skipped += listing.skipped
        // Files and folders merged in name order, so rows follow component-wise byte order.
        var f = 0, d = 0
        while f < listing.images.count || d < listing.folders.count {
            let takeFile = d == listing.folders.count
                || (f < listing.images.count && Array(listing.images[f].name.utf8).lexicographicallyPrecedes(Array(listing.folders[d].name.utf8)))
            if takeFile {
                let e = listing.images[f]
                scan.files.append(FoundFile(components: components + [e.name], size: e.size, modified: e.modified))
                f += 1
            } else {
                let e = listing.folders[d]
                try walk(path + "/" + e.name, components: components + [e.name], depth: depth + 1, scan: &scan,
                         options: options, warnings: &warnings)
                d += 1
            }
        }
        if depth > 0 && scan.files.count == before { throw ImageFolderError.emptyFolder(path: path) }
    }

    /// Other files: an error listing them, or (ignoreOtherFiles) a note.
    static func checkOthers(_ scan: Scan, directory: String, options: ImageFolderOptions, notes: inout [String]) throws {
        guard !scan.others.isEmpty else { return }
        let others = scan.others.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        if options.ignoreOtherFiles {
            notes.append("\(directory): ignored \(others.count) file\(others.count == 1 ? "" : "s") that are not .png/.jpg/.jpeg (first: \(others[0]))")
        } else {
            throw ImageFolderError.otherFiles(directory: directory, files: Array(others.prefix(10)), count: others.count)
        }
    }

    /// Component-wise byte order of relative paths.
    static func componentsPrecede(_ a: [String], _ b: [String]) -> Bool {
        a.lexicographicallyPrecedes(b) { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    // MARK: - Decoding

    /// What decoding one file gave.
    enum Decoded {
        /// Pixels `[channels, size]` at the target size (or the original size before the target is known).
        case image([Float], original: ImageSize, channels: Int, info: DecodedInfo)
        case failure(Error)
    }

    struct DecodedInfo {
        var format: ImageFileFormat
        var mode: String
        var warning: String?
    }

    /// Decodes `path` and, with a target, resizes it. Errors are returned, not thrown.
    static func decodeOne(_ path: String, target: ImageSize?, maxPixels: Int) -> Decoded {
        do {
            let image = try ImageCodecs.decode(ImageCodecs.readFile(path), file: path, maxPixels: maxPixels)
            let original = ImageSize(height: image.height, width: image.width)
            var px = image.pixels
            if let t = target {
                px = ImageResize.coverAndCentreCrop(px, channels: image.channels, height: image.height, width: image.width,
                                                    toHeight: t.height, toWidth: t.width)
            }
            return .image(px, original: original, channels: image.channels,
                          info: DecodedInfo(format: image.format, mode: image.mode, warning: image.warning))
        } catch {
            return .failure(error)
        }
    }

    // MARK: - Cache

    /// 128-bit FNV-1a (two 64-bit FNV-1a hashes with different offset bases) of the text that
    /// describes the input, as 32 hex digits.
    static func cacheKey(scans: [Scan], splits: [String], options: ImageFolderOptions) -> String {
        // Every free-form string is length-prefixed, so no two inputs give the same text.
        func field(_ s: String) -> String { "\(s.utf8.count):\(s)" }
        var text = "featurelens image folder cache v\(cacheFormatVersion)\n"
        text += "label_sets=\(options.labelSetNames.map(field).joined(separator: ","))\n"
        text += "size=\(options.size.map { "\($0.height)x\($0.width)" } ?? "first")\n"
        text += "channels=\(options.channels.map(String.init) ?? "auto")\n"
        text += "skip_bad_images=\(options.skipBadImages) ignore_other_files=\(options.ignoreOtherFiles) max_pixels=\(options.maxPixels)\n"
        for (scan, split) in zip(scans, splits) {
            text += "split \(split) \(scan.files.count)\n"
            for f in scan.files { text += "\(field(f.relative)) \(f.size) \(f.modified)\n" }
            for s in scan.skipped { text += "skipped \(field(s))\n" }
        }
        func fnv(_ basis: UInt64) -> UInt64 {
            var h = basis
            for b in text.utf8 { h ^= UInt64(b); h = h &* 0x0000_0100_0000_01B3 }
            return h
        }
        return String(format: "%016llx%016llx", fnv(0xCBF2_9CE4_8422_2325), fnv(0x6C62_272E_07BB_0142))
    }

    /// Marks the entry `key` as used now (its JSON's modification time), for `pruneCache`.
    /// A folder that cannot be written keeps the old time.
    static func markUsed(_ dir: URL, key: String) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: cacheURL(dir, key, "json").path)
    }

    /// Removes every cache entry of `dir` but the `keeping` used last (by the later
    /// modification time of its two files), with any half-written files of an entry.
    /// - Returns: the entries removed and their bytes. Files that cannot be removed stay.
    static func pruneCache(_ dir: URL, keeping: Int) -> (entries: Int, bytes: Int) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { return (0, 0) }
        var entries: [String: (used: Date, files: [URL], bytes: Int)] = [:]
        for name in names where name.hasPrefix("imagefolder-") {
            let url = dir.appendingPathComponent(name)
            let key = String(name.dropFirst("imagefolder-".count).prefix { $0 != "." })
            guard let a = try? fm.attributesOfItem(atPath: url.path) else { continue }
            let date = a[.modificationDate] as? Date ?? .distantPast
            let size = (a[.size] as? NSNumber)?.intValue ?? 0
            var e = entries[key] ?? (.distantPast, [], 0)
            e.used = max(e.used, date)
            e.files.append(url)
            e.bytes += size
            entries[key] = e
        }
        let old = entries.sorted { ($0.value.used, $0.key) > ($1.value.used, $1.key) }.dropFirst(max(0, keeping))
        var removed = 0, bytes = 0
        for (_, e) in old {
            var all = true
            for f in e.files where (try? fm.removeItem(at: f)) == nil { all = false }
            if all { removed += 1; bytes += e.bytes }
        }
        return (removed, bytes)
    }

    static func cacheURL(_ dir: URL, _ key: String, _ ext: String) -> URL {
        dir.appendingPathComponent("imagefolder-\(key).\(ext)")
    }

    /// The JSON half of a cache entry.
    struct CacheManifest: Codable {
        struct Level: Codable { var name: String; var names: [String]; var within: String? }
        struct Split: Codable {
            var name: String
            var files: [String]
            var codes: [String: [Int]]
        }
        var formatVersion: Int
        var key: String
        var height: Int
        var width: Int
        var channels: Int
        var labelSets: [Level]
        var splits: [Split]
        var warnings: [String]
        var notes: [String]

        enum CodingKeys: String, CodingKey {
            case formatVersion = "format_version", key, height, width, channels
            case labelSets = "label_sets", splits, warnings, notes
        }
    }

    enum CacheLookup {
        case hit(ImageFolderContents)
        case miss
        case unusable(String)
    }

    static func readCache(_ dir: URL, key: String, datasetName: String) -> CacheLookup {
        let json = cacheURL(dir, key, "json"), npy = cacheURL(dir, key, "npy")
        guard FileManager.default.fileExists(atPath: json.path) else { return .miss }
        do {
            let m = try FeatureLensJSON.decode(CacheManifest.self, from: Data(contentsOf: json), file: json.path)
            guard m.formatVersion == cacheFormatVersion, m.key == key else { return .unusable("format or key differs") }
            let images = try NPY.read(npy, as: Float.self)
            let n = m.splits.reduce(0) { $0 + $1.files.count }
            guard images.shape == [n, m.channels, m.height, m.width] else {
                return .unusable("NPY shape \(images.shape), expected \([n, m.channels, m.height, m.width])")
            }
            var datasets: [ImageDataset] = [], files: [[String]] = []
            var offset = 0
            let plane = m.channels * m.height * m.width
            for s in m.splits {
                var sets: [String: LabelSet] = [:]
                for l in m.labelSets {
                    guard let codes = s.codes[l.name], codes.count == s.files.count else {
                        return .unusable("split \(s.name) lacks the codes of \(l.name)")
                    }
                    sets[l.name] = try LabelSet(name: l.name, codes: codes, names: l.names, within: l.within)
                }
                let px = Array(images.scalars[offset * plane..<(offset + s.files.count) * plane])
                datasets.append(ImageDataset(name: s.name == "whole" ? datasetName : datasetName + "/" + s.name,
                                             images: Tensor(shape: [s.files.count, m.channels, m.height, m.width], scalars: px),
                                             labelSets: sets))
                files.append(s.files)
                offset += s.files.count
            }
            let split: ImageFolderSplit
            switch datasets.count {
            case 1: split = .whole(datasets[0])
            case 2: split = .trainTest(train: datasets[0], test: datasets[1])
            default: return .unusable("\(datasets.count) splits")
            }
            return .hit(ImageFolderContents(split: split, files: files, warnings: m.warnings, notes: m.notes, fromCache: true))
        } catch {
            return .unusable("\(error)")
        }
    }

    static func writeCache(_ dir: URL, key: String, contents: ImageFolderContents, splitNames: [String]) throws {
        try AtomicFile.prepareDirectory(dir)
        let datasets: [ImageDataset]
        switch contents.split {
        case .whole(let d): datasets = [d]
        case .trainTest(let a, let b): datasets = [a, b]
        }
        let d0 = datasets[0]
        let names = d0.labelSets.keys.sorted()
        let levels = names.map { CacheManifest.Level(name: $0, names: d0.labelSets[$0]!.classNames, within: d0.labelSets[$0]!.within) }
        let splits = zip(zip(datasets, contents.files), splitNames).map { pair, name in
            CacheManifest.Split(name: name, files: pair.1, codes: pair.0.labelSets.mapValues(\.codes))
        }
        let all = datasets.flatMap(\.images.scalars)
        let n = datasets.reduce(0) { $0 + $1.count }
        let manifest = CacheManifest(formatVersion: cacheFormatVersion, key: key, height: d0.height, width: d0.width,
                                     channels: d0.channels, labelSets: levels, splits: splits,
                                     warnings: contents.warnings, notes: contents.notes)
        try NPY.write(Tensor(shape: [n, d0.channels, d0.height, d0.width], scalars: all), to: cacheURL(dir, key, "npy"))
        try AtomicFile.write(FeatureLensJSON.encode(manifest), to: cacheURL(dir, key, "json"))
    }
}
