// DecodeSchedulerTests.swift: continuous batching gives the same greedy tokens as static
// batching, and verdict probes read the same log-probabilities as a plain prefill.

import Foundation
import Kernels
import Models
import Tokenizers
import Testing

@Suite(.serialized) struct DecodeSchedulerTests {
    /// Requests arriving while others decode, prompts prefilled in small chunks, sequences
    /// leaving early: every greedy output equals the same prompt generated alone (today's path),
    /// and equals the prefix-cached static batch.
    @Test func continuousBatchingMatchesStaticGreedyOutputs() throws {
        // Exact decode, as the judge runs it: with 8-bit activations a 7-token prefill chunk
        // takes the integer kernels while a whole prompt takes the exact path, and a near-tie
        // can then go either way (the arrival timing decides the chunking).
        guard let lm = requireModel(sharedExactDecodeModel) else { return }
        let questions = ["What is 2+2?", "Say hello.", "Name a fruit.", "Why is the sky blue?", "Count to five."]
        let prompts = questions.map { lm.encodePrompt(lm.chatPrompt([.user($0)])) }
        let lengths = [12, 4, 9, 16, 7]  // different stopping points: sequences leave at different steps
        let alone = zip(prompts, lengths).map { p, n in lm.generate(prompts: [p], parameters: [GenerationParameters(maxTokens: n)])[0].tokens }

        let scheduler = DecodeScheduler(model: lm, maxBatch: 3, prefillBudget: 7)
        var results: [Int: Generation] = [:]
        scheduler.submit(id: 0, prompt: prompts[0], parameters: GenerationParameters(maxTokens: lengths[0]))
        scheduler.submit(id: 1, prompt: prompts[1], parameters: GenerationParameters(maxTokens: lengths[1]))
        var step = 0
        var next = 2
        var maxActiveSeen = 0
        while !scheduler.isIdle || next < prompts.count {
            // A new request every third step, while the others are running.
            if step % 3 == 2 && next < prompts.count {
                scheduler.submit(id: next, prompt: prompts[next], parameters: GenerationParameters(maxTokens: lengths[next]))
                next += 1
            }
            maxActiveSeen = max(maxActiveSeen, scheduler.pending)
            for (id, g) in scheduler.step() { results[id] = g }
            step += 1
        }
        #expect(maxActiveSeen >= 3)
        for i in prompts.indices {
            #expect(results[i]?.tokens == alone[i], "request \(i): \(results[i]?.text ?? "-")")
        }
    }

    /// Sequences with one prompt (K samples of a question): the first prefills it, the others
    /// copy it and compute only its last token, and each greedy output equals the prompt
    /// generated alone; a different prompt in the same batch is prefilled as usual.
    @Test func identicalPromptsArePrefilledOnce() throws {
        guard let lm = requireModel(sharedExactDecodeModel) else { return }
        let same = lm.encodePrompt(lm.chatPrompt([.user("Summarise in one sentence why rivers flood after long rains.")]))
        let other = lm.encodePrompt(lm.chatPrompt([.user("Name a fruit.")]))
        let p = GenerationParameters(maxTokens: 10)
        let alone = lm.generate(prompts: [same], parameters: [p])[0].tokens
        let otherAlone = lm.generate(prompts: [other], parameters: [p])[0].tokens
        let scheduler = DecodeScheduler(model: lm, maxBatch: 8, prefillBudget: 16)
        for id in 0..<3 { scheduler.submit(id: id, prompt: same, parameters: p) }
        scheduler.submit(id: 3, prompt: other, parameters: p)
        let results = scheduler.drain()
        for id in 0..<3 { #expect(results[id]?.tokens == alone, "sample \(id): \(results[id]?.text ?? "-")") }
        #expect(results[3]?.tokens == otherAlone)
        #expect(scheduler.prefilledTokens == same.count + 2 + other.count)
        #expect(scheduler.sharedPromptTokens == 2 * (same.count - 1))
    }

    /// A direct probe after "... [[": each candidate's log-probability equals the summed
    /// log-probabilities of its tokens from one prefill of the whole text; a candidate that is a
    /// prefix of another ("1" of "10") also carries log p("]]" | "1").
    @Test func verdictProbeMatchesPlainLogProbabilities() throws {
        guard let lm = requireModel(sharedLanguageModel) else { return }
        let tok = lm.tokenizer
        let prompt = lm.encodePrompt(lm.chatPrompt([.user("Rate the answer 'Paris' to 'Capital of France?' from 0 to 10.")]))
        let forced = "Rating: [["
        let labels = ["1", "10", "7", "Fully"]
        let candidates = labels.map { Array(tok.encode("[[" + $0 + "]]").dropFirst(tok.encode("[[").count).prefix(tok.encode($0).count)) }
        let closer = tok.encode("]]")[0]
        let probe = VerdictProbe(opener: "[[", forcedPrefix: forced, candidates: candidates, closerToken: closer, direct: true)
        let g = lm.generate(prompts: [prompt], parameters: [GenerationParameters(maxTokens: 8, probe: probe)])[0]
        let got = try #require(g.verdictLogProbabilities)
        #expect(g.tokens.isEmpty && g.forcedVerdict && g.text == forced)

        let context = prompt + tok.encode(forced)
        func plain(_ continuation: [Int32]) -> Double {
            lm.model.logProbabilities(prompt: context, continuation: continuation).reduce(0) { $0 + Double($1) }
        }
        let expected = [plain(candidates[0] + [closer]), plain(candidates[1]), plain(candidates[2]), plain(candidates[3])]
        for (a, b) in zip(got, expected) { #expect(abs(a - b) < 2e-3, "\(got) vs \(expected)") }
        #expect(got.allSatisfy { $0 < 0 && $0.isFinite })
    }

    /// With analysis: the sequence stops at the opener (or is forced to it), and the verdict's
    /// log-probabilities are read at the end of the text it wrote.
    @Test func expectedProbeStopsAtTheOpenerOrForcesIt() throws {
        guard let lm = requireModel(sharedLanguageModel) else { return }
        let tok = lm.tokenizer
        let prompt = lm.encodePrompt(lm.chatPrompt([
            .system("Rate answers. Write one sentence, then 'Rating: [[n]]' with n from 0 to 10."),
            .user("Question: Capital of France? Answer: Paris."),
        ]))
        let labels = (0...10).map(String.init)
        let candidates = labels.map { tok.encode($0) }
        let probe = VerdictProbe(opener: "[[", forcedPrefix: "\nRating: [[", candidates: candidates, closerToken: tok.encode("]]")[0], direct: false)
        for maxTokens in [96, 3] {
            let g = lm.generate(prompts: [prompt], parameters: [GenerationParameters(maxTokens: maxTokens, probe: probe)])[0]
            let lps = try #require(g.verdictLogProbabilities, "max \(maxTokens): \(g.text)")
            #expect(g.text.hasSuffix("[["))
            #expect(lps.count == 11 && lps.allSatisfy { $0.isFinite && $0 <= 0 })
            // The reading equals a plain prefill of prompt + the text written (mass on label 7, say).
            let written = tok.encode(g.text)
            let plain = lm.model.logProbabilities(prompt: prompt + written, continuation: candidates[7]).reduce(0) { $0 + Double($1) }
            if maxTokens == 3 { #expect(g.forcedVerdict) }
            // Tokenising the written text again may split it differently from how it was
            // generated; allow a small difference.
            #expect(abs(plain - lps[7]) < 0.05, "max \(maxTokens): \(plain) vs \(lps[7]) after '\(g.text)'")
        }
    }
}
