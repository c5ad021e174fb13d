// StoreTests.swift: schema migrations, documents and chunks, the judge-call cache, rewards, runs.

import Foundation
import Formats
import Store
import Testing

/// A fresh store file in a temporary folder.
func temporaryStorePath(_ name: String = "store") -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lr-store-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder.appendingPathComponent("\(name).sqlite").path
}

private func sampleCall(key: String, attempt: Int = 1, status: JudgeCallStatus) -> JudgeCallRecord {
    JudgeCallRecord(
        callKey: key, promptHash: "p", rubricID: "helpfulness", rubricVersion: 1, rubricHash: "h", judgeID: "j",
        temperature: 0.01, maxTokens: 64, seed: attempt, attempt: attempt, status: status,
        rawOutput: status == .error ? nil : "Rating: [[7]]", parsedValue: status == .parsed ? "7" : nil,
        error: status == .parsed ? nil : "x", tokensIn: 10, tokensOut: 5, cachedTokens: 0, latencyMilliseconds: 1, runID: nil)
}

@Suite("Store")
struct StoreTests {
    @Test("a new store is migrated to the latest version, and reopening applies nothing")
    func migratesFreshStore() throws {
        let path = temporaryStorePath()
        _ = try Store(path: path)
        let connection = try SQLiteConnection(path: path)
        #expect(try SchemaMigrator.version(of: connection) == Migration.all.last!.version)
        #expect(try SchemaMigrator.migrate(connection, migrations: Migration.all).isEmpty)
        let tables = try connection.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0[0].string }
        for table in ["answers", "chunks", "documents", "items", "judge_calls", "rewards", "runs", "scores", "settings"] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        let columns = try connection.query("PRAGMA table_info(judge_calls)").compactMap { $0["name"].string }
        for column in ["prompt_hash", "rubric_id", "attempt", "status", "raw_output", "tokens_in", "latency_ms"] {
            #expect(columns.contains(column))
        }
        #expect(try connection.first("PRAGMA journal_mode")?[0].string == "wal")
    }

    @Test("a v1 store with data upgrades to v2 and keeps its rows")
    func upgradesOldStore() throws {
        let path = temporaryStorePath()
        let connection = try SQLiteConnection(path: path)
        try SchemaMigrator.migrate(connection, migrations: Array(Migration.all.prefix(1)))
        try connection.run(
            "INSERT INTO documents(id, source, sha256, text, byte_count, token_count, created_at) VALUES ('d', 's', 'h', 'text', 4, 1, 'now')")
        let store = try Store(path: path)
        #expect(try store.document(id: "d")?.text == "text")
        try store.upsertItem(ItemRecord(id: "i", documentID: "d", question: "q?"))
        #expect(try store.items().map(\.id) == ["i"])
    }

    @Test("a failing migration rolls back and leaves the previous version")
    func failingMigrationRollsBack() throws {
        let path = temporaryStorePath()
        let connection = try SQLiteConnection(path: path)
        let good = Migration(version: 1, name: "t", sql: "CREATE TABLE t(x INTEGER);")
        let bad = Migration(version: 2, name: "bad", sql: "CREATE TABLE u(y INTEGER); INSERT INTO nowhere VALUES (1);")
        #expect(throws: StoreError.self) { try SchemaMigrator.migrate(connection, migrations: [good, bad]) }
        #expect(try SchemaMigrator.version(of: connection) == 1)
        #expect(try connection.query("SELECT name FROM sqlite_master WHERE name = 'u'").isEmpty, "half-applied migration")
    }

    @Test("a store from a newer build is refused with both versions named")
    func refusesNewerSchema() throws {
        let path = temporaryStorePath()
        let connection = try SQLiteConnection(path: path)
        try connection.execute("PRAGMA user_version = 99")
        do {
            _ = try Store(path: path)
            Issue.record("opened a newer store")
        } catch let error as StoreError {
            #expect(error == .schemaTooNew(path: path, found: 99, supported: Migration.all.last!.version))
            #expect(error.description.contains("99"))
        }
    }

    @Test("documents, chunks and embeddings go in together; vector ids are contiguous per document")
    func documentsAndChunks() throws {
        let store = try Store(path: temporaryStorePath())
        func chunks(_ doc: String, fine: Int) -> [ChunkRecord] {
            (0..<fine).map { ChunkRecord(documentID: doc, level: .fine, ordinal: $0, tokenStart: $0 * 10, tokenEnd: $0 * 10 + 10, byteStart: $0 * 40, byteEnd: $0 * 40 + 40, text: "c\($0)") }
                + [ChunkRecord(documentID: doc, level: .coarse, ordinal: 0, tokenStart: 0, tokenEnd: fine * 10, byteStart: 0, byteEnd: fine * 40, text: "all")]
        }
        let a = DocumentRecord(id: "a", source: "a.txt", sha256: SHA256.hex("A"), text: "A", tokenCount: 30)
        let b = DocumentRecord(id: "b", source: "b.txt", sha256: SHA256.hex("B"), text: "B", tokenCount: 20)
        #expect(try store.insertDocument(a, chunks: chunks("a", fine: 3), fineEmbeddings: [[1, 0], [0, 1], [0.5, 0.5]]) == 0)
        #expect(try store.insertDocument(b, chunks: chunks("b", fine: 2), fineEmbeddings: [[2, 0], [0, 2]]) == 3)
        #expect(try store.vectorRange(documentID: "a") == 0..<3)
        #expect(try store.vectorRange(documentID: "b") == 3..<5)
        #expect(try store.chunks(documentID: "b", level: .fine).map(\.vectorID) == [3, 4])
        #expect(try store.chunks(documentID: "a", level: .coarse).map(\.text) == ["all"])
        #expect(try store.chunks(vectorIDs: [4, 1]).map(\.text) == ["c1", "c1"])
        let stored = try store.embeddings(fromVectorID: 2)
        #expect(stored.map(\.vectorID) == [2, 3, 4])
        #expect(stored[0].vector == [0.5, 0.5])
        // The same document again, and another text under the same id, are refused without changes.
        #expect(throws: StoreError.self) { try store.insertDocument(a, chunks: chunks("a", fine: 3), fineEmbeddings: [[1, 0], [0, 1], [0, 0]]) }
        let changed = DocumentRecord(id: "a", source: "a2.txt", sha256: SHA256.hex("A2"), text: "A2", tokenCount: 30)
        do {
            try store.insertDocument(changed, chunks: [], fineEmbeddings: [])
            Issue.record("accepted a second text under one id")
        } catch let error as StoreError {
            #expect(error.description.contains("different text"))
        }
        // A mismatched embedding count writes nothing.
        let c = DocumentRecord(id: "c", source: "c.txt", sha256: "x", text: "C", tokenCount: 10)
        #expect(throws: StoreError.self) { try store.insertDocument(c, chunks: chunks("c", fine: 2), fineEmbeddings: [[1, 1]]) }
        #expect(try store.document(id: "c") == nil)
        #expect(try store.nextVectorID() == 5)
    }

    @Test("judge-call cache: answered attempts are hits, transport errors are not")
    func judgeCallCache() throws {
        let store = try Store(path: temporaryStorePath())
        try store.recordJudgeCall(sampleCall(key: "k1", status: .error))
        #expect(try store.cachedJudgeCall(key: "k1") == nil)
        try store.recordJudgeCall(sampleCall(key: "k1", status: .unparseable))
        let hit = try #require(try store.cachedJudgeCall(key: "k1"))
        #expect(hit.status == .unparseable && hit.rawOutput == "Rating: [[7]]" && hit.tokensIn == 10)
        try store.recordJudgeCall(sampleCall(key: "k2", attempt: 2, status: .parsed))
        #expect(try store.cachedJudgeCall(key: "k2")?.parsedValue == "7")
        #expect(try store.cachedJudgeCall(key: "k3") == nil)
        #expect(try store.judgeCallCount() == 3)
    }

    @Test("items conflict on changed questions; answers are idempotent; rewards round-trip")
    func itemsAnswersRewards() throws {
        let store = try Store(path: temporaryStorePath())
        try store.insertDocument(DocumentRecord(id: "d", source: "s", sha256: "h", text: "t", tokenCount: 1), chunks: [], fineEmbeddings: [])
        try store.upsertItem(ItemRecord(id: "i", documentID: "d", question: "q"))
        try store.upsertItem(ItemRecord(id: "i", documentID: "d", question: "q"))
        #expect(throws: StoreError.self) { try store.upsertItem(ItemRecord(id: "i", documentID: "d", question: "other")) }
        let answer = AnswerRecord(id: "i/abc", itemID: "i", ordinal: 0, text: "yes")
        try store.upsertAnswer(answer)
        try store.upsertAnswer(answer)
        #expect(try store.answers(itemID: "i") == [answer])
        try store.saveReward(answerID: "i/abc", configHash: "c", reward: 6.5, record: "{\"r\":6.5}", runID: nil)
        try store.saveReward(answerID: "i/abc", configHash: "c", reward: 7, record: "{\"r\":7}", runID: nil)
        #expect(try store.rewardRecord(answerID: "i/abc", configHash: "c") == "{\"r\":7}")
        #expect(try store.rewardRecord(answerID: "i/abc", configHash: "other") == nil)
        #expect(try store.rewards().map(\.reward) == [7])
    }

    @Test("a run left 'running' by a dead process is marked interrupted by the next run")
    func interruptedRuns() throws {
        let path = temporaryStorePath()
        let store = try Store(path: path)
        // pid 2^22+1 is above Linux's pid_max default, so no live process has it.
        try store.connection.run(
            "INSERT INTO runs(command, config, pid, status, started_at) VALUES ('score', '{}', 4194305, 'running', 'then')")
        let dead = store.connection.lastInsertRowID
        let live = try store.beginRun(command: "score", config: "{}")
        #expect(try store.runStatus(dead) == .interrupted)
        #expect(try store.runStatus(live) == .running)
        try store.finishRun(live, status: .finished, summary: "ok")
        #expect(try store.runStatus(live) == .finished)
    }

    @Test("a store in a missing folder is a clear error")
    func missingFolder() {
        #expect(throws: StoreError.self) { _ = try Store(path: "/nonexistent-folder-xyz/store.sqlite") }
    }
}
