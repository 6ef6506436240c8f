// emu_config.h: what the emulator's runtime (emu_runtime.cpp) uses of its configuration (emu_config.cpp). Internal
// to native/emu. (state::ensure_started, declared in emu_state.h, and emu::configure are defined there too.)
#pragma once

namespace emu {
namespace config {

// Arms a fault on `device`: after `after` more launches there, the next one fails with `code` (inject_error(device,
// e, n), EMU_FAULT).
void arm(int device, int code, unsigned long long after);
// emu::reset(): the environment's configuration again (device count, memory limits, no errors), without re-arming
// EMU_FAULT's faults.
void restore_startup();
// While the configuration is bad: "invalid argument (CUDA emulator configuration: ...)", the text of
// cudaErrorInvalidValue; else null.
const char *invalid_value_text();

}  // namespace config
}  // namespace emu
