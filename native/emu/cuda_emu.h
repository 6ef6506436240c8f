// cuda_emu.h: a CPU emulation of the subset of the CUDA runtime, device built-ins and bf16 header that the engine's
// CUDA backend uses, so that the unchanged .cu sources compile with g++ (-DREASONIR_CUDA_EMU, included through
// native/src/cuda/cuda_compat.h) and run, slowly, in tests on machines without a GPU. See native/emu/README.md.
//
// Model: device memory is host memory; every API call and every kernel launch executes synchronously on the calling
// host thread. A launch runs the blocks of the grid one after the other; inside a block each CUDA thread is a fiber
// (its own stack, cooperative switching on the calling OS thread). A fiber runs until it reaches a synchronization
// point (__syncthreads, a warp collective) and then yields; the scheduler resumes the others until the barrier or
// the collective is complete. This gives exactly the guarantees a correct CUDA program relies on, and nothing more
// (there is no real concurrency between threads, so hardware races are not found).
//
// Names follow the real headers (global namespace for CUDA names); the emulator's internals live in namespace emu,
// together with the knobs tests use (set_device_count, set_memory_limit, inject_error, live_allocations, reset).
// The implementation is native/emu/emu_runtime.cpp (library reasonir_emu_runtime, see emu.cmake).
#pragma once

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

// ---------------------------------------------------------------------------------------------------------------
// Keywords. __shared__ becomes `static`: blocks run one at a time, so a function-local static is exactly one copy per
// running block, seen by all of its threads (it is not cleared between blocks; neither is real shared memory).
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __shared__ static
#define __forceinline__ inline
// (no __noinline__: libstdc++ spells __attribute__((__noinline__)), which such a macro would break)
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __grid_constant__

