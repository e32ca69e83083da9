import Foundation

/// Errors raised while writing output files.
public struct OutputError: Error, CustomStringConvertible {
    /// The path that could not be written.
    public var path: String
    /// What went wrong.
    public var reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// Atomic file output: data is written to a temporary file in the same folder, flushed to
/// disk (fsync) and renamed over the destination, so a reader never sees a half-written
/// file and a failure leaves any previous version intact.
public enum AtomicFile {
    /// Writes `data` to `url` atomically. Throws `OutputError` naming the path.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw OutputError(path: url.path, reason: String(cString: strerror(errno)))
        }
        var ok = true
        var err = ""
        data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false; err = String(cString: strerror(errno)); return
                }
                off += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; err = String(cString: strerror(errno)) }
        close(fd)
        guard ok else {
            unlink(tmp.path)
            throw OutputError(path: url.path, reason: err)
        }
        if rename(tmp.path, url.path) != 0 {
            let e = String(cString: strerror(errno))
            unlink(tmp.path)
            throw OutputError(path: url.path, reason: e)
        }
    }

    /// Writes UTF-8 `text` to `url` atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Creates `url` (and parents) as a directory, checking it is writable.
    /// Throws `OutputError` when it exists as a file or cannot be created or written.
    /// Removes the folder `url` when it holds no file (only empty folders, or nothing), for
    /// example a run folder created for a run that failed before writing anything; a folder
    /// with any file in it is left alone. Errors are ignored (the folder then stays).
    public static func removeIfHoldsNoFiles(_ url: URL) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue,
              let walker = fm.enumerator(at: url, includingPropertiesForKeys: [.isDirectoryKey]) else { return }
        for case let item as URL in walker {
            guard (try? item.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true else { return }
        }
        try? fm.removeItem(at: url)
    }

    /// The outermost folder that `prepareDirectory(url)` would create: `url` itself or the
    /// highest missing parent of it; nil when `url` exists. For undoing a failed start with
    /// `removeIfHoldsNoFiles`.
    public static func outermostMissingFolder(of url: URL) -> URL? {
        var created: URL? = nil
        var probe = url.standardizedFileURL
        while !FileManager.default.fileExists(atPath: probe.path) {
            created = probe
            let parent = probe.deletingLastPathComponent()
            if parent.path == probe.path { break }
            probe = parent
        }
        return created
    }

    public static func prepareDirectory(_ url: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw OutputError(path: url.path, reason: "exists and is not a folder") }
        } else {
            do {
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw OutputError(path: url.path, reason: "cannot create folder (\(error.localizedDescription))")
            }
        }
        guard access(url.path, W_OK) == 0 else {
            throw OutputError(path: url.path, reason: "folder is not writable")
        }
    }
}
