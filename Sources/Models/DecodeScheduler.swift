// DecodeScheduler.swift: continuous batching for generation. One running decode batch: a
// sequence that finishes leaves at once, a waiting one joins at the next step, and prompts are
// prefilled in chunks under a per-step token budget, so one long prefill does not stall the
// sequences already decoding. `LanguageModel.generate(prompts:...)` is this scheduler with every
// sequence admitted at the start and whole prompts prefilled (static batching).
//
// Sequences with the same prompt (K samples of one question) prefill it once: a sequence admitted
// while another with its prompt is running waits for that one's prefill, copies its cache up to
// the prompt's last token and computes only that token; the copies then share the prompt's
// chunks in every decode step's attention (`Attention.decode(sequences:...)`).
//
// Verdict probes: a sequence may end by reading a verdict's distribution instead of sampling it
// (the judge's "expected" and "direct" modes). After the opener (`[[`) the probabilities of the
// allowed verdicts are read from the model's next-token log-probs; a verdict of several tokens
// gets the product of its tokens' probabilities, and a verdict that is also the start of another
// one (`1` and `10`) is disambiguated by the probability of the closer's first token.

import Kernels
import Tokenizers

/// How a sequence's verdict is read from probabilities (see ``DecodeScheduler``).
public struct VerdictProbe: Sendable, Equatable {
    /// Text that opens a verdict (`[[`): generation stops right after it.
    public var opener: String
    /// Text fed when the analysis ended without the opener, and in direct mode right after the
    /// prompt; it must end with `opener` (`"\nRating: [["`).
    public var forcedPrefix: String
    /// Token ids of each allowed verdict as the model writes it after the opener.
    public var candidates: [[Int32]]
    /// First token of the closer (`]]`) after a verdict, when one verdict is a prefix of another.
    public var closerToken: Int32?
    /// Skip the analysis: the verdict is read right after `prompt + forcedPrefix` (no decode).
    public var direct: Bool

    /// Creates a probe.
    public init(opener: String, forcedPrefix: String, candidates: [[Int32]], closerToken: Int32?, direct: Bool) {
        self.opener = opener
        self.forcedPrefix = forcedPrefix
        self.candidates = candidates
        self.closerToken = closerToken
        self.direct = direct
    }
}

/// Continuous-batching generator over one ``LanguageModel``. Not thread-safe: one thread submits
/// and steps (the judge's worker); see `LocalJudge`.
///
/// ```swift
/// let scheduler = DecodeScheduler(model: lm, maxBatch: 16, prefillBudget: 256)
/// scheduler.submit(id: 1, prompt: ids, parameters: p)
/// while !scheduler.isIdle { for (id, g) in scheduler.step() { print(id, g.text) } }
/// ```
public final class DecodeScheduler {
    /// The model.
    public let lm: LanguageModel
    /// Most sequences decoding at once.
    public var maxBatch: Int
    /// Prompt tokens prefilled per step across all joining sequences (`Int.max`: whole prompts).
    public var prefillBudget: Int

    private var waiting: [Slot] = []
    private var active: [Slot] = []
    private let logits: FloatBuffer
    /// Decode-step buffers (hidden rows and logits of the live sequences), kept between steps
    /// and grown when the batch grows.
    private var stepHidden = FloatBuffer(count: 0), stepLogits = FloatBuffer(count: 0)
    /// Prompt tokens run through the model so far.
    public private(set) var prefilledTokens = 0
    /// Prompt tokens copied from another running sequence with the same prompt instead.
    public private(set) var sharedPromptTokens = 0

    /// Creates an idle scheduler.
    public init(model: LanguageModel, maxBatch: Int = 16, prefillBudget: Int = 256) {
        lm = model
        self.maxBatch = max(1, maxBatch)
        self.prefillBudget = max(1, prefillBudget)
        logits = FloatBuffer(count: model.model.configuration.vocabularySize)
    }

    /// Sequences waiting or running.
    public var pending: Int { waiting.count + active.count }
    /// Whether nothing is waiting or running.
    public var isIdle: Bool { waiting.isEmpty && active.isEmpty }

    /// Queues a sequence. `prefix`: a cache already holding the first `count` prompt tokens
    /// (copied, not recomputed; the caller guarantees they match).
    public func submit(id: Int, prompt: [Int32], parameters: GenerationParameters, prefix: KVCache? = nil) {
        precondition(!prompt.isEmpty, "DecodeScheduler: prompt \(id) is empty")
        waiting.append(Slot(id: id, prompt: prompt, parameters: parameters, prefix: prefix, lm: lm))
    }

