// ModelLocator.swift: where model files come from: an explicit path, else $LONGREWARD_HOME.

import Foundation

/// Resolves model paths: `--model PATH` first, then the set-up cache.
public enum ModelLocator {
    /// File name of the embedded judge/policy model inside `$LONGREWARD_HOME/models`.
    public static let defaultDecoderFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
    /// Folder name of the embedded embedder inside `$LONGREWARD_HOME/models`.
    public static let defaultEncoderFolder = "all-MiniLM-L6-v2"

    /// `$LONGREWARD_HOME`, default `~/.cache/longreward`.
    public static var home: URL {
        if let h = ProcessInfo.processInfo.environment["LONGREWARD_HOME"], !h.isEmpty {
            return URL(fileURLWithPath: h)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/longreward")
    }

    /// The decoder GGUF: `explicit` if given, else the embedded SmolLM2 in the cache.
    /// - Throws: ``ModelError/modelNotFound(path:hint:)`` saying how to fetch it.
    public static func decoder(_ explicit: String? = nil) throws -> String {
        try resolve(explicit, defaultPath: home.appendingPathComponent("models/\(defaultDecoderFile)").path)
    }

    /// The encoder folder (config.json, model.safetensors, vocab.txt): `explicit` or the cache's MiniLM.
    public static func encoder(_ explicit: String? = nil) throws -> String {
        try resolve(explicit, defaultPath: home.appendingPathComponent("models/\(defaultEncoderFolder)").path)
    }

    static func resolve(_ explicit: String?, defaultPath: String) throws -> String {
        let path = explicit ?? defaultPath
        guard FileManager.default.fileExists(atPath: path) else {
            let hint = explicit == nil
                ? "Run `make setup` to download the embedded models into \(home.path), or pass --model PATH."
                : "Check the path given with --model."
            throw ModelError.modelNotFound(path: path, hint: hint)
        }
        return path
    }
}
