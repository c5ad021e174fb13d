// PreferenceOptions.swift: what every preference job shares: the store, the chat model (judge
// or policy) and the rubrics, opened once per run.

import Foundation
import Judges
import Retrieval
import Scoring
import Store

/// The store, models and rubrics of a preference job.
public struct ModelOptions: Sendable {
    /// Store, embedder, threads, HTTP settings.
    public var pipeline: PipelineOptions
    /// The chat model: the judge for meta-judge and synth, the policy for sample.
    public var model: Backend = .local(path: nil)
    /// Model name for an HTTP backend.
    public var modelName: String? = nil
    /// Rubrics folder (nil: located automatically).
    public var rubricsFolder: String? = nil
    /// Cap on every rubric's completion budget (nil: each rubric's `max_tokens`).
    public var maxNewTokens: Int? = nil
    /// Reuse rubric prefixes in the local model's KV cache.
    public var prefixCaching = true
    /// Token budget for the document in policy prompts: a document that fits is shown whole,
    /// a longer one as the passages most related to the question, in document order.
    public var contextTokens = 2048

    /// Creates options for a store.
    public init(pipeline: PipelineOptions) { self.pipeline = pipeline }
}

/// An opened preference job: index, runner, rubrics.
struct PreferenceSession {
    let index: DocumentIndex
    let runner: JudgeRunner
    let rubrics: RubricLibrary
    let model: any Judge
    let runID: Int64
    let options: ModelOptions

    var store: Store { index.store }

    /// Opens everything and records a run.
    static func open(
        _ options: ModelOptions, command: String, config: String, model: (any Judge)?, index: DocumentIndex? = nil
    ) throws -> PreferenceSession {
        let index = try index ?? options.pipeline.open()
        let rubrics = try RubricLibrary(folder: try RubricLibrary.locate(options.rubricsFolder))
        let model = try model ?? ScoreJob.makeJudge(
            options.model, model: options.modelName, pipeline: options.pipeline, prefixCaching: options.prefixCaching)
        let runID = try index.store.beginRun(command: command, config: config)
        let runner = JudgeRunner(
            judge: model, store: index.store, runID: runID, concurrency: options.pipeline.concurrency,
            maxTokensCap: options.maxNewTokens)
        return PreferenceSession(index: index, runner: runner, rubrics: rubrics, model: model, runID: runID, options: options)
    }

    /// A rubric by id, or a clear error naming the folder.
    func rubric(_ id: String) throws -> Rubric {
        guard let rubric = rubrics.rubrics[id] else { throw PreferenceError.missingRubric(id: id, folder: rubrics.folder) }
        return rubric
    }

    /// Judge usage so far: fresh calls, cache hits, tokens.
    var usage: JudgeUsage {
        let c = runner.counters.snapshot
        return JudgeUsage(
            calls: c.calls, cacheHits: c.cacheHits, tokensIn: c.tokensIn, tokensOut: c.tokensOut, cachedPromptTokens: c.cachedPromptTokens)
    }

    /// Marks the run finished (or failed) with a summary line.
    func finish(_ status: RunStatus, _ summary: String) { try? store.finishRun(runID, status: status, summary: summary) }
}

/// Progress of a long preference job, for the CLI's status line.
public struct JobProgress: Sendable {
    /// Units finished and in total (answers, questions).
    public var done: Int, total: Int
    /// What a unit is ("answers", "questions").
    public var unit: String
    /// Usage so far.
    public var usage: JudgeUsage
    /// Model calls the job expects in all (nil when it cannot tell), so progress and ETA can
    /// follow calls rather than finished units.
    public var plannedCalls: Int? = nil
}

/// A thread-safe count of finished units, for progress from concurrent tasks.
final class ProgressCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    /// Counts one more and returns the new total.
    func next() -> Int { lock.withLock { value += 1; return value } }
}
