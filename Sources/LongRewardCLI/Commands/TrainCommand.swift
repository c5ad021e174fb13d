// `longreward train dpo|kto`: fine-tune the Llama policy on preference data (TRL's option names).

import ArgumentParser
import Foundation
import Models
import Training

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a Llama policy with DPO (+ lambda CE) or KTO on preference data.",
        subcommands: [TrainDPOCommand.self, TrainKTOCommand.self])
}

/// Options shared by `train dpo` and `train kto`.
struct TrainOptions: ParsableArguments {
    @Option(name: .long, help: "Training data (JSONL). DPO: prompt/chosen/rejected [chosen_weight/rejected_weight]; KTO: prompt/completion/label. Strings or message lists.")
    var data: String

    @Option(name: .long, help: "Policy to train: a llama GGUF or a Hugging Face folder. Default: the embedded SmolLM2.")
    var model: String?

    @Option(name: .long, help: "Output folder (metrics.jsonl, checkpoint/, model.gguf, hf/).")
    var output: String

    @Option(name: .long, help: "Reference model (default: the initial policy).")
    var reference: String?

    @Option(name: .long, help: "A GGUF with the tokenizer, when --model is a Hugging Face folder.")
    var tokenizer: String?

    @Option(name: .long, help: "beta (KL strength). Default 0.15 for DPO (LongReward), 0.1 for KTO (TRL).")
    var beta: Double?

    @Option(name: .long, help: "AdamW peak learning rate.")
    var learningRate: Double = 1e-6

    @Option(name: .long, help: "Decoupled weight decay (not on norm weights).")
    var weightDecay: Double = 0

    @Option(name: .long, help: "Linear warm-up steps.")
    var warmupSteps: Int = 0

    @Option(name: .long, help: "linear, cosine or constant after warm-up.")
    var lrScheduler: String = "linear"

    @Option(name: .long, help: "Global gradient-norm clip (0 disables).")
    var maxGradNorm: Double = 1

    @Option(name: .long, help: "Examples per micro-batch (pairs for DPO).")
    var batchSize: Int = 16

    @Option(name: .long, help: "Micro-batches per optimiser step.")
    var gradAccum: Int = 1

    @Option(name: .long, help: "Passes over the data.")
    var epochs: Int = 1

    @Option(name: .long, help: "Optimiser steps (overrides --epochs).")
    var maxSteps: Int?

    @Option(name: .long, help: "Longest prompt + answer in tokens.")
    var maxLength: Int = 8192

    @Option(name: .long, help: "Prompts of over-long examples are cut from the left to this (the chat header kept).")
    var maxPromptLength: Int = 7680

    @Option(name: .long, help: "Share of the data held out for evaluation.")
    var evalFraction: Double = 0

    @Option(name: .long, help: "A separate evaluation file (same format).")
    var evalData: String?

    @Option(name: .long, help: "Evaluate every N steps (default: before and after training).")
    var evalEvery: Int?

    @Option(name: .long, help: "Checkpoint every N steps (default: at the end).")
    var saveEvery: Int?

    @Option(name: .long, help: "Seed of the shuffle and the held-out split.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Worker threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Packed tokens per forward/backward row (default: max(--max-length, longest example)).")
    var rowTokens: Int?

    @Flag(name: .long, help: "Keep every block's activations instead of recomputing them (faster, more memory).")
    var noRecompute = false

    @Option(name: .long, help: "Export DIR/model.gguf as f32, f16 or q8_0 ('none' to skip).")
    var exportGguf: String = "f16"

    @Flag(name: .long, help: "Also export a Hugging Face folder DIR/hf.")
    var exportHf = false

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        guard LearningRateScheduleKind(rawValue: lrScheduler) != nil else { throw ValidationError("--lr-scheduler must be linear, cosine or constant") }
        guard exportGguf == "none" || GGUFExportType(rawValue: exportGguf) != nil else { throw ValidationError("--export-gguf must be f32, f16, q8_0 or none") }
    }

    func configuration(_ objective: TrainingObjective) throws -> TrainingConfiguration {
        var c = TrainingConfiguration(objective: objective, dataPath: data, modelPath: try ModelLocator.decoder(model), outputDirectory: output)
        c.referencePath = reference
        c.tokenizerPath = tokenizer
        if let beta { c.loss.beta = beta; c.kto.beta = beta }
        c.optimizer.learningRate = learningRate
        c.optimizer.weightDecay = weightDecay
        c.warmupSteps = warmupSteps
        c.scheduler = LearningRateScheduleKind(rawValue: lrScheduler)!
        c.maxGradNorm = maxGradNorm
        c.batchSize = batchSize
        c.gradientAccumulation = gradAccum
        c.epochs = epochs
        c.maxSteps = maxSteps
        c.limits.maxLength = maxLength
        c.limits.maxPromptLength = maxPromptLength
        c.evalFraction = evalFraction
        c.evalDataPath = evalData
        c.evalEvery = evalEvery
        c.saveEvery = saveEvery
        c.seed = seed
        c.threads = threads
        c.rowTokens = rowTokens
        c.recompute = !noRecompute
        c.exportGGUF = GGUFExportType(rawValue: exportGguf)
        c.exportHuggingFace = exportHf
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        return c
    }

    func run(_ c: TrainingConfiguration) throws {
        let bar = TrainingProgress()
        let s = try Trainer.run(c) { bar.handle($0) }
        Console.clearStatus()
        if json { print(try Console.json(s)); return }
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        print("trained \(s.stepsThisRun) step(s) (\(s.steps) in total\(s.resumedFromStep > 0 ? ", resumed at step \(s.resumedFromStep)" : "")) on \(s.trainExamples) examples, \(s.evalExamples) held out")
        print("loss first \(f(s.firstLoss)), last \(f(s.lastLoss)); eval reward accuracy before \(f(s.evalAccuracyBefore)), after \(f(s.evalAccuracyAfter))")
        print(String(format: "reference pass: %d answers computed, %d cached, %.1f s%@", s.referenceComputed, s.referenceCached, s.referenceSeconds,
                     s.referenceTokensPerSecond.map { String(format: " (%.0f tokens/s)", $0) } ?? ""))
        if !s.skippedTooLong.isEmpty { print("skipped \(s.skippedTooLong.count) example(s) whose answers exceed --max-length: lines \(s.skippedTooLong.prefix(10).map(String.init).joined(separator: ", "))") }
        if s.truncatedPrompts > 0 { print("truncated \(s.truncatedPrompts) prompt(s) from the left to fit") }
        print(String(format: "wall %.1f s, peak memory %.0f MiB", s.wallSeconds, Double(s.peakRSSBytes) / 1_048_576))
        for o in s.outputs { print("wrote \(o)") }
    }
}

