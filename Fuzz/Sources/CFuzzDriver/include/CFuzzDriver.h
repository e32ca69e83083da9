// libFuzzer's driver entry point (compiler-rt, LLVM ≥ 11). Declared here so the Swift
// harnesses can keep SwiftPM's normal executable `main` (main.swift) and hand control to
// libFuzzer, instead of relying on libFuzzer's own `main`, which SwiftPM's Linux link step
// (`--defsym main=<module>_main`) would bypass.
#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
