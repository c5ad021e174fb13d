// PairsJobTests.swift: `pairs` from hand-made stores: the pair rule with its skip reasons, the
// three formats with TRL's columns, conversational records, and the optional `datasets` check.

import Foundation
import Preferences
import Store
import Testing
import Tokenizers

@Suite struct PairsJobTests {
    /// Three questions: one good (rewards 9, 7, 5, 3, 2), one with equal rewards, one with too
    /// few answers, and one where every dimension failed for one answer.
    func populatedStore() throws -> (URL, Store) {
        let folder = temporaryFolder()
        let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        try addScoredItem(store, item: "good", answers: [("seven", 7), ("nine nine", 9), ("five", 5), ("three", 3), ("two two two", 2)])
        try addScoredItem(store, item: "flat", answers: (0..<5).map { ("flat answer \($0)", 6) })
        try addScoredItem(store, item: "few", answers: [("a", 9), ("b", 1)])
        try addScoredItem(store, item: "failed", answers: [("f1", 8), ("f2", 4), ("f3", 6), ("f4", 5), ("f5", nil)])
        return (folder, store)
    }

    @Test func dpoPairsFollowTheRuleAndCountSkips() async throws {
        let (folder, _) = try populatedStore()
        var options = PairsOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("dpo.jsonl").path)
        options.pairOptions = PairOptions(minAnswers: 5, minMargin: 0.5)
        let summary = try await PairsJob.run(options)
        let lines = try readLines(options.outputPath)
        #expect(summary.records == 1 && lines.count == 1)
        let skippedFlat: Int? = summary.skipped[.allEqualRewards]
        let skippedFew: Int? = summary.skipped[.tooFewAnswers]
        #expect(skippedFlat == 1)
        #expect(skippedFew == 2)  // "few" has 2 answers; "failed" has 4 usable of 5 needed
        #expect(summary.excludedAnswers == 1)
        let line = lines[0]
        #expect(line["prompt"] as? String == "<prompt good>")
        #expect(line["chosen"] as? String == "nine nine")
        #expect(line["rejected"] as? String == "two two two")
        let metadata = try #require(line["metadata"] as? [String: Any])
        #expect(metadata["item_id"] as? String == "good")
        #expect(metadata["margin"] as? Double == 7)
        let scores = try #require(metadata["chosen_scores"] as? [String: Any])
        #expect(Set(scores.keys) == ["helpfulness", "logic", "faithfulness", "completeness"])
        #expect(scores["logic"] as? Double == 9)
        #expect(metadata["config_hash"] as? String == "cfg")
        // The margin rule: 7 points apart is not enough for 7.5.
        options.pairOptions.minMargin = 7.5
        let strict = try await PairsJob.run(options)
        let skippedMargin: Int? = strict.skipped[.marginTooSmall]
        #expect(strict.records == 0 && skippedMargin == 1)
        #expect(FileManager.default.fileExists(atPath: options.outputPath))
        // Partial rewards on request: the "failed" question now has 4 usable answers of 4 needed.
        options.pairOptions = PairOptions(minAnswers: 4, minMargin: 0, allowFailedDimensions: true)
        let loose = try await PairsJob.run(options)
        #expect(loose.records == 2)
    }

    @Test func lengthControlPrefersShortChosenAndLongRejected() async throws {
        let folder = temporaryFolder()
        let store = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        // Rewards 9, 8.5, 5, 1.5, 1: with rho = 0.25 the top tier is [7, 9] and the bottom [1, 3].
        try addScoredItem(store, item: "q", answers: [
            ("best but very long indeed", 9), ("short", 8.5), ("middle", 5), ("tiny", 1.5), ("worst and long-winded too", 1),
        ])
        var options = PairsOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("lc.jsonl").path)
        options.pairOptions = PairOptions(rule: .lengthControl(rho: 0.25), minAnswers: 5)
        _ = try await PairsJob.run(options)
        let line = try #require(try readLines(options.outputPath).first)
        #expect(line["chosen"] as? String == "short")
        #expect(line["rejected"] as? String == "worst and long-winded too")
        #expect((line["metadata"] as? [String: Any])?["rule"] as? String == "length-control rho=0.25")
    }

    @Test func ktoAndRankedFormats() async throws {
        let (folder, _) = try populatedStore()
        var options = PairsOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("kto.jsonl").path)
        options.format = .kto
        options.ktoThreshold = 6
        options.pairOptions = PairOptions(minAnswers: 2)
        let kto = try await PairsJob.run(options)
        let lines = try readLines(options.outputPath)
        // good: 9, 7 desirable, 5, 3, 2 not; flat: five 6s desirable; few: 9 yes, 1 no; failed: 8, 6 yes, 4, 5 no.
        let labels = lines.map { $0["label"] as? Bool }
        #expect(labels.count == 16 && labels.allSatisfy { $0 != nil })
        #expect(kto.balance == LabelBalance(desirable: 10, undesirable: 6))
        #expect(lines.allSatisfy { $0["prompt"] is String && $0["completion"] is String })

        options.format = .ranked
        options.outputPath = folder.appendingPathComponent("ranked.jsonl").path
        options.conversational = true
        options.pairOptions = PairOptions(minAnswers: 5)
        let ranked = try await PairsJob.run(options)
        let rankedLines = try readLines(options.outputPath)
        #expect(ranked.records == 2)  // good and flat
        let good = try #require(rankedLines.first { ($0["metadata"] as? [String: Any])?["item_id"] as? String == "good" })
        #expect(good["rewards"] as? [Double] == [9, 7, 5, 3, 2])
        let completions = try #require(good["completions"] as? [[[String: String]]])
        #expect(completions.map { $0[0]["content"] ?? "" } == ["nine nine", "seven", "five", "three", "two two two"])
        #expect(completions.allSatisfy { $0.count == 1 && $0[0]["role"] == "assistant" })
        let prompt = try #require(good["prompt"] as? [[String: String]])
        #expect(prompt.map { $0["role"] ?? "" } == ["system", "user"])
    }

    @Test func conversationalDPOHasMessageColumns() async throws {
        let (folder, _) = try populatedStore()
        var options = PairsOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("c.jsonl").path)
        options.conversational = true
        _ = try await PairsJob.run(options)
        let line = try #require(try readLines(options.outputPath).first)
        let chosen = try #require(line["chosen"] as? [[String: String]])
        #expect(chosen == [["role": "assistant", "content": "nine nine"]])
        let prompt = try #require(line["prompt"] as? [[String: String]])
        #expect(prompt.last?["role"] == "user")
    }

    @Test func emptyStoreIsAClearError() async throws {
        let folder = temporaryFolder()
        _ = try Store(path: folder.appendingPathComponent("store.sqlite").path)
        let options = PairsOptions(models: modelOptions(folder), outputPath: folder.appendingPathComponent("x.jsonl").path)
        await #expect(throws: PreferenceError.self) { _ = try await PairsJob.run(options) }
        #expect(!FileManager.default.fileExists(atPath: options.outputPath))
    }

    /// Every export loads with Hugging Face `datasets` and has the columns TRL reads. Runs when
    /// `LONGREWARD_DATASETS_PYTHON` names a Python with `datasets` (`make test` sets it up).
    @Test func exportsLoadWithDatasets() async throws {
        guard let python = ProcessInfo.processInfo.environment["LONGREWARD_DATASETS_PYTHON"], !python.isEmpty else { return }
        let (folder, _) = try populatedStore()
        var files: [(String, String)] = []
        for (format, conversational) in [(PreferenceFormat.dpo, false), (.dpo, true), (.kto, false), (.kto, true), (.ranked, false)] {
            var options = PairsOptions(
                models: modelOptions(folder),
                outputPath: folder.appendingPathComponent("\(format.rawValue)-\(conversational).jsonl").path)
            options.format = format
            options.conversational = conversational
            options.ktoThreshold = 6
            options.pairOptions = PairOptions(minAnswers: 2)
            _ = try await PairsJob.run(options)
            files.append((format.rawValue, options.outputPath))
        }
        let script = URL(fileURLWithPath: rubricsFolder).deletingLastPathComponent().appendingPathComponent("scripts/check_trl_exports.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + files.map { "\($0.0)=\($0.1)" }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("5 files load"), "\(output)")
    }
}
