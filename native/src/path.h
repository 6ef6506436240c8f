// path.h: the two path helpers the checkpoint reader needs (config.cpp, weight_scan.cpp); POSIX paths only, as
// everywhere in the engine.
#pragma once
#include <sys/stat.h>

#include <string>

namespace rir {

// dir/name with exactly one separator between them; just name when dir is empty.
inline std::string join_path(const std::string &dir, const std::string &name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Whether path names something stat(2) reaches (a dangling symlink counts as absent). What it is, is checked when
// it is opened (safetensors.h open_regular_file).
inline bool path_exists(const std::string &path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace rir
