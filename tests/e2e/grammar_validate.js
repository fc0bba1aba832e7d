// grammar_validate.js: validates the outputs of test_grammar_schema (dumped with
// G4_GRAMMAR_DUMP) against their schemas with ajv (draft 2020-12) and ajv-formats.
// Usage: node grammar_validate.js NODE_MODULES_DIR DUMP_DIR. Prints one line per
// output; exits 1 if any output is invalid or unparsable, 2 if nothing was checked.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, dir] = process.argv.slice(2).map((p) => path.resolve(p));
const Ajv2020 = require(path.join(modules, 'ajv/dist/2020')).default;
const addFormats = require(path.join(modules, 'ajv-formats')).default;

let checked = 0, failed = 0;
for (const file of fs.readdirSync(dir).filter((f) => /^schema_\d+\.json$/.test(f)).sort()) {
  const id = file.match(/\d+/)[0];
  const schema = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  // "json_object" is the OpenAI response_format shorthand, and "nullable" the
  // OpenAPI keyword: both are spelled out here as standard JSON Schema.
  const rewrite = (s) => {
    if (s && typeof s === 'object' && !Array.isArray(s)) {
      if (s.type === 'json_object') s.type = 'object';
      if (s.nullable === true) { delete s.nullable; return { anyOf: [rewrite(s), { type: 'null' }] }; }
      for (const k of Object.keys(s)) s[k] = rewrite(s[k]);
    } else if (Array.isArray(s)) return s.map(rewrite);
    return s;
  };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(rewrite(schema));
  for (const out of fs.readdirSync(dir).filter((f) => f.startsWith(`out_${id}_`)).sort()) {
    checked++;
    const text = fs.readFileSync(path.join(dir, out), 'utf8');
    let value;
    try { value = JSON.parse(text); } catch (e) { failed++; console.log(`FAIL ${out}: not JSON: ${text}`); continue; }
    if (validate(value)) console.log(`ok   ${out}`);
    else { failed++; console.log(`FAIL ${out}: ${ajv.errorsText(validate.errors)}: ${text}`); }
  }
}
console.log(`${checked} outputs checked, ${failed} invalid`);
process.exit(failed ? 1 : checked ? 0 : 2);
