// Just enough CUDA to run a kernel file's source on the CPU, a block at a
// time, every thread a fiber (ucontext): no GPU here, yet the kernel's own
// code — its indexing, its barriers, its warp shuffles, its shared-memory
// carving — runs and is compared with the CPU twin (tests/hotflip_score_emu.rs).
//
// Semantics:
// - blocks run one after another; threads of a block are fibers switched
//   only at __syncthreads and warp shuffles (a barrier waits for every
//   thread of the block, or warp, that has not returned, as on the GPU);
// - the fibers run in thread order or in reverse (`hf_emu::reverse`), and
//   after every barrier resume in that order: running the same kernel both
//   ways exposes a missing barrier, since the code between two barriers then
//   runs in opposite orders;
// - dynamic shared memory is `hf_smem` (the name the kernel files use),
//   filled with 0xFF bytes (NaN, huge ids) before each block, and followed
//   by a guard that must be intact afterwards: a write past the launch's
//   shared-memory size fails the run;
// - f32 arithmetic intrinsics are plain IEEE operations: compile with
//   -ffp-contract=off so that nothing fuses, as __fmul_rn/__fadd_rn promise;
// - blockDim.x must be a multiple of 32 (full warps), grids are 1-D.
//
// Not emulated: the memory model between blocks, timing, warp divergence,
// the hardware's shared-memory limit (the launcher checks that).

#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

inline uint3 threadIdx = {0, 0, 0};
inline uint3 blockIdx = {0, 0, 0};
inline dim3 blockDim = {1, 1, 1};
inline dim3 gridDim = {1, 1, 1};

constexpr size_t HF_EMU_SMEM = 1 << 20;
constexpr size_t HF_EMU_GUARD = 4096;
alignas(16) unsigned char hf_smem[HF_EMU_SMEM + HF_EMU_GUARD];

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline unsigned int __float_as_uint(float x) {
    unsigned int u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float __uint_as_float(unsigned int u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

namespace hf_emu {

[[noreturn]] inline void die(const char* msg) {
    std::fprintf(stderr, "cuda emulator: %s (block %u)\n", msg, blockIdx.x);
    std::exit(3);
}

constexpr size_t STACK = 256 * 1024;

struct Fiber {
    ucontext_t ctx;
    bool done;
};

struct Warp {
    unsigned int arrived = 0, gen = 0;
    unsigned long long slots[32];
};

inline bool reverse = false;
inline std::vector<Fiber> fibers;
inline std::vector<std::vector<char>> stacks;
inline std::vector<Warp> warps;
inline ucontext_t main_ctx;
inline unsigned int current = 0;
inline bool progress = false;
inline unsigned int block_arrived = 0, block_gen = 0;
inline std::function<void()> body;

inline void yield() { swapcontext(&fibers[current].ctx, &main_ctx); }

inline unsigned int live(unsigned int first, unsigned int count) {
    unsigned int n = 0;
    for (unsigned int i = first; i < first + count; ++i) {
        n += fibers[i].done ? 0 : 1;
    }
    return n;
}

inline void barrier(unsigned int& arrived, unsigned int& gen, unsigned int first, unsigned int count) {
    unsigned int mine = gen;
    progress = true;
    if (++arrived >= live(first, count)) {
        arrived = 0;
        ++gen;
    }
    // The last to arrive waits its turn too, so that after every barrier the
    // threads resume in schedule order.
    do {
        yield();
    } while (gen == mine);
}

inline void syncthreads() { barrier(block_arrived, block_gen, 0, blockDim.x); }

inline void syncwarp() {
    unsigned int w = threadIdx.x / 32;
    barrier(warps[w].arrived, warps[w].gen, w * 32, 32);
}

template <class T>
T shfl_xor(T v, int lane_mask) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    unsigned int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    warps[w].slots[lane] = bits;
    syncwarp();
    unsigned long long other = warps[w].slots[(lane ^ (unsigned int)lane_mask) & 31u];
    syncwarp();
    T r;
    std::memcpy(&r, &other, sizeof(T));
    return r;
}

inline void entry() {
    body();
    fibers[current].done = true;
    progress = true;
    swapcontext(&fibers[current].ctx, &main_ctx);
}

// A barrier whose waiting threads are all the live ones completes when a
// thread returns instead of arriving.
inline void release_after_exit() {
    if (block_arrived > 0 && block_arrived >= live(0, blockDim.x)) {
        block_arrived = 0;
        ++block_gen;
    }
    for (unsigned int w = 0; w < warps.size(); ++w) {
        if (warps[w].arrived > 0 && warps[w].arrived >= live(w * 32, 32)) {
            warps[w].arrived = 0;
            ++warps[w].gen;
        }
    }
}

inline void run_block() {
    unsigned int n = blockDim.x;
    fibers.assign(n, Fiber{});
    warps.assign(n / 32, Warp{});
    block_arrived = block_gen = 0;
    while (stacks.size() < n) {
        stacks.emplace_back(STACK);
    }
    for (unsigned int i = 0; i < n; ++i) {
        Fiber& f = fibers[i];
        f.done = false;
        if (getcontext(&f.ctx) != 0) {
            die("getcontext failed");
        }
        f.ctx.uc_stack.ss_sp = stacks[i].data();
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, entry, 0);
    }
    for (;;) {
        bool any = false;
        progress = false;
        for (unsigned int k = 0; k < n; ++k) {
            unsigned int i = reverse ? n - 1 - k : k;
            if (fibers[i].done) {
                continue;
            }
            any = true;
            current = i;
            threadIdx = {i, 0, 0};
            swapcontext(&main_ctx, &fibers[i].ctx);
            if (fibers[i].done) {
                release_after_exit();
            }
        }
        if (!any) {
            return;
        }
        if (!progress) {
            die("deadlock: every live thread waits at a barrier the others never reach");
        }
    }
}

// Runs `kernel` (a call of the kernel function with its arguments) over a
// 1-D grid.
inline void launch(unsigned int grid, unsigned int block, size_t smem, std::function<void()> kernel) {
    if (block == 0 || block % 32 != 0 || block > 1024) {
        die("blockDim.x must be a positive multiple of 32, at most 1024");
    }
    if (smem > HF_EMU_SMEM) {
        die("more dynamic shared memory than the emulator holds");
    }
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    body = std::move(kernel);
    for (unsigned int b = 0; b < grid; ++b) {
        blockIdx = {b, 0, 0};
        std::memset(hf_smem, 0xFF, smem);
        std::memset(hf_smem + smem, 0x5A, HF_EMU_GUARD);
        run_block();
        for (size_t i = 0; i < HF_EMU_GUARD; ++i) {
            if (hf_smem[smem + i] != 0x5A) {
                die("a thread wrote past the launch's dynamic shared memory");
            }
        }
    }
}

}  // namespace hf_emu

#define __syncthreads() hf_emu::syncthreads()
#define __syncwarp(...) hf_emu::syncwarp()

template <class T>
T __shfl_xor_sync(unsigned int, T v, int lane_mask, int = 32) {
    return hf_emu::shfl_xor(v, lane_mask);
}