// ---------------------------------------------------------------------------------------------------------------
// Vector types (same size and alignment as CUDA's vector_types.h, so that reinterpret_casts in kernels keep working).
struct char4 { signed char x, y, z, w; };
struct __attribute__((aligned(4))) uchar4 { unsigned char x, y, z, w; };
struct __attribute__((aligned(4))) short2 { short x, y; };
struct __attribute__((aligned(4))) ushort2 { unsigned short x, y; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct int3 { int x, y, z; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct uint3 { unsigned int x, y, z; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
struct __attribute__((aligned(8))) float2 { float x, y; };
struct float3 { float x, y, z; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
struct __attribute__((aligned(16))) longlong2 { long long x, y; };
struct __attribute__((aligned(16))) ulonglong2 { unsigned long long x, y; };

inline char4 make_char4(signed char x, signed char y, signed char z, signed char w) { return {x, y, z, w}; }
inline uchar4 make_uchar4(unsigned char x, unsigned char y, unsigned char z, unsigned char w) { return {x, y, z, w}; }
inline short2 make_short2(short x, short y) { return {x, y}; }
inline ushort2 make_ushort2(unsigned short x, unsigned short y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int3 make_int3(int x, int y, int z) { return {x, y, z}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return {x, y, z}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

// Built-in variables: set by the scheduler before it resumes each fiber (kernels read them as globals; every switch
// goes through an opaque call, so the compiler reloads them after each synchronization point).
extern uint3 threadIdx;
extern uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------------------------------
// bf16: bit-compatible with cuda_bf16.h (the upper 16 bits of an IEEE binary32). Conversions follow the real header:
// round to nearest even, NaN becomes the canonical 0x7fff.
namespace emu {
inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned short f32_to_bf16_rn(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN: canonical quiet NaN, as cvt.rn.bf16.f32 gives
    u += 0x7fffu + ((u >> 16) & 1u);                       // RNE: half an ulp minus one, plus the kept lsb
    return static_cast<unsigned short>(u >> 16);
}
inline unsigned short f32_to_bf16_rz(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
    return static_cast<unsigned short>(u >> 16);
}
inline float bf16_to_f32(unsigned short h) { return bits_f32(static_cast<uint32_t>(h) << 16); }
}  // namespace emu

struct __nv_bfloat16_raw { unsigned short x; };

struct __attribute__((aligned(2))) __nv_bfloat16 {
    unsigned short __x;
    __nv_bfloat16() = default;
    constexpr __nv_bfloat16(__nv_bfloat16_raw r) : __x(r.x) {}
    __nv_bfloat16(float f) : __x(emu::f32_to_bf16_rn(f)) {}
    __nv_bfloat16(double f) : __x(emu::f32_to_bf16_rn(static_cast<float>(f))) {}
    __nv_bfloat16 &operator=(__nv_bfloat16_raw r) { __x = r.x; return *this; }
    operator __nv_bfloat16_raw() const { return __nv_bfloat16_raw{__x}; }
    operator float() const { return emu::bf16_to_f32(__x); }
};
static_assert(sizeof(__nv_bfloat16) == 2 && std::is_trivially_copyable<__nv_bfloat16>::value, "bf16 layout");

struct __attribute__((aligned(4))) __nv_bfloat162 {
    __nv_bfloat16 x, y;
    __nv_bfloat162() = default;
    constexpr __nv_bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) : x(a), y(b) {}
};
static_assert(sizeof(__nv_bfloat162) == 4, "bf162 layout");
typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;

inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16(__nv_bfloat16_raw{u}); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline short __bfloat16_as_short(__nv_bfloat16 h) { return static_cast<short>(h.__x); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __ushort_as_bfloat16(emu::f32_to_bf16_rn(f)); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline __nv_bfloat16 __float2bfloat16_rz(float f) { return __ushort_as_bfloat16(emu::f32_to_bf16_rz(f)); }
inline float __bfloat162float(__nv_bfloat16 h) { return emu::bf16_to_f32(h.__x); }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
    return __nv_bfloat162(__float2bfloat16_rn(a), __float2bfloat16_rn(b));
}
inline __nv_bfloat162 __float22bfloat162_rn(float2 f) { return __floats2bfloat162_rn(f.x, f.y); }
inline __nv_bfloat162 __float2bfloat162_rn(float f) { return __floats2bfloat162_rn(f, f); }
inline __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162(a, b); }
inline __nv_bfloat162 __bfloat162bfloat162(__nv_bfloat16 a) { return __nv_bfloat162(a, a); }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return float2{__bfloat162float(h.x), __bfloat162float(h.y)}; }
inline float __low2float(__nv_bfloat162 h) { return __bfloat162float(h.x); }
inline float __high2float(__nv_bfloat162 h) { return __bfloat162float(h.y); }
inline __nv_bfloat16 __low2bfloat16(__nv_bfloat162 h) { return h.x; }
inline __nv_bfloat16 __high2bfloat16(__nv_bfloat162 h) { return h.y; }
// Arithmetic as sm_80+ does it: in fp32, rounded once to bf16.
inline __nv_bfloat16 __hadd(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16_rn(float(a) + float(b)); }
inline __nv_bfloat16 __hsub(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16_rn(float(a) - float(b)); }
inline __nv_bfloat16 __hmul(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16_rn(float(a) * float(b)); }
inline __nv_bfloat16 __hfma(__nv_bfloat16 a, __nv_bfloat16 b, __nv_bfloat16 c) {
    return __float2bfloat16_rn(std::fma(float(a), float(b), float(c)));
}
inline __nv_bfloat16 operator+(__nv_bfloat16 a, __nv_bfloat16 b) { return __hadd(a, b); }
inline __nv_bfloat16 operator-(__nv_bfloat16 a, __nv_bfloat16 b) { return __hsub(a, b); }
inline __nv_bfloat16 operator*(__nv_bfloat16 a, __nv_bfloat16 b) { return __hmul(a, b); }
inline __nv_bfloat16 operator/(__nv_bfloat16 a, __nv_bfloat16 b) { return __float2bfloat16_rn(float(a) / float(b)); }
inline __nv_bfloat16 operator-(__nv_bfloat16 a) { return __ushort_as_bfloat16(a.__x ^ 0x8000u); }
inline __nv_bfloat16 &operator+=(__nv_bfloat16 &a, __nv_bfloat16 b) { return a = a + b; }
inline __nv_bfloat16 &operator-=(__nv_bfloat16 &a, __nv_bfloat16 b) { return a = a - b; }
inline __nv_bfloat16 &operator*=(__nv_bfloat16 &a, __nv_bfloat16 b) { return a = a * b; }
inline __nv_bfloat16 &operator/=(__nv_bfloat16 &a, __nv_bfloat16 b) { return a = a / b; }
inline bool operator==(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) == float(b); }
inline bool operator!=(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) != float(b); }
inline bool operator<(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) < float(b); }
inline bool operator<=(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) <= float(b); }
inline bool operator>(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) > float(b); }
inline bool operator>=(__nv_bfloat16 a, __nv_bfloat16 b) { return float(a) >= float(b); }

