// Checkpoint.swift: the latest training state in `DIR/checkpoint/`, written atomically.
//
//   config.json            the training configuration and the model's hyper-parameters
//   model.safetensors      float32 master weights, Hugging Face names
//   optimizer.safetensors  AdamW moments: "exp_avg.<name>", "exp_avg_sq.<name>"
//   state.json             step, epoch, AdamW step, seed, fingerprints, metrics lines written
// The folder is written as `checkpoint.tmp/`, then the old one is renamed `checkpoint.old/`,
// the new one renamed into place and the old one removed: a kill at any moment leaves either
// the previous or the new checkpoint whole (a leftover `checkpoint.old/` is used when
// `checkpoint/` is missing).

import Foundation
import Formats
import Kernels

/// What a checkpoint restores besides tensors.
public struct CheckpointState: Codable, Sendable, Equatable {
    /// Optimiser steps completed.
    public var step: Int
    /// Seed of the data order (the order of epoch e is a pure function of seed and e, so the
    /// step fixes the position in the data).
    public var seed: UInt64
    /// The run settings that change the weights (``TrainingConfiguration`` fingerprint).
    public var configurationFingerprint: String
    /// The initial policy's content fingerprint.
    public var modelFingerprint: String
    /// The training data's fingerprint (its token ids).
    public var dataFingerprint: String
    /// Lines of metrics.jsonl that belong to steps up to ``step``.
    public var metricsLines: Int
    /// Loss of the first step and eval reward accuracy before training (for the summary).
    public var firstLoss: Double?
    /// Eval reward accuracy before training.
    public var evalAccuracyBefore: Double?
}

/// Reading and writing `DIR/checkpoint`.
public enum Checkpoint {
    static let folderName = "checkpoint"

    /// Writes the checkpoint atomically.
    /// - Throws: ``TrainingError/write(file:reason:)``; the previous checkpoint stays intact.
    public static func save(in directory: String, weights: LlamaParameters, optimizer: AdamW, state: CheckpointState, configuration: TrainingConfiguration) throws {
        let fm = FileManager.default
        let final = (directory as NSString).appendingPathComponent(folderName)
        let tmp = final + ".tmp", old = final + ".old"
        try? fm.removeItem(atPath: tmp)
        do { try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true) } catch {
            throw TrainingError.write(file: tmp, reason: "\(error)")
        }
        do {
            try SafeTensorsWriter.write(tensors: tensors(weights), metadata: ["format": "pt"], to: URL(fileURLWithPath: tmp + "/model.safetensors"))
            try SafeTensorsWriter.write(
                tensors: tensors(optimizer.m, prefix: "exp_avg.") + tensors(optimizer.v, prefix: "exp_avg_sq."),
                to: URL(fileURLWithPath: tmp + "/optimizer.safetensors"))
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            try AtomicFile.write(try e.encode(state), to: tmp + "/state.json")
            try AtomicFile.write(try e.encode(configuration), to: tmp + "/config.json")
        } catch {
            try? fm.removeItem(atPath: tmp)
            if let t = error as? TrainingError { throw t }
            throw TrainingError.write(file: tmp, reason: "\(error)")
        }
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: final) {
            guard rename(final, old) == 0 else { throw TrainingError.write(file: final, reason: String(cString: strerror(errno))) }
        }
        guard rename(tmp, final) == 0 else { throw TrainingError.write(file: final, reason: String(cString: strerror(errno))) }
        try? fm.removeItem(atPath: old)
    }

    /// The checkpoint folder to resume from, if one exists.
    public static func existing(in directory: String) -> String? {
        let final = (directory as NSString).appendingPathComponent(folderName)
        let fm = FileManager.default
        if fm.fileExists(atPath: final + "/state.json") { return final }
        if fm.fileExists(atPath: final + ".old/state.json") { return final + ".old" }
        return nil
    }

    /// Reads a checkpoint's state and restores weights and moments into `weights` and `optimizer`.
    /// - Throws: ``TrainingError/checkpoint(folder:reason:)`` when the files are unreadable or the
    ///   tensors do not match the model.
    public static func load(folder: String, into weights: LlamaParameters, optimizer: AdamW) throws -> CheckpointState {
        let state: CheckpointState
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/state.json"))
            state = try JSONDecoder().decode(CheckpointState.self, from: data)
        } catch { throw TrainingError.checkpoint(folder: folder, reason: "unreadable state.json: \(error)") }
        try read(folder + "/model.safetensors", into: weights, prefix: "", folder: folder)
        try read(folder + "/optimizer.safetensors", into: optimizer.m, prefix: "exp_avg.", folder: folder)
        try read(folder + "/optimizer.safetensors", into: optimizer.v, prefix: "exp_avg_sq.", folder: folder)
        optimizer.restore(step: state.step)
        return state
    }

    static func tensors(_ p: LlamaParameters, prefix: String = "") -> [SafeTensorsWriter.Tensor] {
        p.entries.map { e in
            SafeTensorsWriter.Tensor(name: prefix + e.huggingFaceName, shape: e.shape, values: p.values(e))
        }
    }

    private static func read(_ path: String, into p: LlamaParameters, prefix: String, folder: String) throws {
        let f: SafeTensorsFile
        do { f = try SafeTensorsFile(path: path) } catch { throw TrainingError.checkpoint(folder: folder, reason: "\(error)") }
        for e in p.entries {
            let name = prefix + e.huggingFaceName
            guard let info = try? f.tensor(named: name), info.shape == e.shape, info.dtype == .f32 else {
                throw TrainingError.checkpoint(folder: folder, reason: "\(path): tensor \(name) missing or not float32 \(e.shape): a checkpoint of another model")
            }
            let v = try f.floats(named: name)
            (p.storage.pointer + e.offset).update(from: v.pointer, count: e.count)
        }
    }
}
