// The Vercel AI SDK against the gateway: one JSON line per check on stdout.
//
// Usage: node ai_sdk_check.mjs NODE_MODULES_DIR  (settings in the environment: GW_BASE_URL, the
// gateway without /v1; GW_API_KEY; GW_MODEL; GW_SECRET, a word only the tool knows)
// The packages are ESM-only and live in the test cache, not next to this file, so they are
// resolved from NODE_MODULES_DIR and imported by file URL.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(process.argv[2].replace(/\/?$/, "/"));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const ai = await load("ai");
const { createOpenAICompatible } = await load("@ai-sdk/openai-compatible");
const { createOpenAI } = await load("@ai-sdk/openai");
const { createAnthropic } = await load("@ai-sdk/anthropic");

const base = process.env.GW_BASE_URL;
const apiKey = process.env.GW_API_KEY;
const model = process.env.GW_MODEL || "auto";
const secret = process.env.GW_SECRET;
const answer = "Hello from the AI SDK";
const marker = (text) => Buffer.from(text).toString("base64url");

// supportsStructuredOutputs: send the schema as response_format json_schema (the gateway
// enforces it) instead of only asking for JSON in the prompt.
const compatible = createOpenAICompatible({ name: "lingma", baseURL: `${base}/v1`, apiKey,
  supportsStructuredOutputs: true });
const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey });
const anthropic = createAnthropic({ baseURL: `${base}/v1`, apiKey });
// openai-compatible: chat completions; openai(): the Responses API; anthropic: Messages.
const models = {
  compatible: (name = model) => compatible.chatModel(name),
  responses: (name = model) => openai(name),
  chat: (name = model) => openai.chat(name),
  anthropic: (name = model) => anthropic(name),
};
const thinking = "dashscope_qwen_plus_20250428_thinking";   // the simulator's reasoning model

const weather = ai.tool({
  description: "Get the current weather in a city.",
  inputSchema: ai.jsonSchema({ type: "object", properties: { city: { type: "string" } },
    required: ["city"], additionalProperties: false }),
  execute: async ({ city }) => `${city}: ${secret}`,
});
const forecast = ai.jsonSchema({ type: "object", properties: { city: { type: "string" },
  summary: { type: "string" } }, required: ["city", "summary"], additionalProperties: false });

const plain = `Say hello [[sim:answer=${marker(answer)}]]`;
const toolPrompt = "What is the weather in Paris? [[sim:tool=get_weather]]";
// The anthropic provider caps an unknown model at 4096 output tokens, with a warning, unless
// told; the other providers send no cap.
const common = { maxRetries: 0, maxOutputTokens: 4096 };

async function generate(face) {
  const r = await ai.generateText({ model: models[face](), prompt: plain, ...common });
  return { text: r.text, finishReason: r.finishReason, outputTokens: r.usage.outputTokens };
}

async function stream(face) {
  const r = ai.streamText({ model: models[face](), prompt: plain, ...common,
    onError: () => {} });
  const parts = [];
  for await (const part of r.textStream) parts.push(part);
  return { text: parts.join(""), parts: parts.length, finishReason: await r.finishReason };
}

async function tools(face) {
  const r = await ai.generateText({ model: models[face](), prompt: toolPrompt, ...common,
    tools: { get_weather: weather }, stopWhen: ai.stepCountIs(3) });
  return {
    text: r.text,
    steps: r.steps.length,
    calls: r.steps.flatMap((s) => s.toolCalls.map((c) => ({ name: c.toolName, input: c.input }))),
    results: r.steps.flatMap((s) => s.toolResults.map((t) => t.output)),
  };
}

async function object(face) {
  const r = await ai.generateText({ model: models[face](), prompt: "Forecast for Paris", ...common,
    output: ai.Output.object({ schema: forecast }) });
  return { object: r.output };
}

async function reasoning(face) {
  const r = await ai.generateText({ model: models[face](thinking), prompt: "Think", ...common });
  const s = ai.streamText({ model: models[face](thinking), prompt: "Think", ...common,
    onError: () => {} });
  let streamed = "";
  for await (const part of s.fullStream) if (part.type === "reasoning-delta") streamed += part.text;
  return { text: r.text, reasoning: r.reasoningText ?? null, streamed };
}

const checks = { generate, stream, tools, object, reasoning };
const faces = Object.keys(models);
for (const face of faces) {
  for (const [name, check] of Object.entries(checks)) {
    let line;
    try {
      line = { face, check: name, ok: true, ...(await check(face)) };
    } catch (error) {
      line = { face, check: name, ok: false, error: `${error.name}: ${error.message}`.slice(0, 600) };
    }
    console.log(JSON.stringify(line));
  }
}