// ---------------------------------------------------------------------------------------------------------------
// Float and integer intrinsics. The fast-math variants are computed exactly here (the GPU's approximations differ
// in the last bits; tests compare with tolerances anyway).
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return powf(10.0f, x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline void __sincosf(float x, float *s, float *c) { *s = sinf(x); *c = cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline unsigned int __float_as_uint(float f) { return emu::f32_bits(f); }
inline float __uint_as_float(unsigned int u) { return emu::bits_f32(u); }
inline int __float_as_int(float f) { return static_cast<int>(emu::f32_bits(f)); }
inline float __int_as_float(int i) { return emu::bits_f32(static_cast<uint32_t>(i)); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline int __float2int_rn(float f) { return static_cast<int>(nearbyintf(f)); }
inline int __float2int_rz(float f) { return static_cast<int>(f); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
inline int __mul24(int a, int b) { return a * b; }
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
template <typename T>
inline T __ldg(const T *p) { return *p; }
template <typename T>
inline T __ldcs(const T *p) { return *p; }
template <typename T>
inline void __stcs(T *p, T v) { *p = v; }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
long long clock64();  // nanoseconds of a steady host clock
// CUDA's global min/max overloads (math_functions.hpp declares them for host code too). Exact-match overloads beat
// std::min/std::max templates, so `using namespace std` code stays unambiguous.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline unsigned int min(int a, unsigned int b) { return min(static_cast<unsigned>(a), b); }
inline unsigned int min(unsigned int a, int b) { return min(a, static_cast<unsigned>(b)); }
inline unsigned int max(int a, unsigned int b) { return max(static_cast<unsigned>(a), b); }
inline unsigned int max(unsigned int a, int b) { return max(a, static_cast<unsigned>(b)); }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// ---------------------------------------------------------------------------------------------------------------
// Atomics: plain read-modify-write. Kernels execute on one OS thread and a fiber only switches at a synchronization
// point, so nothing can interleave with them. They return the old value, as CUDA's do.
namespace emu {
template <typename T>
inline T atomic_rmw_add(T *p, T v) { T old = *p; *p = old + v; return old; }
}  // namespace emu
inline float atomicAdd(float *p, float v) { return emu::atomic_rmw_add(p, v); }
inline double atomicAdd(double *p, double v) { return emu::atomic_rmw_add(p, v); }
inline int atomicAdd(int *p, int v) { return emu::atomic_rmw_add(p, v); }
inline unsigned int atomicAdd(unsigned int *p, unsigned int v) { return emu::atomic_rmw_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) { return emu::atomic_rmw_add(p, v); }
inline int atomicSub(int *p, int v) { int o = *p; *p = o - v; return o; }
inline unsigned int atomicSub(unsigned int *p, unsigned int v) { unsigned o = *p; *p = o - v; return o; }
inline int atomicMin(int *p, int v) { int o = *p; if (v < o) *p = v; return o; }
inline unsigned int atomicMin(unsigned int *p, unsigned int v) { unsigned o = *p; if (v < o) *p = v; return o; }
inline unsigned long long atomicMin(unsigned long long *p, unsigned long long v) {
    unsigned long long o = *p; if (v < o) *p = v; return o;
}
inline long long atomicMin(long long *p, long long v) { long long o = *p; if (v < o) *p = v; return o; }
inline int atomicMax(int *p, int v) { int o = *p; if (v > o) *p = v; return o; }
inline unsigned int atomicMax(unsigned int *p, unsigned int v) { unsigned o = *p; if (v > o) *p = v; return o; }
inline unsigned long long atomicMax(unsigned long long *p, unsigned long long v) {
    unsigned long long o = *p; if (v > o) *p = v; return o;
}
inline long long atomicMax(long long *p, long long v) { long long o = *p; if (v > o) *p = v; return o; }
inline int atomicOr(int *p, int v) { int o = *p; *p = o | v; return o; }
inline unsigned int atomicOr(unsigned int *p, unsigned int v) { unsigned o = *p; *p = o | v; return o; }
inline unsigned long long atomicOr(unsigned long long *p, unsigned long long v) {
    unsigned long long o = *p; *p = o | v; return o;
}
inline int atomicAnd(int *p, int v) { int o = *p; *p = o & v; return o; }
inline unsigned int atomicAnd(unsigned int *p, unsigned int v) { unsigned o = *p; *p = o & v; return o; }
inline int atomicXor(int *p, int v) { int o = *p; *p = o ^ v; return o; }
inline unsigned int atomicXor(unsigned int *p, unsigned int v) { unsigned o = *p; *p = o ^ v; return o; }
inline int atomicExch(int *p, int v) { int o = *p; *p = v; return o; }
inline unsigned int atomicExch(unsigned int *p, unsigned int v) { unsigned o = *p; *p = v; return o; }
inline unsigned long long atomicExch(unsigned long long *p, unsigned long long v) {
    unsigned long long o = *p; *p = v; return o;
}
inline float atomicExch(float *p, float v) { float o = *p; *p = v; return o; }
inline int atomicCAS(int *p, int cmp, int v) { int o = *p; if (o == cmp) *p = v; return o; }
inline unsigned int atomicCAS(unsigned int *p, unsigned int cmp, unsigned int v) {
    unsigned o = *p; if (o == cmp) *p = v; return o;
}
inline unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v) {
    unsigned long long o = *p; if (o == cmp) *p = v; return o;
}
inline unsigned short atomicCAS(unsigned short *p, unsigned short cmp, unsigned short v) {
    unsigned short o = *p; if (o == cmp) *p = v; return o;
}
inline unsigned int atomicInc(unsigned int *p, unsigned int lim) {
    unsigned o = *p; *p = (o >= lim) ? 0u : o + 1u; return o;
}

// ---------------------------------------------------------------------------------------------------------------
// Runtime API types (values from driver_types.h).
enum cudaError_t : int {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorCudartUnloading = 4,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidPitchValue = 12,
    cudaErrorInvalidSymbol = 13,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoKernelImageForDevice = 209,
    cudaErrorECCUncorrectable = 214,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchTimeout = 702,
    cudaErrorAssert = 710,
    cudaErrorHardwareStackError = 714,
    cudaErrorIllegalInstruction = 715,
    cudaErrorMisalignedAddress = 716,
    cudaErrorInvalidAddressSpace = 717,
    cudaErrorInvalidPc = 718,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureMerge = 902,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureUnjoined = 904,
    cudaErrorStreamCaptureIsolation = 905,
    cudaErrorStreamCaptureImplicit = 906,
    cudaErrorCapturedEvent = 907,
    cudaErrorStreamCaptureWrongThread = 908,
    cudaErrorUnknown = 999,
};
typedef cudaError_t cudaError;

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
typedef struct CUgraph_st *cudaGraph_t;          // graphs: emu_graph.cpp
typedef struct CUgraphExec_st *cudaGraphExec_t;
enum cudaStreamCaptureMode : int {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2,
};
enum cudaStreamCaptureStatus : int {
    cudaStreamCaptureStatusNone = 0,
    cudaStreamCaptureStatusActive = 1,
    cudaStreamCaptureStatusInvalidated = 2,
};
enum cudaGraphInstantiateFlags : int {
    cudaGraphInstantiateFlagAutoFreeOnLaunch = 1,
    cudaGraphInstantiateFlagUpload = 2,
    cudaGraphInstantiateFlagDeviceLaunch = 4,
    cudaGraphInstantiateFlagUseNodePriority = 8,
};

enum cudaMemcpyKind : int {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute : int {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

enum cudaDeviceAttr : int {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrL2CacheSize = 38,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostAllocWriteCombined 0x04
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)

// The fields of cudaDeviceProp (CUDA 13) that host code is likely to read; not the full struct (nothing depends on
// its layout: the emulator fills it, host code reads it by name).
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    size_t memPitch;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    size_t totalConstMem;
    int major;
    int minor;
    int multiProcessorCount;
    int integrated;
    int canMapHostMemory;
    int concurrentKernels;
    int ECCEnabled;
    int pciBusID;
    int pciDeviceID;
    int pciDomainID;
    int asyncEngineCount;
    int unifiedAddressing;
    int memoryBusWidth;
    int l2CacheSize;
    int persistingL2CacheMaxSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    int regsPerMultiprocessor;
    int managedMemory;
    int cooperativeLaunch;
    size_t sharedMemPerBlockOptin;
    int maxBlocksPerMultiProcessor;
    size_t reservedSharedMemPerBlock;
};

// ---------------------------------------------------------------------------------------------------------------
// Runtime API (emu_runtime.cpp). Same signatures and default arguments as cuda_runtime_api.h.
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **ptr, size_t size);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void *ptr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream = 0);
cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
cudaError_t cudaFuncSetAttribute(const void *func, cudaFuncAttribute attr, int value);
template <class T>
inline cudaError_t cudaFuncSetAttribute(T *entry, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void *>(entry), attr, value);
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num_blocks, const void *func, int block_size,
                                                          size_t dynamic_smem);
template <class T>
inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num_blocks, T func, int block_size,
                                                                 size_t dynamic_smem) {
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(num_blocks, reinterpret_cast<const void *>(func),
                                                         block_size, dynamic_smem);
}
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaRuntimeGetVersion(int *version);
// Graphs by stream capture (emu_graph.cpp; README.md, "Graphs").
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status);
cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode *mode);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
// __constant__ / __device__ variables are plain globals here, so the symbol copies are memcpys.
template <class T>
inline cudaError_t cudaMemcpyToSymbol(const T &symbol, const void *src, size_t count, size_t offset = 0,
                                      cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
    if (offset + count > sizeof(T)) return cudaErrorInvalidValue;
    std::memcpy(reinterpret_cast<char *>(const_cast<T *>(&symbol)) + offset, src, count);
    return cudaSuccess;
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbol(void *dst, const T &symbol, size_t count, size_t offset = 0,
                                        cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
    if (offset + count > sizeof(T)) return cudaErrorInvalidValue;
    std::memcpy(dst, reinterpret_cast<const char *>(&symbol) + offset, count);
    return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------------------------
// sm90 (Hopper) additions: the driver API subset that TMA needs (CUtensorMap and cuTensorMapEncodeTiled, whose
// types come from cuda.h in the real build) and the runtime's driver entry point query that reaches it. Values and
// signatures as in CUDA 13's cuda.h / cuda_runtime_api.h. Implementation: native/emu/tma_emu.cpp, which validates
// the parameters like the driver and stores them in the map's 128 bytes.
typedef uint32_t cuuint32_t;
typedef uint64_t cuuint64_t;
enum cudaError_enum : int {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_NOT_FOUND = 500,
};
typedef cudaError_enum CUresult;
#define CU_TENSOR_MAP_NUM_QWORDS 16
typedef struct CUtensorMap_st {
    alignas(128) cuuint64_t opaque[CU_TENSOR_MAP_NUM_QWORDS];
} CUtensorMap;
enum CUtensorMapDataType_enum : int {
    CU_TENSOR_MAP_DATA_TYPE_UINT8 = 0, CU_TENSOR_MAP_DATA_TYPE_UINT16, CU_TENSOR_MAP_DATA_TYPE_UINT32,
    CU_TENSOR_MAP_DATA_TYPE_INT32, CU_TENSOR_MAP_DATA_TYPE_UINT64, CU_TENSOR_MAP_DATA_TYPE_INT64,
    CU_TENSOR_MAP_DATA_TYPE_FLOAT16, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, CU_TENSOR_MAP_DATA_TYPE_FLOAT64,
    CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ, CU_TENSOR_MAP_DATA_TYPE_TFLOAT32,
    CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ,
};
typedef CUtensorMapDataType_enum CUtensorMapDataType;
enum CUtensorMapInterleave_enum : int {
    CU_TENSOR_MAP_INTERLEAVE_NONE = 0, CU_TENSOR_MAP_INTERLEAVE_16B, CU_TENSOR_MAP_INTERLEAVE_32B,
};
typedef CUtensorMapInterleave_enum CUtensorMapInterleave;
enum CUtensorMapSwizzle_enum : int {
    CU_TENSOR_MAP_SWIZZLE_NONE = 0, CU_TENSOR_MAP_SWIZZLE_32B, CU_TENSOR_MAP_SWIZZLE_64B, CU_TENSOR_MAP_SWIZZLE_128B,
};
typedef CUtensorMapSwizzle_enum CUtensorMapSwizzle;
enum CUtensorMapL2promotion_enum : int {
    CU_TENSOR_MAP_L2_PROMOTION_NONE = 0, CU_TENSOR_MAP_L2_PROMOTION_L2_64B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
    CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
};
typedef CUtensorMapL2promotion_enum CUtensorMapL2promotion;
enum CUtensorMapFloatOOBfill_enum : int {
    CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE = 0, CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA,
};
typedef CUtensorMapFloatOOBfill_enum CUtensorMapFloatOOBfill;
typedef CUresult (*PFN_cuTensorMapEncodeTiled_v12000)(
    CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank, void *globalAddress,
    const cuuint64_t *globalDim, const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
    const cuuint32_t *elementStrides, CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
    CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill);
CUresult cuTensorMapEncodeTiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType, cuuint32_t tensorRank,
                                void *globalAddress, const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
                                const cuuint32_t *boxDim, const cuuint32_t *elementStrides,
                                CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
                                CUtensorMapL2promotion l2Promotion, CUtensorMapFloatOOBfill oobFill);
enum cudaDriverEntryPointQueryResult : int {
    cudaDriverEntryPointSuccess = 0,
    cudaDriverEntryPointSymbolNotFound = 1,
    cudaDriverEntryPointVersionNotSufficent = 2,
};
enum cudaGetDriverEntryPointFlags : int {
    cudaEnableDefault = 0x0,
    cudaEnableLegacyStream = 0x1,
    cudaEnablePerThreadDefaultStream = 0x2,
};
// Only "cuTensorMapEncodeTiled" is known (other symbols: cudaSuccess with cudaDriverEntryPointSymbolNotFound and a
// null pointer, as the runtime answers for an unknown symbol).
cudaError_t cudaGetDriverEntryPoint(const char *symbol, void **funcPtr, unsigned long long flags,
                                    cudaDriverEntryPointQueryResult *driverStatus = nullptr);
cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **funcPtr, unsigned int cudaVersion,
                                             unsigned long long flags,
                                             cudaDriverEntryPointQueryResult *driverStatus = nullptr);

