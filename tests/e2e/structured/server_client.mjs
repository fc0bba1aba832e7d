// server_client.mjs: structured output through `gemma4 --serve --parallel 2` with
// the real `openai` npm client (run by tests/e2e/structured_output.sh with BASE,
// MODEL, NODE_MODULES, OPEN_CALL_ID and CLOSE_THOUGHT_ID set). Every output the
// random-weight model writes under a constraint is validated with ajv
// (ajv_schema.js): response_format json_schema (stream and not, n=2, nested, enum,
// arrays, anyOf, $ref, nullable, formats), json_object, llama.cpp's top-level
// json_schema and grammar fields, the completions endpoint, tool_choice required /
// named / auto (arguments against the tool's parameters), parallel_tool_calls
// false, thinking before a constrained answer, 400s naming the unsupported feature,
// and two concurrent streams with different schemas. Prints "ok"/"FAIL" lines;
// exits 1 on any failure.
import { createRequire } from 'module';
import path from 'path';
import { fileURLToPath } from 'url';

const { BASE, MODEL, NODE_MODULES, OPEN_CALL_ID, CLOSE_THOUGHT_ID } = process.env;
const require = createRequire(path.join(path.resolve(NODE_MODULES), 'noop.js'));
const OpenAI = require('openai').OpenAI;
const here = path.dirname(fileURLToPath(import.meta.url));
const compile = require(path.join(here, 'ajv_schema.js')).compiler(path.resolve(NODE_MODULES));

