// Trainer.swift: the training loop. Load model and data, compute reference log-probs once,
// resume from a checkpoint if one matches, then per optimiser step: pack the step's examples
// into rows, forward/backward each row (gradients accumulate; every loss term is normalised by
// the step's totals, so rows and micro-batches change nothing but memory), clip, AdamW, log,
// evaluate and checkpoint; at the end, export.
//
// Data order: epoch e visits the training examples in a Fisher-Yates permutation seeded by
// (seed, e); step s of an epoch takes the next batch_size x grad_accum of them (the last step
// of an epoch may be smaller, as Hugging Face's). The order is a pure function of the seed, so
// a checkpoint's step fixes the position in the data and a resumed run is bit-identical.

import Foundation
import Formats
import Kernels
import Models

/// Progress reported while training.
public enum TrainingEvent: Sendable {
    /// Reference log-probs: answers done of total (cached ones count as done at once).
    case reference(done: Int, total: Int)
    /// One optimiser step finished.
    case step(step: Int, total: Int, metrics: [String: Double])
    /// An evaluation finished.
    case evaluation(step: Int, metrics: [String: Double])
    /// A note for the log (resume, skipped data, export paths).
    case note(String)
}

/// What a run did.
public struct TrainingSummary: Codable, Sendable {
    /// Optimiser steps taken in total, and in this process.
    public var steps, stepsThisRun: Int
    /// Step resumed from (0 for a fresh run).
    public var resumedFromStep: Int
    /// Training and evaluation examples.
    public var trainExamples, evalExamples: Int
    /// Lines skipped because their answers do not fit, and prompts truncated.
    public var skippedTooLong: [Int], truncatedPrompts: Int
    /// Loss of the first and the last step.
    public var firstLoss, lastLoss: Double?
    /// Eval reward accuracy before and after training (nil without eval data).
    public var evalAccuracyBefore, evalAccuracyAfter: Double?
    /// Reference pass: seconds, answers computed and answers read from the cache.
    public var referenceSeconds: Double, referenceComputed: Int, referenceCached: Int
    /// Reference pass rate over the packed tokens it computed.
    public var referenceTokensPerSecond: Double?
    /// Wall time of this process's run.
    public var wallSeconds: Double
    /// Peak resident memory of the process.
    public var peakRSSBytes: Int
    /// Files written.
    public var outputs: [String]
}

