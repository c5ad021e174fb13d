// TrainingTask.swift: the examples of a run (DPO pairs or KTO completions), their reference
// log-probs, the data order, and one optimiser step's and one evaluation's computation.
//
// Every example is one shared-prompt sequence with two answers:
//   DPO: [prompt | chosen | rejected]
//   KTO: [prompt | completion | KL completion], the KL completion being the next example's
//        completion within consecutive chunks of batch_size in file order (TRL's KL dataset),
//        so the KL estimate's inputs are fixed before training and their reference log-probs
//        are computed once with the others.
// KTO's KL term carries no gradient: a step first runs the policy forward on the KL answers
// (prompt + KL completion), then forward/backward on prompt + completion.

import Foundation
import Formats
import Kernels

struct TrainingTask {
    let objective: TrainingObjective
    private(set) var train: [TrainingSequence] = []
    private(set) var eval: [TrainingSequence] = []
    /// Per example: reference sums of its two answers.
    private(set) var trainReference: [[Double]] = []
    private(set) var evalReference: [[Double]] = []
    /// DPO: SPA weights per example; KTO: labels.
    private var trainWeights: [(Double?, Double?)] = [], evalWeights: [(Double?, Double?)] = []
    private var trainDesirable: [Bool] = [], evalDesirable: [Bool] = []
    let skippedTooLong: [Int]
    let truncatedPrompts: Int
    let dataFingerprint: String
    let lossConfiguration: PreferenceLossConfiguration
    let ktoConfiguration: KTOLossConfiguration
    let seed: UInt64

    var trainCount: Int { train.count }
    var evalCount: Int { eval.count }
    var hasEval: Bool { !eval.isEmpty }

    // MARK: - Building

    static func make(_ cfg: TrainingConfiguration, tokenizer: TrainingTokenizer) throws -> TrainingTask {
        var sequences: [TrainingSequence] = [], weights: [(Double?, Double?)] = [], desirable: [Bool] = []
        var evalSeqs: [TrainingSequence] = [], evalW: [(Double?, Double?)] = [], evalD: [Bool] = []
        var skipped: [Int] = [], truncated = 0
        func read(_ path: String) throws -> ([TrainingSequence], [(Double?, Double?)], [Bool], [Int], Int) {
            switch cfg.objective {
            case .dpo:
                let d = try PreferenceData.readPairs(path: path, tokenizer: tokenizer, limits: cfg.limits)
                return (d.examples.map(\.sequence), d.examples.map { ($0.chosenWeight, $0.rejectedWeight) },
                        d.examples.map { _ in true }, d.skippedTooLong, d.truncatedPrompts)
            case .kto:
                let d = try PreferenceData.readCompletions(path: path, tokenizer: tokenizer, limits: cfg.limits)
                // KL completions: rotate completions within consecutive chunks of batch_size.
                var seqs = [TrainingSequence]()
                let n = d.examples.count, b = max(2, cfg.batchSize)
                for (i, e) in d.examples.enumerated() {
                    let chunk = i / b * b, size = min(b, n - chunk)
                    let j = size > 1 ? chunk + (i - chunk + 1) % size : (i + 1) % max(1, n)
                    var kl = d.examples[j].completion
                    let room = cfg.limits.maxLength - e.prompt.count
                    if kl.count > room { kl = Array(kl.prefix(max(1, room))) }
                    seqs.append(TrainingSequence(prompt: e.prompt, answers: [e.completion, kl]))
                }
                return (seqs, d.examples.map { _ in (nil, nil) }, d.examples.map(\.desirable), d.skippedTooLong, d.truncatedPrompts)
            }
        }
        let all = try read(cfg.dataPath)
        skipped = all.3
        truncated = all.4
        if let evalPath = cfg.evalDataPath {
            (sequences, weights, desirable) = (all.0, all.1, all.2)
            let e = try read(evalPath)
            (evalSeqs, evalW, evalD) = (e.0, e.1, e.2)
        } else if cfg.evalFraction > 0 {
            var order = Array(all.0.indices)
            var rng = SplitMix64(seed: cfg.seed ^ 0x5EED_E7A1)
            shuffle(&order, &rng)
            let nEval = max(1, Int((Double(order.count) * cfg.evalFraction).rounded()))
            guard nEval < order.count else {
                throw TrainingError.invalidOption("--eval-fraction \(cfg.evalFraction) leaves no training examples of \(order.count)")
            }
            let evalSet = Set(order.prefix(nEval))
            for i in all.0.indices {
                if evalSet.contains(i) { evalSeqs.append(all.0[i]); evalW.append(all.1[i]); evalD.append(all.2[i]) } else {
                    sequences.append(all.0[i]); weights.append(all.1[i]); desirable.append(all.2[i])
                }
            }
        } else {
            (sequences, weights, desirable) = (all.0, all.1, all.2)
        }
        // The data fingerprint covers the training examples' ids in order.
        var keys = ""
        for s in sequences { for a in s.answers { keys += ReferenceLogProbCache.key(prompt: s.prompt, answer: a) } }
        var t = TrainingTask(
            objective: cfg.objective, skippedTooLong: skipped, truncatedPrompts: truncated,
            dataFingerprint: SHA256.hex(keys), lossConfiguration: cfg.loss, ktoConfiguration: cfg.kto, seed: cfg.seed)
        t.train = sequences
        t.eval = evalSeqs
        t.trainWeights = weights
        t.evalWeights = evalW
        t.trainDesirable = desirable
        t.evalDesirable = evalD
        return t
    }