// ---------------------------------------------------------------------------------------------------------------
namespace emu {

// Test controls. Everything below is process-wide. Devices: the emulator shows N identical devices (default 1, at
// most 64); each has its own memory limit and use, its own sticky error (a CUDA context is per device) and its own
// pending fault; the current device is per host thread (cudaSetDevice), as in CUDA. The environment can set the
// same at the first call (EMU_DEVICE_COUNT, EMU_DEVICE_MEMORY, EMU_FAULT: see README.md, "Configuration").
void set_device_count(int n);             // 0: cudaGetDeviceCount returns cudaErrorNoDevice (default 1, clamped to
                                          // 0..64); the calling thread's device goes back to 0 if it no longer exists
void set_memory_limit(size_t bytes);      // every device's memory size: cudaMalloc beyond it fails,
                                          // cudaMemGetInfo / totalGlobalMem report it (default 8 GiB)
bool set_memory_limit(int device, size_t bytes);  // one device's (false: no such device slot)
void inject_error(cudaError_t error);     // the next API call or launch, on any device, fails with `error`; sticky
                                          // codes (700, 719, ...) then stay on the calling thread's current device,
                                          // as a real context error does, until reset() or cudaDeviceReset()
bool inject_error(int device, cudaError_t error, unsigned long long after_n_launches);
                                          // after `after_n_launches` more launches on `device` (0: the next one), the
                                          // next launch on it fails with `error` and does not run; a sticky code then
                                          // poisons that device only. One pending fault per device (a new call
                                          // replaces it). false: no such device slot or cudaSuccess
bool fault_pending(int device);           // a fault armed on `device` has not fired yet
cudaError_t sticky_error(int device);     // the device's sticky error (cudaSuccess when its context is healthy)
std::string configure(const char *device_count, const char *device_memory, const char *fault);
                                          // applies values in the syntax of EMU_DEVICE_COUNT, EMU_DEVICE_MEMORY and
                                          // EMU_FAULT (null or "": unset) as a fresh start would, and returns "" or the
                                          // error (then every CUDA call fails with cudaErrorInvalidValue, as with a
                                          // bad environment). reset() goes back to the environment's configuration
void reset();                             // clears errors and injections and goes back to the configuration the
                                          // environment gave at start (default: 1 device, 8 GiB), without re-arming
                                          // EMU_FAULT; the calling thread's device is 0 again (live allocations
                                          // stay: they are the caller's to free)
bool is_sticky(cudaError_t error);
size_t live_allocations();                // device + pinned host allocations not yet freed
size_t live_device_bytes();               // all devices
size_t live_device_bytes(int device);
int live_streams();
int live_events();
unsigned long long launches();            // kernel launches that ran (for tests of the host orchestration)
unsigned long long launches(int device);  // ... on one device
void set_poison(bool on);                 // fill new device memory and dynamic smem with 0xff bytes (NaN as fp32
                                          // and bf16) so that reads of unwritten memory show up; default on
void set_strict(bool on);                 // a shuffle reading a lane that does not take part (exited, absent from a
                                          // partial warp, outside the mask) aborts instead of returning the
                                          // caller's value; default: environment EMU_STRICT=1
void set_reverse_order(bool on);          // start a block's threads from the last one (default: environment
                                          // EMU_REVERSE=1): run a test both ways to expose missing barriers
int live_graphs();                        // cudaGraph_t not yet destroyed (emu_graph.cpp)
int live_graph_execs();                   // cudaGraphExec_t not yet destroyed
unsigned long long graph_launches();      // successful cudaGraphLaunch calls (every device)
bool inject_graph_error(const char *call, cudaError_t error);
                                          // the next call of `call` ("cudaStreamBeginCapture", "cudaStreamEndCapture",
                                          // "cudaGraphInstantiate" or "cudaGraphLaunch"), from any thread, fails with
                                          // `error` as inject_error would (EndCapture still ends the capture); for
                                          // tests of a caller's fallback, which other calls must not consume. false:
                                          // unknown name or cudaSuccess. reset() disarms them
// Host work in stream order, for emulated libraries that compute on the host at call time (the fake cuBLASLt): runs
// `work` now and returns its result, or, while `stream` captures, records it into the capture (returns cudaSuccess,
// or the capture's error) so that every replay of the graph runs it at its place; a replay stops at the first work
// that returns an error and cudaGraphLaunch returns that error.
cudaError_t enqueue_host_work(cudaStream_t stream, std::function<cudaError_t()> work);

// Kernel execution internals.
namespace detail {
struct LaunchSpec {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    const void *func;          // for the cudaFuncSetAttribute limit check
    void (*invoke)(void *);    // runs the kernel body for the current thread
    void *ctx;
};
void launch(const LaunchSpec &spec);
// Stream capture (emu_graph.cpp): true while any stream captures (one atomic load); capture_launch records the launch
// when spec.stream captures (its arguments kept alive by `ctx`, which spec.ctx points into) and returns true, or
// returns false when that stream does not capture (the caller then launches).
bool captures_active();
bool capture_launch(const LaunchSpec &spec, std::shared_ptr<void> ctx);
// Warp collective: every participating lane calls this with its input and output; when the last one has arrived,
// `op` runs once with all of them (in[i] / out[i] are null for lanes that do not take part) and every lane resumes
// with its output written. Inputs and outputs live on the callers' stacks, which stay valid while they wait.
typedef void (*CollectiveOp)(const void *const in[32], void *const out[32], uint32_t participants);
void warp_collective(CollectiveOp op, uint32_t mask, const void *in, void *out);
unsigned lane_id();
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
}  // namespace detail

// Dynamic shared memory of the running launch (1024-byte aligned for sm90 swizzled tiles; the smem bytes).
void *dynamic_smem();

// Kernel launch: arguments are converted to the kernel's parameter types and copied once, as CUDA does at launch;
// every thread then calls the kernel with its own copies.
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A), "emu::launch: wrong number of kernel arguments");
    struct Ctx {
        void (*kernel)(P...);
        std::tuple<typename std::decay<P>::type...> args;
    };
    Ctx ctx{kernel, std::tuple<typename std::decay<P>::type...>(std::forward<A>(args)...)};
    detail::LaunchSpec spec;
    spec.grid = grid;
    spec.block = block;
    spec.smem = smem;
    spec.stream = stream;
    spec.func = reinterpret_cast<const void *>(kernel);
    spec.invoke = [](void *c) {
        Ctx *x = static_cast<Ctx *>(c);
        auto args_copy = x->args;  // by-value parameters: each thread may modify its own
        std::apply(x->kernel, std::move(args_copy));
    };
    spec.ctx = &ctx;
    if (detail::captures_active()) {  // a capturing stream records the launch with its own copy of the arguments
        auto owned = std::make_shared<Ctx>(ctx);
        spec.ctx = owned.get();
        if (detail::capture_launch(spec, std::move(owned))) return;
        spec.ctx = &ctx;
    }
    detail::launch(spec);
}

