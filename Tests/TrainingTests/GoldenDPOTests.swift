// GoldenDPOTests.swift: the trainer against an exact float64 PyTorch implementation
// (Fixtures/README.md): per-pair log-probs, DPO / CE / cDPO losses, every gradient, the ln 2
// case, and three AdamW steps.

import Foundation
import Formats
import Kernels
import Models
import Testing
@testable import Training

enum TrainingFixtures {
    static func path(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path
    }

    struct Case {
        var pairs: [(prompt: [Int32], chosen: [Int32], rejected: [Int32], refC: Double, refR: Double)]
        var json: [String: Any]
    }

    static func goldenCase() throws -> Case {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("case.json")))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let pairs = (json["pairs"] as! [[String: Any]]).map { p in
            ((p["prompt"] as! [Int]).map(Int32.init), (p["chosen"] as! [Int]).map(Int32.init),
             (p["rejected"] as! [Int]).map(Int32.init), p["ref_chosen_logp"] as! Double, p["ref_rejected_logp"] as! Double)
        }
        return Case(pairs: pairs, json: json)
    }

    static func sequences(_ c: Case) -> [TrainingSequence] {
        c.pairs.map { TrainingSequence(prompt: $0.prompt, answers: [$0.chosen, $0.rejected]) }
    }
}

/// Loss of the golden batch; fills the model's gradients.
func goldenStep(_ model: LlamaTrainingModel, _ c: TrainingFixtures.Case, _ cfg: PreferenceLossConfiguration) -> (PreferenceLossResult, [Double]) {
    let batch = PackedBatch(TrainingFixtures.sequences(c))
    var result: PreferenceLossResult?
    let sums = model.forwardBackward(batch) { s in
        let pairs = c.pairs.indices.map { i in
            PairLogProbabilities(
                policyChosen: s[2 * i], policyRejected: s[2 * i + 1], referenceChosen: c.pairs[i].refC,
                referenceRejected: c.pairs[i].refR, chosenTokens: c.pairs[i].chosen.count, rejectedTokens: c.pairs[i].rejected.count)
        }
        let r = PreferenceLoss.evaluate(pairs, configuration: cfg)
        result = r
        return c.pairs.indices.flatMap { [r.dPolicyChosen[$0], r.dPolicyRejected[$0]] }
    }
    return (result!, sums)
}

@Suite struct GoldenDPOTests {
    let c: TrainingFixtures.Case
    let policy: LlamaParameters
    let reference: LlamaParameters
    let cfg: PreferenceLossConfiguration

    init() throws {
        c = try TrainingFixtures.goldenCase()
        policy = try LlamaParameters.loadHuggingFace(folder: TrainingFixtures.path("policy"))
        reference = try LlamaParameters.loadHuggingFace(folder: TrainingFixtures.path("reference"))
        var cfg = PreferenceLossConfiguration()
        cfg.beta = c.json["beta"] as! Double
        cfg.ceWeight = c.json["ce_weight"] as! Double
        self.cfg = cfg
    }

    @Test func referenceLogProbabilitiesMatch() {
        let ref = LlamaTrainingModel(weights: reference)
        let sums = ref.answerLogProbabilities(PackedBatch(TrainingFixtures.sequences(c)))
        for (i, p) in c.pairs.enumerated() {
            #expect(abs(sums[2 * i] - p.refC) < 1e-3, "pair \(i) chosen \(sums[2 * i]) vs \(p.refC)")
            #expect(abs(sums[2 * i + 1] - p.refR) < 1e-3, "pair \(i) rejected \(sums[2 * i + 1]) vs \(p.refR)")
        }
    }

    @Test func lossesAndPolicyLogProbabilitiesMatch() {
        let model = LlamaTrainingModel(weights: policy)
        let (r, sums) = goldenStep(model, c, cfg)
        let perPair = c.json["per_pair"] as! [[String: Double]]
        for (i, p) in perPair.enumerated() {
            #expect(abs(sums[2 * i] - p["chosen_logp"]!) < 1e-3)
            #expect(abs(sums[2 * i + 1] - p["rejected_logp"]!) < 1e-3)
            #expect(abs(r.rewardChosen[i] - p["reward_chosen"]!) < 1e-4)
            #expect(abs(r.rewardRejected[i] - p["reward_rejected"]!) < 1e-4)
        }
        #expect(abs(r.loss - (c.json["loss"] as! Double)) < 1e-5, "loss \(r.loss)")
        #expect(abs(r.preferenceLoss - (c.json["dpo_loss"] as! Double)) < 1e-5)
        #expect(abs(r.nllLoss - (c.json["ce_loss"] as! Double)) < 1e-5)

        var smooth = cfg
        let ls = c.json["label_smoothing"] as! [String: Any]
        smooth.labelSmoothing = ls["epsilon"] as! Double
        let pairs = c.pairs.indices.map { i in
            PairLogProbabilities(policyChosen: sums[2 * i], policyRejected: sums[2 * i + 1], referenceChosen: c.pairs[i].refC,
                                 referenceRejected: c.pairs[i].refR, chosenTokens: c.pairs[i].chosen.count, rejectedTokens: c.pairs[i].rejected.count)
        }
        let rs = PreferenceLoss.evaluate(pairs, configuration: smooth)
        #expect(abs(rs.loss - (ls["loss"] as! Double)) < 1e-5, "smoothed loss \(rs.loss)")
    }