    /// One iteration: admit waiting sequences, prefill up to ``prefillBudget`` prompt tokens
    /// (a sequence whose prompt completes gets its first token), then one decode step for every
    /// sequence that has a token to feed. Returns the sequences that finished, in finishing order.
    public func step(onText: ((Int, String) -> Void)? = nil) -> [(id: Int, generation: Generation)] {
        var finished: [(id: Int, generation: Generation)] = []
        while active.count < maxBatch, !waiting.isEmpty {
            let slot = admit(waiting.removeFirst())
            // Same prompt as a running sequence (K samples of one question): copy its prompt
            // once it is prefilled instead of computing it again.
            if slot.stopReason == nil, slot.prompt.count > 1 {
                slot.leader = active.first { $0.leader == nil && $0.stopReason == nil && $0.prompt == slot.prompt }
            }
            active.append(slot)
        }

        // Prefill under the budget, in admission order.
        var budget = prefillBudget
        for slot in active where slot.stopReason == nil && slot.prefilling && budget > 0 {
            if let leader = slot.leader {
                if leader.prefilling && leader.stopReason == nil { continue }  // not yet
                let n = slot.prompt.count - 1
                if leader.cache.count >= n && slot.cache.count < n {
                    sharedPromptTokens += n - slot.cache.count
                    slot.cache.copyPrefix(from: leader.cache, count: n)
                }
                slot.leader = nil
            }
            let rest = slot.prompt.count - slot.cache.count
            let n = min(rest, budget)
            budget -= n
            prefilledTokens += n
            let chunk = Array(slot.prompt[slot.cache.count..<(slot.cache.count + n)])
            let hidden = lm.model.forward(tokens: chunk, cache: slot.cache)
            if slot.cache.count == slot.prompt.count {
                slot.prefilling = false
                if let probe = slot.parameters.probe, probe.direct {
                    // No analysis: the verdict right after the prompt and the forced prefix.
                    readVerdict(slot, context: slot.forcedTokens, forced: true, onText: onText)
                } else {
                    lm.model.logits(hidden: hidden.pointer + (n - 1) * lm.model.configuration.hiddenSize, rows: 1, into: logits.pointer)
                    sample(slot, logits: logits.pointer, onText: onText)
                }
            }
        }

        // One decode step for every sequence with a sampled token not yet in its cache.
        let live = active.filter { $0.stopReason == nil && !$0.prefilling }
        if !live.isEmpty {
            let V = lm.model.configuration.vocabularySize, C = lm.model.configuration.hiddenSize
            let hidden = lm.model.forward(batch: live.map { [$0.generated.last!] }, caches: live.map(\.cache))
            if stepHidden.count < live.count * C {
                stepHidden = FloatBuffer(count: live.count * C)
                stepLogits = FloatBuffer(count: live.count * V)
            }
            for (j, h) in hidden.enumerated() { (stepHidden.pointer + j * C).update(from: h.pointer, count: C) }
            lm.model.logits(hidden: stepHidden.pointer, rows: live.count, into: stepLogits.pointer)
            for (j, slot) in live.enumerated() { sample(slot, logits: stepLogits.pointer + j * V, onText: onText) }
        }

        active.removeAll { slot in
            guard slot.stopReason != nil else { return false }
            finished.append((slot.id, slot.result))
            return true
        }
        return finished
    }

    /// Runs every queued sequence to the end; results by id.
    public func drain(onText: ((Int, String) -> Void)? = nil) -> [Int: Generation] {
        var out: [Int: Generation] = [:]
        while !isIdle { for (id, g) in step(onText: onText) { out[id] = g } }
        return out
    }

    // MARK: - Per sequence

