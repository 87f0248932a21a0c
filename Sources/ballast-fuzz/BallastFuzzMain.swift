import BallastFuzz
import Foundation
#if BALLAST_LIBFUZZER
import CLibFuzzer
#endif

/// `ballast-fuzz TARGET [PATH ...]` replays files (or every file of a directory) through a fuzz
/// target and reports each broken property; it exits 1 if any broke.
///
/// Built with `-sanitize=fuzzer -DBALLAST_LIBFUZZER` (see `fuzz/run`), the same command runs
/// libFuzzer instead: `ballast-fuzz TARGET [libFuzzer flags] CORPUS_DIR ...`.
@main
struct BallastFuzzMain {
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: ballast-fuzz \(names) [PATH ...]\n".utf8))
            exit(2)
        }
        arguments.remove(at: 1)
        #if BALLAST_LIBFUZZER
        exit(runLibFuzzer(target, arguments))
        #else
        exit(replay(target, Array(arguments.dropFirst())))
        #endif
    }

    static func replay(_ target: FuzzTarget, _ paths: [String]) -> Int32 {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("ballast-fuzz: \(path) does not exist\n".utf8))
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        var broken = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            if let failure = target.check(Array(data)) {
                broken += 1
                print("\(file): \(failure)")
            }
        }
        print("\(target.rawValue): \(files.count) inputs replayed, \(broken) broke a property")
        return broken == 0 ? 0 : 1
    }
}

#if BALLAST_LIBFUZZER
/// libFuzzer's callback cannot capture: the target it runs is this global, set once before.
nonisolated(unsafe) private var fuzzedTarget = FuzzTarget.request

private func runLibFuzzer(_ target: FuzzTarget, _ arguments: [String]) -> Int32 {
    fuzzedTarget = target
    var argc = Int32(arguments.count)
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = .allocate(capacity: arguments.count + 1)
    for (i, argument) in arguments.enumerated() { argv![i] = strdup(argument) }
    argv![arguments.count] = nil
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
        if let failure = fuzzedTarget.check(input) {
            fatalError("\(fuzzedTarget.rawValue): \(failure)")
        }
        return 0
    }
}
#endif