    private init(objective: TrainingObjective, skippedTooLong: [Int], truncatedPrompts: Int, dataFingerprint: String,
                 lossConfiguration: PreferenceLossConfiguration, ktoConfiguration: KTOLossConfiguration, seed: UInt64) {
        self.objective = objective
        self.skippedTooLong = skippedTooLong
        self.truncatedPrompts = truncatedPrompts
        self.dataFingerprint = dataFingerprint
        self.lossConfiguration = lossConfiguration
        self.ktoConfiguration = ktoConfiguration
        self.seed = seed
    }

    static func shuffle(_ a: inout [Int], _ rng: inout SplitMix64) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }

    func rowTokens(_ cfg: TrainingConfiguration) -> Int {
        cfg.rowTokens ?? max(cfg.limits.maxLength, (train + eval).map(\.packedCount).max() ?? 0)
    }

    // MARK: - Reference pass

    struct ReferenceStats {
        var computed = 0, cached = 0, tokens = 0
    }

    /// Fills the reference sums from the cache, computing the missing ones with `model`.
    mutating func fillReference(model: LlamaTrainingModel, cache: ReferenceLogProbCache, rowTokens: Int, onEvent: (TrainingEvent) -> Void) throws -> ReferenceStats {
        var stats = ReferenceStats()
        let everything = train + eval
        // Sequences not in the cache, each distinct one once (an eval file may repeat training pairs).
        var missing = [Int](), seen = Set<String>()
        for (i, s) in everything.enumerated() where s.answers.contains(where: { cache.value(prompt: s.prompt, answer: $0) == nil }) {
            let key = s.answers.map { ReferenceLogProbCache.key(prompt: s.prompt, answer: $0) }.joined()
            if seen.insert(key).inserted { missing.append(i) }
        }
        stats.cached = (everything.count - missing.count) * 2
        let total = everything.count * 2
        onEvent(.reference(done: stats.cached, total: total))
        var lastSave = Date()
        for row in Self.rows(missing, everything, budget: rowTokens) {
            let batch = PackedBatch(row.map { everything[$0] })
            let sums = model.answerLogProbabilities(batch)
            for (k, i) in row.enumerated() {
                for (a, answer) in everything[i].answers.enumerated() {
                    cache.set(sums[2 * k + a], prompt: everything[i].prompt, answer: answer)
                }
            }
            stats.computed += 2 * row.count
            stats.tokens += batch.count
            onEvent(.reference(done: stats.cached + stats.computed, total: total))
            if Date().timeIntervalSince(lastSave) > 30 {
                try cache.save()
                lastSave = Date()
            }
        }
        if stats.computed > 0 || !FileManager.default.fileExists(atPath: cache.path) { try cache.save() }
        func values(_ s: TrainingSequence) -> [Double] { s.answers.map { cache.value(prompt: s.prompt, answer: $0)! } }
        trainReference = train.map(values)
        evalReference = eval.map(values)
        return stats
    }

    /// Greedy packing of `indices` (in order) into rows of at most `budget` tokens (a longer
    /// example gets a row of its own).
    static func rows(_ indices: [Int], _ seqs: [TrainingSequence], budget: Int) -> [[Int]] {
        var out = [[Int]](), cur = [Int](), tokens = 0
        for i in indices {
            let n = seqs[i].packedCount
            if !cur.isEmpty && tokens + n > budget {
                out.append(cur)
                cur = []
                tokens = 0
            }
            cur.append(i)
            tokens += n
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    // MARK: - Data order

    func stepsPerEpoch(_ cfg: TrainingConfiguration) -> Int { (train.count + cfg.examplesPerStep - 1) / cfg.examplesPerStep }

    func totalSteps(_ cfg: TrainingConfiguration) -> Int { cfg.maxSteps ?? cfg.epochs * stepsPerEpoch(cfg) }

    func epoch(afterStep s: Int, _ cfg: TrainingConfiguration) -> Double {
        let per = stepsPerEpoch(cfg)
        let full = (s - 1) / per, inEpoch = (s - 1) % per + 1
        let seen = min(train.count, inEpoch * cfg.examplesPerStep)
        return Double(full) + Double(seen) / Double(train.count)
    }

    /// The training examples of optimiser step `s`.
    func examples(forStep s: Int, _ cfg: TrainingConfiguration) -> [Int] {
        let per = stepsPerEpoch(cfg)
        let e = s / per, b = s % per
        var order = Array(train.indices)
        var rng = SplitMix64(seed: seed &+ UInt64(e) &* 0x9E37_79B9_7F4A_7C15)
        Self.shuffle(&order, &rng)
        let lo = b * cfg.examplesPerStep, hi = min(train.count, lo + cfg.examplesPerStep)
        return Array(order[lo..<hi])
    }

    // MARK: - Steps

    /// Forward/backward of step `s`, gradients added into `model.gradients`; returns metrics.
    func trainStep(_ s: Int, model: LlamaTrainingModel, cfg: TrainingConfiguration) -> [String: Double] {
        let idx = examples(forStep: s, cfg)
        let budget = rowTokens(cfg)
        var acc = MetricSums()
        var tokens = 0, packed = 0
        for i in idx { tokens += 2 * train[i].prompt.count + train[i].answers[0].count + train[i].answers[1].count }
        switch objective {
        case .dpo:
            let chosenTokens = idx.reduce(0) { $0 + train[$1].answers[0].count }
            for row in Self.rows(idx, train, budget: budget) {
                let batch = PackedBatch(row.map { train[$0] })
                packed += batch.count
                _ = model.forwardBackward(batch) { sums in
                    let pairs = pairValues(row, sums, train, trainReference, trainWeights)
                    let r = PreferenceLoss.evaluate(pairs, configuration: lossConfiguration, pairCount: idx.count, chosenTokenCount: chosenTokens)
                    acc.add(r, pairs)
                    return row.indices.flatMap { [r.dPolicyChosen[$0], r.dPolicyRejected[$0]] }
                }
            }
            var m = acc.dpoMetrics(count: idx.count, prefix: "")
            m["num_tokens"] = Double(tokens)
            m["num_packed_tokens"] = Double(packed)
            return m
        case .kto:
            // KL answers first, forward only (the estimate carries no gradient).
            let klSeqs = idx.map { TrainingSequence(prompt: train[$0].prompt, answers: [train[$0].answers[1]]) }
            var kl = [(policy: Double, reference: Double)]()
            for row in Self.rows(Array(klSeqs.indices), klSeqs, budget: budget) {
                let batch = PackedBatch(row.map { klSeqs[$0] })
                packed += batch.count
                let sums = model.answerLogProbabilities(batch)
                for (k, j) in row.enumerated() { kl.append((sums[k], trainReference[idx[j]][1])) }
            }
            let mainSeqs = idx.map { TrainingSequence(prompt: train[$0].prompt, answers: [train[$0].answers[0]]) }
            for row in Self.rows(Array(mainSeqs.indices), mainSeqs, budget: budget) {
                let batch = PackedBatch(row.map { mainSeqs[$0] })
                packed += batch.count
                _ = model.forwardBackward(batch) { sums in
                    let ex = row.enumerated().map { k, j in
                        KTOLogProbabilities(policy: sums[k], reference: trainReference[idx[j]][0], desirable: trainDesirable[idx[j]])
                    }
                    let r = KTOLoss.evaluate(ex, kl: kl, configuration: ktoConfiguration, exampleCount: idx.count)
                    acc.add(r, ex)
                    return r.dPolicy
                }
            }
            var m = acc.ktoMetrics(count: idx.count, prefix: "")
            m["num_tokens"] = Double(tokens)
            m["num_packed_tokens"] = Double(packed)
            return m
        }
    }

    /// Loss and reward metrics on the held-out examples (`eval_` names), no gradient.
    func evaluate(_ model: LlamaTrainingModel, rowTokens budget: Int) -> [String: Double] {
        var acc = MetricSums()
        let all = Array(eval.indices)
        switch objective {
        case .dpo:
            var pairs = [PairLogProbabilities]()
            for row in Self.rows(all, eval, budget: budget) {
                let sums = model.answerLogProbabilities(PackedBatch(row.map { eval[$0] }))
                pairs += pairValues(row, sums, eval, evalReference, evalWeights)
            }
            let r = PreferenceLoss.evaluate(pairs, configuration: lossConfiguration)
            acc.add(r, pairs)
            return acc.dpoMetrics(count: pairs.count, prefix: "eval_")
        case .kto:
            var ex = [KTOLogProbabilities](), kl = [(policy: Double, reference: Double)]()
            for row in Self.rows(all, eval, budget: budget) {
                let sums = model.answerLogProbabilities(PackedBatch(row.map { eval[$0] }))
                for (k, i) in row.enumerated() {
                    ex.append(KTOLogProbabilities(policy: sums[2 * k], reference: evalReference[i][0], desirable: evalDesirable[i]))
                    kl.append((sums[2 * k + 1], evalReference[i][1]))
                }
            }
            let r = KTOLoss.evaluate(ex, kl: kl, configuration: ktoConfiguration)
            acc.add(r, ex)
            return acc.ktoMetrics(count: ex.count, prefix: "eval_")
        }
    }

    private func pairValues(_ row: [Int], _ sums: [Double], _ seqs: [TrainingSequence], _ ref: [[Double]], _ w: [(Double?, Double?)]) -> [PairLogProbabilities] {
        row.enumerated().map { k, i in
            PairLogProbabilities(
                policyChosen: sums[2 * k], policyRejected: sums[2 * k + 1], referenceChosen: ref[i][0], referenceRejected: ref[i][1],
                chosenTokens: seqs[i].answers[0].count, rejectedTokens: seqs[i].answers[1].count,
                chosenWeight: w[i].0, rejectedWeight: w[i].1)
        }
    }
}

/// Sums of per-example values over a step, turned into TRL's metric names.
struct MetricSums {
    var loss = 0.0, pref = 0.0, nll = 0.0
    var rewardChosen = 0.0, rewardRejected = 0.0, correct = 0.0, logpChosen = 0.0, logpRejected = 0.0
    var desirable = 0, undesirable = 0, kl = 0.0

    mutating func add(_ r: PreferenceLossResult, _ pairs: [PairLogProbabilities]) {
        loss += r.loss
        pref += r.preferenceLoss
        nll += r.nllLoss
        for (i, p) in pairs.enumerated() {
            rewardChosen += r.rewardChosen[i]
            rewardRejected += r.rewardRejected[i]
            correct += r.rewardChosen[i] > r.rewardRejected[i] ? 1 : 0
            logpChosen += p.policyChosen
            logpRejected += p.policyRejected
        }
    }

    mutating func add(_ r: KTOLossResult, _ ex: [KTOLogProbabilities]) {
        loss += r.loss
        kl = r.kl
        for (i, e) in ex.enumerated() {
            if e.desirable { rewardChosen += r.rewards[i]; logpChosen += e.policy; desirable += 1 } else {
                rewardRejected += r.rewards[i]; logpRejected += e.policy; undesirable += 1
            }
        }
    }

    func dpoMetrics(count: Int, prefix: String) -> [String: Double] {
        let n = Double(max(1, count))
        return [
            prefix + "loss": loss, prefix + "dpo_loss": pref, prefix + "nll_loss": nll,
            prefix + "rewards/chosen": rewardChosen / n, prefix + "rewards/rejected": rewardRejected / n,
            prefix + "rewards/accuracies": correct / n, prefix + "rewards/margins": (rewardChosen - rewardRejected) / n,
            prefix + "logps/chosen": logpChosen / n, prefix + "logps/rejected": logpRejected / n,
        ]
    }

    func ktoMetrics(count: Int, prefix: String) -> [String: Double] {
        var m = [prefix + "loss": loss, prefix + "kl": kl]
        if desirable > 0 {
            m[prefix + "rewards/chosen"] = rewardChosen / Double(desirable)
            m[prefix + "logps/chosen"] = logpChosen / Double(desirable)
        }
        if undesirable > 0 {
            m[prefix + "rewards/rejected"] = rewardRejected / Double(undesirable)
            m[prefix + "logps/rejected"] = logpRejected / Double(undesirable)
        }
        if desirable > 0 && undesirable > 0 { m[prefix + "rewards/margins"] = m[prefix + "rewards/chosen"]! - m[prefix + "rewards/rejected"]! }
        return m
    }
}
