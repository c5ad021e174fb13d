import ArgumentParser

@main
struct LongReward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "longreward", abstract: "placeholder")
}
