package dev.reasonir;

/** Numeric mode of the forward pass (see README, "Numerics"). */
public enum Precision {
    /** FP32 on the CPU backend, BF16 on CUDA. */
    DEFAULT(0),
    /** bf16 weights widened exactly; activations and arithmetic in fp32. The CPU reference mode. */
    FP32(1),
    /** Activations rounded to bf16 where Hugging Face transformers rounds them when running the model in bf16. */
    BF16(2);

    final int nativeValue;

    Precision(int nativeValue) {
        this.nativeValue = nativeValue;
    }

    static Precision ofNative(int value) {
        for (Precision p : values()) {
            if (p.nativeValue == value) return p;
        }
        throw new IllegalArgumentException("unknown native precision " + value);
    }
}
