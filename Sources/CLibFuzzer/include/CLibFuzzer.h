#ifndef BALLAST_CLIBFUZZER_H
#define BALLAST_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM 11 and later), linked only when the build passes
/// `-sanitize=fuzzer`: it parses libFuzzer's flags from argv and calls `callback` per input.
/// Declared here so Swift calls it with the C convention; nothing references it otherwise.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
