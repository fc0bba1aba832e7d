// ajv_schema.js: the JSON Schema validator the structured-output tests share
// (grammar_validate.js, structured_output.sh and its node scripts): ajv (draft
// 2020-12) with ajv-formats, loaded from a node_modules folder the test installed,
// after spelling out the two non-standard forms our schemas accept.
'use strict';
const path = require('path');

// "json_object" is the OpenAI response_format shorthand for any object, and
// "nullable" the OpenAPI keyword: both become standard JSON Schema (on a copy).
function rewrite(schema) {
  const walk = (s) => {
    if (Array.isArray(s)) return s.map(walk);
    if (!s || typeof s !== 'object') return s;
    const out = {};
    for (const [k, v] of Object.entries(s)) out[k] = walk(v);
    if (out.type === 'json_object') out.type = 'object';
    if (out.nullable === true) {
      delete out.nullable;
      return { anyOf: [out, { type: 'null' }] };
    }
    return out;
  };
  return walk(schema);
}

// compiler(modules)(schema) -> check(value): null when value is valid, else ajv's
// description of what is wrong.
function compiler(modules) {
  const Ajv2020 = require(path.join(modules, 'ajv/dist/2020')).default;
  const addFormats = require(path.join(modules, 'ajv-formats')).default;
  return (schema) => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(rewrite(schema));
    return (value) => (validate(value) ? null : ajv.errorsText(validate.errors));
  };
}

module.exports = { rewrite, compiler };
