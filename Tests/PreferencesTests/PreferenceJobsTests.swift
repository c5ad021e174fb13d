// PreferenceJobsTests.swift: sample, meta-judge, synth and label against a scripted model and
// known log-probabilities: what is called, what is stored, what is written, what is skipped.

import Foundation
import Judges
import Preferences
import Scoring
import Store
import Testing
import Tokenizers

/// A document of distinct sentences about numbered gadgets.
let gadgetDocument = (0..<40).map { "Gadget \($0) is coloured hue\($0) and weighs \($0 * 10) grams." }.joined(separator: " ")

/// Writes a questions file with the document inline.
func questionsFile(_ folder: URL, _ questions: [(id: String, question: String)]) throws -> String {
    let path = folder.appendingPathComponent("questions.jsonl").path
    let lines = try questions.map { q -> String in
        let object: [String: Any] = ["id": q.id, "document": gadgetDocument, "question": q.question]
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct SampleJobTests {
    @Test func samplesAreStoredWithTheirPromptAndResume() async throws {
        let folder = temporaryFolder()
        let input = try questionsFile(folder, [("q1", "How much does gadget 7 weigh?")])
        // Seeds 1, 1001, 2001: three distinct answers; seed 3001 repeats seed 1's text.
        let model = try ScriptedModel { rubric, _, seed in
            #expect(rubric == "answer")
            return seed == 3001 ? "answer 1" : "answer \(seed)"
        }
        var options = SampleOptions(models: modelOptions(folder), inputPath: input)
        options.k = 4
        options.temperature = 0.7
        options.topP = 0.9
        options.models.contextTokens = 64  // the document (~440 words) is over budget: passages
        let index = try makeIndex(folder)
        let summary = try await SampleJob.run(options, policy: model, index: index)
        #expect(summary.stored == 3 && summary.duplicates == 1 && summary.failed == 0)
        #expect(model.requests.allSatisfy { $0.temperature == 0.7 && $0.topP == 0.9 })
        let answers = try index.store.answers(itemID: "q1")
        #expect(answers.map(\.text) == ["answer 1", "answer 1001", "answer 2001"])
        let first = try #require(answers.first)
        #expect(first.origin == "sampled")
        let messages = try JSONDecoder().decode([ChatMessage].self, from: Data(try #require(first.promptMessages).utf8))
        #expect(messages.count == 2 && messages[1].content.contains("How much does gadget 7 weigh?"))
        // Over budget: passages only, the one about gadget 7 among them, not the whole text.
        #expect(messages[1].content.contains("Gadget 7 is coloured hue7"))
        #expect(!messages[1].content.contains("Gadget 39 is coloured") || !messages[1].content.contains("Gadget 1 is coloured"))
        #expect(first.prompt == model.renderedPrompt(messages))
        // A rerun calls nothing and stores nothing new; a larger k adds only the new samples.
        let again = try await SampleJob.run(options, policy: model, index: index)
        #expect(again.usage.calls == 0 && again.stored == 0 && again.alreadyStored == 3)
        options.k = 5
        let more = try await SampleJob.run(options, policy: model, index: index)
        #expect(more.usage.calls == 1 && more.stored == 1)
    }
}

@Suite struct MetaJudgeJobTests {
    /// A store with one question and two answers to judge.
    func setUp() throws -> (URL, DocumentIndex) {
        let folder = temporaryFolder()
        let index = try makeIndex(folder)
        try addScoredItem(index.store, item: "q", answers: [("first answer", 6), ("second answer", 4)])
        return (folder, index)
    }

    @Test func contentDrivenMetaJudgePicksTheBestJudgment() async throws {
        let (folder, index) = try setUp()
        // Judgment n of an answer rates it n (seeds 1001, 2001, 3001 -> samples 1, 2, 3); the
        // meta-judge prefers the judgment with the higher rating, wherever it is shown.
        let model = try ScriptedModel { rubric, user, seed in
            switch rubric {
            case "helpfulness": return "Judgment \(seed / 1000). Rating: [[\(seed / 1000)]]"
            case "meta-judge":
                func rating(_ label: String) -> Int {
                    guard let r = user.range(of: "[\(label)]\nJudgment ") else { return 0 }
                    return Int(String(user[r.upperBound...].prefix(1))) ?? 0
                }
                return rating("Judgment A") > rating("Judgment B") ? "A is better. Verdict: [[A]]" : "B is better. Verdict: [[B]]"
            default: return "?"
            }
        }
        var options = MetaJudgeOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("meta.jsonl").path)
        options.judgments = 3
        options.answersPerQuestion = 1
        let summary = try await MetaJudgeJob.run(options, judge: model, index: index)
        #expect(model.count("helpfulness") == 6)  // 3 judgments x 2 answers
        #expect(model.count("meta-judge") == 6)  // 3 x 2 ordered pairs for the one selected answer
        #expect(summary.metaJudged == 1 && summary.pairs == 1)
        #expect(summary.weights.firstWins == 3 && summary.weights.secondWins == 3)
        #expect(summary.weights.w1 == 0.5 && summary.weights.w2 == 0.5)
        let skippedAnswers: Int? = summary.skipped[.noScoreSpread]
        #expect(skippedAnswers == 0)  // both answers' ratings vary (alike); one goes on, none is a skip
        let line = try #require(try readLines(options.outputPath).first)
        #expect(line["chosen"] as? String == "Judgment 3. Rating: [[3]]")
        #expect(line["rejected"] as? String == "Judgment 1. Rating: [[1]]")
        let elo = try #require((line["metadata"] as? [String: Any])?["elo"] as? [Double])
        #expect(elo[2] > elo[1] && elo[1] > elo[0])
        // The chosen judgment is over a 10-character limit: the pair is dropped, counted.
        options.maxJudgmentLength = 10
        let limited = try await MetaJudgeJob.run(options, judge: model, index: index)
        let tooLong: Int? = limited.skipped[.chosenTooLong]
        #expect(limited.pairs == 0 && tooLong == 1 && limited.judgmentUsage.calls == 0 && limited.metaUsage.calls == 0)
    }

    @Test func answersWhoseJudgmentsAgreeAreSkippedBeforeMetaJudging() async throws {
        let (folder, index) = try setUp()
        let model = try ScriptedModel { rubric, _, _ in rubric == "helpfulness" ? "Rating: [[5]]" : "Verdict: [[A]]" }
        let options = MetaJudgeOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("meta.jsonl").path)
        let summary = try await MetaJudgeJob.run(options, judge: model, index: index)
        let agreeing: Int? = summary.skipped[.noScoreSpread]
        #expect(agreeing == 2 && summary.metaJudged == 0 && summary.pairs == 0 && model.count("meta-judge") == 0)
    }

    @Test func aMetaJudgeThatAlwaysSaysATeachesNothing() async throws {
        let (folder, index) = try setUp()
        let model = try ScriptedModel { rubric, _, seed in
            rubric == "helpfulness" ? "Rating: [[\(seed / 1000 * 2)]]" : "Verdict: [[A]]"
        }
        var options = MetaJudgeOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("meta.jsonl").path)
        options.judgments = 3
        let summary = try await MetaJudgeJob.run(options, judge: model, index: index)
        // Every win is a first-position win: w1 = 0, so the battle matrix is empty.
        #expect(summary.weights.w1 == 0 && summary.weights.w2 == 1)
        let alike: Int? = summary.skipped[.noEloSpread]
        #expect(summary.pairs == 0 && alike == 2)
    }
}

@Suite struct SynthJobTests {
    @Test func keepsCorrectJudgmentsBalancedAndVotes() async throws {
        let folder = temporaryFolder()
        let input = try questionsFile(folder, [("q1", "How much does gadget 7 weigh?")])
        // The judge picks the answer about weight, except for sample 1 with the winner in A (it
        // says B there): 3 of 4 correct with the winner in A, 4 of 4 with it in B.
        let model = try ScriptedModel { rubric, user, seed in
            switch rubric {
            case "perturb": return "Question: What colour is gadget 7?"
            case "answer": return user.hasSuffix("weigh?") ? "Gadget 7 weighs 70 grams." : "Gadget 7 is coloured hue7."
            case "pairwise":
                let a = user.range(of: "[Answer A]\nGadget 7 weighs") != nil
                if seed == 1001 && a { return "Verdict: [[B]]" }
                return a ? "A answers it. Verdict: [[A]]" : "B answers it. Verdict: [[B]]"
            default: return "?"
            }
        }
        var options = SynthOptions(models: modelOptions(folder), inputPath: input, outputPath: folder.appendingPathComponent("synth.jsonl").path)
        options.judgments = 4
        let summary = try await SynthJob.run(options, model: model, index: try makeIndex(folder))
        #expect(summary.pairs == 1)
        #expect(summary.correct == 7 && summary.wrong == 1 && summary.unparsed == 0)
        #expect(summary.kept == 6 && summary.droppedForBalance == 1)
        #expect(summary.voteCorrect == 2 && summary.voteWrong == 0)
        #expect(summary.generationUsage.calls == 3 && summary.judgeUsage.calls == 8)
        let lines = try readLines(options.outputPath)
        let positions = lines.compactMap { ($0["metadata"] as? [String: Any])?["winner_position"] as? String }
        #expect(positions.filter { $0 == "A" }.count == 3 && positions.filter { $0 == "B" }.count == 3)
        #expect(lines.allSatisfy { ($0["completion"] as? String)?.contains("Verdict") == true && $0["prompt"] is String })
        let meta = try #require(lines.first?["metadata"] as? [String: Any])
        #expect(meta["perturbed_question"] as? String == "What colour is gadget 7?")
    }

    @Test func aQuestionWithoutAPerturbationIsSkipped() async throws {
        let folder = temporaryFolder()
        let input = try questionsFile(folder, [("q1", "How much does gadget 7 weigh?")])
        let model = try ScriptedModel { _, _, _ in "I cannot do that" }
        let options = SynthOptions(models: modelOptions(folder), inputPath: input, outputPath: folder.appendingPathComponent("s.jsonl").path)
        let summary = try await SynthJob.run(options, model: model, index: try makeIndex(folder))
        let skipped: Int? = summary.skipped[.noPerturbedQuestion]
        #expect(summary.pairs == 0 && skipped == 1)
        #expect(try readLines(options.outputPath).isEmpty)
    }
}

/// Log-probabilities from a table: (answer text) -> value.
struct TableScorer: SequenceScorer {
    let identity: String
    let table: [String: Double]
    func renderedPrompt(_ messages: [ChatMessage]) -> String { messages.map(\.content).joined() }
    func logProbability(prompt: String, answer: String) throws -> (logprob: Double, tokens: Int) { (table[answer]!, 3) }
}

@Suite struct LabelJobTests {
    @Test func labelsFromKnownLogProbabilities() async throws {
        let folder = temporaryFolder()
        let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        // Two items, 2 + 3 answers: pairs (a0, a1) and (b0, b1); b2 is left over. One lone item.
        try addScoredItem(store, item: "a", answers: [("a0", 1), ("a1", 1)])
        try addScoredItem(store, item: "b", answers: [("b0", 1), ("b1", 1), ("b2", 1)])
        try addScoredItem(store, item: "c", answers: [("c0", 1)])
        let policy = TableScorer(identity: "pi", table: ["a0": -10, "a1": -12, "b0": -20, "b1": -15, "b2": 0])
        let reference = TableScorer(identity: "ref", table: ["a0": -11, "a1": -11, "b0": -20, "b1": -20, "b2": 0])
        var options = LabelOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("spa.jsonl").path)
        options.spa = SPAOptions(beta: 0.5, lowConfidenceFraction: 0.5, alpha: 0.1)
        let summary = try await LabelJob.run(options, policy: policy, reference: reference)
        // a: r(a0) = 0.5 (-10 + 11) = 0.5, r(a1) = -0.5 -> a0, margin 1.
        // b: r(b0) = 0, r(b1) = 2.5 -> b1, margin 2.5. The smaller margin (a) is low-confidence.
        #expect(summary.pairs == 2 && summary.lowConfidence == 1 && summary.computed == 8)
        let tooFew: Int? = summary.skipped[.tooFewAnswers]
        #expect(tooFew == 1)
        let lines = try readLines(options.outputPath)
        #expect(lines.map { $0["chosen"] as? String } == ["a0", "b1"])
        #expect(lines.map { $0["rejected"] as? String } == ["a1", "b0"])
        #expect(lines.map { $0["confident"] as? Bool } == [false, true])
        #expect(lines.map { $0["chosen_weight"] as? Double } == [0.9, 1])
        #expect(lines.map { $0["rejected_weight"] as? Double } == [0.1, 0])
        let meta = try #require(lines[1]["metadata"] as? [String: Any])
        let probability = try #require(meta["probability"] as? Double)
        #expect(abs(probability - 1 / (1 + exp(-2.5))) < 1e-12)
        // Log-probabilities are stored: a rerun computes none.
        let again = try await LabelJob.run(options, policy: policy, reference: reference)
        #expect(again.computed == 0 && again.cached == 8)
    }

    @Test func withoutAReferenceEveryPairIsSkippedAndCounted() async throws {
        let folder = temporaryFolder()
        let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        try addScoredItem(store, item: "a", answers: [("a0", 1), ("a1", 1), ("a2", 1), ("a3", 1)])
        let options = LabelOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("spa.jsonl").path)
        let summary = try await LabelJob.run(options)
        let missing: Int? = summary.skipped[.missingReference]
        #expect(summary.pairs == 0 && missing == 2)
        #expect(try readLines(options.outputPath).isEmpty)
        // A reference path that does not exist is an error naming it.
        var bad = options
        bad.referencePath = folder.appendingPathComponent("nope.gguf").path
        await #expect(throws: PreferenceError.modelUnavailable(path: bad.referencePath!, reason: "no such file")) {
            _ = try await LabelJob.run(bad)
        }
    }
}
