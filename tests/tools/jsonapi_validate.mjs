// Validates JSON:API documents against the official JSON:API schema
// (jsonapi.org/schema, JSON:API 1.0, JSON Schema draft-06), as the npm
// package jsonapi-validator ships it, with Ajv: an independent JSON Schema
// validator, so neither the schema nor the checker is ours.
//
// Two ways to run it (node_modules from `npm ci` in this folder):
//
//   node jsonapi_validate.mjs --serve   one request a line on stdin, one
//                                       answer a line on stdout, until EOF;
//                                       tests/integration/harness.py keeps
//                                       one such process per test run
//   node jsonapi_validate.mjs FILE...   each file is one document; prints
//                                       each verdict, exits 1 if any fails
//
// A request line is a JSON string: the response body exactly as received
// (so text that is not JSON is caught too, and JSON.parse is stricter than
// Python's json: no NaN). The answer line is {"valid": true} or
// {"valid": false, "errors": ["<path>: <message>", ...]}.
//
// A request line may also be an object, an answer to check against an
// OpenAPI document (openapi_validate.mjs): {"openapi": "<document's path>",
// "method", "path" (no query), "status", "contentType", "headers", "body"};
// its answer line also names the operation ("operation").
//
// The verdict is the whole schema's. The schema's root is a oneOf of
// success (data), failure (errors) and info (meta), so Ajv reports the
// failures of all three branches; to name what is wrong, the errors listed
// are those of the branch the document chose by its members (the same
// definitions of the same schema, compiled separately).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import { checkAnswer, describe } from './openapi_validate.mjs';

const require = createRequire(import.meta.url);
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const draft06 = require('ajv/dist/refs/json-schema-draft-06.json');
const schema = require('jsonapi-validator/lib/schema.json');

const SCHEMA_ID = 'https://jsonapi.org/schema';

// allErrors: every fault of a document at once. strict: false because the
// schema is not ours to tidy (it has keywords Ajv's strict mode frowns on,
// e.g. "description" beside "$ref"); strictness of the verdict is untouched.
// verbose: errors carry the offending value, which the messages quote.
// Formats in Ajv's "full" mode: "uri-reference" is RFC 3986's grammar.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
ajv.addMetaSchema(draft06);
addFormats(ajv, { mode: 'full' });
ajv.addSchema({ ...schema, $id: SCHEMA_ID });

const validateDocument = ajv.getSchema(SCHEMA_ID);
// The document's member -> the schema's definition of that kind of document;
// compiled at the first refusal that needs it (each takes tens of ms).
const branches = { errors: 'failure', data: 'success', meta: 'info' };
const compiled = {};
function branch(member) {
  compiled[member] ??= ajv.compile({ $ref: `${SCHEMA_ID}#/definitions/${branches[member]}` });
  return compiled[member];
}

// Returns {valid: true} or {valid: false, errors: [...]} for one body.
export function check(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { valid: false, errors: [`not JSON: ${e.message}`] };
  }
  if (validateDocument(doc)) return { valid: true };
  // Name the faults of the branch the document meant; with none of the
  // three members, the whole schema's errors.
  let errors = validateDocument.errors;
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) {
    const member = Object.keys(branches).find((m) => m in doc);
    if (member) {
      const validate = branch(member);
      if (!validate(doc)) errors = validate.errors;
    }
  }
  return { valid: false, errors: describe(errors) };
}

// One request line's answer.
function answerLine(line) {
  let text;
  try {
    text = JSON.parse(line);
  } catch (e) {
    return { valid: false, errors: [`validator protocol: ${e.message}`] };
  }
  try {
    if (typeof text === 'string') return check(text);
    if (text && typeof text.openapi === 'string') return checkAnswer(text.openapi, text);
  } catch (e) {
    // Not the answer's fault: said as the validator's own.
    return { valid: false, operation: '?', errors: [`the validator failed: ${e.stack || e}`] };
  }
  return { valid: false, errors: ['validator protocol: a line must be a JSON string or an answer'] };
}

function serve() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => process.stdout.write(`${JSON.stringify(answerLine(line))}\n`));
}

function files(paths) {
  let failed = 0;
  for (const p of paths) {
    const r = check(readFileSync(p, 'utf8'));
    if (r.valid) {
      console.log(`ok   ${p}`);
    } else {
      failed += 1;
      console.log(`FAIL ${p}`);
      for (const e of r.errors) console.log(`     ${e}`);
    }
  }
  return failed ? 1 : 0;
}

const args = process.argv.slice(2);
if (args.length === 1 && args[0] === '--serve') {
  serve();
} else if (args.length && !args.includes('--serve')) {
  process.exitCode = files(args);
} else {
  console.error('usage: node jsonapi_validate.mjs --serve | FILE...');
  process.exitCode = 2;
}
