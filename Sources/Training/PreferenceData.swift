// PreferenceData.swift: reading DPO (prompt/chosen/rejected) and KTO (prompt/completion/label)
// JSONL files and tokenising them the way TRL does.
//
// Tokenisation (TRL's DPOTrainer.tokenize_row): the prompt and each answer are tokenised on their
// own and the ids concatenated. A string prompt is used as it is (no template: our exports carry
// the exact ChatML text the policy read); a message list is rendered with the model's chat
// template and the assistant header. An answer is a string or a list of assistant messages; it
// ends with the end-of-turn token (`<|im_end|>` for ChatML, else EOS), scored like its others.
//
// Length: a pair longer than `maxLength` (prompt + the longer answer) gets its prompt cut from
// the left to `maxPromptLength`, keeping the chat header (the prompt's first line when it opens
// with a special token: `<|im_start|>system\n`); a pair whose answers still do not fit is skipped
// and counted, never cut into nonsense.

import Foundation
import Formats
import Tokenizers

/// One tokenised DPO pair.
public struct TokenizedPair: Sendable, Equatable {
    /// 1-based line in the data file.
    public var line: Int
    /// Prompt, chosen and rejected token ids.
    public var prompt, chosen, rejected: [Int32]
    /// SPA soft-label weights, when the line has them.
    public var chosenWeight, rejectedWeight: Double?
    /// Whether the prompt was truncated.
    public var truncated: Bool

    /// The packed sequence `[prompt | chosen | rejected]`.
    public var sequence: TrainingSequence { TrainingSequence(prompt: prompt, answers: [chosen, rejected]) }
    /// Tokens as an unpacked trainer processes them: both full sequences.
    public var unpackedTokens: Int { 2 * prompt.count + chosen.count + rejected.count }

    /// Creates a pair.
    public init(line: Int, prompt: [Int32], chosen: [Int32], rejected: [Int32], chosenWeight: Double? = nil, rejectedWeight: Double? = nil, truncated: Bool = false) {
        self.line = line
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.chosenWeight = chosenWeight
        self.rejectedWeight = rejectedWeight
        self.truncated = truncated
    }
}

/// One tokenised KTO example.
public struct TokenizedCompletion: Sendable, Equatable {
    /// 1-based line in the data file.
    public var line: Int
    /// Prompt and completion ids.
    public var prompt, completion: [Int32]
    /// TRL's `label`: true = desirable.
    public var desirable: Bool
    /// Whether the prompt was truncated.
    public var truncated: Bool
}

/// What reading a data file produced.
public struct PreferenceDataset<Example: Sendable>: Sendable {
    /// The usable examples, in file order.
    public var examples: [Example]
    /// Lines skipped because their answers alone exceed `maxLength`.
    public var skippedTooLong: [Int]
    /// Examples whose prompt was truncated.
    public var truncatedPrompts: Int
}

/// The tokenizer side of the data path: the model's BPE vocabulary, chat template and end of turn.
public struct TrainingTokenizer: Sendable {
    /// The BPE tokenizer.
    public let tokenizer: BPETokenizer
    /// The chat template, if the model has one.
    public let chatTemplate: ChatTemplate?
    /// The token that ends every answer.
    public let endOfTurn: Int32

    /// From a GGUF file's tokenizer metadata.
    /// - Throws: ``TrainingError/model(file:reason:)`` when the file has no usable tokenizer.
    public init(gguf: GGUFFile) throws {
        do {
            tokenizer = try BPETokenizer(gguf: gguf)
            chatTemplate = try ChatTemplate.fromGGUF(gguf)
        } catch { throw TrainingError.model(file: gguf.path, reason: "tokenizer: \(error)") }
        if let id = tokenizer.id(forPiece: ChatTemplate.turnEnd), tokenizer.isControl(id) {
            endOfTurn = id
        } else if let eos = tokenizer.eosID {
            endOfTurn = eos
        } else {
            throw TrainingError.model(file: gguf.path, reason: "tokenizer has neither <|im_end|> nor an EOS token to end answers")
        }
    }

