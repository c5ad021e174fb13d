// ProcessMemory.swift: the process's resident memory, read from /proc/self/status (Linux), for
// the peak-memory figures of benchmarks and training summaries.

import Foundation

/// Resident memory of this process (Linux `/proc`; nil elsewhere).
public enum ProcessMemory {
    /// Peak resident set size in bytes (`VmHWM`); nil where /proc is unavailable.
    public static func peakResidentBytes() -> Int? { statusKilobytes("VmHWM:").map { $0 * 1024 } }

    /// Current resident set size in bytes (`VmRSS`); nil where /proc is unavailable.
    public static func residentBytes() -> Int? { statusKilobytes("VmRSS:").map { $0 * 1024 } }

    /// Resets the peak resident set size to the current one. Returns false where unsupported.
    @discardableResult
    public static func resetPeakResidentBytes() -> Bool {
        guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? h.close() }
        do { try h.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    private static func statusKilobytes(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }
}
