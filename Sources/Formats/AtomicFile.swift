// AtomicFile.swift: whole files or nothing. Every output the project writes in one piece
// (reports, eval results, checkpoints, caches) goes through here.

import Foundation

/// Writes a whole file or nothing: the bytes go to `<path>.partial`, are flushed to disk, then
/// renamed over `path`. On any failure (a full disk, a size limit) the partial file is removed,
/// `path` keeps its old contents, and `FormatError.io` names the file and the reason.
public enum AtomicFile {
    /// Writes `data` to `path`.
    public static func write(_ data: Data, to path: String) throws {
        let partial = path + ".partial"
        guard let f = fopen(partial, "wb") else {
            throw FormatError.io(file: path, reason: "cannot create \(partial): \(String(cString: strerror(errno)))")
        }
        let written = data.withUnsafeBytes { $0.baseAddress.map { fwrite($0, 1, data.count, f) } ?? 0 }
        let flushed = fflush(f) == 0 && fsync(fileno(f)) == 0
        let err = errno
        fclose(f)
        guard written == data.count, flushed else {
            unlink(partial)
            throw FormatError.io(file: path, reason: "write failed: \(String(cString: strerror(err == 0 ? EIO : err)))")
        }
        guard rename(partial, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(partial)
            throw FormatError.io(file: path, reason: "rename failed: \(reason)")
        }
    }
}
