// VerdictMode+Argument.swift: `--verdict parse|expected|direct` and `--kv-cache f32|q8` parsed
// by ArgumentParser for every command that takes them.

import ArgumentParser
import Judges
import Models

extension VerdictMode: ExpressibleByArgument {}

extension KVCachePrecision: ExpressibleByArgument {}
