// config.h: config.json -> LlamaConfig (model.h), the hyperparameters of a Hugging Face Llama checkpoint. Only the
// text is read here: which tensors a config implies is tensor_names.h, where they are is weight_scan.h, and binding
// them is the loader's (checkpoint.h).
#pragma once
#include <string>

#include "model.h"

namespace rir {

// Parses config.json text (exposed for tests, benchmarks and the fuzz target). `where` names the file in messages.
// Throws rir::Error: RIR_ERR_FORMAT for bad JSON, RIR_ERR_CONFIG for a missing, mistyped or unsupported field.
LlamaConfig parse_config(const std::string &json_text, const std::string &where);

// Reads and parses model_dir/config.json (at most 16 MiB; RIR_ERR_IO when it cannot be read).
LlamaConfig read_config(const std::string &model_dir);

}  // namespace rir
