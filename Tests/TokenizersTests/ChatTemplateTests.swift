// ChatTemplateTests.swift: ChatML rendering and default-system-message extraction.

import Testing
import Tokenizers

@Suite("ChatTemplate")
struct ChatTemplateTests {
    /// The SmolLM2 template as stored in the GGUF.
    static func smolLM2Template() throws -> ChatTemplate {
        guard let jinja = try Fixtures.smolLM2Vocabulary().chatTemplate else {
            throw Fixtures.MissingFixture(name: "smollm2-vocab.json chat_template")
        }
        return try ChatTemplate(jinjaTemplate: jinja)
    }

    @Test("the default system message is read from the GGUF template")
    func extractsDefault() throws {
        let template = try Self.smolLM2Template()
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        // Escaped newlines (as a JSON or Python dump shows them) work too.
        let escaped = #"{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}"#
        #expect(ChatTemplate.defaultSystemMessage(inJinjaTemplate: escaped) == "Be brief.")
        #expect(ChatTemplate.defaultSystemMessage(inJinjaTemplate: "{{'<|im_start|>' + message['role']}}") == nil)
    }

    @Test("system + user conversation")
    func systemAndUser() throws {
        let template = try Self.smolLM2Template()
        let prompt = template.render(
            messages: [.system("You judge answers."), .user("Is 2+2=4?")], addGenerationPrompt: false)
        #expect(prompt == "<|im_start|>system\nYou judge answers.<|im_end|>\n<|im_start|>user\nIs 2+2=4?<|im_end|>\n")
    }

    @Test("user-only conversation gets the default system message")
    func userOnly() throws {
        let template = try Self.smolLM2Template()
        let prompt = template.render(messages: [.user("Hi")], addGenerationPrompt: false)
        #expect(prompt == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
        #expect(ChatTemplate().render(messages: [.user("Hi")], addGenerationPrompt: false) == "<|im_start|>user\nHi<|im_end|>\n")
    }

    @Test("generation prompt")
    func generationPrompt() throws {
        let template = try Self.smolLM2Template()
        let prompt = template.render(messages: [.user("Hi"), .assistant("Hello!"), .user("Bye")], addGenerationPrompt: true)
        #expect(prompt.hasSuffix("<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"))
        #expect(prompt.contains("<|im_start|>assistant\nHello!<|im_end|>\n"))
    }

    @Test("the judge prompt renders to the reference text and its ids")
    func judgePrompt() throws {
        let golden = try Fixtures.smolLM2Case("chat_judge")
        let start = "<|im_start|>user\n", end = "<|im_end|>\n<|im_start|>assistant\n"
        guard let userStart = golden.text.range(of: start), golden.text.hasSuffix(end) else {
            Issue.record("unexpected chat_judge layout")
            return
        }
        let content = String(golden.text[userStart.upperBound..<golden.text.index(golden.text.endIndex, offsetBy: -end.count)])
        let prompt = try Self.smolLM2Template().render(messages: [.user(content)], addGenerationPrompt: true)
        #expect(prompt == golden.text)
        #expect(try Fixtures.smolLM2().encode(prompt, parseSpecial: true) == golden.tokenIds)
    }

    @Test("non-ChatML templates are rejected")
    func unsupported() {
        #expect(throws: TokenizerError.self) {
            try ChatTemplate(jinjaTemplate: "{{ bos_token }}[INST] {{ message['content'] }} [/INST]")
        }
    }
}
