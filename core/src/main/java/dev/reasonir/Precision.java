package dev.reasonir;

/**
 * Numeric mode of the forward pass (see README, "Numerics"). The engine's {@code rir_precision} values are mapped in
 * {@code internal.NativeModel}, from the header's own constants.
 */
public enum Precision {
    /** FP32 on the CPU backend, BF16 on CUDA. */
    DEFAULT,
    /** bf16 weights widened exactly; activations and arithmetic in fp32. The CPU reference mode. */
    FP32,
    /** Activations rounded to bf16 where Hugging Face transformers rounds them when running the model in bf16. */
    BF16;
}