/// Trains a Llama policy with DPO (+ lambda CE) or KTO.
public enum Trainer {
    /// Runs training as `configuration` says.
    /// - Throws: ``TrainingError`` for bad models, data, checkpoints or failed writes; the last
    ///   good checkpoint stays intact.
    public static func run(_ configuration: TrainingConfiguration, onEvent: @escaping @Sendable (TrainingEvent) -> Void = { _ in }) throws -> TrainingSummary {
        try configuration.validate()
        let started = Date()
        let cfg = configuration
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: cfg.outputDirectory, withIntermediateDirectories: true) } catch {
            throw TrainingError.write(file: cfg.outputDirectory, reason: "\(error)")
        }

        // MARK: Model and data
        let loaded = try LlamaParameters.load(path: cfg.modelPath)
        let tokenizerGGUF: GGUFFile
        if let g = loaded.gguf { tokenizerGGUF = g } else {
            guard let t = cfg.tokenizerPath else {
                throw TrainingError.invalidOption("\(cfg.modelPath) is a Hugging Face folder: give --tokenizer FILE.gguf with the same vocabulary")
            }
            do { tokenizerGGUF = try GGUFFile(path: t) } catch { throw TrainingError.model(file: t, reason: "\(error)") }
        }
        let tokenizer = try TrainingTokenizer(gguf: tokenizerGGUF)
        guard tokenizer.tokenizer.vocabularySize == loaded.parameters.configuration.vocabularySize else {
            throw TrainingError.model(file: tokenizerGGUF.path, reason: "tokenizer has \(tokenizer.tokenizer.vocabularySize) tokens, the model \(loaded.parameters.configuration.vocabularySize)")
        }
        let weights = loaded.parameters
        let modelFingerprint = weights.fingerprint

        var task = try TrainingTask.make(cfg, tokenizer: tokenizer)
        for line in task.skippedTooLong.prefix(20) {
            onEvent(.note("\(cfg.dataPath):\(line): skipped, its answers alone exceed --max-length \(cfg.limits.maxLength)"))
        }

        // MARK: Reference log-probs (once)
        let policyModel = LlamaTrainingModel(weights: weights, threads: cfg.threads, recompute: cfg.recompute)
        let refStarted = Date()
        let referenceModel: LlamaTrainingModel
        if let r = cfg.referencePath {
            let ref = try LlamaParameters.load(path: r).parameters
            guard ref.architecture.configuration.vocabularySize == weights.configuration.vocabularySize else {
                throw TrainingError.model(file: r, reason: "reference vocabulary differs from the policy's")
            }
            referenceModel = LlamaTrainingModel(weights: ref, threads: cfg.threads)
        } else {
            referenceModel = policyModel
        }
        let cache = ReferenceLogProbCache(
            path: (cfg.outputDirectory as NSString).appendingPathComponent("reference_logps.json"),
            reference: referenceModel.weights.fingerprint)
        let refStats = try task.fillReference(model: referenceModel, cache: cache, rowTokens: task.rowTokens(cfg), onEvent: onEvent)
        let referenceSeconds = Date().timeIntervalSince(refStarted)

        // MARK: Resume
        let optimizer = AdamW(architecture: weights.architecture, configuration: cfg.optimizer)
        let metricsPath = (cfg.outputDirectory as NSString).appendingPathComponent("metrics.jsonl")
        let totalSteps = task.totalSteps(cfg)
        let schedule = LearningRateSchedule(peak: cfg.optimizer.learningRate, warmupSteps: cfg.warmupSteps, totalSteps: totalSteps, kind: cfg.scheduler)
        var state = CheckpointState(
            step: 0, seed: cfg.seed, configurationFingerprint: cfg.resumeFingerprint, modelFingerprint: modelFingerprint,
            dataFingerprint: task.dataFingerprint, metricsLines: 0)
        if let folder = Checkpoint.existing(in: cfg.outputDirectory) {
            let saved: CheckpointState
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/state.json"))
                saved = try JSONDecoder().decode(CheckpointState.self, from: data)
            } catch { throw TrainingError.checkpoint(folder: folder, reason: "unreadable state.json: \(error)") }
            guard saved.modelFingerprint == modelFingerprint else {
                throw TrainingError.checkpoint(folder: folder, reason: "it was made from another model than \(cfg.modelPath); use another --output or remove it")
            }
            guard saved.configurationFingerprint == state.configurationFingerprint else {
                throw TrainingError.checkpoint(folder: folder, reason: "it was made with other training settings; use the same options, another --output, or remove it")
            }
            guard saved.dataFingerprint == state.dataFingerprint else {
                throw TrainingError.checkpoint(folder: folder, reason: "it was made from other training data than \(cfg.dataPath)")
            }
            state = try Checkpoint.load(folder: folder, into: weights, optimizer: optimizer)
            try MetricsLog.truncate(metricsPath, toLines: state.metricsLines)
            onEvent(.note("resuming from \(folder) at step \(state.step) of \(totalSteps)"))
        } else {
            try MetricsLog.truncate(metricsPath, toLines: 0)
        }
        let resumedFrom = state.step
        let log = try MetricsLog(path: metricsPath, lines: state.metricsLines)

        // MARK: Loop
        if state.step == 0, task.hasEval {
            let m = task.evaluate(policyModel, rowTokens: task.rowTokens(cfg))
            state.evalAccuracyBefore = m["eval_rewards/accuracies"]
            try log.append(step: 0, epoch: 0, m)
            onEvent(.evaluation(step: 0, metrics: m))
        }
        var lastLoss: Double?
        var lastEval: [String: Double]?
        while state.step < totalSteps {
            let s = state.step
            let t0 = Date()
            policyModel.gradients.zero()
            var m = task.trainStep(s, model: policyModel, cfg: cfg)
            let norm = GradientClipping.clip(policyModel.gradients, maxNorm: cfg.maxGradNorm)
            let lr = schedule.rate(atStep: s)
            optimizer.update(weights: weights, gradients: policyModel.gradients, learningRate: lr)
            let seconds = Date().timeIntervalSince(t0)
            m["grad_norm"] = norm
            m["learning_rate"] = lr
            m["tokens_per_second"] = (m["num_tokens"] ?? 0) / seconds
            m["packed_tokens_per_second"] = (m["num_packed_tokens"] ?? 0) / seconds
            m["step_seconds"] = seconds
            state.step = s + 1
            if state.firstLoss == nil { state.firstLoss = m["loss"] }
            lastLoss = m["loss"]
            let epoch = task.epoch(afterStep: state.step, cfg)
            try log.append(step: state.step, epoch: epoch, m)
            if state.step == FaultInjection.killAfterStep { kill(getpid(), SIGKILL) }
            onEvent(.step(step: state.step, total: totalSteps, metrics: m))
            let last = state.step == totalSteps
            if task.hasEval, let every = cfg.evalEvery, state.step % every == 0 || last {
                let e = task.evaluate(policyModel, rowTokens: task.rowTokens(cfg))
                lastEval = e
                try log.append(step: state.step, epoch: epoch, e)
                onEvent(.evaluation(step: state.step, metrics: e))
            }
            if let every = cfg.saveEvery, state.step % every == 0, !last {
                state.metricsLines = log.lines
                try Checkpoint.save(in: cfg.outputDirectory, weights: weights, optimizer: optimizer, state: state, configuration: cfg)
            }
        }
        if task.hasEval, lastEval == nil, state.step > resumedFrom || cfg.evalEvery == nil {
            let e = task.evaluate(policyModel, rowTokens: task.rowTokens(cfg))
            lastEval = e
            if state.step > resumedFrom { try log.append(step: state.step, epoch: task.epoch(afterStep: state.step, cfg), e) }
            onEvent(.evaluation(step: state.step, metrics: e))
        }
        state.metricsLines = log.lines
        try Checkpoint.save(in: cfg.outputDirectory, weights: weights, optimizer: optimizer, state: state, configuration: cfg)

        // MARK: Exports
        var outputs = [metricsPath, (cfg.outputDirectory as NSString).appendingPathComponent(Checkpoint.folderName)]
        if let type = cfg.exportGGUF {
            let path = (cfg.outputDirectory as NSString).appendingPathComponent("model.gguf")
            try LlamaExport.writeGGUF(weights: weights, tokenizerSource: tokenizerGGUF, type: type, to: path)
            outputs.append(path)
            onEvent(.note("wrote \(path) (\(type.rawValue))"))
        }
        if cfg.exportHuggingFace {
            let folder = (cfg.outputDirectory as NSString).appendingPathComponent("hf")
            try LlamaExport.writeHuggingFace(weights: weights, tokenizerSource: tokenizerGGUF, to: folder)
            outputs.append(folder)
            onEvent(.note("wrote \(folder)"))
        }
        let summary = TrainingSummary(
            steps: state.step, stepsThisRun: state.step - resumedFrom, resumedFromStep: resumedFrom,
            trainExamples: task.trainCount, evalExamples: task.evalCount,
            skippedTooLong: task.skippedTooLong, truncatedPrompts: task.truncatedPrompts,
            firstLoss: state.firstLoss, lastLoss: lastLoss, evalAccuracyBefore: state.evalAccuracyBefore,
            evalAccuracyAfter: lastEval?["eval_rewards/accuracies"],
            referenceSeconds: referenceSeconds, referenceComputed: refStats.computed, referenceCached: refStats.cached,
            referenceTokensPerSecond: refStats.computed > 0 ? Double(refStats.tokens) / referenceSeconds : nil,
            wallSeconds: Date().timeIntervalSince(started), peakRSSBytes: ProcessMemory.peakResidentBytes() ?? 0, outputs: outputs)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try e.encode(summary), to: (cfg.outputDirectory as NSString).appendingPathComponent("summary.json"))
        return summary
    }
}

