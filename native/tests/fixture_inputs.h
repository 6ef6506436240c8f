// fixture_inputs.h: the packed sequences of a golden fixture (weights-tools/fixtures/<name>/inputs.json), shared by
// the parity tests of every backend. Test support only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "check.h"
#include "json.h"

struct FixtureSequences {
    std::vector<int32_t> ids, cu{0}, pool;
    int n() const { return static_cast<int>(pool.size()); }
};

inline FixtureSequences load_fixture_inputs(const std::string &path) {
    rir::json::Value root = rir::json::parse_file(path);
    const rir::json::Value *seqs = root.find("sequences");
    REQUIRE(seqs && seqs->is_array());
    FixtureSequences s;
    for (size_t i = 0; i < seqs->size(); ++i) {
        const rir::json::Value &q = seqs->at(i);
        const rir::json::Value *ids = q.find("ids");
        REQUIRE(ids && ids->is_array());
        for (size_t t = 0; t < ids->size(); ++t) {
            int64_t v = 0;
            REQUIRE(ids->at(t).get_int64(v));
            s.ids.push_back(static_cast<int32_t>(v));
        }
        int64_t ps = 0;
        REQUIRE(q.find("pool_start") && q.find("pool_start")->get_int64(ps));
        s.cu.push_back(static_cast<int32_t>(s.ids.size()));
        s.pool.push_back(static_cast<int32_t>(ps));
    }
    return s;
}
