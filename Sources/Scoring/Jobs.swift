// Jobs.swift: the library functions behind `longreward index` and `longreward score`.

import Foundation
import Kernels
import Formats
import Judges
import Models
import Retrieval
import Store
import Tokenizers

/// Where a judge or embedder runs: in process, or an OpenAI-compatible server.
public enum Backend: Sendable, Equatable, CustomStringConvertible {
    /// The embedded model (optionally another local file or folder).
    case local(path: String?)
    /// A server's base URL and model name.
    case http(url: String, model: String?)

    /// Parses `local`, `local:PATH` or an `http(s)://` URL.
    public init(parsing text: String, model: String?) throws {
        if text == "local" { self = .local(path: nil) }
        else if text.hasPrefix("local:") { self = .local(path: String(text.dropFirst(6))) }
        else if text.hasPrefix("http://") || text.hasPrefix("https://") { self = .http(url: text, model: model) }
        else { throw ScoringError.invalidConfiguration("'\(text)' is neither 'local', 'local:PATH' nor an http(s) URL") }
    }

    public var description: String {
        switch self {
        case .local(let path): return path.map { "local:\($0)" } ?? "local"
        case .http(let url, let model): return url + (model.map { " (\($0))" } ?? "")
        }
    }
}

/// Shared settings of the index and score jobs.
public struct PipelineOptions: Sendable {
    /// The SQLite store (the FAISS file goes beside it).
    public var storePath: String
    /// Embedder backend.
    public var embedder: Backend = .local(path: nil)
    /// HTTP model name for the embedder.
    public var embedderModel: String? = nil
    /// Chunk sizes and the document limit.
    public var chunking = ChunkingOptions()
    /// Index kind for a new store (nil: the stored one, or Flat).
    public var indexKind: IndexKind? = nil
    /// Threads for in-process models.
    public var threads = 1
    /// Tokenizer source for chunking (a GGUF; nil: the embedded SmolLM2).
    public var tokenizerModel: String? = nil
    /// HTTP timeout in seconds.
    public var requestTimeout: Double = 120
    /// Requests in flight for HTTP backends.
    public var concurrency = 8
    /// Activations of the in-process judge's decode steps (`.float32`: exact, the default;
    /// `.q8`: the integer kernels, faster, cached apart).
    public var decodeActivations: ActivationPrecision = .float32
    /// Key/value cache storage of the in-process judge and policy (`.float32`: exact, the
    /// default; `.int8`: a quarter of the memory, faster decoding, cached apart).
    public var kvCache: KVCachePrecision = .float32

    /// Creates options for a store.
    public init(storePath: String) { self.storePath = storePath }

    /// Opens the store, the embedder, the chunker and the index.
    public func open() throws -> DocumentIndex {
        let store = try Store(path: storePath)
        let embedder: any Embedder
        switch self.embedder {
        case .local(let path): embedder = try MiniLMEmbedder(folder: path, threads: threads)
        case .http(let url, let model):
            embedder = try HTTPEmbedder(baseURL: url, model: model ?? embedderModel ?? "text-embedding", timeout: requestTimeout, maxInFlight: concurrency)
        }
        let gguf = try GGUFFile(path: try ModelLocator.decoder(tokenizerModel))
        let tokenizer = try BPETokenizer(gguf: gguf)
        let chunker = Chunker { tokenizer.encode(String($0), parseSpecial: false).count }
        return try DocumentIndex(store: store, embedder: embedder, chunker: chunker, options: chunking, kind: indexKind)
    }
}

/// One indexed document, for the summary.
public struct IndexedDocument: Sendable {
    /// Document id and source.
    public var id: String, source: String
    /// Size.
    public var tokens: Int, fineChunks: Int, coarseChunks: Int
    /// False when it was already in the store.
    public var added: Bool
    /// Seconds spent (chunk + embed + store).
    public var seconds: Double
}

/// `longreward index`: ingest, chunk, embed and index documents.
public enum IndexJob {
    /// Indexes every file (txt, md: one document named after the file; jsonl: one per line).
    /// Each document is committed on its own, so an interrupted run keeps what it finished.
    public static func run(paths: [String], options: PipelineOptions, onDocument: (IndexedDocument) -> Void) async throws -> [IndexedDocument] {
        // Read everything first: a bad file fails before anything is written.
        var documents: [(id: String, text: String, source: String)] = []
        for path in paths {
            for (id, text) in try DocumentText.read(path: path) { documents.append((id, text, path)) }
        }
        let index = try options.open()
        // A run, so that a second job on the same store waits its turn (see Store.beginRun).
        let runID = try index.store.beginRun(command: "index \(paths.joined(separator: " "))", config: "")
        var out: [IndexedDocument] = []
        defer { try? index.store.finishRun(runID, status: out.count == documents.count ? .finished : .failed, summary: "\(out.count) of \(documents.count) documents indexed") }
        for doc in documents {
            let started = Date()
            let (record, added) = try await index.ingest(text: doc.text, id: doc.id, source: doc.source)
            let fine = try index.store.chunks(documentID: record.id, level: .fine).count
            let coarse = try index.store.chunks(documentID: record.id, level: .coarse).count
            let entry = IndexedDocument(
                id: record.id, source: doc.source, tokens: record.tokenCount, fineChunks: fine, coarseChunks: coarse,
                added: added, seconds: Date().timeIntervalSince(started))
            onDocument(entry)
            out.append(entry)
        }
        return out
    }
}

