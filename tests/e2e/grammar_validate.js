// grammar_validate.js: validates the outputs of test_grammar_schema (dumped with
// G4_GRAMMAR_DUMP), or any folder of schema_N.json and out_N_*.json files, against
// their schemas with ajv (structured/ajv_schema.js).
// Usage: node grammar_validate.js NODE_MODULES_DIR DUMP_DIR. Prints one line per
// output; exits 1 if any output is invalid or unparsable, 2 if nothing was checked.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, dir] = process.argv.slice(2).map((p) => path.resolve(p));
const compile = require('./structured/ajv_schema.js').compiler(modules);

let checked = 0, failed = 0;
for (const file of fs.readdirSync(dir).filter((f) => /^schema_\d+\.json$/.test(f)).sort()) {
  const id = file.match(/\d+/)[0];
  const check = compile(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
  for (const out of fs.readdirSync(dir).filter((f) => f.startsWith(`out_${id}_`)).sort()) {
    checked++;
    const text = fs.readFileSync(path.join(dir, out), 'utf8');
    let value;
    try { value = JSON.parse(text); } catch (e) { failed++; console.log(`FAIL ${out}: not JSON: ${text}`); continue; }
    const why = check(value);
    if (!why) console.log(`ok   ${out}`);
    else { failed++; console.log(`FAIL ${out}: ${why}: ${text}`); }
  }
}
console.log(`${checked} outputs checked, ${failed} invalid`);
process.exit(failed ? 1 : checked ? 0 : 2);