const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'none', maxRetries: 0 });
let failed = 0;
const check = (name, cond, extra = '') => {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${cond ? '' : ' ' + extra}`);
  if (!cond) failed++;
};
// Runs a group of checks; an exception (an unexpected HTTP error) fails the group, not the script.
async function section(name, fn) {
  try { await fn(); } catch (e) { check(`${name}: no unexpected error`, false, String(e)); }
}
const parse = (text) => { try { return { value: JSON.parse(text) }; } catch (e) { return { error: String(e) }; } };
// null when text is JSON valid under schema, else why not
const invalid = (schema, text) => {
  const p = parse(text);
  return p.error ?? compile(schema)(p.value);
};
const sampled = { temperature: 1, top_p: 1, top_k: 0, max_tokens: 600 };
const ask = [{ role: 'user', content: 'Answer in JSON' }];
const format = (name, schema) => ({ type: 'json_schema', json_schema: { name, schema } });

// Collects a streamed chat: per choice, the content, reasoning, tool calls and finish reason.
async function collect(stream) {
  const choices = [];
  for await (const chunk of stream)
    for (const ch of chunk.choices) {
      const c = (choices[ch.index] ??= { content: '', reasoning: '', calls: [], finish: null });
      c.content += ch.delta.content ?? '';
      c.reasoning += ch.delta.reasoning ?? '';
      for (const d of ch.delta.tool_calls ?? []) {
        const t = (c.calls[d.index] ??= { name: '', arguments: '' });
        t.name += d.function?.name ?? '';
        t.arguments += d.function?.arguments ?? '';
      }
      if (ch.finish_reason) c.finish = ch.finish_reason;
    }
  return choices;
}

// ---- response_format json_schema ----
const schemas = {
  nested: { type: 'object', additionalProperties: false, required: ['user', 'active'], properties: {
    user: { type: 'object', required: ['name', 'roles'], properties: {
      name: { type: 'string', maxLength: 8 }, roles: { type: 'array', items: { enum: ['admin', 'dev', 'ops'] }, maxItems: 3 } } },
    active: { type: 'boolean' } } },
  enum: { enum: ['red', 'green', 'blue', 3, null] },
  array: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'object', required: ['id', 'tag'], properties: {
    id: { type: 'integer', minimum: 1, maximum: 99 }, tag: { type: 'string', pattern: '^[a-z]{1,4}$' } } } },
  anyOf: { anyOf: [
    { type: 'object', properties: { kind: { const: 'circle' }, r: { type: 'number', minimum: 0 } }, required: ['kind', 'r'],
      additionalProperties: false },
    { type: 'array', items: { type: 'boolean' }, maxItems: 2 },
    { type: 'string', format: 'date' }] },
  refs: { $defs: { p: { type: 'object', properties: { x: { type: 'integer', minimum: 0, maximum: 9 },
                                                      y: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['x', 'y'] } },
          type: 'object', properties: { from: { $ref: '#/$defs/p' }, to: { $ref: '#/$defs/p' },
                                        note: { type: 'string', maxLength: 5, nullable: true } },
          required: ['from', 'to', 'note'] },
  formats: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, at: { type: 'string', format: 'date-time' } },
             required: ['id', 'at'] },
};
for (const [name, schema] of Object.entries(schemas)) {
  await section(`json_schema ${name}`, async () => {
    const req = { model: MODEL, messages: ask, ...sampled, seed: 11, n: 2, response_format: format(name, schema) };
    const r = await client.chat.completions.create(req);
    for (const c of r.choices) {
      const why = invalid(schema, c.message.content);
      check(`json_schema ${name}, choice ${c.index}: valid, finish stop`, !why && c.finish_reason === 'stop',
            `${why} finish ${c.finish_reason}: ${c.message.content}`);
    }
    check(`json_schema ${name}: two choices`, r.choices.length === 2);
    const s = await collect(await client.chat.completions.create({ ...req, stream: true }));
    for (const [i, c] of s.entries()) {
      const why = invalid(schema, c.content);
      check(`json_schema ${name} stream, choice ${i}: valid, the same as without streaming`,
            !why && c.finish === 'stop' && c.content === r.choices[i].message.content,
            `${why}: ${JSON.stringify([c.content, r.choices[i].message.content])}`);
    }
  });
}

// ---- json_object, llama.cpp's json_schema and grammar, completions ----
await section('json_object', async () => {
  for (const seed of [1, 2]) {
    const r = await client.chat.completions.create({ model: MODEL, messages: ask, ...sampled, seed,
                                                     response_format: { type: 'json_object' } });
    const p = parse(r.choices[0].message.content);
    check(`json_object, seed ${seed}: a JSON object`, p.value && typeof p.value === 'object' && !Array.isArray(p.value),
          r.choices[0].message.content);
  }
});
await section('llama.cpp fields and completions', async () => {
  const schema = schemas.nested;
  const r = await client.chat.completions.create({ model: MODEL, messages: ask, ...sampled, seed: 5, json_schema: schema });
  const why = invalid(schema, r.choices[0].message.content);
  check('top-level json_schema (llama.cpp): valid', !why, `${why}: ${r.choices[0].message.content}`);
  const date = 'root ::= [12] [0-9]{3} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] )\n';
  for (const stream of [false, true]) {
    const req = { model: MODEL, messages: ask, ...sampled, seed: 6, grammar: date, stream };
    const text = stream ? (await collect(await client.chat.completions.create(req)))[0].content
                        : (await client.chat.completions.create(req)).choices[0].message.content;
    check(`grammar (llama.cpp)${stream ? ', stream' : ''}: an ISO date`,
          /^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/.test(text), text);
  }
  const comp = await client.completions.create({ model: MODEL, prompt: 'JSON:', ...sampled, seed: 4,
                                                 response_format: format('refs', schemas.refs) });
  const cwhy = invalid(schemas.refs, comp.choices[0].text);
  check('completions with response_format: valid', !cwhy && comp.choices[0].finish_reason === 'stop',
        `${cwhy}: ${comp.choices[0].text}`);
});

// ---- tools ----
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: {
    type: 'object', required: ['city'], properties: { city: { type: 'string', maxLength: 12 },
      unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 },
      tags: { type: 'array', items: { type: 'string', maxLength: 4 }, maxItems: 2 } } } } },
  { type: 'function', function: { name: 'set_alarm', parameters: { type: 'object', required: ['time', 'label'], properties: {
    time: { type: 'string', format: 'time' }, repeat: { type: 'boolean' }, label: { type: 'string', nullable: true, maxLength: 6 } } } } },
  { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
];
const params = Object.fromEntries(tools.map((t) => [t.function.name, t.function.parameters]));
// why a list of {name, arguments} is not a list of valid calls (of `only`, if given), or null
const badCalls = (calls, only = null) => {
  if (!calls?.length) return 'no tool calls';
  for (const c of calls) {
    if (!params[c.name]) return `a call of an unknown tool ${c.name}`;
    if (only && c.name !== only) return `a call of ${c.name}, not ${only}`;
    const why = invalid(params[c.name], c.arguments);
    if (why) return `${c.name}(${c.arguments}): ${why}`;
  }
  return null;
};
const flat = (msg) => (msg.tool_calls ?? []).map((t) => ({ name: t.function.name, arguments: t.function.arguments }));
const toolAsk = { model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, ...sampled, max_tokens: 400 };
const named = { type: 'function', function: { name: 'set_alarm' } };
await section('tool_choice required / named', async () => {
  for (const [label, choice, only] of [['required', 'required', null], ['named set_alarm', named, 'set_alarm']])
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ ...toolAsk, tool_choice: choice, seed });
      const c = r.choices[0];
      const why = badCalls(flat(c.message), only);
      check(`tool_choice ${label}, seed ${seed}: valid calls, finish tool_calls`, !why && c.finish_reason === 'tool_calls',
            `${why} finish ${c.finish_reason}`);
      const s = (await collect(await client.chat.completions.create({ ...toolAsk, tool_choice: choice, seed, stream: true })))[0];
      check(`tool_choice ${label} stream, seed ${seed}: the same valid calls`,
            !badCalls(s.calls, only) && s.finish === 'tool_calls' && JSON.stringify(s.calls) === JSON.stringify(flat(c.message)),
            JSON.stringify([s.calls, s.finish]));
    }
});
// a bias toward <|tool_call> makes the model call again whenever it may
const pushCall = { logit_bias: { [OPEN_CALL_ID]: 100 } };
await section('parallel calls', async () => {
  const many = await client.chat.completions.create({ ...toolAsk, ...pushCall, tool_choice: 'required', seed: 1, max_tokens: 1500 });
  const one = await client.chat.completions.create({ ...toolAsk, ...pushCall, tool_choice: 'required', seed: 1,
                                                    parallel_tool_calls: false });
  const n = flat(many.choices[0].message).length;
  check(`required with a bias toward calling: several valid calls (${n}; the grammar stops at 8), finish tool_calls`,
        n > 1 && n <= 8 && !badCalls(flat(many.choices[0].message)) && many.choices[0].finish_reason === 'tool_calls',
        JSON.stringify(many.choices[0]));
  check('parallel_tool_calls false: exactly one valid call, finish tool_calls', flat(one.choices[0].message).length === 1 &&
        !badCalls(flat(one.choices[0].message)) && one.choices[0].finish_reason === 'tool_calls', JSON.stringify(one.choices[0]));
});
await section('tool_choice auto', async () => {
  // the calls the model opens follow their schemas (a call cut at max_tokens is left out)
  const auto = await client.chat.completions.create({ ...toolAsk, ...pushCall, tool_choice: 'auto', seed: 2, max_tokens: 120 });
  const ac = auto.choices[0];
  const done = ac.finish_reason === 'length' ? flat(ac.message).slice(0, -1) : flat(ac.message);
  check('tool_choice auto with a bias toward calling: the calls it opens are valid', done.length >= 1 && !badCalls(done),
        JSON.stringify(ac));
});

// ---- thinking, then the constrained answer ----
await section('thinking', async () => {
  const schema = schemas.nested;
  // the template opens the thought channel; a bias toward <channel|> makes the random model close it
  const req = { model: MODEL, messages: [{ role: 'user', content: 'Think, then answer' }], ...sampled, seed: 1,
                chat_template_kwargs: { enable_thinking: true }, logit_bias: { [CLOSE_THOUGHT_ID]: 10 },
                response_format: format('nested', schema) };
  const r = await client.chat.completions.create(req);
  const m = r.choices[0].message;
  const why = invalid(schema, m.content);
  check('thinking: the answer after the thought is valid, finish stop', !why && r.choices[0].finish_reason === 'stop',
        `${why}: ${JSON.stringify(r.choices[0])}`);
  check('thinking: the thought was free text (reasoning not empty)', typeof m.reasoning === 'string' && m.reasoning.length > 0,
        JSON.stringify(m));
  const s = (await collect(await client.chat.completions.create({ ...req, stream: true })))[0];
  check('thinking stream: the same reasoning and valid answer', s.reasoning === m.reasoning && s.content === m.content &&
        !invalid(schema, s.content), JSON.stringify(s));
  const tool = await client.chat.completions.create({ ...req, response_format: undefined, tools, tool_choice: named });
  check('thinking then tool_choice named: a valid set_alarm call', !badCalls(flat(tool.choices[0].message), 'set_alarm') &&
        tool.choices[0].finish_reason === 'tool_calls', JSON.stringify(tool.choices[0]));
});

// ---- 400s naming the feature ----
async function refused(label, body, param, words) {
  try {
    await client.chat.completions.create({ model: MODEL, messages: ask, max_tokens: 8, ...body });
    check(`${label}: refused`, false);
  } catch (e) {
    check(`${label}: 400, param ${param}, message names ${words}`, e instanceof OpenAI.BadRequestError && e.status === 400 &&
          e.param === param && e.message.includes(words), `${e.status} ${e.param} ${e.message}`);
  }
}
await refused('uniqueItems', { response_format: format('u', { type: 'array', uniqueItems: true }) }, 'response_format', 'uniqueItems');
await refused('a number maximum', { response_format: format('n', { type: 'object', properties: { a: { type: 'number', maximum: 7.5 } } }) },
              'response_format', '/properties/a');
await refused('json_schema without its schema', { response_format: { type: 'json_schema', json_schema: { name: 'x' } } },
              'response_format', 'schema');
await refused('an unknown response_format type', { response_format: { type: 'yaml' } }, 'response_format', 'yaml');
await refused('a bad grammar', { grammar: 'root ::= nothing' }, 'grammar', 'undefined rule nothing');
await refused('a grammar with a schema', { grammar: 'root ::= "a"', response_format: { type: 'json_object' } }, 'grammar', 'not both');
await refused('a tool schema the compiler refuses, tool_choice required',
              { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {
                  n: { type: 'integer', multipleOf: 3 } } } } }], tool_choice: 'required' }, 'tools', 'multipleOf');

// ---- two concurrent streams with different schemas (one slot each) ----
await section('concurrent streams', async () => {
  const streamed = async (name, seed) => {
    const stream = await client.chat.completions.create({ model: MODEL, messages: ask, ...sampled, seed, stream: true,
                                                          response_format: format(name, schemas[name]) });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    return { name, text };
  };
  const [a, b] = await Promise.all([streamed('nested', 21), streamed('array', 22)]);
  for (const x of [a, b]) {
    const why = invalid(schemas[x.name], x.text);
    check(`concurrent ${x.name}: valid`, !why, `${why}: ${x.text}`);
  }
  // (whether the two streams overlapped in time depends on the machine's load; the
  // batching itself is tested by e2e_server_batch)
});

console.log(`node: ${failed} failed`);
process.exit(failed ? 1 : 0);
