// ReferenceLogProbCache.swift: the reference model's summed answer log-probs, computed once and
// kept in the output folder, keyed by the reference's content fingerprint and the exact ids.
//
// File `reference_logps.json`: {"reference": "<fingerprint>", "entries": {"<key>": logp}} with
// key = SHA-256 of (prompt ids, -1, answer ids) as little-endian Int32. Entries of another
// reference are never read. Written atomically, after every few forward rows, so a killed
// reference pass resumes where it stopped.

import Foundation
import Formats

/// Reference log-probs by (prompt, answer) token ids.
public final class ReferenceLogProbCache: @unchecked Sendable {
    /// The file.
    public let path: String
    /// The reference model's fingerprint the entries belong to.
    public let reference: String
    private(set) var entries: [String: Double]

    private struct File: Codable {
        var reference: String
        var entries: [String: Double]
    }

    /// Opens (or starts) the cache at `path` for the reference with `fingerprint`; entries of
    /// another reference are dropped.
    public init(path: String, reference fingerprint: String) {
        self.path = path
        reference = fingerprint
        if let data = FileManager.default.contents(atPath: path),
            let f = try? JSONDecoder().decode(File.self, from: data), f.reference == fingerprint
        {
            entries = f.entries
        } else {
            entries = [:]
        }
    }

    /// Number of stored entries.
    public var count: Int { entries.count }

    /// The key of an answer after a prompt.
    public static func key(prompt: [Int32], answer: [Int32]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 * (prompt.count + answer.count + 1))
        for v in prompt + [-1] + answer { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        return SHA256.hex(bytes)
    }

    /// The stored value, if any.
    public func value(prompt: [Int32], answer: [Int32]) -> Double? { entries[Self.key(prompt: prompt, answer: answer)] }

    /// Stores a value (in memory; ``save()`` writes).
    public func set(_ v: Double, prompt: [Int32], answer: [Int32]) { entries[Self.key(prompt: prompt, answer: answer)] = v }

    /// Writes the file atomically.
    /// - Throws: ``TrainingError/write(file:reason:)``.
    public func save() throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try e.encode(File(reference: reference, entries: entries)) } catch {
            throw TrainingError.write(file: path, reason: "\(error)")
        }
        try AtomicFile.write(data, to: path)
    }
}