/// Settings of a score run.
public struct ScoreJobOptions: Sendable {
    /// Store, embedder, chunking.
    public var pipeline: PipelineOptions
    /// Input JSONL and output JSONL.
    public var inputPath: String, outputPath: String
    /// Judge backend.
    public var judge: Backend = .local(path: nil)
    /// Judge model name for HTTP judges.
    public var judgeModel: String? = nil
    /// Rubrics folder (nil: located automatically).
    public var rubricsFolder: String? = nil
    /// Scoring settings.
    public var configuration = ScoringConfiguration()
    /// Reuse rubric prefixes in the local judge's KV cache.
    public var prefixCaching = true
    /// Cap on every rubric's completion budget (nil: each rubric's `max_tokens`).
    public var maxNewTokens: Int? = nil

    /// Creates options.
    public init(pipeline: PipelineOptions, inputPath: String, outputPath: String) {
        self.pipeline = pipeline
        self.inputPath = inputPath
        self.outputPath = outputPath
    }
}

/// Totals of a score run.
public struct ScoreSummary: Sendable {
    /// Every answer's record, in input order.
    public var records: [AnswerScore]
    /// Fresh judge calls, cache hits, tokens, prefix-cached prompt tokens.
    public var calls: Int, cacheHits: Int, tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int
    /// Wall time.
    public var seconds: Double
    /// The run's id in the store.
    public var runID: Int64
    /// The configuration hash rewards are stored under.
    public var configHash: String
}

/// `longreward score`: score every answer of every input item.
public enum ScoreJob {
    /// Verdicts read from probabilities must be encodable by the judge: throws (naming the
    /// rubric and the verdict) before any call when the local judge cannot write one of them in
    /// the mode `configuration` reads that rubric with.
    public static func validateVerdicts(judge: any Judge, rubrics: RubricLibrary, configuration: ScoringConfiguration) throws {
        guard let local = judge as? LocalJudge else { return }
        for rubric in rubrics.rubrics.values.sorted(by: { $0.id < $1.id }) {
            if let v = rubric.verdictRequest(configuration.effectiveVerdictMode(rubric: rubric.id)) { try local.validate(v) }
        }
    }

    /// Builds the judge for a backend.
    public static func makeJudge(_ options: ScoreJobOptions) throws -> any Judge {
        try makeJudge(options.judge, model: options.judgeModel, pipeline: options.pipeline, prefixCaching: options.prefixCaching)
    }

    /// Builds a chat model (judge or policy) for a backend: the embedded SmolLM2 (or a GGUF)
    /// batched in process, or an OpenAI-compatible server.
    public static func makeJudge(_ backend: Backend, model: String?, pipeline: PipelineOptions, prefixCaching: Bool = true) throws -> any Judge {
        switch backend {
        case .local(let path):
            return try LocalJudge(
                path: path, threads: pipeline.threads, maxBatch: pipeline.concurrency, reusePrefixes: prefixCaching,
                decodeActivations: pipeline.decodeActivations, kvCache: pipeline.kvCache)
        case .http(let url, let urlModel):
            return try HTTPJudge(
                baseURL: url, model: urlModel ?? model ?? "default", timeout: pipeline.requestTimeout, maxInFlight: pipeline.concurrency)
        }
    }

