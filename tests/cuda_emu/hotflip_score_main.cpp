// kernels/hotflip_score.cu on the CPU (cuda_shim.h): reads the inputs
// tests/hotflip_score_emu.rs writes, runs hotflip_score_f32 then
// hotflip_merge_f32 on poisoned outputs, writes both kernels' outputs.
//
//   hotflip_score_emu IN OUT
//   hotflip_score_emu --shim-selftest
//
// IN, little-endian: u32 header [magic "HFS1", E, W, L, D, V, K, score
// threads, merge threads, reverse (0/1), score smem bytes, merge smem
// bytes], then grads f32 [E·W·L·D], ids u32 [E·W·L], table_t f32 [D·V],
// chars u32 [V], allowed u32 [V], open, lengths, unseen u32 [E·W] each,
// parent f32 [E].
// OUT: the row lists (total f32, gain f32, edit u64 [E·W·K] each, count u32
// [E·W]), then the entry lists (the same with E in place of E·W).

#include "cuda_shim.h"

#include "../../kernels/hotflip_score.cu"

#include <cmath>

namespace {

struct Reader {
    std::FILE* f;
    template <class T>
    std::vector<T> read(size_t n) {
        std::vector<T> v(n);
        if (n > 0 && std::fread(v.data(), sizeof(T), n, f) != n) {
            hf_emu::die("input file too short");
        }
        return v;
    }
};

template <class T>
void write(std::FILE* f, const std::vector<T>& v) {
    if (!v.empty() && std::fwrite(v.data(), sizeof(T), v.size(), f) != v.size()) {
        hf_emu::die("cannot write the output file");
    }
}

struct Lists {
    std::vector<float> total, gain;
    std::vector<unsigned long long> edit;
    std::vector<unsigned int> count;
    Lists(size_t lists, size_t cap)
        : total(lists * cap, __uint_as_float(0x7FC0DEADu)),
          gain(lists * cap, __uint_as_float(0x7FC0DEADu)),
          edit(lists * cap, 0xDEADBEEFDEADBEEFull),
          count(lists, 0xDEADBEEFu) {}
    void write_to(std::FILE* f) const {
        write(f, total);
        write(f, gain);
        write(f, edit);
        write(f, count);
    }
};

// Toy kernels for the shim's own test: the same code with and without the
// barrier between a write and the reads of it, and a shuffle.
extern "C" __global__ void toy_synced_f32(unsigned int* out) {
    unsigned int* s = (unsigned int*)hf_smem;
    if (threadIdx.x == 0) {
        s[0] = 42;
    }
    __syncthreads();
    out[threadIdx.x] = s[0];
}

extern "C" __global__ void toy_racy_f32(unsigned int* out) {
    unsigned int* s = (unsigned int*)hf_smem;
    if (threadIdx.x == 0) {
        s[0] = 42;
    }
    out[threadIdx.x] = s[0];
}

extern "C" __global__ void toy_shfl_f32(unsigned int* out) {
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, threadIdx.x * 3u, 5);
}

extern "C" __global__ void toy_overflow_f32(unsigned int* out) {
    ((unsigned int*)hf_smem)[threadIdx.x] = threadIdx.x;
    out[threadIdx.x] = 0;
}

int selftest() {
    const unsigned int n = 64;
    std::vector<unsigned int> out(n);
    bool ok = true;
    for (int rev = 0; rev < 2; ++rev) {
        hf_emu::reverse = rev == 1;
        std::fill(out.begin(), out.end(), 0u);
        hf_emu::launch(1, n, 4, [&] { toy_synced_f32(out.data()); });
        for (unsigned int t = 0; t < n; ++t) {
            ok = ok && out[t] == 42;
        }
        std::fill(out.begin(), out.end(), 0u);
        hf_emu::launch(1, n, 4, [&] { toy_shfl_f32(out.data()); });
        for (unsigned int t = 0; t < n; ++t) {
            ok = ok && out[t] == (t ^ 5u) * 3u;
        }
    }
    if (!ok) {
        std::printf("FAIL: a correct kernel gave wrong results\n");
        return 1;
    }
    // Forward order hides the missing barrier; reverse order shows it.
    hf_emu::reverse = true;
    hf_emu::launch(1, n, 4, [&] { toy_racy_f32(out.data()); });
    unsigned int wrong = 0;
    for (unsigned int t = 0; t < n; ++t) {
        wrong += out[t] != 42;
    }
    if (wrong == 0) {
        std::printf("FAIL: the missing barrier went unnoticed in reverse order\n");
        return 1;
    }
    std::printf("shim ok: the missing barrier garbled %u of %u threads\n", wrong, n);
    std::fflush(stdout);
    // Writing past the shared memory a launch asked for is fatal (exit 3).
    hf_emu::launch(1, n, 16, [&] { toy_overflow_f32(out.data()); });
    std::printf("FAIL: the shared-memory overflow went unnoticed\n");
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "--shim-selftest") == 0) {
        return selftest();
    }
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s IN OUT | --shim-selftest\n", argv[0]);
        return 2;
    }
    std::FILE* in = std::fopen(argv[1], "rb");
    if (!in) {
        hf_emu::die("cannot open the input file");
    }
    Reader r{in};
    std::vector<unsigned int> h = r.read<unsigned int>(12);
    if (h[0] != 0x31534648u) {
        hf_emu::die("not an HFS1 input file");
    }
    HotflipDims p;
    p.entries = h[1];
    p.words = h[2];
    p.positions = h[3];
    p.dim = h[4];
    p.vocab = h[5];
    p.cap = h[6];
    const unsigned int score_threads = h[7], merge_threads = h[8];
    hf_emu::reverse = h[9] != 0;
    const size_t score_smem = h[10], merge_smem = h[11];
    const size_t E = p.entries, rows = E * p.words, L = p.positions, D = p.dim, V = p.vocab, K = p.cap;
    std::vector<float> grads = r.read<float>(rows * L * D);
    std::vector<unsigned int> ids = r.read<unsigned int>(rows * L);
    std::vector<float> table_t = r.read<float>(D * V);
    std::vector<unsigned int> chars = r.read<unsigned int>(V);
    std::vector<unsigned int> allowed = r.read<unsigned int>(V);
    std::vector<unsigned int> open = r.read<unsigned int>(rows);
    std::vector<unsigned int> lengths = r.read<unsigned int>(rows);
    std::vector<unsigned int> unseen = r.read<unsigned int>(rows);
    std::vector<float> parent = r.read<float>(E);
    std::fclose(in);

    Lists row_lists(rows, K), entry_lists(E, K);
    hf_emu::launch((unsigned int)rows, score_threads, score_smem, [&] {
        hotflip_score_f32(p, grads.data(), ids.data(), table_t.data(), chars.data(), allowed.data(), open.data(),
                          lengths.data(), unseen.data(), parent.data(), row_lists.total.data(),
                          row_lists.gain.data(), row_lists.edit.data(), row_lists.count.data());
    });
    hf_emu::launch((unsigned int)E, merge_threads, merge_smem, [&] {
        hotflip_merge_f32(p, row_lists.total.data(), row_lists.gain.data(), row_lists.edit.data(),
                          row_lists.count.data(), entry_lists.total.data(), entry_lists.gain.data(),
                          entry_lists.edit.data(), entry_lists.count.data());
    });

    std::FILE* out = std::fopen(argv[2], "wb");
    if (!out) {
        hf_emu::die("cannot open the output file");
    }
    row_lists.write_to(out);
    entry_lists.write_to(out);
    std::fclose(out);
    return 0;
}
