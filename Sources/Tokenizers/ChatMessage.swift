// ChatMessage.swift: one turn of a conversation, as chat templates consume it.

/// One message of a conversation: a role (`system`, `user`, `assistant`, ...) and its text.
public struct ChatMessage: Sendable, Hashable, Codable {
    /// The speaker, written verbatim into the prompt.
    public var role: String
    /// The message text.
    public var content: String

    /// Creates a message with an arbitrary role.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// A `system` message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    /// A `user` message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    /// An `assistant` message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}