// Shuffle support: values of up to 8 bytes travel as raw bits.
namespace detail {
struct ShflIn {
    uint64_t bits;
    unsigned src;  // lane to read, or 32+ for "my own value"
};
void shfl_op(const void *const in[32], void *const out[32], uint32_t participants);
void sync_op(const void *const in[32], void *const out[32], uint32_t participants);
void ballot_op(const void *const in[32], void *const out[32], uint32_t participants);
template <typename T>
inline T shfl(uint32_t mask, T v, unsigned src) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
    ShflIn in{0, src};
    std::memcpy(&in.bits, &v, sizeof(T));
    uint64_t out = 0;
    warp_collective(&shfl_op, mask, &in, &out);
    T r;
    std::memcpy(&r, &out, sizeof(T));
    return r;
}
inline unsigned segment_base(unsigned lane, int width) { return lane & ~static_cast<unsigned>(width - 1); }
}  // namespace detail
}  // namespace emu

// ---------------------------------------------------------------------------------------------------------------
// Block and warp synchronization.
void __syncthreads();
int __syncthreads_count(int predicate);
int __syncthreads_and(int predicate);
int __syncthreads_or(int predicate);
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::detail::warp_collective(&emu::detail::sync_op, mask, nullptr, nullptr); }
[[noreturn]] void __trap();

