// The emulated device's runner (src/cuda/emu.rs): one launch of any kernel
// of kernels/*.cu on the CPU. Each kernel file is its own translation unit
// (src/cuda/emu.rs generates them: the shim, the file, a table of its
// kernels bound with hf_emu::bind); this file reads the launch, runs it and
// writes the buffers back.
//
//   runner < IN > OUT
//   runner --list
//
// IN, little-endian: u32 magic "HFE1", reverse (0/1), grid x, grid y,
// block x, dynamic shared-memory bytes, name length, name bytes; u32 buffer
// count, each u64 byte length and the bytes; u32 argument count, each u32
// kind (0: buffer, then u32 index; 1: value, then u32 length and bytes).
// OUT: every buffer's bytes after the launch, in order.
//
// Every buffer is followed by a guard of 0x5A bytes (src/cuda/emu.rs
// GUARD): a kernel that writes past a buffer fails the launch (exit 3).

#include "cuda_shim.h"

namespace {

constexpr size_t GUARD = 256;

struct In {
    std::vector<unsigned char> data;
    size_t at = 0;
    const unsigned char* take(size_t n) {
        if (data.size() - at < n) {
            hf_emu::die("the launch description is truncated");
        }
        const unsigned char* p = data.data() + at;
        at += n;
        return p;
    }
    unsigned int u32() {
        unsigned int v;
        std::memcpy(&v, take(4), 4);
        return v;
    }
    unsigned long long u64() {
        unsigned long long v;
        std::memcpy(&v, take(8), 8);
        return v;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
        for (const auto& k : hf_emu::table()) {
            std::printf("%s\n", k.first.c_str());
        }
        return 0;
    }
    In in;
    unsigned char chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        in.data.insert(in.data.end(), chunk, chunk + n);
    }
    if (in.u32() != 0x31454648u) {
        hf_emu::die("not an HFE1 launch");
    }
    hf_emu::reverse = in.u32() != 0;
    const unsigned int grid_x = in.u32(), grid_y = in.u32(), block = in.u32(), smem = in.u32();
    const unsigned int name_len = in.u32();
    const std::string name(reinterpret_cast<const char*>(in.take(name_len)), name_len);
    auto kernel = hf_emu::table().find(name);
    if (kernel == hf_emu::table().end()) {
        std::fprintf(stderr, "cuda emulator: no kernel %s\n", name.c_str());
        return 3;
    }
    hf_emu::Buffers bufs(in.u32());
    std::vector<size_t> lens;
    for (auto& b : bufs) {
        const size_t len = in.u64();
        lens.push_back(len);
        b.assign(len + GUARD, 0x5A);
        std::memcpy(b.data(), in.take(len), len);
    }
    std::vector<hf_emu::ArgIn> args(in.u32());
    for (auto& a : args) {
        a.is_buffer = in.u32() == 0;
        if (a.is_buffer) {
            a.index = in.u32();
        } else {
            const unsigned int len = in.u32();
            const unsigned char* p = in.take(len);
            a.bytes.assign(p, p + len);
        }
    }
    if (in.at != in.data.size()) {
        hf_emu::die("trailing bytes after the launch description");
    }
    hf_emu::launch(grid_x, grid_y, block, smem, kernel->second(bufs, args));
    for (size_t i = 0; i < bufs.size(); ++i) {
        for (size_t g = 0; g < GUARD; ++g) {
            if (bufs[i][lens[i] + g] != 0x5A) {
                std::fprintf(stderr, "cuda emulator: %s wrote past the end of buffer argument %zu (%zu bytes)\n",
                             name.c_str(), i, lens[i]);
                return 3;
            }
        }
        if (lens[i] > 0 && std::fwrite(bufs[i].data(), 1, lens[i], stdout) != lens[i]) {
            hf_emu::die("cannot write the buffers back");
        }
    }
    return 0;
}
