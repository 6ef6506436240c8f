// error.h: the one exception type inside the engine. Thrown anywhere below the C API, caught in api.cpp and turned into
// an rir_status plus message. Messages name what and where: file, tensor, byte offset, sequence index.
#pragma once
#include <stdexcept>
#include <string>

#include "reasonir.h"

namespace rir {

class Error : public std::runtime_error {
public:
    Error(rir_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
    rir_status status() const { return status_; }

private:
    rir_status status_;
};

}  // namespace rir
