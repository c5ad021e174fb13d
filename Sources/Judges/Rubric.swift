// Rubric.swift: judge prompts loaded from `Rubrics/<id>/` (data, never Swift literals).

import Formats
import Foundation
import Tokenizers

/// How a rubric's output is parsed.
public enum ParseMode: String, Sendable, Codable {
    /// The last `[[n]]`, clamped to 0...10.
    case rating
    /// `<statement>...</statement>` items, or `[[NO STATEMENTS]]`.
    case statements
    /// The last `[[Fully]]`, `[[Partially]]` or `[[No]]`.
    case support
    /// `- fact` lines, or `[[NONE]]`.
    case extract
    /// Any non-empty output, trimmed (policy answers).
    case text
    /// The last `[[A]]` or `[[B]]`: which of two shown items is better (pairwise and meta-judging).
    case choice
    /// One question: the text after a `Question:` label, or the first line ending in `?`.
    case question
}

/// One rubric: fixed instructions, few-shot examples and a per-call template.
public struct Rubric: Sendable {
    /// Stable id (the folder name).
    public let id: String
    /// Bumped whenever the text changes meaning.
    public let version: Int
    /// What the rubric judges.
    public let description: String
    /// The placeholders `user.md` uses.
    public let placeholders: [String]
    /// Output parser.
    public let parse: ParseMode
    /// Completion budget.
    public let maxTokens: Int
    /// Strings that end a finished verdict (`]]` for ratings and labels): a local judge stops
    /// there and keeps them.
    public let stopAfter: [String]
    /// Named templates for how the scorer lays out placeholder values (passages, extracts).
    public let formats: [String: String]
    /// Fixed instructions (the system message).
    public let system: String
    /// The per-call user message, with `{{placeholder}}` markers.
    public let userTemplate: String
    /// Few-shot examples: placeholder values and the ideal output.
    public let examples: [(inputs: [String: String], output: String)]
    /// SHA-256 over every file's bytes: a changed prompt never reuses a cached verdict.
    public let contentHash: String
    /// How verdicts are written, for reading them from probabilities (rating and support
    /// rubrics; nil: parse only).
    public let verdict: RubricVerdict?
    /// The template's block labels (`Answer:`, `[Answer A]`): judged text may not start a line
    /// with one (see ``JudgedText``).
    public let blockMarkers: [String]

    /// The request that reads this rubric's verdict in `mode` (nil for `parse` or a rubric
    /// without verdict labels).
    public func verdictRequest(_ mode: VerdictMode) -> VerdictRequest? {
        guard mode != .parse, let v = verdict else { return nil }
        return VerdictRequest(mode: mode, rubricID: id, labels: v.labels, opener: v.opener, closer: v.closer, forcedPrefix: v.forcedPrefix)
    }

    /// Number of leading messages that are the same for every call (system + example turns):
    /// the prefix a local judge keeps prefilled.
    public var fixedMessageCount: Int { 1 + 2 * examples.count }

