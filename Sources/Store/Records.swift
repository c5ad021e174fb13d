// Records.swift: the rows the store reads and writes, as plain values.

/// A stored document: normalised text plus where it came from.
public struct DocumentRecord: Sendable, Equatable {
    /// Stable id: the caller's id, or `sha256:<first 16 hex digits>` of the text.
    public var id: String
    /// Source path, or `inline` for text given in an input line.
    public var source: String
    /// Hex SHA-256 of the normalised text.
    public var sha256: String
    /// The normalised text (UTF-8, `\n` newlines).
    public var text: String
    /// Token count under the chunking tokenizer.
    public var tokenCount: Int

    /// Creates a record.
    public init(id: String, source: String, sha256: String, text: String, tokenCount: Int) {
        self.id = id
        self.source = source
        self.sha256 = sha256
        self.text = text
        self.tokenCount = tokenCount
    }
}

/// Chunk granularity: fine chunks are retrieved as evidence, coarse ones feed completeness.
public enum ChunkLevel: String, Sendable, Codable, CaseIterable {
    case fine, coarse
}

/// A stored chunk of a document.
public struct ChunkRecord: Sendable, Equatable {
    /// Owning document.
    public var documentID: String
    /// Granularity.
    public var level: ChunkLevel
    /// Position among the document's chunks of this level (0-based).
    public var ordinal: Int
    /// Token range `[tokenStart, tokenEnd)` in the document's token sequence.
    public var tokenStart: Int, tokenEnd: Int
    /// Byte range `[byteStart, byteEnd)` in the document's UTF-8 text.
    public var byteStart: Int, byteEnd: Int
    /// The chunk's text.
    public var text: String
    /// Row id in the vector index (fine chunks, once embedded).
    public var vectorID: Int?

    /// Creates a record.
    public init(
        documentID: String, level: ChunkLevel, ordinal: Int, tokenStart: Int, tokenEnd: Int,
        byteStart: Int, byteEnd: Int, text: String, vectorID: Int? = nil
    ) {
        self.documentID = documentID
        self.level = level
        self.ordinal = ordinal
        self.tokenStart = tokenStart
        self.tokenEnd = tokenEnd
        self.byteStart = byteStart
        self.byteEnd = byteEnd
        self.text = text
        self.vectorID = vectorID
    }
}

/// A question about one document.
public struct ItemRecord: Sendable, Equatable {
    /// Stable id (from the input, or derived from the document and question).
    public var id: String
    /// The document the question is about.
    public var documentID: String
    /// The question.
    public var question: String

    /// Creates a record.
    public init(id: String, documentID: String, question: String) {
        self.id = id
        self.documentID = documentID
        self.question = question
    }
}

/// One answer to an item's question.
public struct AnswerRecord: Sendable, Equatable {
    /// Stable id: `<item id>/<first 12 hex digits of the text's SHA-256>`.
    public var id: String
    /// The item answered.
    public var itemID: String
    /// Position in the input list (or sample index).
    public var ordinal: Int
    /// The answer text.
    public var text: String
    /// `input` for given answers, `sampled` for policy samples.
    public var origin: String
    /// The exact prompt text the policy saw (its chat template applied), for sampled answers of
    /// an in-process policy.
    public var prompt: String?
    /// The conversation the policy was given, as a JSON array of `{"role", "content"}`.
    public var promptMessages: String?
    /// How the answer was generated, as JSON (policy identity, temperature, top-p, seed, sample).
    public var generation: String?

    /// Creates a record.
    public init(
        id: String, itemID: String, ordinal: Int, text: String, origin: String = "input", prompt: String? = nil,
        promptMessages: String? = nil, generation: String? = nil
    ) {
        self.id = id
        self.itemID = itemID
        self.ordinal = ordinal
        self.text = text
        self.origin = origin
        self.prompt = prompt
        self.promptMessages = promptMessages
        self.generation = generation
    }
}

