// The `longreward` command: each subcommand lives in Commands/ and is a thin call into one
// library function.

import ArgumentParser

struct LongReward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "longreward",
        abstract: "Long-context reward scoring, preference data and DPO training, offline by default.",
        discussion: """
            Embedded models (SmolLM2-135M-Instruct judge/policy, all-MiniLM-L6-v2 embedder) load from \
            $LONGREWARD_HOME (default ~/.cache/longreward); `make setup` fetches them.
            """,
        version: "0.1.0",
        subcommands: [IndexCommand.self, ScoreCommand.self, EvalCommand.self, ReportCommand.self, SampleCommand.self, PairsCommand.self, MetaJudgeCommand.self, SynthCommand.self, LabelCommand.self, TrainCommand.self, GenerateCommand.self, LogprobsCommand.self, EmbedCommand.self, InspectCommand.self, BenchCommand.self]
    )
}
