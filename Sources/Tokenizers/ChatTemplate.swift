// ChatTemplate.swift: renders conversations in ChatML (SmolLM2's format), configured from the
// Jinja template stored in a GGUF file's `tokenizer.chat_template`.

/// A ChatML chat template: each message becomes `<|im_start|>{role}\n{content}<|im_end|>\n`.
///
/// SmolLM2's template inserts a default system message when the conversation does not start with
/// one. That text is model data, so it is a property here, normally read from the GGUF template by
/// ``init(jinjaTemplate:)``.
public struct ChatTemplate: Sendable, Hashable {
    /// Text of the system message inserted when the first message is not a system message, or
    /// `nil` to insert none.
    public var defaultSystemMessage: String?

    /// The marker that opens a ChatML turn.
    public static let turnStart = "<|im_start|>"
    /// The marker that closes a ChatML turn.
    public static let turnEnd = "<|im_end|>"

    /// Creates a ChatML template with an optional default system message.
    public init(defaultSystemMessage: String? = nil) {
        self.defaultSystemMessage = defaultSystemMessage
    }

    /// Recognises a Jinja chat template (the GGUF `tokenizer.chat_template` string) as ChatML and
    /// extracts its default system message, if any.
    /// - Throws: ``TokenizerError/unsupportedChatTemplate(reason:)`` when the template is not
    ///   ChatML (does not contain `<|im_start|>`).
    public init(jinjaTemplate: String) throws {
        guard jinjaTemplate.contains(Self.turnStart) else {
            throw TokenizerError.unsupportedChatTemplate(
                reason: "no \(Self.turnStart) marker, so not ChatML: \(String(jinjaTemplate.prefix(80)).debugDescription)")
        }
        self.init(defaultSystemMessage: Self.defaultSystemMessage(inJinjaTemplate: jinjaTemplate))
    }

    /// Extracts the default system message from a ChatML Jinja template: the text of a string
    /// literal that starts with `<|im_start|>system` plus a newline and runs to `<|im_end|>`.
    /// Jinja escapes (`\n`, `\'`, `\"`, `\\`, `\t`) in the literal are decoded. Returns `nil`
    /// when the template contains no such literal.
    public static func defaultSystemMessage(inJinjaTemplate template: String) -> String? {
        let scalars = Array(template.unicodeScalars)
        let quotes: Set<Unicode.Scalar> = ["'", "\""]
        var index = 0
        while index < scalars.count {
            // Find a string literal and decode it.
            guard quotes.contains(scalars[index]) else {
                index += 1
                continue
            }
            let quote = scalars[index]
            var literal = String.UnicodeScalarView()
            var cursor = index + 1
            var closed = false
            while cursor < scalars.count {
                let scalar = scalars[cursor]
                if scalar == "\\" && cursor + 1 < scalars.count {
                    let escaped = scalars[cursor + 1]
                    switch escaped {
                    case "n": literal.append("\n")
                    case "t": literal.append("\t")
                    case "r": literal.append("\r")
                    default: literal.append(escaped)
                    }
                    cursor += 2
                    continue
                }
                if scalar == quote {
                    closed = true
                    break
                }
                literal.append(scalar)
                cursor += 1
            }
            guard closed else { return nil }
            let text = String(literal)
            let opening = turnStart + "system\n"
            if text.hasPrefix(opening), let end = text.firstRange(of: turnEnd) {
                let body = text[text.index(text.startIndex, offsetBy: opening.count)..<end.lowerBound]
                return String(body)
            }
            index = cursor + 1
        }
        return nil
    }

    /// Renders a conversation as a prompt.
    /// - Parameters:
    ///   - messages: the conversation, in order.
    ///   - addGenerationPrompt: append `<|im_start|>assistant\n` so the model answers next.
    /// - Returns: the prompt text; encode it with special-token parsing on.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        var prompt = ""
        if let defaultSystemMessage, let first = messages.first, first.role != "system" {
            appendTurn(role: "system", content: defaultSystemMessage, to: &prompt)
        }
        for message in messages {
            appendTurn(role: message.role, content: message.content, to: &prompt)
        }
        if addGenerationPrompt {
            prompt += Self.turnStart + "assistant\n"
        }
        return prompt
    }

    private func appendTurn(role: String, content: String, to prompt: inout String) {
        prompt += Self.turnStart
        prompt += role
        prompt += "\n"
        prompt += content
        prompt += Self.turnEnd
        prompt += "\n"
    }
}
