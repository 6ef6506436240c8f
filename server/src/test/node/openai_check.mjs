// Independent check of the ReasonIR server's OpenAI wire format with the official `openai` npm client.
// Usage: node openai_check.mjs BASE_URL OUT.json [API_KEY]   (BASE_URL like http://127.0.0.1:8080/v1; API_KEY: the
// server's key, sent by the client as "Authorization: Bearer API_KEY", as it does for OpenAI)
// Writes {"cases": [{name, model, usage, vectors}], "errors": [{name, status, type, code, param, message}]};
// OpenAiNodeClientTest compares the vectors with the Java API. Exits non-zero on anything unexpected.
import OpenAI from 'openai';
import { writeFileSync } from 'node:fs';

const [baseURL, out, apiKey = 'not-needed'] = process.argv.slice(2);
if (!baseURL || !out) {
  console.error('usage: node openai_check.mjs BASE_URL OUT.json');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

const SKY = 'Why is the sky blue?';
const RAYLEIGH = 'Rayleigh scattering: shorter wavelengths scatter more strongly.';

/** OpenAI's base64: little-endian float32 bytes. */
function decodeBase64(s) {
  const bytes = Buffer.from(s, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v = new Array(bytes.byteLength / 4);
  for (let i = 0; i < v.length; i++) v[i] = view.getFloat32(i * 4, true);
  return v;
}

function rows(response) {
  return response.data.map((d, i) => {
    if (d.index !== i || d.object !== 'embedding') throw new Error(`bad data[${i}]: ${JSON.stringify(d).slice(0, 200)}`);
    return typeof d.embedding === 'string' ? decodeBase64(d.embedding) : Array.from(d.embedding);
  });
}

// The model names come from the server, as a new user would find them: the plain name first (the default prompt),
// then one per prompt ("NAME:query:biology"), which is how a plain client, sending nothing but model and input,
// embeds queries.
const models = [];
for await (const m of client.models.list()) models.push(m.id);
const model = models[0];
const bioQueries = `${model}:query:biology`;
if (!models.includes(bioQueries)) throw new Error(`${bioQueries} not listed: ${models}`);

const requests = [
  // Explicit float: the JSON numbers as sent.
  ['float_string', { model, input: SKY, encoding_format: 'float' }],
  // No encoding_format: the client asks for base64 and decodes it to floats itself.
  ['default_array', { model, input: [SKY, RAYLEIGH] }],
  // Explicit base64: the client returns the strings as sent; decoded here.
  ['base64_array', { model, input: [SKY, RAYLEIGH], encoding_format: 'base64' }],
  // ReasonIR extensions ride along as extra body fields.
  ['instruction', { model, input: [SKY, RAYLEIGH], instruction: 'Represent this: ', encoding_format: 'float' }],
  ['task_query', { model, input: [SKY], task: 'biology', role: 'query' }],
  // No extension at all: the model name chooses the query prompt.
  ['model_name_query', { model: bioQueries, input: [SKY] }],
];

const result = { cases: [], errors: [] };
for (const [name, body] of requests) {
  const r = await client.embeddings.create(body);
  if (r.object !== 'list') throw new Error(`${name}: object is ${r.object}`);
  result.cases.push({ name, model: r.model, usage: r.usage, vectors: rows(r) });
}

// Errors must come back as the client's typed errors, with OpenAI's fields.
for (const [name, body] of [
  ['dimensions', { model, input: SKY, dimensions: 64 }],
  ['empty', { model, input: [] }],
  ['unknown_model', { model: 'text-embedding-3-small', input: SKY }],
]) {
  try {
    await client.embeddings.create(body);
    throw new Error(`${name}: expected an error`);
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    result.errors.push({ name, status: e.status, type: e.type, code: e.code, param: e.param, message: e.message });
  }
}

// A client with a wrong key: the typed authentication error, with OpenAI's fields.
try {
  await new OpenAI({ baseURL, apiKey: `${apiKey}-wrong`, maxRetries: 0 }).embeddings.create({ model, input: SKY });
  if (apiKey !== 'not-needed') throw new Error('wrong_key: expected an error');
} catch (e) {
  if (!(e instanceof OpenAI.APIError)) throw e;
  result.errors.push({ name: 'wrong_key', status: e.status, type: e.type, code: e.code, param: e.param,
    message: e.message, authentication_error: e instanceof OpenAI.AuthenticationError });
}

result.models = models;
writeFileSync(out, JSON.stringify(result));
console.log(`openai npm client: ${models.length} models listed, ${result.cases.length} cases, ${result.errors.length} errors checked`);
