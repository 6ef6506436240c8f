// rope.cpp: rope_inv_freq (rope.h). Plain fp32 arithmetic, no vector code: the table is computed once per backend.
#include "rope.h"

#include <cmath>

namespace rir {

std::vector<float> rope_inv_freq(const LlamaConfig &c) {
    const int half = c.head_dim / 2;
    std::vector<float> inv(half);
    const float theta = static_cast<float>(c.rope_theta);
    for (int i = 0; i < half; ++i) {
        float expo = static_cast<float>(2 * i) / static_cast<float>(c.head_dim);  // torch: arange(0,d,2).float()/d
        inv[i] = 1.0f / std::pow(theta, expo);                                    // float pow, float division
    }
    if (!c.rope_scaling.llama3) return inv;
    // transformers' _compute_llama3_parameters, all in fp32.
    const float factor = static_cast<float>(c.rope_scaling.factor);
    const float low = static_cast<float>(c.rope_scaling.low_freq_factor);
    const float high = static_cast<float>(c.rope_scaling.high_freq_factor);
    const float old_ctx = static_cast<float>(c.rope_scaling.original_max_position_embeddings);
    const float low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
    const float two_pi = static_cast<float>(2.0 * M_PI);
    for (int i = 0; i < half; ++i) {
        float wavelen = two_pi / inv[i];
        if (wavelen > low_wavelen) {
            inv[i] = inv[i] / factor;
        } else if (!(wavelen < high_wavelen)) {  // medium band: smooth interpolation
            float smooth = (old_ctx / wavelen - low) / (high - low);
            inv[i] = (1.0f - smooth) * inv[i] / factor + smooth * inv[i];
        }
    }
    return inv;
}

}  // namespace rir
