// npy.h: reads a float32 2-D NumPy .npy file (format 1.0/2.0, little endian, C order). Test support only.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

struct NpyMatrix {
    int64_t rows = 0, cols = 0;
    std::vector<float> data;
    const float *row(int64_t i) const { return data.data() + i * cols; }
};

inline NpyMatrix read_npy(const std::string &path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path);
    std::vector<char> all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (all.size() < 10 || std::memcmp(all.data(), "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not .npy");
    const int major = all[6];
    size_t header_len, start;
    if (major == 1) {
        header_len = static_cast<uint8_t>(all[8]) | (static_cast<uint8_t>(all[9]) << 8);
        start = 10;
    } else {
        header_len = 0;
        for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(all[8 + i])) << (8 * i);
        start = 12;
    }
    std::string header(all.data() + start, header_len);
    if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
        throw std::runtime_error(path + ": expected little-endian float32 C order: " + header);
    size_t s = header.find("'shape': (");
    if (s == std::string::npos) throw std::runtime_error(path + ": no shape: " + header);
    NpyMatrix m;
    if (std::sscanf(header.c_str() + s, "'shape': (%ld, %ld)", &m.rows, &m.cols) != 2)
        throw std::runtime_error(path + ": expected 2-D shape: " + header);
    const size_t n = static_cast<size_t>(m.rows * m.cols);
    if (all.size() != start + header_len + 4 * n) throw std::runtime_error(path + ": size does not match shape");
    m.data.resize(n);
    std::memcpy(m.data.data(), all.data() + start + header_len, 4 * n);
    return m;
}