// Shuffles with CUDA's width semantics: lanes are split into segments of `width`; a source outside the caller's
// segment (or a lane that does not take part) yields the caller's own value.
template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
    unsigned lane = emu::detail::lane_id();
    unsigned src = emu::detail::segment_base(lane, width) + (static_cast<unsigned>(src_lane) & (width - 1));
    return emu::detail::shfl(mask, var, src);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
    unsigned lane = emu::detail::lane_id();
    unsigned src = lane ^ static_cast<unsigned>(lane_mask);
    // Earlier segments may be read, later ones may not (CUDA programming guide).
    if (src >= emu::detail::segment_base(lane, width) + width) src = lane;
    return emu::detail::shfl(mask, var, src);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    unsigned lane = emu::detail::lane_id();
    unsigned src = lane + delta;
    if (src >= emu::detail::segment_base(lane, width) + width) src = lane;
    return emu::detail::shfl(mask, var, src);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    unsigned lane = emu::detail::lane_id();
    unsigned base = emu::detail::segment_base(lane, width);
    unsigned src = (lane >= base + delta) ? lane - delta : lane;
    return emu::detail::shfl(mask, var, src);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
    uint32_t in = predicate != 0, out = 0;
    emu::detail::warp_collective(&emu::detail::ballot_op, mask, &in, &out);
    return out;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
    // all: every participating lane voted; the ballot of "not predicate" is empty.
    return __ballot_sync(mask, !predicate) == 0;
}
unsigned __activemask();
inline unsigned __lanemask_lt() { return (1u << emu::detail::lane_id()) - 1u; }
