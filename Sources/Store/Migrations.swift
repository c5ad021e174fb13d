// Migrations.swift: versioned schema changes, tracked in SQLite's `PRAGMA user_version`.

/// One schema change: applied once, inside a transaction, in version order.
public struct Migration: Sendable {
    /// The schema version this migration produces (1, 2, ...; contiguous).
    public var version: Int
    /// A short name for logs and errors.
    public var name: String
    /// The SQL statements, run with `sqlite3_exec`.
    public var sql: String

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies migrations to a connection: each pending one in its own transaction, so a failure
/// leaves the schema at the last good version and the data untouched.
public enum SchemaMigrator {
    /// The current schema version of a database (0 for a new file).
    public static func version(of connection: SQLiteConnection) throws -> Int {
        try connection.first("PRAGMA user_version")?[0].int ?? 0
    }

    /// Brings `connection` up to the last migration's version; returns the versions applied.
    /// - Throws: `StoreError.schemaTooNew` for a file from a newer build, `.migrationFailed` when a
    ///   migration's SQL fails (that migration is rolled back).
    @discardableResult
    public static func migrate(_ connection: SQLiteConnection, migrations: [Migration]) throws -> [Int] {
        let latest = migrations.map(\.version).max() ?? 0
        let current = try version(of: connection)
        if current > latest {
            throw StoreError.schemaTooNew(path: connection.path, found: current, supported: latest)
        }
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            do {
                try connection.transaction {
                    try connection.execute(migration.sql)
                    try connection.execute("PRAGMA user_version = \(migration.version)")
                }
            } catch let error as StoreError {
                let message: String
                if case .sqlite(_, _, let m, _) = error { message = m } else { message = error.description }
                throw StoreError.migrationFailed(path: connection.path, version: migration.version, message: message)
            }
            applied.append(migration.version)
        }
        return applied
    }
}

extension Migration {
    /// The store's schema history. Never edit a released migration; append a new one.
    public static let all: [Migration] = [
        Migration(version: 1, name: "documents, chunks and settings", sql: """
            CREATE TABLE settings (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            CREATE TABLE documents (
                id          TEXT PRIMARY KEY,
                source      TEXT NOT NULL,
                sha256      TEXT NOT NULL,
                text        TEXT NOT NULL,
                byte_count  INTEGER NOT NULL,
                token_count INTEGER NOT NULL,
                created_at  TEXT NOT NULL
            );
            CREATE TABLE chunks (
                id          INTEGER PRIMARY KEY,
                document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                level       TEXT NOT NULL CHECK (level IN ('fine', 'coarse')),
                ordinal     INTEGER NOT NULL,
                token_start INTEGER NOT NULL,
                token_end   INTEGER NOT NULL,
                byte_start  INTEGER NOT NULL,
                byte_end    INTEGER NOT NULL,
                text        TEXT NOT NULL,
                vector_id   INTEGER UNIQUE,
                embedding   BLOB,
                UNIQUE (document_id, level, ordinal)
            );
            """),
        Migration(version: 2, name: "items, answers, judge calls, scores, rewards, runs", sql: """
            CREATE TABLE items (
                id          TEXT PRIMARY KEY,
                document_id TEXT NOT NULL REFERENCES documents(id),
                question    TEXT NOT NULL,
                created_at  TEXT NOT NULL
            );
            CREATE TABLE answers (
                id         TEXT PRIMARY KEY,
                item_id    TEXT NOT NULL REFERENCES items(id),
                ordinal    INTEGER NOT NULL,
                text       TEXT NOT NULL,
                origin     TEXT NOT NULL DEFAULT 'input',
                prompt     TEXT,
                created_at TEXT NOT NULL
            );
            CREATE INDEX answers_item ON answers(item_id, ordinal);
            CREATE TABLE runs (
                id          INTEGER PRIMARY KEY,
                command     TEXT NOT NULL,
                config      TEXT NOT NULL,
                pid         INTEGER NOT NULL,
                status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
                started_at  TEXT NOT NULL,
                finished_at TEXT,
                summary     TEXT
            );
            CREATE TABLE judge_calls (
                id             INTEGER PRIMARY KEY,
                call_key       TEXT NOT NULL,
                prompt_hash    TEXT NOT NULL,
                rubric_id      TEXT NOT NULL,
                rubric_version INTEGER NOT NULL,
                rubric_hash    TEXT NOT NULL,
                judge_id       TEXT NOT NULL,
                temperature    REAL NOT NULL,
                max_tokens     INTEGER NOT NULL,
                seed           INTEGER,
                attempt        INTEGER NOT NULL,
                status         TEXT NOT NULL CHECK (status IN ('parsed', 'unparseable', 'error')),
                raw_output     TEXT,
                parsed_value   TEXT,
                error          TEXT,
                tokens_in      INTEGER,
                tokens_out     INTEGER,
                cached_tokens  INTEGER,
                latency_ms     REAL,
                run_id         INTEGER REFERENCES runs(id),
                created_at     TEXT NOT NULL
            );
            CREATE INDEX judge_calls_key ON judge_calls(call_key, status);
            CREATE TABLE scores (
                answer_id   TEXT NOT NULL REFERENCES answers(id),
                config_hash TEXT NOT NULL,
                dimension   TEXT NOT NULL,
                status      TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'policy')),
                score       REAL,
                detail      TEXT NOT NULL,
                run_id      INTEGER REFERENCES runs(id),
                created_at  TEXT NOT NULL,
                PRIMARY KEY (answer_id, config_hash, dimension)
            );
            CREATE TABLE rewards (
                answer_id   TEXT NOT NULL REFERENCES answers(id),
                config_hash TEXT NOT NULL,
                reward      REAL,
                record      TEXT NOT NULL,
                run_id      INTEGER REFERENCES runs(id),
                created_at  TEXT NOT NULL,
                PRIMARY KEY (answer_id, config_hash)
            );
            """),
        Migration(version: 3, name: "sampled answers' conversations and settings; stored log-probabilities", sql: """
            ALTER TABLE answers ADD COLUMN prompt_messages TEXT;
            ALTER TABLE answers ADD COLUMN generation TEXT;
            CREATE TABLE logprobs (
                answer_id  TEXT NOT NULL REFERENCES answers(id),
                model_id   TEXT NOT NULL,
                variant    TEXT NOT NULL DEFAULT '',
                logprob    REAL NOT NULL,
                tokens     INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (answer_id, model_id, variant)
            );
            """),
        Migration(version: 4, name: "verdicts read from probabilities", sql: """
            ALTER TABLE judge_calls ADD COLUMN verdict TEXT;
            """),
        Migration(version: 5, name: "the answers each run produced, and run totals", sql: """
            CREATE TABLE run_answers (
                run_id      INTEGER NOT NULL REFERENCES runs(id),
                answer_id   TEXT NOT NULL REFERENCES answers(id),
                config_hash TEXT NOT NULL,
                PRIMARY KEY (run_id, answer_id, config_hash)
            );
            ALTER TABLE runs ADD COLUMN stats TEXT;
            CREATE INDEX judge_calls_run ON judge_calls(run_id);
            """),
    ]
}
