// LocalJudge.swift: the embedded judge (SmolLM2 by default): continuous batching on one worker
// thread, rubric prefix reuse, and verdicts read from token probabilities.

import Foundation
import Kernels
import Models
import Tokenizers

/// A judge that runs a GGUF Llama model in process.
///
/// One worker thread owns a ``DecodeScheduler``: calls join the running decode batch at the next
/// step and leave it as soon as they finish (continuous batching), their prompts prefilled in
/// chunks of at most `prefillBudget` tokens between decode steps; each prompt's fixed rubric
/// prefix is copied from a `PrefixCache` instead of being recomputed. With
/// `continuousBatching: false` the worker runs static batches instead (a batch of up to
/// `maxBatch` waiting calls decodes to the end before the next one starts), for comparison.
public final class LocalJudge: Judge, @unchecked Sendable {
    /// The model.
    public let model: LanguageModel
    /// Prefilled rubric prefixes.
    public let prefixCache: PrefixCache
    /// Most requests decoding together.
    public let maxBatch: Int
    /// Prompt tokens prefilled per scheduler step (continuous batching).
    public let prefillBudget: Int
    /// Whether requests join a running batch (otherwise: static batches).
    public let continuousBatching: Bool
    /// Whether fixed prefixes are reused (off: every call prefills its whole prompt).
    public let reusePrefixes: Bool
    /// `local:<file name>:<size>`.
    public let identity: String

    private struct Pending {
        let request: JudgeRequest
        let continuation: CheckedContinuation<JudgeReply, Error>
        let submitted: Date
    }

    private let lock = NSLock()
    private var queue: [Pending] = []
    private var working = false
    private var probes: [VerdictRequest: VerdictProbe] = [:]

    /// Wraps a loaded model. `decodeActivations` sets the model's ``LlamaModel/decodeActivations``
    /// (`.float32`, the default, decodes exactly; `.q8` runs the integer kernels, and the judge's
    /// identity, part of every cache key, says so). Verdict probes are exact either way, unless
    /// `kvCache` (nil: keep the model's setting) stores keys and values in 8 bits: then every
    /// attention reads rounded keys and values, verdicts move slightly, and the identity says
    /// so too.
    public init(
        model: LanguageModel, maxBatch: Int = 16, prefillBudget: Int = 256, continuousBatching: Bool = true, reusePrefixes: Bool = true,
        decodeActivations: ActivationPrecision = .float32, kvCache: KVCachePrecision? = nil
    ) {
        model.model.decodeActivations = decodeActivations
        if let kvCache { model.model.kvCachePrecision = kvCache }
        self.model = model
        self.maxBatch = max(1, maxBatch)
        self.prefillBudget = max(1, prefillBudget)
        self.continuousBatching = continuousBatching
        self.reusePrefixes = reusePrefixes
        prefixCache = PrefixCache(model: model.model, capacity: 8)
        let size = (try? FileManager.default.attributesOfItem(atPath: model.path)[.size] as? Int) ?? 0
        identity = "local:\((model.path as NSString).lastPathComponent):\(size)" + (decodeActivations == .q8 ? ":q8" : "")
            + (model.model.kvCachePrecision == .int8 ? ":kv8" : "")
    }

    /// Loads the embedded SmolLM2 (or `path`) and wraps it.
    public convenience init(
        path: String? = nil, threads: Int = 1, maxBatch: Int = 16, continuousBatching: Bool = true, reusePrefixes: Bool = true,
        decodeActivations: ActivationPrecision = .float32, kvCache: KVCachePrecision = .float32
    ) throws {
        self.init(
            model: try LanguageModel.load(path: path, threads: threads), maxBatch: maxBatch, continuousBatching: continuousBatching,
            reusePrefixes: reusePrefixes, decodeActivations: decodeActivations, kvCache: kvCache)
    }

    /// The ChatML text the model reads for `messages`, ready for the assistant's turn.
    public func renderedPrompt(_ messages: [ChatMessage]) -> String? { model.chatPrompt(messages) }

    /// Checks that every label of `verdict` can be read from this model's token probabilities:
    /// each label must be whole tokens after the opener, distinct from the others.
    /// - Throws: `JudgeError.unencodableVerdict` naming the rubric and the label.
    public func validate(_ verdict: VerdictRequest) throws { _ = try probe(for: verdict) }