    /// Makes a waiting sequence active: its cache, the copied prefix, or an immediate finish.
    private func admit(_ slot: Slot) -> Slot {
        let ctx = lm.model.configuration.contextLength
        if let probe = slot.parameters.probe { slot.forcedTokens = lm.tokenizer.encode(probe.forcedPrefix) }
        let extra = slot.parameters.probe == nil ? 0 : slot.forcedTokens.count + 4
        let capacity = min(ctx, slot.prompt.count + slot.parameters.maxTokens + extra)
        slot.cache = lm.model.makeCache(capacity: max(1, capacity))
        if slot.prompt.count + extra >= slot.cache.capacity {
            slot.finish(.contextFull)
            return slot
        }
        // Reuse a cached prefix, always leaving at least one token to compute the logits from.
        if let prefix = slot.prefix, prefix.count > 0 {
            slot.cache.copyPrefix(from: prefix, count: min(prefix.count, slot.prompt.count - 1))
        }
        slot.prefix = nil
        slot.prefilling = true
        return slot
    }

    /// Samples one token for a sequence and applies the stop rules; a probed sequence that
    /// stops reads its verdict.
    private func sample(_ st: Slot, logits: UnsafePointer<Float>, onText: ((Int, String) -> Void)?) {
        let id = st.sampler.next(logits, count: lm.model.configuration.vocabularySize)
        st.generated.append(id)
        if lm.endOfTurnTokens.contains(id) { st.finish(.endOfTurn); flush(st, onText); return concludeProbe(st, onText) }
        let piece = (try? st.detokenizer.append(id)) ?? ""
        st.pending += piece
        // Hold back text that could be the start of a stop string; cut at a full match.
        if let cut = st.stopStrings.compactMap({ st.pending.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let before = String(st.pending[..<(st.keepStop ? cut.upperBound : cut.lowerBound)])
            st.text += before
            onText?(st.id, before)
            st.pending = ""
            st.finish(.stopString)
            return concludeProbe(st, onText)
        }
        let keep = st.stopStrings.map { stop in LanguageModel.longestSuffixPrefix(st.pending, stop) }.max() ?? 0
        let emit = String(st.pending.dropLast(keep))
        if !emit.isEmpty {
            st.text += emit
            onText?(st.id, emit)
            st.pending = String(st.pending.suffix(keep))
        }
        if st.generated.count >= st.parameters.maxTokens { st.finish(.maxTokens); flush(st, onText); concludeProbe(st, onText) }
        else if st.cache.count + 1 >= st.cache.capacity { st.finish(.contextFull); flush(st, onText); concludeProbe(st, onText) }
    }

    private func flush(_ st: Slot, _ onText: ((Int, String) -> Void)?) {
        let rest = st.pending + st.detokenizer.flush()
        st.pending = ""
        if !rest.isEmpty { st.text += rest; onText?(st.id, rest) }
    }

    /// After a probed sequence stopped: bring its cache to the end of the text written so far
    /// (the opener included), forcing the opener when the analysis ended without it, and read
    /// the verdict there.
    private func concludeProbe(_ st: Slot, _ onText: ((Int, String) -> Void)?) {
        guard let probe = st.parameters.probe, !probe.direct else { return }
        // The cache holds prompt + every generated token but the last (sampled, never fed).
        let fedText = (try? lm.tokenizer.decode(Array(st.generated.dropLast()), skipSpecial: true)) ?? ""
        var tail = st.text.hasPrefix(fedText) ? String(st.text.dropFirst(fedText.count)) : ""
        if st.stopReason == .endOfTurn { tail = "" }  // the end-of-turn token is not text
        let tailTokens = lm.tokenizer.encode(tail)
        if st.stopReason == .stopString && st.text.hasSuffix(probe.opener) && !tailTokens.isEmpty {
            readVerdict(st, context: tailTokens, forced: false, onText: onText)
        } else {
            // No opener: what is left of the analysis, then the forced prefix, so the verdict is
            // still read (never a format failure).
            readVerdict(st, context: tailTokens + st.forcedTokens, forced: true, onText: onText)
        }
    }

    /// Feeds `context` (ending at the opener) and computes the log-probability of every
    /// candidate verdict after it. `forced`: the context ends with the probe's forced prefix,
    /// whose text is appended to the output.
    private func readVerdict(_ st: Slot, context: [Int32], forced: Bool, onText: ((Int, String) -> Void)?) {
        guard let probe = st.parameters.probe else { return }
        if forced {
            st.text += probe.forcedPrefix
            onText?(st.id, probe.forcedPrefix)
        }
        let room = st.cache.capacity - st.cache.count
        guard !context.isEmpty, room >= context.count + (probe.candidates.map(\.count).max() ?? 1) + 1 else {
            st.finish(.contextFull)
            return
        }
        st.forcedVerdict = forced
        st.verdictLogProbabilities = Self.candidateLogProbabilities(
            lm.model, cache: st.cache, context: context, candidates: probe.candidates, closer: probe.closerToken)
        st.finish(.stopString)
    }

    /// Log-probabilities of each candidate continuation after the cache's tokens plus
    /// `context` (non-empty; fed first). Candidates are scored along their trie: one forward per
    /// distinct proper prefix, truncated back after each. A candidate that is also a proper
    /// prefix of another adds log p(closer | candidate). The cache ends holding `context`.
    static func candidateLogProbabilities(
        _ m: LlamaModel, cache: KVCache, context: [Int32], candidates: [[Int32]], closer: Int32?
    ) -> [Double] {
        precondition(!context.isEmpty, "candidateLogProbabilities: the context must not be empty")
        let V = m.configuration.vocabularySize, C = m.configuration.hiddenSize
        let z = FloatBuffer(count: V)
        // Exact Float32 activations: the verdict's probabilities are the judge's output, and
        // these forwards are a few tokens each (8-bit activations would move them ~0.1 nats).
        let h = m.forward(tokens: context, cache: cache, activations: .float32)
        m.logits(hidden: h.pointer + (context.count - 1) * C, rows: 1, into: z.pointer, activations: .float32)
        let start = cache.count
        var memo: [[Int32]: (logits: [Float], lse: Float)] = [
            []: (Array(UnsafeBufferPointer(start: z.pointer, count: V)), VectorMath.logSumExp(z.pointer, V))
        ]
        func dist(_ path: [Int32]) -> (logits: [Float], lse: Float) {
            if let d = memo[path] { return d }
            let hh = m.forward(tokens: path, cache: cache, activations: .float32)
            m.logits(hidden: hh.pointer + (path.count - 1) * C, rows: 1, into: z.pointer, activations: .float32)
            let d = (Array(UnsafeBufferPointer(start: z.pointer, count: V)), VectorMath.logSumExp(z.pointer, V))
            cache.truncate(to: start)
            memo[path] = d
            return d
        }
        let prefixes = Set(candidates.flatMap { c in (1..<max(1, c.count)).map { Array(c.prefix($0)) } })
        return candidates.map { cand in
            var lp = 0.0
            for i in 0..<cand.count {
                let d = dist(Array(cand.prefix(i)))
                lp += Double(d.logits[Int(cand[i])] - d.lse)
            }
            if let closer, prefixes.contains(cand) {
                let d = dist(cand)
                lp += Double(d.logits[Int(closer)] - d.lse)
            }
            return lp
        }
    }

    /// One sequence's state.
    final class Slot {
        let id: Int
        let prompt: [Int32]
        let parameters: GenerationParameters
        var prefix: KVCache?
        /// A running sequence with the same prompt whose prefill this one copies.
        var leader: Slot?
        var sampler: Sampler
        var detokenizer: Detokenizer
        var cache: KVCache
        var prefilling = false
        var generated: [Int32] = []
        var text = ""
        var pending = ""
        var stopReason: StopReason?
        var verdictLogProbabilities: [Double]?
        var forcedVerdict = false
        /// The probe's forced prefix as tokens (encoded once, at admission).
        var forcedTokens: [Int32] = []
        let stopStrings: [String]
        let keepStop: Bool

        init(id: Int, prompt: [Int32], parameters: GenerationParameters, prefix: KVCache?, lm: LanguageModel) {
            self.id = id
            self.prompt = prompt
            self.parameters = parameters
            self.prefix = prefix
            sampler = Sampler(parameters.sampling)
            detokenizer = lm.tokenizer.makeDetokenizer(skipSpecial: true)
            cache = KVCache(configuration: lm.model.configuration, capacity: 1)
            // A probed sequence stops at the opener and keeps it.
            if let probe = parameters.probe {
                stopStrings = parameters.stopStrings.filter { $0 != probe.opener } + [probe.opener]
                keepStop = true
            } else {
                stopStrings = parameters.stopStrings
                keepStop = parameters.keepStopString
            }
        }

        func finish(_ reason: StopReason) { if stopReason == nil { stopReason = reason } }

        var result: Generation {
            Generation(
                text: text, tokens: generated, promptTokens: prompt.count, stopReason: stopReason ?? .maxTokens,
                verdictLogProbabilities: verdictLogProbabilities, forcedVerdict: forcedVerdict)
        }
    }
}