struct TrainDPOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "DPO (sigmoid, cDPO label smoothing, SPA soft labels, or IPO) plus lambda * NLL of the chosen answer.",
        discussion: """
            Each pair is packed as [prompt | chosen | rejected] with a segment mask, so the prompt is \
            computed once; reference log-probs are computed once and kept in DIR/reference_logps.json. \
            A rerun with the same options resumes from DIR/checkpoint and ends bit-identical to an \
            uninterrupted run. Defaults follow LongReward: beta 0.15, ce-weight 0.1, lr 1e-6, 16 pairs per step.
            """)

    @OptionGroup var options: TrainOptions

    @Option(name: .long, help: "lambda, the weight of the chosen answer's NLL per token (TRL: rpo_alpha).")
    var ceWeight: Double = 0.1

    @Option(name: .long, help: "cDPO label smoothing in [0, 0.5).")
    var labelSmoothing: Double = 0

    @Option(name: .long, help: "sigmoid or ipo.")
    var lossType: String = "sigmoid"

    func validate() throws {
        guard PreferenceLossType(rawValue: lossType) != nil else { throw ValidationError("--loss-type must be sigmoid or ipo") }
    }

    func run() async throws {
        var c = try options.configuration(.dpo)
        c.loss.ceWeight = ceWeight
        c.loss.labelSmoothing = labelSmoothing
        c.loss.lossType = PreferenceLossType(rawValue: lossType)!
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        try options.run(c)
    }
}

struct TrainKTOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kto",
        abstract: "KTO on prompt/completion/label data (TRL's formula, batch KL estimate clamped at zero).")

    @OptionGroup var options: TrainOptions

    @Option(name: .long, help: "Weight of desirable examples.")
    var desirableWeight: Double = 1

    @Option(name: .long, help: "Weight of undesirable examples.")
    var undesirableWeight: Double = 1

    func run() async throws {
        var c = try options.configuration(.kto)
        c.kto.desirableWeight = desirableWeight
        c.kto.undesirableWeight = undesirableWeight
        do { try c.validate() } catch { throw ValidationError("\(error)") }
        try options.run(c)
    }
}

/// Progress on stderr: the reference pass, then steps with loss, accuracy and ETA.
final class TrainingProgress: @unchecked Sendable {
    private let started = Date()
    private var stepsStarted: Date?
    private var firstStep = 0
    private let lock = NSLock()
    private let terminal = isatty(STDERR_FILENO) != 0
    private var lastLine = Date.distantPast

    /// On a terminal every update redraws the line; in a log, one line every 10 s at most
    /// (and the last one), so long runs do not flood it.
    private func due(final: Bool) -> Bool {
        if terminal || final || Date().timeIntervalSince(lastLine) >= 10 { lastLine = Date(); return true }
        return false
    }

    func handle(_ e: TrainingEvent) {
        lock.withLock {
            switch e {
            case .reference(let done, let total):
                guard due(final: done == total) else { return }
                Console.status("reference log-probs \(done)/\(total) answers, \(Int(Date().timeIntervalSince(started))) s")
            case .step(let step, let total, let m):
                if stepsStarted == nil { stepsStarted = Date(); firstStep = step - 1 }
                guard due(final: step == total) else { return }
                let elapsed = Date().timeIntervalSince(stepsStarted!)
                let done = step - firstStep
                let eta = Int(elapsed / Double(done) * Double(total - step))
                let width = 20, filled = Int(Double(width) * Double(step) / Double(max(1, total)))
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                Console.status(String(
                    format: "[%@] step %d/%d loss %.4f acc %.2f margin %.3f grad %.2f lr %.2e %.0f tok/s ETA %d s",
                    bar, step, total, m["loss"] ?? .nan, m["rewards/accuracies"] ?? .nan, m["rewards/margins"] ?? .nan,
                    m["grad_norm"] ?? .nan, m["learning_rate"] ?? .nan, m["tokens_per_second"] ?? .nan, eta))
            case .evaluation(let step, let m):
                Console.clearStatus()
                let acc = m["eval_rewards/accuracies"].map { String(format: ", reward accuracy %.3f", $0) } ?? ""
                FileHandle.standardError.write(Data(String(format: "eval at step %d: loss %.4f%@\n", step, m["eval_loss"] ?? .nan, acc).utf8))
            case .note(let text):
                Console.clearStatus()
                FileHandle.standardError.write(Data((text + "\n").utf8))
            }
        }
    }
}