    /// Prompt ids: special tokens parsed, BOS added when the tokenizer asks for it.
    public func encodePrompt(_ text: String) -> [Int32] {
        var ids = tokenizer.encode(text, parseSpecial: true)
        if tokenizer.addBOS, let bos = tokenizer.bosID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    /// Answer ids followed by the end-of-turn token.
    public func encodeAnswer(_ text: String) -> [Int32] {
        tokenizer.encode(text, parseSpecial: true) + [endOfTurn]
    }

    /// Renders a message-list prompt with the chat template and the generation header.
    func render(_ messages: [ChatMessage]) -> String {
        guard let t = chatTemplate else { return messages.map(\.content).joined(separator: "\n") }
        return t.render(messages: messages, addGenerationPrompt: true)
    }

    /// Number of leading prompt tokens kept when truncating (the chat header).
    func headerLength(_ prompt: [Int32]) -> Int {
        guard let first = prompt.first, tokenizer.isControl(first) else { return 0 }
        let newline = tokenizer.id(forPiece: "Ċ")  // byte-level "\n"
        for (i, t) in prompt.enumerated().prefix(16) where t == newline { return i + 1 }
        return 1
    }
}

/// Length limits (TRL's names).
public struct LengthLimits: Sendable, Codable, Equatable {
    /// Longest prompt + answer (`max_length`).
    public var maxLength: Int = 8192
    /// Longest prompt after truncation (`max_prompt_length`).
    public var maxPromptLength: Int = 7680

    /// The defaults.
    public init() {}
}

/// Readers of the training data files.
public enum PreferenceData {
    /// Reads a DPO file: TRL's prompt/chosen/rejected columns (strings or message lists), and
    /// optional `chosen_weight`/`rejected_weight` (SPA's soft labels, summing to 1).
    /// - Throws: ``TrainingError/data(file:line:reason:)`` for the first bad line.
    public static func readPairs(path: String, tokenizer tk: TrainingTokenizer, limits: LengthLimits) throws -> PreferenceDataset<TokenizedPair> {
        var out = PreferenceDataset<TokenizedPair>(examples: [], skippedTooLong: [], truncatedPrompts: 0)
        for (line, object) in try objects(path) {
            let prompt = try promptIDs(object, path, line, tk)
            let chosen = try answerIDs(object, "chosen", path, line, tk)
            let rejected = try answerIDs(object, "rejected", path, line, tk)
            var wc: Double?, wr: Double?
            if object["chosen_weight"] != nil || object["rejected_weight"] != nil {
                guard let a = number(object["chosen_weight"]), let b = number(object["rejected_weight"]) else {
                    throw TrainingError.data(file: path, line: line, reason: "chosen_weight and rejected_weight must both be numbers")
                }
                guard a >= 0, b >= 0, abs(a + b - 1) < 1e-6 else {
                    throw TrainingError.data(file: path, line: line, reason: "chosen_weight \(a) and rejected_weight \(b) must be >= 0 and sum to 1")
                }
                (wc, wr) = (a, b)
            }
            guard let (p, cut) = fit(prompt, answer: max(chosen.count, rejected.count), tk, limits) else {
                out.skippedTooLong.append(line)
                continue
            }
            if cut { out.truncatedPrompts += 1 }
            out.examples.append(TokenizedPair(line: line, prompt: p, chosen: chosen, rejected: rejected, chosenWeight: wc, rejectedWeight: wr, truncated: cut))
        }
        guard !out.examples.isEmpty else {
            throw TrainingError.dataFile(file: path, reason: out.skippedTooLong.isEmpty ? "no pairs" : "no pair fits --max-length \(limits.maxLength) (\(out.skippedTooLong.count) skipped)")
        }
        return out
    }

