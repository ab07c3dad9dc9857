// Just enough CUDA to run a kernel file's source on the CPU, a block at a
// time, every thread a fiber (a minimal stack switch on x86-64, ucontext
// elsewhere): no GPU here, yet the kernel's own
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
// - static `__shared__` variables are `thread_local` statics: one copy that
//   every fiber (all run on one OS thread) of the running block shares;
//   unlike dynamic shared memory they are not refilled between blocks;
// - warp votes and shuffles (`__ballot_sync`, `__shfl_sync`,
//   `__shfl_up_sync`, `__shfl_xor_sync`) exchange values through per-warp
//   slots between two warp barriers; lanes that have returned vote 0;
// - f32 arithmetic intrinsics are plain IEEE operations: compile with
//   -ffp-contract=off so that nothing fuses, as __fmul_rn/__fadd_rn promise;
// - blockDim.x must be a multiple of 32 (full warps), grids are 1-D or 2-D;
// - f32 math functions are the C library's (glibc), not CUDA's: results
//   may differ from a GPU's in the last bits, as the self-check allows.
//
// Not emulated: the memory model between blocks, timing, warp divergence,
// the hardware's shared-memory limit (the launcher checks that).

#pragma once

#include <ucontext.h>

#if defined(__x86_64__)
// Saves the callee-saved registers, MXCSR and the x87 control word on the
// current stack, stores the stack pointer in *from and resumes the stack
// `to` (the same frame layout). swapcontext does the same plus a signal
// mask system call per switch, which made fibers ~10x slower. Weak: every
// translation unit that includes this file defines it.
extern "C" void hf_emu_swap(void** from, void* to);
asm(R"(
    .text
    .weak hf_emu_swap
    .type hf_emu_swap, @function
hf_emu_swap:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size hf_emu_swap, .-hf_emu_swap
)");
#define HF_EMU_FAST_SWITCH 1
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
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
#define __shared__ thread_local
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

inline uint3 threadIdx = {0, 0, 0};
// (grids may be 2-D: blockIdx.y and gridDim.y are set by hf_emu::launch)
inline uint3 blockIdx = {0, 0, 0};
inline dim3 blockDim = {1, 1, 1};
inline dim3 gridDim = {1, 1, 1};

constexpr size_t HF_EMU_SMEM = 1 << 20;
constexpr size_t HF_EMU_GUARD = 4096;
alignas(16) inline thread_local unsigned char hf_smem[HF_EMU_SMEM + HF_EMU_GUARD];

struct alignas(16) float4 {
    float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float __int_as_float(int i) {
    float x;
    std::memcpy(&x, &i, sizeof x);
    return x;
}
inline int __float_as_int(float x) {
    int i;
    std::memcpy(&i, &x, sizeof i);
    return i;
}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }

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
#ifdef HF_EMU_FAST_SWITCH
    void* sp;
#else
    ucontext_t ctx;
#endif
    bool done;
};

struct Warp {
    unsigned int arrived = 0, gen = 0;
    unsigned long long slots[32];
};

inline bool reverse = false;
inline std::vector<Fiber> fibers;
// Uninitialised (new char[]): only the pages a fiber touches are mapped.
inline std::vector<std::unique_ptr<char[]>> stacks;
inline std::vector<Warp> warps;
#ifdef HF_EMU_FAST_SWITCH
inline void* main_sp;
// Fiber i's stack to main's, and back.
inline void to_main(unsigned int i) { hf_emu_swap(&fibers[i].sp, main_sp); }
inline void to_fiber(unsigned int i) { hf_emu_swap(&main_sp, fibers[i].sp); }
#else
inline ucontext_t main_ctx;
inline void to_main(unsigned int i) { swapcontext(&fibers[i].ctx, &main_ctx); }
inline void to_fiber(unsigned int i) { swapcontext(&main_ctx, &fibers[i].ctx); }
#endif
inline unsigned int current = 0;
inline bool progress = false;
inline unsigned int block_arrived = 0, block_gen = 0;
inline std::function<void()> body;

inline void yield() { to_main(current); }

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

// Lane `src`'s value of v, for every lane of the warp.
template <class T>
T exchange(T v, unsigned int src) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    unsigned int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    warps[w].slots[lane] = bits;
    syncwarp();
    unsigned long long other = warps[w].slots[src & 31u];
    syncwarp();
    T r;
    std::memcpy(&r, &other, sizeof(T));
    return r;
}

template <class T>
T shfl_xor(T v, int lane_mask) {
    return exchange(v, (threadIdx.x % 32) ^ (unsigned int)lane_mask);
}

// Bit l set when lane l is live and its predicate holds.
inline unsigned int ballot(int pred) {
    unsigned int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    warps[w].slots[lane] = pred != 0;
    syncwarp();
    unsigned int mask = 0;
    for (unsigned int l = 0; l < 32; ++l) {
        if (!fibers[w * 32 + l].done && warps[w].slots[l] != 0) {
            mask |= 1u << l;
        }
    }
    syncwarp();
    return mask;
}