    /// Loads `folder` (rubric.json, system.md, user.md, optional examples.jsonl).
    public init(folder: String) throws {
        func read(_ name: String, optional: Bool = false) throws -> Data? {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                if optional { return nil }
                throw JudgeError.invalidRubric(path: folder, reason: "missing \(name)")
            }
            return data
        }
        let metaData = try read("rubric.json")!
        guard let meta = try? JSONSerialization.jsonObject(with: metaData) as? [String: Any] else {
            throw JudgeError.invalidRubric(path: folder + "/rubric.json", reason: "not a JSON object")
        }
        guard let id = meta["id"] as? String, !id.isEmpty else {
            throw JudgeError.invalidRubric(path: folder + "/rubric.json", reason: "missing string field 'id'")
        }
        guard let version = meta["version"] as? Int else {
            throw JudgeError.invalidRubric(path: folder + "/rubric.json", reason: "missing integer field 'version'")
        }
        guard let parseName = meta["parse"] as? String, let parse = ParseMode(rawValue: parseName) else {
            throw JudgeError.invalidRubric(path: folder + "/rubric.json", reason: "field 'parse' must be rating, statements, support, extract, text, choice or question")
        }
        let placeholders = meta["placeholders"] as? [String] ?? []
        let systemData = try read("system.md")!, userData = try read("user.md")!
        let exampleData = try read("examples.jsonl", optional: true) ?? Data()
        let user = String(decoding: userData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        for name in placeholders where !user.contains("{{\(name)}}") {
            throw JudgeError.invalidRubric(path: folder + "/user.md", reason: "placeholder {{\(name)}} is declared but not used")
        }
        var examples: [(inputs: [String: String], output: String)] = []
        for (n, line) in exampleData.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let inputs = object["inputs"] as? [String: String], let output = object["output"] as? String
            else {
                throw JudgeError.invalidRubric(path: "\(folder)/examples.jsonl:\(n + 1)", reason: "expected {\"inputs\": {...strings}, \"output\": string}")
            }
            for name in placeholders where inputs[name] == nil {
                throw JudgeError.invalidRubric(path: "\(folder)/examples.jsonl:\(n + 1)", reason: "no value for placeholder '\(name)'")
            }
            examples.append((inputs, output))
        }
        if let v = meta["verdict"] {
            self.verdict = try RubricVerdict(v, parse: parse, path: folder + "/rubric.json")
        } else {
            self.verdict = nil
        }
        self.id = id
        self.version = version
        self.description = meta["description"] as? String ?? ""
        self.placeholders = placeholders
        self.parse = parse
        self.maxTokens = meta["max_tokens"] as? Int ?? 512
        self.stopAfter = meta["stop_after"] as? [String] ?? []
        self.formats = meta["formats"] as? [String: String] ?? [:]
        self.system = String(decoding: systemData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        self.userTemplate = user
        self.blockMarkers = JudgedText.blockMarkers(userTemplate: user)
        self.examples = examples
        self.contentHash = SHA256.hex(Array(metaData) + Array(systemData) + Array(userData) + Array(exampleData))
    }

    /// Fills the user template; every declared placeholder needs a value. Values are judged
    /// text: each is neutralised first (``JudgedText/neutralise(_:blockMarkers:)``), so it
    /// cannot close its block, fake the template's structure or write a verdict. Placeholders
    /// are filled in one pass, so a value holding `{{name}}` is never filled in turn.
    public func renderUser(_ values: [String: String]) throws -> String {
        var filled: [String: String] = [:]
        for name in placeholders {
            guard let value = values[name] else { throw JudgeError.missingPlaceholder(rubric: id, name: name) }
            filled[name] = JudgedText.neutralise(value, blockMarkers: blockMarkers)
        }
        var out = ""
        var rest = userTemplate[...]
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { rest = rest[open.lowerBound...]; break }
            let name = String(rest[open.upperBound..<close.lowerBound])
            out += filled[name] ?? String(rest[open.lowerBound..<close.upperBound])
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    /// Fills the named format with `values` (`{{name}}` markers).
    /// - Throws: `JudgeError.invalidRubric` when rubric.json has no such format.
    public func format(_ name: String, _ values: [String: String]) throws -> String {
        guard var text = formats[name] else {
            throw JudgeError.invalidRubric(path: "\(id)/rubric.json", reason: "missing formats.\(name)")
        }
        for (key, value) in values { text = text.replacingOccurrences(of: "{{\(key)}}", with: value) }
        return text
    }

    /// The full conversation for one call: system, example turns, then the filled user message.
    /// The first `fixedMessageCount` messages never change between calls.
    public func messages(_ values: [String: String]) throws -> [ChatMessage] {
        var out: [ChatMessage] = [.system(system)]
        for example in examples {
            out.append(.user(try renderUser(example.inputs)))
            out.append(.assistant(example.output))
        }
        out.append(.user(try renderUser(values)))
        return out
    }
}

/// A rubric's verdict vocabulary (`"verdict"` in rubric.json):
/// `{"labels": ["0", ..., "10"], "opener": "[[", "closer": "]]", "forced_prefix": "\nRating: [["}`.
public struct RubricVerdict: Sendable, Equatable {
    /// Allowed verdicts as written between opener and closer.
    public let labels: [String]
    /// Each label's value: the number for ratings, 1 / 0.5 / 0 for support labels, 1 / 0 for A / B.
    public let values: [Double]
    /// `[[` and `]]`.
    public let opener: String, closer: String
    /// Appended to force a verdict; ends with `opener`.
    public let forcedPrefix: String

