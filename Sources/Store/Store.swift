// Store.swift: the typed face of the SQLite store (documents, chunks, items, answers, judge
// calls, scores, rewards, runs). WAL mode: readers never block the writer, and a killed process
// leaves every committed transaction intact and nothing of an uncommitted one.

import Foundation
import Formats

/// The project's SQLite database, migrated to the latest schema on open.
public final class Store: @unchecked Sendable {
    /// The database file.
    public let path: String
    /// The underlying connection (thread-safe; see `SQLiteConnection`).
    public let connection: SQLiteConnection

    /// Opens or creates the store at `path` and applies pending migrations.
    public init(path: String, migrations: [Migration] = Migration.all) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            throw StoreError.cannotOpen(path: path, message: "folder \(directory) does not exist")
        }
        self.path = path
        connection = try SQLiteConnection(path: path)
        // journal_mode answers with a row, so it goes through query.
        _ = try connection.query("PRAGMA journal_mode = WAL")
        try connection.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        try SchemaMigrator.migrate(connection, migrations: migrations)
    }

    /// The FAISS index file that belongs to this store (beside it).
    public var indexPath: String { path + ".faiss" }

    /// Current time as ISO 8601 text.
    static func now() -> String { ISO8601DateFormatter().string(from: Date()) }

    // MARK: settings

    /// A stored setting, or nil.
    public func setting(_ key: String) throws -> String? {
        try connection.first("SELECT value FROM settings WHERE key = ?", [.text(key)])?["value"].string
    }

    /// Stores a setting, replacing any previous value.
    public func setSetting(_ key: String, _ value: String) throws {
        try connection.run(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [.text(key), .text(value)])
    }

    // MARK: documents and chunks

    /// The document with this id, or nil.
    public func document(id: String) throws -> DocumentRecord? {
        guard let row = try connection.first(
            "SELECT id, source, sha256, text, token_count FROM documents WHERE id = ?", [.text(id)])
        else { return nil }
        return DocumentRecord(
            id: row["id"].string ?? id, source: row["source"].string ?? "", sha256: row["sha256"].string ?? "",
            text: row["text"].string ?? "", tokenCount: row["token_count"].int ?? 0)
    }

    /// Ids of every stored document, in insertion order.
    public func documentIDs() throws -> [String] {
        try connection.query("SELECT id FROM documents ORDER BY rowid").compactMap { $0["id"].string }
    }

    /// Inserts a document with its chunks and the embeddings of its fine chunks in one transaction.
    /// `embeddings[i]` belongs to the i-th fine chunk; vector ids are assigned from `nextVectorID()`.
    /// - Returns: the vector id of the first fine chunk.
    @discardableResult
    public func insertDocument(_ document: DocumentRecord, chunks: [ChunkRecord], fineEmbeddings: [[Float]]) throws -> Int {
        let fineCount = chunks.filter { $0.level == .fine }.count
        guard fineCount == fineEmbeddings.count else {
            throw StoreError.conflict(
                path: path,
                message: "document \(document.id): \(fineCount) fine chunks but \(fineEmbeddings.count) embeddings")
        }
        return try connection.transaction {
            if let existing = try self.document(id: document.id) {
                throw StoreError.conflict(
                    path: path,
                    message: existing.sha256 == document.sha256
                        ? "document \(document.id) is already indexed"
                        : "document id \(document.id) is already indexed with different text (from \(existing.source)); give the new one another id")
            }
            try connection.run(
                "INSERT INTO documents(id, source, sha256, text, byte_count, token_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.text(document.id), .text(document.source), .text(document.sha256), .text(document.text),
                 .integer(Int64(document.text.utf8.count)), .integer(Int64(document.tokenCount)), .text(Self.now())])
            let firstVector = try nextVectorID()
            var fineIndex = 0
            for chunk in chunks {
                var vectorID: SQLValue = .null
                var blob: SQLValue = .null
                if chunk.level == .fine {
                    vectorID = .integer(Int64(firstVector + fineIndex))
                    blob = .blob(Self.bytes(of: fineEmbeddings[fineIndex]))
                    fineIndex += 1
                }
                try connection.run(
                    """
                    INSERT INTO chunks(document_id, level, ordinal, token_start, token_end, byte_start, byte_end, text, vector_id, embedding)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [.text(document.id), .text(chunk.level.rawValue), .integer(Int64(chunk.ordinal)),
                     .integer(Int64(chunk.tokenStart)), .integer(Int64(chunk.tokenEnd)),
                     .integer(Int64(chunk.byteStart)), .integer(Int64(chunk.byteEnd)), .text(chunk.text), vectorID, blob])
            }
            return firstVector
        }
    }

    /// The vector id the next embedded chunk will get (one past the largest stored).
    public func nextVectorID() throws -> Int {
        (try connection.first("SELECT MAX(vector_id) AS m FROM chunks")?["m"].int).map { $0 + 1 } ?? 0
    }

    /// A document's chunks of one level, in order.
    public func chunks(documentID: String, level: ChunkLevel) throws -> [ChunkRecord] {
        try connection.query(
            "SELECT * FROM chunks WHERE document_id = ? AND level = ? ORDER BY ordinal",
            [.text(documentID), .text(level.rawValue)]
        ).map(Self.chunk)
    }

    /// The vector-id range `[lower, upper)` of a document's fine chunks (contiguous by construction).
    public func vectorRange(documentID: String) throws -> Range<Int>? {
        guard let row = try connection.first(
            "SELECT MIN(vector_id) AS lo, MAX(vector_id) AS hi FROM chunks WHERE document_id = ? AND level = 'fine'",
            [.text(documentID)]), let lo = row["lo"].int, let hi = row["hi"].int
        else { return nil }
        return lo..<(hi + 1)
    }

    /// The fine chunks with these vector ids, in the order given.
    public func chunks(vectorIDs: [Int]) throws -> [ChunkRecord] {
        try vectorIDs.compactMap { id in
            try connection.first("SELECT * FROM chunks WHERE vector_id = ?", [.integer(Int64(id))]).map(Self.chunk)
        }
    }

    /// Stored embeddings with vector id at or above `start`, in id order (to rebuild or catch up
    /// the FAISS index from the store, which is the source of truth).
    public func embeddings(fromVectorID start: Int) throws -> [(vectorID: Int, vector: [Float])] {
        try connection.query(
            "SELECT vector_id, embedding FROM chunks WHERE vector_id >= ? ORDER BY vector_id", [.integer(Int64(start))]
        ).map { row in
            guard case .blob(let bytes) = row["embedding"], let id = row["vector_id"].int else {
                throw StoreError.corruptValue(path: path, what: "embedding", message: "missing blob")
            }
            return (id, Self.floats(of: bytes))
        }
    }

    private static func chunk(_ row: SQLRow) -> ChunkRecord {
        ChunkRecord(
            documentID: row["document_id"].string ?? "", level: ChunkLevel(rawValue: row["level"].string ?? "") ?? .fine,
            ordinal: row["ordinal"].int ?? 0, tokenStart: row["token_start"].int ?? 0, tokenEnd: row["token_end"].int ?? 0,
            byteStart: row["byte_start"].int ?? 0, byteEnd: row["byte_end"].int ?? 0, text: row["text"].string ?? "",
            vectorID: row["vector_id"].int)
    }

    static func bytes(of vector: [Float]) -> [UInt8] {
        vector.withUnsafeBytes { Array($0) }
    }

    static func floats(of bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: bytes.count / 4)
        out.withUnsafeMutableBytes { dst in bytes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<dst.count])) } }
        return out
    }

    // MARK: items and answers

    /// Inserts an item, or checks that an existing one with the same id matches.
    public func upsertItem(_ item: ItemRecord) throws {
        try connection.transaction {
            if let row = try connection.first("SELECT document_id, question FROM items WHERE id = ?", [.text(item.id)]) {
                guard row["document_id"].string == item.documentID, row["question"].string == item.question else {
                    throw StoreError.conflict(
                        path: path,
                        message: "item \(item.id) already exists with another document or question; give it a new id")
                }
                return
            }
            try connection.run(
                "INSERT INTO items(id, document_id, question, created_at) VALUES (?, ?, ?, ?)",
                [.text(item.id), .text(item.documentID), .text(item.question), .text(Self.now())])
        }
    }

    /// The item with this id, or nil.
    public func item(id: String) throws -> ItemRecord? {
        try connection.first("SELECT * FROM items WHERE id = ?", [.text(id)]).map {
            ItemRecord(id: $0["id"].string ?? id, documentID: $0["document_id"].string ?? "", question: $0["question"].string ?? "")
        }
    }

    /// Every item, in insertion order.
    public func items() throws -> [ItemRecord] {
        try connection.query("SELECT * FROM items ORDER BY rowid").map {
            ItemRecord(id: $0["id"].string ?? "", documentID: $0["document_id"].string ?? "", question: $0["question"].string ?? "")
        }
    }

    /// Inserts an answer unless one with its id exists (ids are content-addressed).
    public func upsertAnswer(_ answer: AnswerRecord) throws {
        try connection.run(
            """
            INSERT INTO answers(id, item_id, ordinal, text, origin, prompt, prompt_messages, generation, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO NOTHING
            """,
            [.text(answer.id), .text(answer.itemID), .integer(Int64(answer.ordinal)), .text(answer.text),
             .text(answer.origin), SQLValue(answer.prompt), SQLValue(answer.promptMessages), SQLValue(answer.generation),
             .text(Self.now())])
    }

    /// One answer by id.
    public func answer(id: String) throws -> AnswerRecord? {
        try connection.first("SELECT * FROM answers WHERE id = ?", [.text(id)]).map(Self.answer)
    }

    private static func answer(_ row: SQLRow) -> AnswerRecord {
        AnswerRecord(
            id: row["id"].string ?? "", itemID: row["item_id"].string ?? "", ordinal: row["ordinal"].int ?? 0,
            text: row["text"].string ?? "", origin: row["origin"].string ?? "input", prompt: row["prompt"].string,
            promptMessages: row["prompt_messages"].string, generation: row["generation"].string)
    }

    /// An item's answers, by ordinal.
    public func answers(itemID: String) throws -> [AnswerRecord] {
        try connection.query("SELECT * FROM answers WHERE item_id = ? ORDER BY ordinal, rowid", [.text(itemID)]).map(Self.answer)
    }

    // MARK: log-probabilities

    /// The stored log-probability of an answer under a model (`variant` names a transformation
    /// such as an extrapolation; empty for the plain model).
    public func logProbability(answerID: String, modelID: String, variant: String = "") throws -> (logprob: Double, tokens: Int)? {
        try connection.first(
            "SELECT logprob, tokens FROM logprobs WHERE answer_id = ? AND model_id = ? AND variant = ?",
            [.text(answerID), .text(modelID), .text(variant)]
        ).flatMap { row in row["logprob"].double.map { ($0, row["tokens"].int ?? 0) } }
    }

    /// Stores (or replaces) an answer's log-probability under a model.
    public func saveLogProbability(answerID: String, modelID: String, variant: String = "", logprob: Double, tokens: Int) throws {
        try connection.run(
            """
            INSERT INTO logprobs(answer_id, model_id, variant, logprob, tokens, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(answer_id, model_id, variant) DO UPDATE SET logprob = excluded.logprob, tokens = excluded.tokens
            """,
            [.text(answerID), .text(modelID), .text(variant), .real(logprob), .integer(Int64(tokens)), .text(Self.now())])
    }

    // MARK: judge calls

    /// The stored attempt with this cache key whose judge answered (parsed or not), if any.
    /// Transport errors are never returned: they are retried.
    public func cachedJudgeCall(key: String) throws -> JudgeCallRecord? {
        try connection.first(
            "SELECT * FROM judge_calls WHERE call_key = ? AND status != 'error' ORDER BY id DESC LIMIT 1", [.text(key)]
        ).map(Self.judgeCall)
    }

    /// Appends a judge call attempt (committed immediately) and returns its row id.
    @discardableResult
    public func recordJudgeCall(_ call: JudgeCallRecord) throws -> Int64 {
        try connection.transaction {
            try connection.run(
                """
                INSERT INTO judge_calls(call_key, prompt_hash, rubric_id, rubric_version, rubric_hash, judge_id,
                    temperature, max_tokens, seed, attempt, status, raw_output, parsed_value, error,
                    tokens_in, tokens_out, cached_tokens, latency_ms, run_id, created_at, verdict)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(call.callKey), .text(call.promptHash), .text(call.rubricID), .integer(Int64(call.rubricVersion)),
                 .text(call.rubricHash), .text(call.judgeID), .real(call.temperature), .integer(Int64(call.maxTokens)),
                 SQLValue(call.seed), .integer(Int64(call.attempt)), .text(call.status.rawValue), SQLValue(call.rawOutput),
                 SQLValue(call.parsedValue), SQLValue(call.error), SQLValue(call.tokensIn), SQLValue(call.tokensOut),
                 SQLValue(call.cachedTokens), SQLValue(call.latencyMilliseconds), call.runID.map { .integer($0) } ?? .null,
                 .text(Self.now()), SQLValue(call.verdict)])
            return connection.lastInsertRowID
        }
    }

    /// Number of judge call rows (all statuses).
    public func judgeCallCount() throws -> Int {
        try connection.first("SELECT COUNT(*) FROM judge_calls")?[0].int ?? 0
    }

    private static func judgeCall(_ row: SQLRow) -> JudgeCallRecord {
        JudgeCallRecord(
            id: row["id"].int.map(Int64.init), callKey: row["call_key"].string ?? "", promptHash: row["prompt_hash"].string ?? "",
            rubricID: row["rubric_id"].string ?? "", rubricVersion: row["rubric_version"].int ?? 0,
            rubricHash: row["rubric_hash"].string ?? "", judgeID: row["judge_id"].string ?? "",
            temperature: row["temperature"].double ?? 0, maxTokens: row["max_tokens"].int ?? 0, seed: row["seed"].int,
            attempt: row["attempt"].int ?? 0, status: JudgeCallStatus(rawValue: row["status"].string ?? "") ?? .error,
            rawOutput: row["raw_output"].string, parsedValue: row["parsed_value"].string, error: row["error"].string,
            tokensIn: row["tokens_in"].int, tokensOut: row["tokens_out"].int, cachedTokens: row["cached_tokens"].int,
            latencyMilliseconds: row["latency_ms"].double, runID: row["run_id"].int.map(Int64.init),
            verdict: row["verdict"].string)
    }

    // MARK: scores and rewards

    /// Stores one dimension's result for an answer under a scoring configuration.
    public func saveScore(
        answerID: String, configHash: String, dimension: String, status: String, score: Double?, detail: String, runID: Int64?
    ) throws {
        try connection.run(
            """
            INSERT INTO scores(answer_id, config_hash, dimension, status, score, detail, run_id, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(answer_id, config_hash, dimension) DO UPDATE SET
                status = excluded.status, score = excluded.score, detail = excluded.detail,
                run_id = excluded.run_id, created_at = excluded.created_at
            """,
            [.text(answerID), .text(configHash), .text(dimension), .text(status), SQLValue(score), .text(detail),
             runID.map { .integer($0) } ?? .null, .text(Self.now())])
    }

    /// Stores an answer's reward and its full output record (JSON) under a scoring configuration.
    public func saveReward(answerID: String, configHash: String, reward: Double?, record: String, runID: Int64?) throws {
        try connection.run(
            """
            INSERT INTO rewards(answer_id, config_hash, reward, record, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(answer_id, config_hash) DO UPDATE SET
                reward = excluded.reward, record = excluded.record, run_id = excluded.run_id, created_at = excluded.created_at
            """,
            [.text(answerID), .text(configHash), SQLValue(reward), .text(record), runID.map { .integer($0) } ?? .null,
             .text(Self.now())])
    }

    /// The stored reward record (JSON) for an answer under a configuration, if scored.
    public func rewardRecord(answerID: String, configHash: String) throws -> String? {
        try connection.first(
            "SELECT record FROM rewards WHERE answer_id = ? AND config_hash = ?", [.text(answerID), .text(configHash)]
        )?["record"].string
    }

    /// Every stored reward with its answer and item, newest configuration per answer first.
    public func rewards() throws -> [(answerID: String, itemID: String, configHash: String, reward: Double?, record: String)] {
        try connection.query(
            """
            SELECT r.answer_id, a.item_id, r.config_hash, r.reward, r.record FROM rewards r
            JOIN answers a ON a.id = r.answer_id ORDER BY a.item_id, a.ordinal, r.created_at DESC
            """
        ).map { ($0["answer_id"].string ?? "", $0["item_id"].string ?? "", $0["config_hash"].string ?? "", $0["reward"].double, $0["record"].string ?? "") }
    }

    /// Scoring configurations that have stored rewards, newest first: hash, answers scored,
    /// time of the latest reward.
    public func rewardConfigurations() throws -> [(configHash: String, answers: Int, latest: String)] {
        try connection.query(
            "SELECT config_hash, COUNT(*) AS n, MAX(created_at) AS latest FROM rewards GROUP BY config_hash ORDER BY latest DESC"
        ).map { ($0["config_hash"].string ?? "", $0["n"].int ?? 0, $0["latest"].string ?? "") }
    }

    // MARK: runs

    /// Records the start of a run and marks runs whose process is gone as interrupted.
    ///
    /// One job at a time per store: when another live process has a run going, this throws
    /// ``StoreError/busy(path:runID:pid:command:)`` instead of letting two jobs make (and
    /// record) the same judge calls. The check and the insert are one immediate transaction.
    /// The run is registered with ``ActiveRuns``, so an interrupted process can mark it.
    public func beginRun(command: String, config: String) throws -> Int64 {
        let id: Int64 = try connection.transaction {
            for row in try connection.query("SELECT id, pid, command FROM runs WHERE status = 'running'") {
                guard let pid = row["pid"].int, let id = row["id"].int else { continue }
                if pid != Int(getpid()) && kill(pid_t(pid), 0) == 0 {
                    throw StoreError.busy(path: path, runID: Int64(id), pid: pid, command: row["command"].string ?? "?")
                }
                if pid != Int(getpid()) {
                    try connection.run(
                        "UPDATE runs SET status = 'interrupted', summary = COALESCE(summary, 'the process ended without finishing the run') WHERE id = ?",
                        [.integer(Int64(id))])
                }
            }
            try connection.run(
                "INSERT INTO runs(command, config, pid, status, started_at) VALUES (?, ?, ?, 'running', ?)",
                [.text(command), .text(config), .integer(Int64(getpid())), .text(Self.now())])
            return connection.lastInsertRowID
        }
        ActiveRuns.register(self, runID: id)
        return id
    }

    /// Records the end of a run.
    public func finishRun(_ id: Int64, status: RunStatus, summary: String) throws {
        ActiveRuns.unregister(self, runID: id)
        try connection.run(
            "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
            [.text(status.rawValue), .text(Self.now()), .text(summary), .integer(id)])
    }

    /// Records run totals (JSON: calls, cache hits, tokens, seconds) beside the summary.
    public func setRunStats(_ id: Int64, stats: String) throws {
        try connection.run("UPDATE runs SET stats = ? WHERE id = ?", [.text(stats), .integer(id)])
    }

    /// Notes that a run produced (scored or replayed) these answers under a configuration.
    public func recordRunAnswers(_ runID: Int64, answerIDs: [String], configHash: String) throws {
        try connection.transaction {
            for id in answerIDs {
                try connection.run(
                    "INSERT OR IGNORE INTO run_answers(run_id, answer_id, config_hash) VALUES (?, ?, ?)",
                    [.integer(runID), .text(id), .text(configHash)])
            }
        }
    }

    /// Every run, newest first.
    public func runs() throws -> [RunRecord] {
        try connection.query("SELECT * FROM runs ORDER BY id DESC").map { row in
            RunRecord(
                id: Int64(row["id"].int ?? 0), command: row["command"].string ?? "", config: row["config"].string ?? "",
                status: RunStatus(rawValue: row["status"].string ?? "") ?? .failed, startedAt: row["started_at"].string ?? "",
                finishedAt: row["finished_at"].string, summary: row["summary"].string, stats: row["stats"].string)
        }
    }

    /// The reward records (JSON) a run produced, in item and answer order: those it noted in
    /// `run_answers`, or for runs before that table, the rewards it wrote.
    public func runRewardRecords(_ runID: Int64) throws -> [String] {
        let noted = try connection.query(
            """
            SELECT r.record FROM run_answers n JOIN rewards r ON r.answer_id = n.answer_id AND r.config_hash = n.config_hash
            JOIN answers a ON a.id = n.answer_id WHERE n.run_id = ? ORDER BY a.item_id, a.ordinal
            """, [.integer(runID)])
        if !noted.isEmpty { return noted.compactMap { $0["record"].string } }
        return try connection.query(
            "SELECT r.record FROM rewards r JOIN answers a ON a.id = r.answer_id WHERE r.run_id = ? ORDER BY a.item_id, a.ordinal",
            [.integer(runID)]
        ).compactMap { $0["record"].string }
    }

    /// The judge calls a run made, per rubric: rows, unparseable and error rows, retries
    /// (attempt > 1), tokens in and out, mean latency (ms).
    public func judgeCallStats(runID: Int64) throws -> [JudgeCallStats] {
        try connection.query(
            """
            SELECT rubric_id, COUNT(*) AS n, SUM(status = 'unparseable') AS unparsed, SUM(status = 'error') AS errors,
                   SUM(attempt > 1) AS retries, COALESCE(SUM(tokens_in), 0) AS tin, COALESCE(SUM(tokens_out), 0) AS tout,
                   AVG(latency_ms) AS latency
            FROM judge_calls WHERE run_id = ? GROUP BY rubric_id ORDER BY rubric_id
            """, [.integer(runID)]
        ).map { row in
            JudgeCallStats(
                rubricID: row["rubric_id"].string ?? "", calls: row["n"].int ?? 0, unparseable: row["unparsed"].int ?? 0,
                errors: row["errors"].int ?? 0, retries: row["retries"].int ?? 0, tokensIn: row["tin"].int ?? 0,
                tokensOut: row["tout"].int ?? 0, meanLatencyMilliseconds: row["latency"].double)
        }
    }

    /// The status of a run.
    public func runStatus(_ id: Int64) throws -> RunStatus? {
        try connection.first("SELECT status FROM runs WHERE id = ?", [.integer(id)]).flatMap { RunStatus(rawValue: $0["status"].string ?? "") }
    }
}

/// The runs this process has going, so that a signal handler can mark them interrupted before
/// the process exits (see ``interruptAll(reason:)``).
public enum ActiveRuns {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var runs: [(store: Store, runID: Int64)] = []

    static func register(_ store: Store, runID: Int64) { lock.withLock { runs.append((store, runID)) } }

    static func unregister(_ store: Store, runID: Int64) {
        lock.withLock { runs.removeAll { $0.store === store && $0.runID == runID } }
    }

    /// Marks every running run of this process `interrupted` with `reason`; returns how many.
    @discardableResult
    public static func interruptAll(reason: String) -> Int {
        let current = lock.withLock { () -> [(store: Store, runID: Int64)] in
            defer { runs.removeAll() }
            return runs
        }
        for run in current {
            _ = try? run.store.connection.run(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, summary = ? WHERE id = ? AND status = 'running'",
                [.text(Store.now()), .text(reason), .integer(run.runID)])
        }
        return current.count
    }
}
