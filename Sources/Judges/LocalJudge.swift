// LocalJudge.swift: the embedded judge (SmolLM2 by default) with batched decoding and rubric
// prefix reuse.

import Foundation
import Models
import Tokenizers

/// A judge that runs a GGUF Llama model in process.
///
/// Concurrent calls are coalesced: a worker thread takes up to `maxBatch` waiting requests,
/// prefills each (copying the rubric's fixed prefix from a `PrefixCache` instead of recomputing
/// it) and decodes them together, so the weights are read once per step for the whole batch.
public final class LocalJudge: Judge, @unchecked Sendable {
    /// The model.
    public let model: LanguageModel
    /// Prefilled rubric prefixes.
    public let prefixCache: PrefixCache
    /// Most requests decoded together.
    public let maxBatch: Int
    /// Whether fixed prefixes are reused (off: every call prefills its whole prompt).
    public let reusePrefixes: Bool
    /// `local:<file name>:<size>`.
    public let identity: String

    private struct Pending {
        let request: JudgeRequest
        let continuation: CheckedContinuation<JudgeReply, Error>
    }

    private let lock = NSLock()
    private var queue: [Pending] = []
    private var working = false

    /// Wraps a loaded model.
    public init(model: LanguageModel, maxBatch: Int = 8, reusePrefixes: Bool = true) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.reusePrefixes = reusePrefixes
        prefixCache = PrefixCache(model: model.model, capacity: 8)
        let size = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
        identity = "local:\((model.path as NSString).lastPathComponent):\(size)"
    }

    /// Loads the embedded SmolLM2 (or `path`) and wraps it.
    public convenience init(path: String? = nil, threads: Int = 1, maxBatch: Int = 8, reusePrefixes: Bool = true) throws {
        self.init(model: try LanguageModel.load(path: path, threads: threads), maxBatch: maxBatch, reusePrefixes: reusePrefixes)
    }

    /// The ChatML text the model reads for `messages`, ready for the assistant's turn.
    public func renderedPrompt(_ messages: [ChatMessage]) -> String? { model.chatPrompt(messages) }

    /// Queues the request for the next batch and waits for its reply.
    public func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            queue.append(Pending(request: request, continuation: continuation))
            let start = !working
            working = true
            lock.unlock()
            if start {
                let thread = Thread { [self] in drain() }
                thread.stackSize = 16 << 20
                thread.start()
            }
        }
    }

    private func drain() {
        while true {
            // Give concurrent callers a moment to join the batch.
            usleep(3000)
            lock.lock()
            if queue.isEmpty {
                working = false
                lock.unlock()
                return
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            lock.unlock()
            run(batch)
        }
    }

    private func run(_ batch: [Pending]) {
        let context = model.model.configuration.contextLength
        var accepted: [(pending: Pending, prompt: [Int32], prefix: KVCache?)] = []
        for pending in batch {
            let request = pending.request
            let prompt = model.encodePrompt(model.chatPrompt(request.messages))
            if prompt.count >= context - 8 {
                pending.continuation.resume(throwing: JudgeError.promptTooLong(judge: identity, tokens: prompt.count, limit: context))
                continue
            }
            var prefixState: KVCache? = nil
            if reusePrefixes, request.fixedMessageCount > 0 {
                let fixed = Array(request.messages.prefix(request.fixedMessageCount))
                let prefix = model.encodePrompt(model.chatPrompt(fixed, addGenerationPrompt: false))
                prefixState = prefixCache.state(for: prefix, prompt: prompt)
            }
            accepted.append((pending, prompt, prefixState))
        }
        guard !accepted.isEmpty else { return }
        let parameters = accepted.map { item in
            GenerationParameters(
                maxTokens: item.pending.request.maxTokens,
                sampling: SamplingParameters(
                    temperature: Float(item.pending.request.temperature), topK: 0, topP: Float(item.pending.request.topP),
                    seed: UInt64(truncatingIfNeeded: item.pending.request.seed)),
                stopStrings: item.pending.request.stopAfter, keepStopString: true)
        }
        let started = Date()
        let generations = model.generate(
            prompts: accepted.map(\.prompt), parameters: parameters, prefixes: accepted.map(\.prefix))
        let latency = Date().timeIntervalSince(started)
        for (item, generation) in zip(accepted, generations) {
            item.pending.continuation.resume(returning: JudgeReply(
                text: generation.text, tokensIn: item.prompt.count, cachedTokens: item.prefix?.count ?? 0,
                tokensOut: generation.tokens.count, latency: latency))
        }
    }
}
