// VerdictMode+Argument.swift: `--verdict parse|expected|direct` parsed by ArgumentParser for
// every command that takes it (score, bench judge).

import ArgumentParser
import Judges

extension VerdictMode: ExpressibleByArgument {}
