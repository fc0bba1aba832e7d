// openai_client.mjs: the real `openai` npm client against `gemma4 --serve`
// (run by tests/e2e/server_api.sh with BASE, KEY, MODEL, NODE_PATH set): chat
// non-stream and stream, tool calls (a named tool_choice plus a logit bias on
// <tool_call|> makes the random model close the call), reasoning fields (the
// server runs a template that opens the thought channel), completions, models,
// usage and typed errors. Prints "ok"/"FAIL" lines; exits 1 on any failure.
import OpenAI from 'openai';

const { BASE, KEY, MODEL, CLOSE_CALL_ID } = process.env;
const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: KEY, maxRetries: 0 });
let failed = 0;
const check = (name, cond, extra = '') => {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${name}${cond ? '' : ' ' + extra}`);
  if (!cond) failed++;
};
const sampled = { temperature: 1.5, top_p: 1, top_k: 0, seed: 7, max_tokens: 24 };
const msgs = [{ role: 'user', content: 'Write a poem' }];

const models = await client.models.list();
check('models.list names the served model', models.data.length === 1 && models.data[0].id === MODEL,
      JSON.stringify(models.data));

const chat = await client.chat.completions.create({ model: MODEL, messages: msgs, ...sampled });
const c0 = chat.choices[0];
check('chat: assistant message with text', c0.message.role === 'assistant' && typeof c0.message.content === 'string' &&
      c0.message.content.length > 0, JSON.stringify(c0));
check('chat: finish_reason length or stop', ['length', 'stop'].includes(c0.finish_reason), c0.finish_reason);
check('chat: usage adds up', chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens &&
      chat.usage.completion_tokens > 0, JSON.stringify(chat.usage));
check('chat: object and id', chat.object === 'chat.completion' && chat.id.startsWith('chatcmpl-'));

const stream = await client.chat.completions.create({ model: MODEL, messages: msgs, ...sampled, stream: true,
                                                       stream_options: { include_usage: true } });
let text = '', finish = null, usage = null, role = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const ch of chunk.choices) {
    if (ch.delta.role) role = ch.delta.role;
    if (ch.delta.content) text += ch.delta.content;
    if (ch.finish_reason) finish = ch.finish_reason;
  }
}
check('stream: the same text as non-stream (same seed)', text === c0.message.content, JSON.stringify([text, c0.message.content]));
check('stream: role, finish_reason and usage chunk', role === 'assistant' && finish === c0.finish_reason &&
      usage && usage.completion_tokens === chat.usage.completion_tokens, JSON.stringify([role, finish, usage]));

const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
                 parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const toolReq = { model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools,
                  tool_choice: { type: 'function', function: { name: 'get_weather' } }, temperature: 0, max_tokens: 64,
                  logit_bias: { [CLOSE_CALL_ID]: 100 } };
const tc = await client.chat.completions.create(toolReq);
const call = tc.choices[0].message.tool_calls?.[0];
check('tools: a tool call with an id, type and name', call && /^call_[0-9a-f]{16}$/.test(call.id) &&
      call.type === 'function' && call.function.name === 'get_weather', JSON.stringify(tc.choices[0]));
let args = null;
try { args = JSON.parse(call.function.arguments); } catch { args = null; }
check('tools: arguments are a JSON string', args !== null && typeof args === 'object', call?.function?.arguments);
check('tools: finish_reason tool_calls', tc.choices[0].finish_reason === 'tool_calls', tc.choices[0].finish_reason);

const ts = await client.chat.completions.create({ ...toolReq, stream: true });
const calls = [];
let tfinish = null;
for await (const chunk of ts) {
  for (const ch of chunk.choices) {
    for (const d of ch.delta.tool_calls ?? []) {
      calls[d.index] ??= { id: '', name: '', arguments: '' };
      if (d.id) calls[d.index].id = d.id;
      if (d.function?.name) calls[d.index].name += d.function.name;
      if (d.function?.arguments) calls[d.index].arguments += d.function.arguments;
    }
    if (ch.finish_reason) tfinish = ch.finish_reason;
  }
}
check('tools stream: deltas assemble the same call', calls.length === 1 && calls[0].name === 'get_weather' &&
      calls[0].id.startsWith('call_') && calls[0].arguments === call.function.arguments && tfinish === 'tool_calls',
      JSON.stringify([calls, tfinish]));

const think = { model: MODEL, messages: [{ role: 'user', content: 'Think' }], chat_template_kwargs: { enable_thinking: true },
                temperature: 1.5, top_k: 0, top_p: 1, seed: 3, max_tokens: 30 };
const th = await client.chat.completions.create(think);
const tm = th.choices[0].message;
check('reasoning: message.reasoning and reasoning_content', typeof tm.reasoning === 'string' && tm.reasoning.length > 0 &&
      tm.reasoning_content === tm.reasoning, JSON.stringify(tm));
let rs = '';
for await (const chunk of await client.chat.completions.create({ ...think, stream: true }))
  for (const ch of chunk.choices) rs += ch.delta.reasoning ?? '';
check('reasoning stream: delta.reasoning assembles the same text', rs === tm.reasoning, JSON.stringify([rs, tm.reasoning]));

const comp = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', ...sampled });
check('completions: text and usage', comp.object === 'text_completion' && typeof comp.choices[0].text === 'string' &&
      comp.usage.completion_tokens > 0, JSON.stringify(comp));
let ctext = '';
for await (const chunk of await client.completions.create({ model: MODEL, prompt: 'Once upon a time', ...sampled, stream: true }))
  ctext += chunk.choices[0]?.text ?? '';
check('completions stream: the same text', ctext === comp.choices[0].text, JSON.stringify([ctext, comp.choices[0].text]));

const n2 = await client.chat.completions.create({ model: MODEL, messages: msgs, ...sampled, n: 2 });
check('n=2: two choices with their indexes', n2.choices.length === 2 && n2.choices[1].index === 1);

try {
  await client.chat.completions.create({ model: 'no-such-model', messages: msgs });
  check('unknown model is refused', false);
} catch (e) {
  check('unknown model: NotFoundError 404', e instanceof OpenAI.NotFoundError && e.status === 404, String(e));
}
try {
  await new OpenAI({ baseURL: `${BASE}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list();
  check('a wrong key is refused', false);
} catch (e) {
  check('wrong key: AuthenticationError 401', e instanceof OpenAI.AuthenticationError && e.status === 401, String(e));
}
try {
  await client.chat.completions.create({ model: MODEL, messages: msgs, temperature: 'hot' });
  check('a bad field is refused', false);
} catch (e) {
  check('bad field: BadRequestError 400 naming the field', e instanceof OpenAI.BadRequestError && /temperature/.test(e.message),
        String(e));
}
console.log(`node: ${failed} failed`);
process.exit(failed ? 1 : 0);