    init(_ object: Any, parse: ParseMode, path: String) throws {
        guard let o = object as? [String: Any], let labels = o["labels"] as? [String], !labels.isEmpty,
            let opener = o["opener"] as? String, !opener.isEmpty, let closer = o["closer"] as? String, !closer.isEmpty,
            let forced = o["forced_prefix"] as? String
        else {
            throw JudgeError.invalidRubric(path: path, reason: "'verdict' needs labels (strings), opener, closer and forced_prefix")
        }
        guard forced.hasSuffix(opener) else {
            throw JudgeError.invalidRubric(path: path, reason: "verdict.forced_prefix must end with the opener '\(opener)'")
        }
        guard Set(labels).count == labels.count else { throw JudgeError.invalidRubric(path: path, reason: "verdict.labels repeat a label") }
        if let bad = labels.first(where: { $0.isEmpty || $0.contains(opener) || $0.contains(closer) }) {
            throw JudgeError.invalidRubric(path: path, reason: "verdict label '\(bad)' is empty or contains the opener or closer")
        }
        var values: [Double] = []
        for label in labels {
            switch parse {
            case .rating:
                guard let v = Double(label), v.isFinite else {
                    throw JudgeError.invalidRubric(path: path, reason: "verdict label '\(label)' is not a number (rating rubric)")
                }
                values.append(v)
            case .support:
                guard let l = SupportLabel(rawValue: label) else {
                    throw JudgeError.invalidRubric(path: path, reason: "verdict label '\(label)' is not Fully, Partially or No")
                }
                values.append(l.value)
            case .choice:
                guard let c = Choice(rawValue: label) else {
                    throw JudgeError.invalidRubric(path: path, reason: "verdict label '\(label)' is not A or B (choice rubric)")
                }
                values.append(c == .a ? 1 : 0)
            default:
                throw JudgeError.invalidRubric(path: path, reason: "'verdict' applies to rating, support and choice rubrics only")
            }
        }
        (self.labels, self.values, self.opener, self.closer, forcedPrefix) = (labels, values, opener, closer, forced)
    }
}

/// The rubrics of one folder, by id.
public struct RubricLibrary: Sendable {
    /// The folder they came from.
    public let folder: String
    /// Rubrics by id.
    public let rubrics: [String: Rubric]

    /// The ids the scorer needs.
    public static let required = ["helpfulness", "logic", "statements", "support", "extract", "completeness"]

    /// Loads every subfolder holding a rubric.json.
    public init(folder: String) throws {
        self.folder = folder
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var rubrics: [String: Rubric] = [:]
        for entry in entries.sorted() {
            let path = (folder as NSString).appendingPathComponent(entry)
            guard FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("rubric.json")) else { continue }
            let rubric = try Rubric(folder: path)
            rubrics[rubric.id] = rubric
        }
        self.rubrics = rubrics
    }

    /// The rubric with this id.
    public func rubric(_ id: String) throws -> Rubric {
        guard let rubric = rubrics[id] else { throw JudgeError.unknownRubric(id: id, folder: folder) }
        return rubric
    }

    /// Finds the Rubrics folder: `explicit`, `$LONGREWARD_RUBRICS`, the source tree the binary was
    /// built in (`<bin>/../../Rubrics`), an install prefix (`<bin>/../share/longreward/Rubrics`),
    /// then `./Rubrics`.
    public static func locate(_ explicit: String? = nil) throws -> String {
        if let explicit { return explicit }
        var tried: [String] = []
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["LONGREWARD_RUBRICS"], !env.isEmpty { candidates.append(env) }
        let binary = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(binary.appendingPathComponent("../../Rubrics").standardized.path)
        candidates.append(binary.appendingPathComponent("../../../Rubrics").standardized.path)
        candidates.append(binary.appendingPathComponent("../share/longreward/Rubrics").standardized.path)
        candidates.append(FileManager.default.currentDirectoryPath + "/Rubrics")
        for candidate in candidates {
            tried.append(candidate)
            if FileManager.default.fileExists(atPath: candidate + "/helpfulness/rubric.json") { return candidate }
        }
        throw JudgeError.rubricsNotFound(tried: tried)
    }
}