inline void entry() {
    body();
    fibers[current].done = true;
    progress = true;
    to_main(current);
    die("a finished thread was resumed");
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
        stacks.emplace_back(new char[STACK]);
    }
    for (unsigned int i = 0; i < n; ++i) {
        Fiber& f = fibers[i];
        f.done = false;
#ifdef HF_EMU_FAST_SWITCH
        // A frame hf_emu_swap pops: control words, six registers, then the
        // "return address" entry, at a 16-byte boundary so that entry starts
        // with the stack alignment of a call.
        uintptr_t top = ((uintptr_t)(stacks[i].get() + STACK) & ~(uintptr_t)15) - 64;
        uint64_t* frame = (uint64_t*)(top - 7 * 8);
        frame[0] = 0x1F80ull | (0x037Full << 32);  // MXCSR, x87 control word: the defaults
        for (int r = 1; r <= 6; ++r) {
            frame[r] = 0;
        }
        *(uint64_t*)top = (uint64_t)(uintptr_t)&entry;
        f.sp = frame;
#else
        if (getcontext(&f.ctx) != 0) {
            die("getcontext failed");
        }
        f.ctx.uc_stack.ss_sp = stacks[i].get();
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, entry, 0);
#endif
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
            to_fiber(i);
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
inline void launch(unsigned int grid_x, unsigned int grid_y, unsigned int block, size_t smem,
                   std::function<void()> kernel) {
    if (block == 0 || block % 32 != 0 || block > 1024) {
        die("blockDim.x must be a positive multiple of 32, at most 1024");
    }
    if (smem > HF_EMU_SMEM) {
        die("more dynamic shared memory than the emulator holds");
    }
    if (grid_x == 0 || grid_y == 0) {
        die("an empty grid");
    }
    gridDim = {grid_x, grid_y, 1};
    blockDim = {block, 1, 1};
    body = std::move(kernel);
    for (unsigned long long b = 0; b < (unsigned long long)grid_x * grid_y; ++b) {
        blockIdx = {(unsigned int)(b % grid_x), (unsigned int)(b / grid_x), 0};
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

inline void launch(unsigned int grid, unsigned int block, size_t smem, std::function<void()> kernel) {
    launch(grid, 1, block, smem, std::move(kernel));
}

// ---- Binding a kernel to the arguments of a launch (tests/cuda_emu/runner.cpp).

// One argument as received: a buffer (by index) or a by-value parameter's bytes.
struct ArgIn {
    bool is_buffer;
    unsigned int index;
    std::vector<unsigned char> bytes;
};
using Buffers = std::vector<std::vector<unsigned char>>;
using Bound = std::function<std::function<void()>(Buffers&, const std::vector<ArgIn>&)>;

template <class T>
T take(Buffers& bufs, const ArgIn& a) {
    if constexpr (std::is_pointer_v<T>) {
        if (!a.is_buffer || a.index >= bufs.size()) {
            die("a pointer parameter received a value, or a buffer that was not sent");
        }
        return reinterpret_cast<T>(bufs[a.index].data());
    } else {
        static_assert(std::is_trivially_copyable_v<T>, "by-value parameters are plain data");
        if (a.is_buffer || a.bytes.size() != sizeof(T)) {
            die("a by-value parameter received a buffer, or a value of another size");
        }
        T t;
        std::memcpy(&t, a.bytes.data(), sizeof(T));
        return t;
    }
}

template <class... A, size_t... I>
std::function<void()> bind_args(void (*f)(A...), Buffers& bufs, const std::vector<ArgIn>& args,
                                std::index_sequence<I...>) {
    auto tup = std::tuple<A...>{take<A>(bufs, args[I])...};
    return [f, tup] { std::apply(f, tup); };
}

// A kernel's launcher-side binding: checks the argument count and types.
template <class... A>
Bound bind(void (*f)(A...)) {
    return [f](Buffers& bufs, const std::vector<ArgIn>& args) -> std::function<void()> {
        if (args.size() != sizeof...(A)) {
            die("the launch passes a different number of arguments than the kernel takes");
        }
        return bind_args(f, bufs, args, std::index_sequence_for<A...>{});
    };
}

inline std::map<std::string, Bound>& table() {
    static std::map<std::string, Bound> t;
    return t;
}

struct Registration {
    Registration(std::initializer_list<std::pair<const char*, Bound>> kernels) {
        for (const auto& k : kernels) {
            if (!table().emplace(k.first, k.second).second) {
                std::fprintf(stderr, "cuda emulator: kernel %s is defined twice\n", k.first);
                std::exit(3);
            }
        }
    }
};

}  // namespace hf_emu

#define __syncthreads() hf_emu::syncthreads()
#define __syncwarp(...) hf_emu::syncwarp()

template <class T>
T __shfl_xor_sync(unsigned int, T v, int lane_mask, int = 32) {
    return hf_emu::shfl_xor(v, lane_mask);
}
template <class T>
T __shfl_sync(unsigned int, T v, int src_lane, int = 32) {
    return hf_emu::exchange(v, (unsigned int)src_lane);
}
template <class T>
T __shfl_up_sync(unsigned int, T v, unsigned int delta, int = 32) {
    unsigned int lane = threadIdx.x % 32;
    return hf_emu::exchange(v, lane >= delta ? lane - delta : lane);
}
inline unsigned int __ballot_sync(unsigned int, int pred) { return hf_emu::ballot(pred); }
