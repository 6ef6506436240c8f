// rope.h: the rotary embedding's inverse frequencies, derived from the config alone. Backend-neutral: the CPU backend
// builds its cos/sin tables from this table (cpu/ops.h rope_tables) and the CUDA backend uploads the very same table
// (cuda/cuda_backend.cu), so both rotate by bit-identical frequencies.
#pragma once
#include <vector>

#include "model.h"

namespace rir {

// inv_freq[i] = 1 / theta^(2i/head_dim) in fp32 (as torch computes it), then the llama3 scaling when configured
// (transformers' _compute_llama3_parameters, in fp32). head_dim / 2 values.
std::vector<float> rope_inv_freq(const LlamaConfig &config);

}  // namespace rir