    /// Runs the job: checks the whole input, then scores item by item, writing the output to
    /// `<output>.partial` and renaming it at the end (a killed run leaves no half-written output;
    /// rerunning replays finished work from the store).
    public static func run(
        _ options: ScoreJobOptions, judge: (any Judge)? = nil, onProgress: @escaping @Sendable (ScoringProgress) -> Void
    ) async throws -> ScoreSummary {
        let started = Date()
        let items = try ScoreInput.read(path: options.inputPath, answersRequired: false)
        let index = try options.pipeline.open()
        // Every stored-document reference must resolve before any work starts.
        for item in items {
            if case .storedID(let id) = item.document, try index.store.document(id: id) == nil {
                throw ScoringError.unknownDocument(file: options.inputPath, line: item.line, id: id)
            }
        }
        let rubrics = try RubricLibrary(folder: try RubricLibrary.locate(options.rubricsFolder))
        let judge = try judge ?? makeJudge(options)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let config = String(decoding: try encoder.encode(options.configuration), as: UTF8.self)
        try validateVerdicts(judge: judge, rubrics: rubrics, configuration: options.configuration)
        let runID = try index.store.beginRun(command: "score \(options.inputPath)", config: config)
        let runner = JudgeRunner(
            judge: judge, store: index.store, runID: runID, schedule: options.configuration.retries,
            concurrency: options.pipeline.concurrency, maxTokensCap: options.maxNewTokens,
            verdictMode: options.configuration.effectiveVerdictMode, verdictModeOverrides: options.configuration.verdictModeOverrides)
        let scorer = try Scorer(index: index, runner: runner, rubrics: rubrics, configuration: options.configuration)

        let partial = options.outputPath + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw ScoringError.unwritableOutput(path: options.outputPath, reason: "cannot create \(partial)")
        }
        // Every document is ingested and every item stored first, so that the judge calls the run
        // will make are known (estimated) before the first one.
        var prepared: [(item: ItemRecord, document: DocumentRecord, answers: [AnswerRecord])] = []
        do {
            for item in items { prepared.append(try await scorer.prepare(item, inputFile: options.inputPath)) }
            for p in prepared { scorer.plan.add(try scorer.plannedCalls(document: p.document, answers: p.answers)) }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            try? index.store.finishRun(runID, status: .failed, summary: "\(error)")
            throw error
        }
        let total = prepared.reduce(0) { $0 + $1.answers.count }
        let collector = RecordCollector(total: total)
        let report: @Sendable () -> Void = {
            let c = runner.counters.snapshot
            onProgress(ScoringProgress(
                done: collector.done, total: total, calls: c.calls, cacheHits: c.cacheHits, tokensIn: c.tokensIn, tokensOut: c.tokensOut,
                plannedCalls: scorer.plan.total))
        }
        // A heartbeat, so long judge calls still move the progress line.
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                report()
            }
        }
        defer { heartbeat.cancel() }
        let lineEncoder = JSONEncoder()
        lineEncoder.keyEncodingStrategy = .convertToSnakeCase
        lineEncoder.outputFormatting = .sortedKeys
        do {
            for (record, document, answers) in prepared {
                let itemCollector = RecordCollector(total: answers.count)
                try await scorer.score(item: record, document: document, answers: answers) { score in
                    itemCollector.append([score])
                    collector.finish()
                    report()
                }
                let itemRecords = itemCollector.records.sorted { $0.answerIndex < $1.answerIndex }
                for r in itemRecords {
                    do {
                        try handle.write(contentsOf: try lineEncoder.encode(r) + Data("\n".utf8))
                    } catch {
                        throw ScoringError.unwritableOutput(path: partial, reason: "\(error)")
                    }
                }
                try index.store.recordRunAnswers(runID, answerIDs: itemRecords.map(\.answerId), configHash: scorer.configHash)
                collector.append(itemRecords)
            }
            try handle.close()
            if FileManager.default.fileExists(atPath: options.outputPath) { try FileManager.default.removeItem(atPath: options.outputPath) }
            try FileManager.default.moveItem(atPath: partial, toPath: options.outputPath)
        } catch {
            try? handle.close()
            let c = runner.counters.snapshot
            try? index.store.finishRun(runID, status: .failed, summary: "\(error) (after \(c.calls) judge calls)")
            throw error
        }
        let c = runner.counters.snapshot
        let seconds = Date().timeIntervalSince(started)
        try index.store.setRunStats(runID, stats: RunStats(
            answers: total, calls: c.calls, cacheHits: c.cacheHits, tokensIn: c.tokensIn, tokensOut: c.tokensOut,
            cachedPromptTokens: c.cachedPromptTokens, seconds: seconds, configHash: scorer.configHash).json)
        try index.store.finishRun(runID, status: .finished, summary: "\(total) answers, \(c.calls) judge calls, \(c.cacheHits) cache hits")
        return ScoreSummary(
            records: collector.records, calls: c.calls, cacheHits: c.cacheHits, tokensIn: c.tokensIn, tokensOut: c.tokensOut,
            cachedPromptTokens: c.cachedPromptTokens, seconds: seconds, runID: runID,
            configHash: scorer.configHash)
    }
}

/// A run's totals, stored as JSON in `runs.stats` for reports.
public struct RunStats: Sendable, Codable, Equatable {
    /// Answers produced; fresh judge calls; cache hits; tokens; prefix-cached prompt tokens.
    public var answers: Int, calls: Int, cacheHits: Int, tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int
    /// Wall time.
    public var seconds: Double
    /// The scoring configuration the rewards are stored under.
    public var configHash: String

    /// Creates totals.
    public init(
        answers: Int, calls: Int, cacheHits: Int, tokensIn: Int, tokensOut: Int, cachedPromptTokens: Int, seconds: Double, configHash: String
    ) {
        (self.answers, self.calls, self.cacheHits, self.tokensIn, self.tokensOut) = (answers, calls, cacheHits, tokensIn, tokensOut)
        (self.cachedPromptTokens, self.seconds, self.configHash) = (cachedPromptTokens, seconds, configHash)
    }

    /// Reads stored totals.
    public init?(json: String?) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let json, let s = try? decoder.decode(RunStats.self, from: Data(json.utf8)) else { return nil }
        self = s
    }

    /// The stored form.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}

/// Thread-safe progress and record accumulation.
final class RecordCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var finished = 0
    private var stored: [AnswerScore] = []
    let total: Int

    init(total: Int) { self.total = total }

    var done: Int { lock.withLock { finished } }
    var records: [AnswerScore] { lock.withLock { stored } }

    func finish() { lock.withLock { finished += 1 } }

    func append(_ r: [AnswerScore]) { lock.withLock { stored += r } }
}
