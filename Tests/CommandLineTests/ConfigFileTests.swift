import Foundation
import Reporting
import TestSupport
import XCTest
@testable import lockstep
import Models
import Training

/// `--config FILE.toml` and `--print-config`: the file's keys become options, the command line
/// overrides them, unknown keys are refused with the nearest valid one, and the printed
/// configuration reads back to the same run.
final class ConfigFileTests: XCTestCase {
    private let catalog = ArgumentCatalog(TrainCommand.self)

    // MARK: - The file's values as command-line tokens

    func testValuesBecomeOptionTokens() throws {
        let file = try ConfigFile(text: """
            lr = 0.05
            hidden = [128, 64]
            seed = "18446744073709551615"
            nesterov = true
            plots = false
            amsgrad = false
            epochs = 3
            optimizer = "sgd"
            """, path: "run.toml", catalog: catalog)
        // Keys in sorted order; an array is joined with commas; a false flag with a negation is
        // --no-…; Swift prints 0.05 as "0.05".
        XCTAssertEqual(file.arguments, [
            "--no-amsgrad", "--epochs=3", "--hidden=128,64", "--lr=0.05", "--nesterov", "--optimizer=sgd",
            "--no-plots", "--seed=18446744073709551615",
        ])
    }

    /// The layer list as `[model] layers = [...]` or `model = [...]`: both are `--model` with the
    /// layers joined by commas, which the layer-list parser reads as separators between layers.
    func testTheModelTableAndArrayBecomeTheModelOption() throws {
        let expected = ["--model=conv2d(16,5),relu,maxpool2d(2),flatten,linear(10)"]
        let table = try ConfigFile(text: """
            [model]
            layers = ["conv2d(16,5)", "relu", "maxpool2d(2)", "flatten", "linear(10)"]
            """, path: "m.toml", catalog: catalog)
        XCTAssertEqual(table.arguments, expected)
        let array = try ConfigFile(
            text: #"model = ["conv2d(16,5)", "relu", "maxpool2d(2)", "flatten", "linear(10)"]"#, path: "m.toml", catalog: catalog)
        XCTAssertEqual(array.arguments, expected)
        XCTAssertEqual(try ModelDescription.parse("conv2d(16,5),relu,maxpool2d(2),flatten,linear(10)").description,
                       "conv2d(16,5) relu maxpool2d(2) flatten linear(10)")
        XCTAssertThrowsError(try ConfigFile(text: "[model]\nlayers = [\"relu\"]\nwidth = 3\n", path: "m.toml", catalog: catalog)) {
            XCTAssertEqual($0 as? ConfigFileError, .section(path: "m.toml", line: 1, key: "model"))
        }
    }

    func testUnknownKeyNamesTheNearestValidKey() {
        let cases: [(key: String, nearest: String, line: Int)] = [
            ("global_batch", "global-batch", 2), ("momentun", "momentum", 2), ("learning-rate", "lr", 2),
            ("epoch", "epochs", 2),
        ]
        for (key, nearest, line) in cases {
            XCTAssertThrowsError(try ConfigFile(text: "lr = 0.1\n\(key) = 1\n", path: "run.toml", catalog: catalog)) { error in
                XCTAssertEqual(error as? ConfigFileError, .unknownKey(path: "run.toml", line: line, key: key, nearest: nearest))
            }
        }
    }

    func testRefusals() {
        func refusal(_ text: String) -> ConfigFileError? {
            do {
                _ = try ConfigFile(text: text, path: "c.toml", catalog: catalog)
                return nil
            } catch { return error }
        }
        XCTAssertEqual(refusal("nesterov = 1\n"), .wrongType(
            path: "c.toml", line: 1, key: "nesterov", expected: "true or false (it is a flag)", found: "1"))
        XCTAssertEqual(refusal("hidden = [[1], [2]]\n"), .wrongType(
            path: "c.toml", line: 1, key: "hidden", expected: "a value or an array of values", found: "an array"))
        XCTAssertEqual(refusal("\n[optimizer]\nmomentum = 0.5\n"), .section(path: "c.toml", line: 2, key: "optimizer"))
        XCTAssertEqual(refusal("config = \"other.toml\"\n"), .commandLineOnly(path: "c.toml", line: 1, key: "config"))
        XCTAssertEqual(refusal("print-config = true\n"), .commandLineOnly(path: "c.toml", line: 1, key: "print-config"))
        guard case .syntax(_, let line, _, _)? = refusal("lr = 0.1\nlr = 0.2\n") else {
            return XCTFail("a key given twice is a TOML error")
        }
        XCTAssertEqual(line, 2)
    }

    func testEditDistance() {
        // Textbook values (Levenshtein 1966; kitten → sitting is the usual example).
        XCTAssertEqual(EditDistance.distance("kitten", "sitting"), 3)
        XCTAssertEqual(EditDistance.distance("flaw", "lawn"), 2)
        XCTAssertEqual(EditDistance.distance("", "abc"), 3)
        XCTAssertEqual(EditDistance.distance("lr", "lr"), 0)
    }

    func testPrintedValuesReadBackToTheSameText() {
        XCTAssertEqual(EffectiveConfiguration.tomlValue("0.1"), "0.1")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("0.050"), "0.05")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("1e-08"), "1e-08")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("10"), "10")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("18446744073709551615"), "\"18446744073709551615\"")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("512,256"), "\"512,256\"")
        XCTAssertEqual(EffectiveConfiguration.tomlValue("a \"b\" \\ c"), #""a \"b\" \\ c""#)
    }

    /// Every option of `train`, including ones added later, appears in --print-config, set or
    /// commented out, and a printed file is accepted back.
    func testEveryOptionHasAKeyInThePrintedConfiguration() throws {
        let text = try TrainCommand.parse([]).effectiveTOML(arguments: [])
        for entry in catalog.configurableEntries {
            XCTAssertTrue(
                text.contains("\n\(entry.key) = ") || text.contains("\n# \(entry.key) = ")
                    || text.contains("\n## \(entry.key): "), "\(entry.key) in\n\(text)")
        }
        XCTAssertFalse(text.contains("print-config"))
        XCTAssertNoThrow(try ConfigFile(text: text, path: "printed.toml", catalog: catalog))
    }

    /// `--model cnn` brings its recipe (`ModelRecipe`) for the flags not given; a given flag wins
    /// (any decay flag replaces the recipe's gamma); a layer list, even the preset's, and the mlp
    /// bring nothing. The printed configuration shows the recipe as the defaults in effect.
    func testTheCNNPresetBringsItsRecipeForTheFlagsNotGiven() throws {
        func configuration(_ arguments: [String]) throws -> TrainingConfiguration {
            try TrainCommand.parse(arguments).trainingConfiguration()
        }
        let cnn = try configuration(["--model", "cnn"])
        XCTAssertEqual([cnn.optimizer.weightDecay, cnn.schedule.gamma], [0.0005, 0.85])
        let given = try configuration(["--model", "cnn", "--weight-decay", "0", "--half-life", "3"])
        XCTAssertEqual(given.optimizer.weightDecay, 0)
        XCTAssertNil(given.schedule.gamma)
        XCTAssertEqual(given.schedule.halfLife, 3)
        XCTAssertEqual(try configuration(["--model", "CNN", "--gamma", "0.9"]).schedule.gamma, 0.9)
        for plain in [["--model", ModelDescription.cnn(classes: 10).description], ["--model", "mlp"], []] {
            let run = try configuration(plain)
            XCTAssertEqual(run.optimizer.weightDecay, 0, "\(plain)")
            XCTAssertNil(run.schedule.gamma, "\(plain)")
        }
        let printed = try TrainCommand.parse(["--model", "cnn"]).effectiveTOML(arguments: ["--model", "cnn"])
        XCTAssertTrue(printed.contains("\n## gamma: not set, the default in effect (uncomment to pin it):\n# gamma = 0.85\n"), printed)
        XCTAssertTrue(printed.contains("\n# weight-decay = 0.0005\n"), printed)
    }

    // MARK: - The binary

    private func printConfig(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try lockstep(["train", "--print-config"] + arguments)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput, file: file, line: line)
        return result.standardOutput
    }

    private func value(_ key: String, in toml: String) -> String? {
        toml.split(separator: "\n").first { $0.hasPrefix("\(key) = ") }.map { String($0.dropFirst(key.count + 3)) }
    }

    func testCommandLineOverridesTheFile() throws {
        let directory = try temporaryDirectory(for: self)
        let config = try write("""
            # a run
            lr = 0.05
            epochs = 3
            nesterov = true
            hidden = [64, 32]
            """, to: "run.toml", in: directory)
        let fromFile = try printConfig(["--config", config])
        XCTAssertEqual(value("lr", in: fromFile), "0.05")
        XCTAssertEqual(value("epochs", in: fromFile), "3")
        XCTAssertEqual(value("nesterov", in: fromFile), "true")
        XCTAssertEqual(value("hidden", in: fromFile), "\"64,32\"")
        // Flags win wherever they stand, before or after --config.
        let overridden = try printConfig(["--lr", "0.2", "--config", config, "--no-nesterov", "--hidden=8"])
        XCTAssertEqual(value("lr", in: overridden), "0.2")
        XCTAssertEqual(value("epochs", in: overridden), "3")
        XCTAssertEqual(value("nesterov", in: overridden), "false")
        XCTAssertEqual(value("hidden", in: overridden), "8")
    }

    func testUnknownKeyIsAUsageErrorNamingFileLineAndNearestKey() throws {
        let directory = try temporaryDirectory(for: self)
        let config = try write("epochs = 2\nlearnig-rate = 0.1\n", to: "run.toml", in: directory)
        let result = try lockstep(["train", "--config", config])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertEqual(result.standardError, """
            error: \(config):2: unknown key 'learnig-rate'
            hint: did you mean 'lr'? (lockstep train --print-config lists every key)

            """)
        XCTAssertEqual(result.standardOutput, "")
    }

    func testBadValueFromTheFileNamesTheFile() throws {
        let directory = try temporaryDirectory(for: self)
        let config = try write("gamma = 1.5\n", to: "run.toml", in: directory)
        let result = try lockstep(["train", "--config", config])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("error: --gamma 1.5 is outside (0, 1] (from \(config))\n"), result.standardError)
    }

    func testPrintConfigRoundTrips() throws {
        let directory = try temporaryDirectory(for: self)
        let arguments = [
            "--lr", "0.05", "--gamma=0.9", "--warmup", "2", "--optimizer", "adamw", "--weight-decay", "0.01",
            "--amsgrad", "--hidden", "64,32", "--seed", "7", "--global-batch", "256", "--smooth", "--no-plots",
            "--metrics", "/tmp/lockstep metrics \"quoted\".jsonl", "--log-level", "debug", "--limit-train", "5000",
        ]
        let first = try printConfig(arguments)
        let path = try write(first, to: "printed.toml", in: directory)
        let second = try printConfig(["--config", path])
        XCTAssertEqual(second, first)
        XCTAssertEqual(value("metrics", in: first), #""/tmp/lockstep metrics \"quoted\".jsonl""#)
        XCTAssertEqual(value("amsgrad", in: first), "true")
        XCTAssertTrue(first.contains("\n## momentum: not set\n"), first)
        // Unset options whose default depends on others show the value in effect, as a line that pins it.
        XCTAssertTrue(first.contains("\n## beta2: not set, the default in effect (uncomment to pin it):\n# beta2 = 0.999\n"), first)
        XCTAssertTrue(first.contains("\n# warmup-start-lr = 0.0005\n"), first)
    }

    /// A run repeated from its run directory's config.toml ends with the same parameters.
    func testRunDirectoryConfigRepeatsTheRun() throws {
        let directory = try temporaryDirectory(for: self)
        let firstDirectory = directory.appendingPathComponent("first")
        let first = try lockstep(["train", "--run-dir", firstDirectory.path, "--no-plots", "--seed", "3", "--lr", "0.05"] + tinyRun)
        XCTAssertEqual(first.exitCode, 0, first.combinedOutput)
        let config = firstDirectory.appendingPathComponent("config.toml").path
        let text = try String(contentsOfFile: config, encoding: .utf8)
        XCTAssertTrue(text.contains("\n## run-dir: this run wrote to \(firstDirectory.path)"), text)
        XCTAssertEqual(value("seed", in: text), "3")

        let second = try lockstep(["train", "--config", config, "--run-dir", directory.appendingPathComponent("second").path])
        XCTAssertEqual(second.exitCode, 0, second.combinedOutput)
        let hash = verifiedParameterHash(in: first.standardOutput)
        XCTAssertNotNil(hash, first.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: second.standardOutput), hash, second.combinedOutput)
        // The second run's config.toml holds the same settings (comments aside).
        func settings(_ text: String) -> [Substring] { text.split(separator: "\n").filter { !$0.hasPrefix("#") } }
        let secondText = try String(
            contentsOfFile: directory.appendingPathComponent("second/config.toml").path, encoding: .utf8)
        XCTAssertEqual(settings(secondText).filter { !$0.hasPrefix("run-dir") }, settings(text))
    }

    /// Every line uncommented (`# key = value` becomes `key = value`; `## ` notes stay comments):
    /// still valid TOML, and the same run, since each pinned value is the one in effect.
    func testAConfigWithEveryLineUncommentedRepeatsTheRun() throws {
        let directory = try temporaryDirectory(for: self)
        let firstDirectory = directory.appendingPathComponent("first")
        let first = try lockstep(["train", "--run-dir", firstDirectory.path, "--no-plots"] + tinyRun)
        XCTAssertEqual(first.exitCode, 0, first.combinedOutput)
        let text = try String(contentsOfFile: firstDirectory.appendingPathComponent("config.toml").path, encoding: .utf8)
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("# ") ? String($0.dropFirst(2)) : String($0) }.joined(separator: "\n")
        XCTAssertNotEqual(uncommented, text, "some lines were commented")
        XCTAssertTrue(uncommented.contains("\nmomentum = 0.9\n"), uncommented)
        let config = try write(uncommented, to: "uncommented.toml", in: directory)
        let second = try lockstep(["train", "--config", config, "--run-dir", directory.appendingPathComponent("second").path])
        XCTAssertEqual(second.exitCode, 0, second.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: second.standardOutput), verifiedParameterHash(in: first.standardOutput))
        XCTAssertNotNil(verifiedParameterHash(in: first.standardOutput), first.combinedOutput)
    }

    /// A resumed run's config.toml repeats the run from the start (it holds no `resume`).
    func testAResumedRunsConfigRepeatsTheRun() throws {
        let directory = try temporaryDirectory(for: self)
        let run = directory.appendingPathComponent("run")
        let stopped = try lockstep(["train", "--run-dir", run.path, "--no-plots", "--stop-after-steps", "1"] + tinyRun)
        XCTAssertEqual(stopped.exitCode, 0, stopped.combinedOutput)
        let resumed = try lockstep(["train", "--run-dir", run.path, "--no-plots", "--resume", "auto"] + tinyRun)
        XCTAssertEqual(resumed.exitCode, 0, resumed.combinedOutput)
        let text = try String(contentsOfFile: run.appendingPathComponent("config.toml").path, encoding: .utf8)
        XCTAssertTrue(text.contains("\n## resume: this run continued with --resume auto; a rerun from this file starts afresh\n"), text)
        XCTAssertTrue(text.contains("\n## Run \(run.path), continued "), text)
        XCTAssertTrue(text.contains(" from its checkpoint at step 1 with 1 rank.\n"), text)
        XCTAssertNil(value("resume", in: text), text)
        let again = try lockstep(["train", "--config", run.appendingPathComponent("config.toml").path,
                                  "--run-dir", directory.appendingPathComponent("again").path])
        XCTAssertEqual(again.exitCode, 0, again.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: again.standardOutput), verifiedParameterHash(in: resumed.standardOutput))
    }
}