    /// Queues the request; it joins the running batch at the next step.
    public func complete(_ request: JudgeRequest) async throws -> JudgeReply {
        if let v = request.verdict { _ = try probe(for: v) }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            queue.append(Pending(request: request, continuation: continuation, submitted: Date()))
            let start = !working
            working = true
            lock.unlock()
            if start {
                let thread = Thread { [self] in work() }
                thread.stackSize = 16 << 20
                thread.start()
            }
        }
    }

    // MARK: - Worker

    private func work() {
        let scheduler = DecodeScheduler(
            model: model, maxBatch: maxBatch, prefillBudget: continuousBatching ? prefillBudget : Int.max)
        var running: [Int: (pending: Pending, prompt: [Int32], cached: Int)] = [:]
        var nextID = 0
        // Give concurrent callers a moment to arrive together at start.
        usleep(3000)
        while true {
            // Admit what is waiting: always with continuous batching, else only between batches.
            lock.lock()
            var admitted: [Pending] = []
            if continuousBatching || scheduler.isIdle {
                let n = continuousBatching ? queue.count : min(queue.count, maxBatch)
                admitted = Array(queue.prefix(n))
                queue.removeFirst(n)
            }
            if admitted.isEmpty && scheduler.isIdle {
                working = false
                lock.unlock()
                return
            }
            lock.unlock()
            for pending in admitted {
                do {
                    let (prompt, prefix, parameters) = try prepare(pending.request)
                    running[nextID] = (pending, prompt, prefix?.count ?? 0)
                    scheduler.submit(id: nextID, prompt: prompt, parameters: parameters, prefix: prefix)
                    nextID += 1
                } catch {
                    pending.continuation.resume(throwing: error)
                }
            }
            for (id, generation) in scheduler.step() {
                guard let item = running.removeValue(forKey: id) else { continue }
                item.pending.continuation.resume(returning: reply(item.pending, generation, promptTokens: item.prompt.count, cached: item.cached))
            }
        }
    }

    /// The prefilled state of `request`'s fixed messages (computed on first use), when its
    /// prompt starts with them; nil when it has none.
    @discardableResult
    public func prefixState(_ request: JudgeRequest, prompt: [Int32]? = nil) -> KVCache? {
        guard request.fixedMessageCount > 0 else { return nil }
        let fixed = Array(request.messages.prefix(request.fixedMessageCount))
        let prefix = model.encodePrompt(model.chatPrompt(fixed, addGenerationPrompt: false))
        return prefixCache.state(for: prefix, prompt: prompt ?? model.encodePrompt(model.chatPrompt(request.messages)))
    }

    /// Tokens, prefix state and generation parameters of one request.
    private func prepare(_ request: JudgeRequest) throws -> ([Int32], KVCache?, GenerationParameters) {
        let context = model.model.configuration.contextLength
        let prompt = model.encodePrompt(model.chatPrompt(request.messages))
        if prompt.count >= context - 8 {
            throw JudgeError.promptTooLong(judge: identity, tokens: prompt.count, limit: context)
        }
        let prefixState = reusePrefixes ? prefixState(request, prompt: prompt) : nil
        let parameters = GenerationParameters(
            maxTokens: request.maxTokens,
            sampling: SamplingParameters(
                temperature: Float(request.temperature), topK: 0, topP: Float(request.topP),
                seed: UInt64(truncatingIfNeeded: request.seed)),
            stopStrings: request.stopAfter, keepStopString: true, probe: try request.verdict.map { try probe(for: $0) })
        return (prompt, prefixState, parameters)
    }

    private func reply(_ pending: Pending, _ g: Generation, promptTokens: Int, cached: Int) -> JudgeReply {
        var text = g.text
        var verdict: VerdictProbabilities? = nil
        if let v = pending.request.verdict, let lps = g.verdictLogProbabilities {
            let p = lps.map { Foundation.exp($0) }
            verdict = VerdictProbabilities(probabilities: p, source: "model", forced: g.forcedVerdict)
            // The stored output reads like a parsed one: the most likely verdict, closed.
            if let best = p.indices.max(by: { p[$0] < p[$1] }) { text += v.labels[best] + v.closer }
        }
        return JudgeReply(
            text: text, tokensIn: promptTokens, cachedTokens: cached, tokensOut: g.tokens.count,
            latency: Date().timeIntervalSince(pending.submitted), verdict: verdict)
    }

    // MARK: - Verdict probes

    /// The probe for a verdict request (built once per request shape).
    private func probe(for v: VerdictRequest) throws -> VerdictProbe {
        lock.lock()
        if let p = probes[v] { lock.unlock(); return p }
        lock.unlock()
        let tok = model.tokenizer
        let openerIDs = tok.encode(v.opener)
        var candidates: [[Int32]] = []
        for label in v.labels {
            // The label as the model writes it after the opener and before the closer.
            let full = tok.encode(v.opener + label + v.closer)
            let after = full.starts(with: openerIDs) ? Array(full.dropFirst(openerIDs.count)) : tok.encode(label + v.closer)
            guard let k = (1...max(1, after.count)).first(where: { k in k <= after.count && (try? tok.decode(Array(after.prefix(k)))) == label })
            else {
                throw JudgeError.unencodableVerdict(
                    rubric: v.rubricID, verdict: label, judge: identity,
                    reason: "its tokens after '\(v.opener)' do not end where '\(v.closer)' starts")
            }
            let ids = Array(after.prefix(k))
            if let other = candidates.firstIndex(of: ids) {
                throw JudgeError.unencodableVerdict(
                    rubric: v.rubricID, verdict: label, judge: identity, reason: "same tokens as '\(v.labels[other])'")
            }
            candidates.append(ids)
        }
        guard let closer = tok.encode(v.closer).first else {
            throw JudgeError.unencodableVerdict(rubric: v.rubricID, verdict: v.closer, judge: identity, reason: "the closer encodes to no token")
        }
        let p = VerdictProbe(
            opener: v.opener, forcedPrefix: v.forcedPrefix, candidates: candidates, closerToken: closer, direct: v.mode == .direct)
        lock.lock()
        probes[v] = p
        lock.unlock()
        return p
    }
}
