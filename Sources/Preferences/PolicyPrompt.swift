// PolicyPrompt.swift: the conversation a policy answers (the `answer` rubric over the document
// or, when the document is over the budget, its passages most related to the question).

import Foundation
import Judges
import Scoring
import Store
import Tokenizers

/// Builds policy prompts. The same prompt is used to sample answers, stored with them, and
/// exported as the training prompt.
enum PolicyPrompt {
    /// The document text the policy sees: the whole document when it fits `budget` tokens,
    /// otherwise the best-matching fine chunks for `question` that fit, put back in document
    /// order and labelled with their position.
    static func context(
        document: DocumentRecord, question: String, index: DocumentIndex, budget: Int, rubric: Rubric
    ) async throws -> String {
        try await index.context(document: document, question: question, budget: budget, note: rubric.formats["excerpt_note"]) {
            try rubric.format("passage", ["position": $1, "text": $0.text])
        }.text
    }

    /// The conversation for (document context, question).
    static func messages(rubric: Rubric, context: String, question: String) throws -> [ChatMessage] {
        try rubric.messages(["document": context, "question": question])
    }

    /// Messages as stored (`[{"role", "content"}]`).
    static func encode(_ messages: [ChatMessage]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(messages)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// Messages from their stored JSON.
    static func decode(_ json: String?) -> [ChatMessage]? {
        guard let json else { return nil }
        return try? JSONDecoder().decode([ChatMessage].self, from: Data(json.utf8))
    }

    /// A conversation as plain text, for standard-format exports when no chat template is known.
    static func plainText(_ messages: [ChatMessage]) -> String {
        messages.map(\.content).joined(separator: "\n\n")
    }
}
