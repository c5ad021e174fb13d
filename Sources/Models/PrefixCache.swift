// PrefixCache.swift: KV caches of fixed prompt prefixes (a rubric's instructions and few-shot
// examples), computed once and copied into every call that starts with them.

import Foundation

/// A small least-recently-used store of prefilled prompt prefixes for one model.
///
/// A judge renders every call of a rubric as `[fixed prefix][per-call part]`; the prefix's keys and
/// values are the same every time, so prefilling it once and copying it (a memcpy of
/// `tokens x layers x 2 x kvWidth` floats) replaces most of each call's prefill.
public final class PrefixCache: @unchecked Sendable {
    /// The model whose states are cached.
    public let model: LlamaModel
    /// Most prefixes kept at once (each costs `tokens x 46 KB` for SmolLM2).
    public let capacity: Int
    private var entries: [(tokens: [Int32], cache: KVCache)] = []
    private let lock = NSLock()

    /// Creates an empty cache.
    public init(model: LlamaModel, capacity: Int = 8) {
        self.model = model
        self.capacity = max(1, capacity)
    }

    /// A cache holding `prefix` (prefilled now on a miss), provided `prompt` starts with it and
    /// leaves at least one token after it. Returns nil (use no prefix) otherwise.
    /// Thread-safe; the returned cache must only be read (copied from).
    public func state(for prefix: [Int32], prompt: [Int32]) -> KVCache? {
        guard !prefix.isEmpty, prompt.count > prefix.count, prompt.starts(with: prefix) else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let i = entries.firstIndex(where: { $0.tokens == prefix }) {
            let entry = entries.remove(at: i)
            entries.append(entry)
            return entry.cache
        }
        let cache = model.makeCache(capacity: prefix.count)
        _ = model.forward(tokens: prefix, cache: cache)
        entries.append((prefix, cache))
        if entries.count > capacity { entries.removeFirst() }
        return cache
    }

    /// Number of prefixes held.
    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