/// The outcome class of one judge call attempt.
public enum JudgeCallStatus: String, Sendable, Codable {
    /// The output parsed into a verdict.
    case parsed
    /// The judge answered but the output could not be parsed.
    case unparseable
    /// No answer (transport failure, timeout); never a cache hit.
    case error
}

/// One judge call attempt, as stored in `judge_calls`.
public struct JudgeCallRecord: Sendable, Equatable {
    /// Row id (nil before insertion).
    public var id: Int64?
    /// Cache key: hash of prompt, judge identity, sampling settings and attempt number.
    public var callKey: String
    /// Hash of the rendered prompt alone.
    public var promptHash: String
    /// Rubric id, version and content hash.
    public var rubricID: String, rubricVersion: Int, rubricHash: String
    /// Judge identity (backend, model, weights hash or URL).
    public var judgeID: String
    /// Sampling settings.
    public var temperature: Double, maxTokens: Int, seed: Int?
    /// 1 for the first attempt, then 2, 3...
    public var attempt: Int
    /// Outcome.
    public var status: JudgeCallStatus
    /// What the judge wrote (nil on transport errors).
    public var rawOutput: String?
    /// The parsed verdict, as text (nil unless parsed).
    public var parsedValue: String?
    /// Error message for unparseable outputs and transport failures.
    public var error: String?
    /// Prompt tokens, completion tokens, and prompt tokens served from a prefix cache.
    public var tokensIn: Int?, tokensOut: Int?, cachedTokens: Int?
    /// Wall time of the call in milliseconds.
    public var latencyMilliseconds: Double?
    /// The run that made the call.
    public var runID: Int64?
    /// For verdicts read from probabilities: JSON `{"mode", "source", "forced", "mass",
    /// "labels", "probabilities"}` (nil for parsed verdicts).
    public var verdict: String?

    /// Creates a record.
    public init(
        id: Int64? = nil, callKey: String, promptHash: String, rubricID: String, rubricVersion: Int,
        rubricHash: String, judgeID: String, temperature: Double, maxTokens: Int, seed: Int?, attempt: Int,
        status: JudgeCallStatus, rawOutput: String?, parsedValue: String?, error: String?,
        tokensIn: Int?, tokensOut: Int?, cachedTokens: Int?, latencyMilliseconds: Double?, runID: Int64?,
        verdict: String? = nil
    ) {
        self.verdict = verdict
        self.id = id
        self.callKey = callKey
        self.promptHash = promptHash
        self.rubricID = rubricID
        self.rubricVersion = rubricVersion
        self.rubricHash = rubricHash
        self.judgeID = judgeID
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.seed = seed
        self.attempt = attempt
        self.status = status
        self.rawOutput = rawOutput
        self.parsedValue = parsedValue
        self.error = error
        self.tokensIn = tokensIn
        self.tokensOut = tokensOut
        self.cachedTokens = cachedTokens
        self.latencyMilliseconds = latencyMilliseconds
        self.runID = runID
    }
}

/// Final state of a run.
public enum RunStatus: String, Sendable {
    case running, finished, failed, interrupted
}

/// One row of `runs`.
public struct RunRecord: Sendable, Equatable {
    /// Run id.
    public var id: Int64
    /// The command line (`score input.jsonl`) and its settings.
    public var command: String, config: String
    /// How it ended (or `running`).
    public var status: RunStatus
    /// ISO-8601 start and end times.
    public var startedAt: String, finishedAt: String?
    /// The one-line summary, and the totals as JSON (runs since store version 5).
    public var summary: String?, stats: String?
}

/// A run's judge calls for one rubric (see ``Store/judgeCallStats(runID:)``).
public struct JudgeCallStats: Sendable, Equatable {
    /// The rubric.
    public var rubricID: String
    /// Call rows, unparseable rows, error rows, retry attempts.
    public var calls: Int, unparseable: Int, errors: Int, retries: Int
    /// Tokens.
    public var tokensIn: Int, tokensOut: Int
    /// Mean latency of the calls that have one.
    public var meanLatencyMilliseconds: Double?
}
