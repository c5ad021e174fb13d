// PreferenceOptions.swift: options shared by `sample`, `meta-judge` and `synth`, and the
// progress line and skip table of the preference commands.

import ArgumentParser
import Benchmarking
import Foundation
import Preferences
import Scoring

/// The chat model (policy or judge), rubrics and prompt budget.
struct ChatModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model: 'local' (SmolLM2 in process), 'local:MODEL.gguf', or an OpenAI-compatible base URL.")
    var model: String = "local"

    @Option(name: .long, help: "Model name sent to an HTTP server.")
    var modelName: String?

    @Option(name: .long, help: "Model calls in flight (HTTP) or decoded together (local).")
    var concurrency: Int = 8

    @Option(name: .long, help: "Rubrics folder (default: found beside the binary or in ./Rubrics).")
    var rubrics: String?

    @Option(name: .long, help: "Cap every rubric's completion budget (tokens).")
    var maxNewTokens: Int?

    @Option(name: .long, help: "Document tokens in a policy prompt: a longer document is shown as its passages most related to the question.")
    var contextTokens: Int = 2048

    @Flag(name: .long, help: "Do not reuse rubric prefixes in the local model's KV cache.")
    var noPrefixCache = false

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        if let maxNewTokens, maxNewTokens < 8 { throw ValidationError("--max-new-tokens must be at least 8") }
        guard contextTokens >= 64 else { throw ValidationError("--context-tokens must be at least 64") }
        do { _ = try Backend(parsing: model, model: modelName) } catch { throw ValidationError("--model: \(error)") }
    }

    /// The library's options.
    func options(_ store: StoreOptions) throws -> Preferences.ModelOptions {
        var o = Preferences.ModelOptions(pipeline: try store.pipeline(concurrency: concurrency))
        o.model = try Backend(parsing: model, model: modelName)
        o.modelName = modelName
        o.rubricsFolder = rubrics
        o.maxNewTokens = maxNewTokens
        o.prefixCaching = !noPrefixCache
        o.contextTokens = contextTokens
        return o
    }
}

extension ProgressBar {
    /// A preference job's progress.
    func update(_ p: JobProgress) {
        update(
            done: p.done, total: p.total, unit: p.unit, calls: p.usage.calls, caller: "model", cacheHits: p.usage.cacheHits,
            tokens: p.usage.tokensIn + p.usage.tokensOut, plannedCalls: p.plannedCalls)
    }
}

enum PreferenceReport {
    /// "calls N (M cached), tokens in/out" for a usage.
    static func usage(_ u: JudgeUsage) -> String {
        "\(u.calls) model calls (\(u.cacheHits) answered from the store), tokens in \(u.tokensIn), out \(u.tokensOut)"
    }

    /// A table of skip reasons, or a line saying nothing was skipped.
    static func skips(_ skipped: [SkipReason: Int], what: String) -> String {
        let rows = skipped.filter { $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
        guard !rows.isEmpty else { return "no \(what) skipped" }
        var table = TextTable(["skipped \(what)", "count"])
        for (reason, count) in rows { table.add([reason.rawValue, "\(count)"]) }
        return table.render()
    }
}