    @Test func policyEqualsReferenceGivesLn2() {
        let model = LlamaTrainingModel(weights: reference)
        let batch = PackedBatch(TrainingFixtures.sequences(c))
        let sums = model.answerLogProbabilities(batch)
        let pairs = c.pairs.indices.map { i in
            PairLogProbabilities(policyChosen: sums[2 * i], policyRejected: sums[2 * i + 1], referenceChosen: sums[2 * i],
                                 referenceRejected: sums[2 * i + 1], chosenTokens: c.pairs[i].chosen.count, rejectedTokens: c.pairs[i].rejected.count)
        }
        let r = PreferenceLoss.evaluate(pairs, configuration: cfg)
        let golden = c.json["policy_equals_reference"] as! [String: Double]
        #expect(r.preferenceLoss == log(2.0))
        #expect(abs(r.loss - golden["loss"]!) < 1e-5)
    }

    @Test func everyGradientMatches() throws {
        let model = LlamaTrainingModel(weights: policy)
        _ = goldenStep(model, c, cfg)
        let golden = try SafeTensorsFile(path: TrainingFixtures.path("gradients.safetensors"))
        #expect(golden.tensors.count == model.gradients.entries.count)
        for e in model.gradients.entries {
            let want = try golden.floats(named: e.huggingFaceName).array
            let got = model.gradients.values(e)
            let scale = want.map { abs($0) }.max()!
            let err = zip(got, want).map { abs($0 - $1) }.max()!
            #expect(err <= 1e-4 * scale, "\(e.huggingFaceName): max error \(err) vs max |g| \(scale)")
        }
    }

    @Test func recomputationOffGivesTheSameGradients() {
        let a = LlamaTrainingModel(weights: policy, recompute: true)
        let b = LlamaTrainingModel(weights: policy, recompute: false)
        _ = goldenStep(a, c, cfg)
        _ = goldenStep(b, c, cfg)
        #expect(a.gradients.storage.array == b.gradients.storage.array)
    }

    @Test func threeAdamWStepsMatch() throws {
        let weights = policy.copy()
        let model = LlamaTrainingModel(weights: weights)
        let adam = c.json["adamw"] as! [String: Any]
        var opt = AdamWConfiguration()
        opt.learningRate = adam["lr"] as! Double
        opt.weightDecay = adam["weight_decay"] as! Double
        opt.epsilon = adam["eps"] as! Double
        let optimizer = AdamW(architecture: weights.architecture, configuration: opt)
        let steps = adam["steps"] as! [[String: Double]]
        for s in steps {
            model.gradients.zero()
            let (r, _) = goldenStep(model, c, cfg)
            #expect(abs(r.loss - s["loss"]!) < 1e-4, "loss \(r.loss) vs \(s["loss"]!)")
            let n = GradientClipping.clip(model.gradients, maxNorm: adam["max_grad_norm"] as! Double)
            #expect(abs(n - s["grad_norm_before_clip"]!) < 1e-3 * s["grad_norm_before_clip"]!, "grad norm \(n)")
            optimizer.update(weights: weights, gradients: model.gradients, learningRate: opt.learningRate)
        }
        model.gradients.zero()
        let (r, _) = goldenStep(model, c, cfg)
        #expect(abs(r.loss - (adam["loss_after_3_steps"] as! Double)) < 1e-4, "loss after 3 steps \(r.loss)")
        let golden = try SafeTensorsFile(path: TrainingFixtures.path("after_3_steps.safetensors"))
        // AdamW divides each element's step by its own gradient history, so an element whose
        // gradient is near zero moves by up to lr per step whatever its size, and float32
        // rounding (which differs between AVX2 and AVX-512 builds: -target-cpu native) can
        // change such a step by a few percent of lr. Bound: 1e-4 of the tensor's scale, or 2%
        // of the largest displacement three steps allow (3 lr), whichever is larger.
        let lr = adam["lr"] as! Double
        for e in weights.entries {
            let want = try golden.floats(named: e.huggingFaceName).array
            let got = weights.values(e)
            let scale = want.map { abs($0) }.max()!
            let err = zip(got, want).map { abs($0 - $1) }.max()!
            let bound = max(1e-4 * scale, Float(0.02 * 3 * lr))
            #expect(err <= bound, "\(e.huggingFaceName): max error \(err) vs max |w| \(scale)")
        }
    }
}