/// `metrics.jsonl`: one JSON object per logged step, TRL's metric names.
final class MetricsLog {
    let path: String
    private(set) var lines: Int

    init(path: String, lines: Int) throws {
        self.path = path
        self.lines = lines
        if !FileManager.default.fileExists(atPath: path) { try AtomicFile.write(Data(), to: path) }
    }

    /// Keeps the first `n` lines (a resumed run drops what came after its checkpoint).
    static func truncate(_ path: String, toLines n: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let kept = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).prefix(n)
        var out = Data()
        for l in kept { out.append(contentsOf: l); out.append(UInt8(ascii: "\n")) }
        try AtomicFile.write(out, to: path)
    }

    func append(step: Int, epoch: Double, _ metrics: [String: Double]) throws {
        var parts = ["\"step\":\(step)", "\"epoch\":\(json(epoch))"]
        for k in metrics.keys.sorted() { parts.append("\"\(k)\":\(json(metrics[k]!))") }
        let line = "{" + parts.joined(separator: ",") + "}\n"
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainingError.write(file: path, reason: "cannot open") }
        defer { try? h.close() }
        do {
            try h.seekToEnd()
            try h.write(contentsOf: Data(line.utf8))
        } catch { throw TrainingError.write(file: path, reason: "\(error)") }
        lines += 1
    }

    private func json(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }
}

/// Fault injection for resume tests: `LONGREWARD_FAULT_KILL_AFTER_STEP=N` makes the process
/// SIGKILL itself right after step N is logged (a real kill -9 at an exact moment, which a
/// test polling from a busy machine cannot time).
enum FaultInjection {
    static let killAfterStep: Int? = ProcessInfo.processInfo.environment["LONGREWARD_FAULT_KILL_AFTER_STEP"].flatMap { Int($0) }
}
