// error.h: the one exception type inside the engine. Thrown anywhere below the C API, caught in api.cpp and turned into
// an rir_status plus message. Messages name what and where: file, tensor, byte offset, sequence index. An error about
// one sequence of a batch also carries its index (rir_last_error_sequence), so callers never parse the text.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "reasonir.h"

namespace rir {

class Error : public std::runtime_error {
public:
    Error(rir_status status, const std::string &message, int32_t sequence = -1)
        : std::runtime_error(message), status_(status), sequence_(sequence) {}
    rir_status status() const { return status_; }
    // Index in the batch of the sequence this error is about, or -1.
    int32_t sequence() const { return sequence_; }

private:
    rir_status status_;
    int32_t sequence_;
};

}  // namespace rir
