// tool_lines.js: checks the tool calls `gemma4 --tools-json` printed as JSON lines
// {"tool_call": NAME, "arguments": {...}}: every line parses, names one of the
// tools (the named one with --name), and its arguments validate with ajv against
// that tool's parameters; --count N: exactly N lines.
// Usage: node tool_lines.js NODE_MODULES TOOLS_JSON OUTPUT [--name NAME] [--count N]
// Prints one line per call; exits 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');
const [modules, toolsFile, outFile, ...opts] = process.argv.slice(2);
const compile = require('./ajv_schema.js').compiler(path.resolve(modules));
const opt = (name) => { const i = opts.indexOf(name); return i >= 0 ? opts[i + 1] : null; };
const wantName = opt('--name'), wantCount = opt('--count');

const checks = {};
for (const t of JSON.parse(fs.readFileSync(toolsFile, 'utf8')))
  checks[t.function.name] = compile(t.function.parameters ?? { type: 'object' });
const lines = fs.readFileSync(outFile, 'utf8').split('\n').filter((l) => l.length);
let failed = 0;
const fail = (why) => { failed++; console.log(`FAIL ${why}`); };
if (!lines.length) fail('no tool call printed');
if (wantCount !== null && lines.length !== Number(wantCount)) fail(`${lines.length} calls, expected ${wantCount}`);
for (const line of lines) {
  let call;
  try { call = JSON.parse(line); } catch { fail(`not a JSON line: ${line}`); continue; }
  const check = checks[call.tool_call];
  if (!check) { fail(`a call of an unknown tool: ${line}`); continue; }
  if (wantName !== null && call.tool_call !== wantName) { fail(`a call of ${call.tool_call}, not ${wantName}: ${line}`); continue; }
  const why = check(call.arguments);
  if (why) fail(`arguments of ${call.tool_call}: ${why}: ${line}`);
  else console.log(`ok   ${line}`);
}
process.exit(failed ? 1 : 0);