    /// Reads a KTO file: TRL's prompt/completion/label columns (label a boolean).
    /// - Throws: ``TrainingError/data(file:line:reason:)`` for the first bad line.
    public static func readCompletions(path: String, tokenizer tk: TrainingTokenizer, limits: LengthLimits) throws -> PreferenceDataset<TokenizedCompletion> {
        var out = PreferenceDataset<TokenizedCompletion>(examples: [], skippedTooLong: [], truncatedPrompts: 0)
        for (line, object) in try objects(path) {
            let prompt = try promptIDs(object, path, line, tk)
            let completion = try answerIDs(object, "completion", path, line, tk)
            guard let label = object["label"] as? Bool else {
                throw TrainingError.data(file: path, line: line, reason: "column 'label' must be true or false")
            }
            guard let (p, cut) = fit(prompt, answer: completion.count, tk, limits) else {
                out.skippedTooLong.append(line)
                continue
            }
            if cut { out.truncatedPrompts += 1 }
            out.examples.append(TokenizedCompletion(line: line, prompt: p, completion: completion, desirable: label, truncated: cut))
        }
        guard !out.examples.isEmpty else { throw TrainingError.dataFile(file: path, reason: "no examples") }
        guard out.examples.contains(where: \.desirable), out.examples.contains(where: { !$0.desirable }) else {
            throw TrainingError.dataFile(file: path, reason: "KTO needs both desirable (label true) and undesirable (label false) examples")
        }
        return out
    }

    // MARK: - Helpers

    private static func objects(_ path: String) throws -> [(line: Int, object: [String: Any])] {
        do { return try JSONLines.readObjects(path: path) } catch let e as JSONLinesError {
            switch e {
            case .malformedLine(_, let line, let reason): throw TrainingError.data(file: path, line: line, reason: "not a JSON object: \(reason)")
            default: throw TrainingError.dataFile(file: path, reason: "\(e)")
            }
        }
    }

    private static func number(_ v: Any?) -> Double? {
        if let n = v as? NSNumber, !(v is Bool) { return n.doubleValue }
        return nil
    }

    private static func messages(_ v: Any, _ column: String, _ path: String, _ line: Int) throws -> [ChatMessage] {
        guard let list = v as? [[String: Any]], !list.isEmpty else {
            throw TrainingError.data(file: path, line: line, reason: "column '\(column)' must be a string or a non-empty list of {role, content} messages")
        }
        return try list.enumerated().map { i, m in
            guard let role = m["role"] as? String, let content = m["content"] as? String else {
                throw TrainingError.data(file: path, line: line, reason: "column '\(column)' message \(i) needs string 'role' and 'content'")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    private static func promptIDs(_ o: [String: Any], _ path: String, _ line: Int, _ tk: TrainingTokenizer) throws -> [Int32] {
        guard let v = o["prompt"] else { throw TrainingError.data(file: path, line: line, reason: "missing column 'prompt'") }
        let ids: [Int32]
        if let s = v as? String { ids = tk.encodePrompt(s) } else { ids = tk.encodePrompt(tk.render(try messages(v, "prompt", path, line))) }
        guard !ids.isEmpty else { throw TrainingError.data(file: path, line: line, reason: "empty prompt") }
        return ids
    }

    private static func answerIDs(_ o: [String: Any], _ column: String, _ path: String, _ line: Int, _ tk: TrainingTokenizer) throws -> [Int32] {
        guard let v = o[column] else { throw TrainingError.data(file: path, line: line, reason: "missing column '\(column)'") }
        let text: String
        if let s = v as? String { text = s } else {
            let ms = try messages(v, column, path, line)
            guard ms.allSatisfy({ $0.role == "assistant" }) else {
                throw TrainingError.data(file: path, line: line, reason: "column '\(column)' messages must be assistant turns")
            }
            text = ms.map(\.content).joined(separator: "\n")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw TrainingError.data(file: path, line: line, reason: "empty answer in column '\(column)'")
        }
        return tk.encodeAnswer(text)
    }

    /// The prompt that fits with an answer of `answer` tokens, and whether it was cut; nil when
    /// even the truncated prompt does not fit.
    static func fit(_ prompt: [Int32], answer: Int, _ tk: TrainingTokenizer, _ limits: LengthLimits) -> ([Int32], Bool)? {
        if prompt.count + answer <= limits.maxLength { return (prompt, false) }
        let keep = min(limits.maxPromptLength, limits.maxLength - answer)
        let header = tk.headerLength(prompt)
        guard keep > header, keep >= 1 else { return nil }
        let cut = Array(prompt.prefix(header)) + Array(prompt.suffix(keep - header))
        return (cut, true)
    }
}
