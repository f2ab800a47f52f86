// `sinter serve` end to end: starts the server on a free loopback port with the sd-tiny pipeline
// and a plain model, then calls every A1111 route with A1111-shaped JSON, generates through the
// official `openai` npm client, calls the Open Inference Protocol routes (outputs checked against
// ONNX Runtime), exercises the queue (503 + Retry-After, a client that goes away, interrupt),
// metrics, authentication and bad input (4xx each, server alive), drives the web UI in headless
// Chromium (screenshot kept), and stops the server with SIGTERM.
//
//   node tests/server/server_test.mjs SINTER PIPELINE_DIR PLAIN_MODEL.onnx WORK_DIR
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [sinter, pipelineDir, plainModel, work] = process.argv.slice(2);
if (!sinter || !pipelineDir || !plainModel || !work) {
  console.error("usage: server_test.mjs SINTER PIPELINE_DIR PLAIN_MODEL.onnx WORK_DIR");
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);
const modules = path.join(repo, "tools/ort/node_modules");
const ort = require(path.join(modules, "onnxruntime-node"));
const OpenAI = require(path.join(modules, "openai")).default ?? require(path.join(modules, "openai"));
const { chromium } = require(path.join(modules, "playwright-core"));

fs.rmSync(work, { recursive: true, force: true });
const models = path.join(work, "models");
fs.mkdirSync(models, { recursive: true });
fs.symlinkSync(path.resolve(pipelineDir), path.join(models, "sd-tiny"));
fs.symlinkSync(path.resolve(plainModel), path.join(models, "plain.onnx"));

let failures = 0, checks = 0;
function check(name, ok, detail = "") {
  checks++;
  if (ok) console.log(`ok   ${name}`);
  else {
    failures++;
    console.log(`FAIL ${name}${detail ? ": " + detail : ""}`);
  }
}

// ---- the server ----
const KEY = "test-key-123", BASIC = "alice:wonderland";
const server = spawn(sinter, ["serve", "--models-dir", models, "--port", "0", "--api-key", KEY,
  "--api-auth", BASIC, "--max-queue", "1", "--max-body-mib", "1", "--max-steps", "500",
  "--max-width", "1024", "--max-height", "1024"],
  { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SINTER_CACHE_DIR: path.join(work, "cache") } });
let serverOut = "", serverExit = null;
server.stdout.on("data", (d) => (serverOut += d));
server.stderr.on("data", (d) => (serverOut += d));
const exited = new Promise((resolve) => server.on("exit", (code, signal) => resolve((serverExit = { code, signal }))));
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no URL after 60 s:\n" + serverOut)), 60000);
  const look = () => {
    const m = serverOut.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  };
  server.stdout.on("data", look);
  server.on("exit", () => reject(new Error("server exited:\n" + serverOut)));
});
check("startup-lists-devices-and-models", /devices: CPU/.test(serverOut) && /pipelines: sd-tiny/.test(serverOut) &&
  /inference models: plain sd-tiny\.text_encoder/.test(serverOut), serverOut);

// A second server on the same port refuses to start (no silent SO_REUSEPORT sharing).
{
  const port = base.split(":").at(-1);
  let second = null;
  try {
    execFileSync(sinter, ["serve", "--models-dir", models, "--port", port], { stdio: "pipe", timeout: 30000 });
  } catch (e) { second = e; }
  check("port-in-use-refused", second && second.status === 1 && /cannot listen on 127\.0\.0\.1:/.test(String(second.stderr)),
    String(second?.stderr ?? "it started"));
}

const auth = { Authorization: `Bearer ${KEY}` };
async function call(method, route, body, headers = auth, raw = false) {
  const res = await fetch(base + route, {
    method, headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}
const get = (route, headers) => call("GET", route, undefined, headers);
const post = (route, body, headers) => call("POST", route, body, headers);

// A PNG's width and height from its IHDR chunk.
function pngSize(buf) {
  if (buf.length < 24 || buf.toString("latin1", 1, 4) !== "PNG") return null;
  return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
}

// ---- A1111 API ----
let r = await get("/sdapi/v1/samplers");
check("samplers", r.status === 200 && r.json.some((s) => s.name === "Euler a") &&
  r.json.some((s) => s.name === "DPM++ 2M SDE") && r.json.every((s) => Array.isArray(s.aliases)), r.text);
r = await get("/sdapi/v1/schedulers");
check("schedulers", r.status === 200 && r.json.some((s) => s.name === "karras" && s.label === "Karras"), r.text);
r = await get("/sdapi/v1/sd-models");
check("sd-models", r.status === 200 && r.json.length === 1 && r.json[0].model_name === "sd-tiny" &&
  "title" in r.json[0] && "hash" in r.json[0], r.text);
r = await get("/sdapi/v1/options");
check("options-get", r.status === 200 && r.json.sd_model_checkpoint.startsWith("sd-tiny"), r.text);
r = await post("/sdapi/v1/options", { sd_model_checkpoint: "sd-tiny" });
check("options-post", r.status === 200 && r.json === null, r.text);
r = await post("/sdapi/v1/options", { sd_model_checkpoint: "no-such-model" });
check("options-post-unknown-model", r.status === 422 && r.json.field === "sd_model_checkpoint", r.text);

const t2i = { prompt: "a red (cat:1.2) on a sofa", negative_prompt: "blurry", steps: 4, width: 64, height: 64,
  seed: 5, batch_size: 2, sampler_name: "Euler a", cfg_scale: 7 };
r = await post("/sdapi/v1/txt2img", t2i);
const info = r.json && JSON.parse(r.json.info);
check("txt2img", r.status === 200 && r.json.images.length === 2 && info.seed === 5 &&
  JSON.stringify(info.all_seeds) === "[5,6]" && info.infotexts[0].includes("Seed: 5,") &&
  info.infotexts[1].includes("Seed: 6,") && r.json.parameters.prompt === t2i.prompt, r.text.slice(0, 400));
const png0 = Buffer.from(r.json.images[0], "base64");
check("txt2img-png-64x64", JSON.stringify(pngSize(png0)) === "[64,64]");
// The same generation through the CLI gives the same bytes (one pipeline, two front ends).
execFileSync(sinter, ["txt2img", pipelineDir, "-p", t2i.prompt, "-n", t2i.negative_prompt, "--steps", "4",
  "-W", "64", "-H", "64", "--seed", "5", "--batch-size", "2", "--sampler", "Euler a", "-o",
  path.join(work, "cli.png"), "-q"], { env: { ...process.env, SINTER_CACHE_DIR: path.join(work, "cache") } });
check("txt2img-equals-cli", png0.equals(fs.readFileSync(path.join(work, "cli-1.png"))));
r = await post("/sdapi/v1/txt2img", { prompt: "x", steps: 2, width: 64, height: 64, seed: -1 });
const randomInfo = r.json && JSON.parse(r.json.info);
check("txt2img-seed-minus-one-reported", r.status === 200 && randomInfo.seed >= 0 &&
  randomInfo.infotexts[0].includes(`Seed: ${randomInfo.seed},`), r.text.slice(0, 300));
r = await post("/sdapi/v1/txt2img", { prompt: "x", steps: 3, width: 64, height: 64, seed: 1, n_iter: 2 });
check("txt2img-n-iter", r.status === 200 && r.json.images.length === 2 &&
  JSON.stringify(JSON.parse(r.json.info).all_seeds) === "[1,2]", r.text.slice(0, 300));
r = await post("/sdapi/v1/img2img", { init_images: [r.json.images[0]], prompt: "a dog", steps: 4,
  denoising_strength: 0.5, width: 64, height: 64, seed: 2 });
check("img2img", r.status === 200 && r.json.images.length === 1 &&
  JSON.parse(r.json.info).infotexts[0].includes("Denoising strength: 0.5") &&
  JSON.stringify(pngSize(Buffer.from(r.json.images[0], "base64"))) === "[64,64]", r.text.slice(0, 300));
r = await post("/sdapi/v1/png-info", { image: "data:image/png;base64," + png0.toString("base64") });
check("png-info", r.status === 200 && r.json.info === info.infotexts[0] && r.json.parameters.Seed === "5" &&
  r.json.parameters.Steps === "4" && r.json.parameters.Prompt === t2i.prompt &&
  r.json.parameters["Negative prompt"] === "blurry" && r.json.parameters["Size-1"] === "64", r.text);
r = await get("/sdapi/v1/memory");
check("memory", r.status === 200 && r.json.ram.total > 0 && r.json.ram.process_resident > 0, r.text);
r = await post("/sdapi/v1/refresh-checkpoints", {});
check("refresh-checkpoints", r.status === 200, r.text);
r = await post("/sdapi/v1/skip", {});
check("skip-idle", r.status === 200, r.text);

// Progress, the queue and interrupt: a long job, a queued one, a refused one.
const long = { prompt: "long", steps: 400, width: 256, height: 256, seed: 3 };
const running = post("/sdapi/v1/txt2img", long);
let progress = null;
for (let i = 0; i < 200; i++) {
  await new Promise((res) => setTimeout(res, 100));
  const p = await get("/sdapi/v1/progress");
  if (p.json.state.sampling_step > 0) { progress = p.json; break; }
}
check("progress-while-running", progress && progress.progress > 0 && progress.progress < 1 &&
  progress.state.sampling_steps === 400 && progress.eta_relative > 0 && progress.state.job_count >= 1,
  JSON.stringify(progress));
// The live preview: A1111's cheap latent approximation at 1/8 of the size.
check("progress-current-image", progress && JSON.stringify(pngSize(Buffer.from(progress.current_image ?? "", "base64"))) === "[32,32]");
r = await get("/sdapi/v1/progress?skip_current_image=true");
check("progress-skip-current-image", r.status === 200 && r.json.current_image === null, r.text.slice(0, 200));
// A second job waits in the one queue slot; its client will go away.
let q = await get("/sinter/v1/queue");
const cancelledBefore = q.json.cancelled;
const controller = new AbortController();
const abandoned = fetch(base + "/sdapi/v1/txt2img", { method: "POST", signal: controller.signal,
  headers: { "Content-Type": "application/json", ...auth }, body: JSON.stringify({ ...long, seed: 4 }) })
  .catch(() => null);
await new Promise((res) => setTimeout(res, 400));
r = await post("/sdapi/v1/txt2img", { ...long, seed: 6 });
check("queue-full-503-retry-after", r.status === 503 && Number(r.headers.get("retry-after")) >= 1, r.text);
r = await get("/sdapi/v1/progress");
check("progress-shows-queue", r.json.queue.queued === 1 && r.json.state.job_count === 2, r.text);
controller.abort();
await abandoned;
let withdrawn = false;
for (let i = 0; i < 30 && !withdrawn; i++) {
  await new Promise((res) => setTimeout(res, 100));
  q = await get("/sinter/v1/queue");
  withdrawn = q.json.queued === 0 && q.json.cancelled === cancelledBefore + 1 && q.json.running;
}
check("disconnected-client-withdrawn", withdrawn, JSON.stringify(q.json));
r = await post("/sdapi/v1/interrupt", {});
check("interrupt", r.status === 200, r.text);
const interrupted = await running;
check("interrupted-job-answers", interrupted.status === 200 && JSON.parse(interrupted.json.info).interrupted === true &&
  interrupted.json.images.length === 1 && JSON.stringify(pngSize(Buffer.from(interrupted.json.images[0], "base64"))) === "[256,256]",
  interrupted.text.slice(0, 300));

// ---- OpenAI Images API through the official client ----
const client = new OpenAI({ apiKey: KEY, baseURL: base + "/v1" });
const listed = await client.models.list();
check("openai-models", listed.data.some((m) => m.id === "sd-tiny"));
const gen = await client.images.generate({ model: "sd-tiny", prompt: "a lighthouse", size: "64x64",
  n: 2, response_format: "b64_json" });
check("openai-b64", gen.data.length === 2 &&
  JSON.stringify(pngSize(Buffer.from(gen.data[0].b64_json, "base64"))) === "[64,64]");
const byUrl = await client.images.generate({ model: "sd-tiny", prompt: "a lighthouse", size: "64x48",
  response_format: "url" });
const fetched = await fetch(byUrl.data[0].url, { headers: auth });
check("openai-url", fetched.status === 200 &&
  JSON.stringify(pngSize(Buffer.from(await fetched.arrayBuffer()))) === "[64,48]", byUrl.data[0].url);
let openaiError = null;
try {
  await client.images.generate({ model: "sd-tiny", prompt: "x", size: "big" });
} catch (e) { openaiError = e; }
check("openai-error-shape", openaiError && openaiError.status === 400 && openaiError.error?.param === "size",
  String(openaiError));

// ---- Open Inference Protocol ----
r = await get("/v2/health/live", {});
check("v2-live-no-auth-needed", r.status === 200 && r.json.live === true, r.text);
// Ready once the default pipeline is loaded (the generations above loaded it already).
r = await get("/v2/health/ready", {});
check("v2-ready", r.status === 200 && r.json.ready === true, r.text);
r = await get("/v2/models/plain");
check("v2-metadata", r.status === 200 && r.json.inputs.length >= 1 && r.json.inputs[0].datatype === "FP32", r.text);
r = await get("/v2/models/sd-tiny.text_encoder/ready");
check("v2-model-ready", r.status === 200 && r.json.ready === true, r.text);
const ids = Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406 % 1000 : i < 6 ? 10 + i : 7));
r = await post("/v2/models/sd-tiny.text_encoder/infer", {
  id: "req-1", inputs: [{ name: "input_ids", shape: [1, 77], datatype: "INT32", data: ids }] });
const te = await ort.InferenceSession.create(path.join(pipelineDir, "text_encoder", "model.onnx"));
const ref = (await te.run({ input_ids: new ort.Tensor("int32", Int32Array.from(ids), [1, 77]) }));
const refOut = ref[te.outputNames[0]];
const got = r.json?.outputs?.find((o) => o.name === te.outputNames[0]);
let maxDiff = Infinity;
if (got && got.data.length === refOut.data.length)
  maxDiff = Math.max(...got.data.map((v, i) => Math.abs(v - refOut.data[i])));
check("v2-infer-matches-onnxruntime", r.status === 200 && r.json.id === "req-1" && maxDiff < 1e-4 &&
  JSON.stringify(got.shape) === JSON.stringify(refOut.dims), `max diff ${maxDiff}; ${r.text.slice(0, 200)}`);
r = await post("/v2/models/sd-tiny.text_encoder/infer", { inputs: [{ name: "input_ids", shape: [1, 77], datatype: "FP32", data: ids }] });
check("v2-infer-wrong-datatype-400", r.status === 400 && /INT32/.test(r.json.detail), r.text);
r = await post("/v2/models/sd-tiny.text_encoder/infer", { inputs: [{ name: "input_ids", shape: [1, 77], datatype: "INT32", data: [1, 2] }] });
check("v2-infer-wrong-count-400", r.status === 400, r.text);

// ---- bad input: 4xx each, the server stays up ----
r = await call("POST", "/sdapi/v1/txt2img", "{not json", auth, true);
check("malformed-json-400", r.status === 400 && /JSON/.test(r.json.detail), r.text);
r = await call("POST", "/sdapi/v1/txt2img", JSON.stringify({ prompt: "x".repeat(2 << 20) }), auth, true);
check("oversized-body-413", r.status === 413, r.text.slice(0, 200));
for (const [field, value] of [["steps", 10000], ["width", 4096], ["width", 100], ["batch_size", 99], ["steps", "many"], ["tiling", true]]) {
  r = await post("/sdapi/v1/txt2img", { prompt: "x", [field]: value });
  check(`out-of-range-${field}-${value}-422`, r.status === 422 && r.json.field === field, r.text);
}
r = await post("/sdapi/v1/txt2img", { prompt: "x", sampler_name: "Eular" });
check("unknown-sampler-422", r.status === 422 && /Euler a/.test(r.json.detail), r.text);
r = await post("/sdapi/v1/img2img", { prompt: "x", init_images: ["not base64 !!"] });
check("bad-init-image-422", r.status === 422 && r.json.field === "init_images", r.text);
for (const route of ["/v2/models/..%2F..%2Fetc%2Fpasswd", "/v2/models/../../etc/passwd/ready",
  "/v2/models/%2Fetc%2Fpasswd/ready"]) {
  r = await get(route);
  check(`path-traversal-404 ${route}`, r.status === 404 && !/root:/.test(r.text), r.text);
}
r = await post("/sdapi/v1/txt2img", { prompt: "x", override_settings: { sd_model_checkpoint: "../../etc/passwd" } });
check("path-traversal-checkpoint-404", r.status === 404, r.text);
r = await get("/sdapi/v1/samplers", {});
check("missing-key-401", r.status === 401 && /Bearer/.test(r.json.detail), r.text);
r = await get("/sdapi/v1/samplers", { Authorization: "Bearer wrong" });
check("wrong-key-401", r.status === 401, r.text);
r = await get("/sdapi/v1/samplers", { Authorization: "Basic " + Buffer.from(BASIC).toString("base64") });
check("basic-auth", r.status === 200, r.text);
r = await get("/sdapi/v1/samplers", { Authorization: "Basic " + Buffer.from("alice:wrong").toString("base64") });
// With an API key configured the challenge is Bearer (a Basic one would hold the web UI behind a
// browser login dialog).
check("basic-auth-wrong-401", r.status === 401 && r.headers.get("www-authenticate")?.startsWith("Bearer"), r.text);
r = await call("OPTIONS", "/sdapi/v1/txt2img", undefined, { Origin: "http://evil.example" });
check("cors-off", r.status === 403 && !r.headers.get("access-control-allow-origin"), r.text);
r = await get("/no/such/route");
check("unknown-route-404-json", r.status === 404 && r.json && r.json.detail, r.text);
r = await get("/v2/health/live", {});
check("alive-after-bad-input", r.status === 200);

// ---- metrics ----
r = await get("/metrics", {});
check("metrics", r.status === 200 &&
  /sinter_http_requests_total\{route="POST \/sdapi\/v1\/txt2img",status="200"\} \d+/.test(r.text) &&
  /sinter_http_requests_total\{route="POST \/sdapi\/v1\/txt2img",status="503"\} [1-9]/.test(r.text) &&
  /sinter_queue_depth 0/.test(r.text) && /sinter_generation_seconds_bucket\{le="\+Inf"\} [1-9]/.test(r.text) &&
  /sinter_step_seconds_count [1-9]/.test(r.text) && /sinter_memory_resident_bytes [1-9]/.test(r.text), r.text.slice(0, 600));

// ---- the web UI in headless Chromium ----
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/");
  await page.fill("#apikey", KEY);
  await page.dispatchEvent("#apikey", "change");
  await page.waitForFunction(() => document.querySelectorAll("#sampler option").length > 5);
  const devices = await page.$$eval("#device option", (o) => o.map((x) => x.value));
  check("ui-device-list", devices.includes("CPU"), JSON.stringify(devices));
  await page.fill("#prompt", "a watercolor fox");
  await page.fill("#steps", "150");
  await page.fill("#width", "256");
  await page.fill("#height", "256");
  await page.fill("#seed", "11");
  // Every text the status line shows, from before the click on.
  await page.evaluate(() => {
    window.statusTexts = [];
    new MutationObserver(() => window.statusTexts.push(document.getElementById("status").textContent))
      .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true });
    window.previews = 0;
    new MutationObserver(() => { if (document.querySelector("#result img.preview")) window.previews++; })
      .observe(document.getElementById("result"), { childList: true });
  });
  await page.click("#generate");
  const sawProgress = await page.waitForFunction(() => window.statusTexts.some((t) => /step \d+\/150/.test(t)),
    null, { timeout: 60000 }).then(() => true, () => false);
  check("ui-progress-text", sawProgress, await page.evaluate(() => window.statusTexts.join(" | ")));
  const bar = await page.$eval("#bar div", (d) => d.style.width);
  check("ui-progress-bar", /^\d+%$/.test(bar), bar);
  await page.waitForSelector("#result img:not(.preview)", { timeout: 120000 });
  check("ui-live-preview", await page.evaluate(() => window.previews > 0));
  const status = await page.textContent("#status");
  check("ui-image", /done in .* seed 11/.test(status), status);
  fs.mkdirSync(path.join(work, ".."), { recursive: true });
  await page.screenshot({ path: path.join(work, "..", "server-ui.png") });
  await page.click("nav button[data-tab=pnginfo]");
  await page.setInputFiles("#pngfile", path.join(work, "cli-1.png"));
  await page.waitForFunction(() => /Steps: 4/.test(document.getElementById("pnginfo").textContent));
  check("ui-png-info", true);
  await page.click("nav button[data-tab=settings]");
  const sources = await page.$$eval("#settings tbody tr", (rows) => rows.map((r) => r.textContent));
  check("ui-settings-sources", sources.some((s) => /serve\.max_queue1command line/.test(s)) &&
    sources.some((s) => /default/.test(s)), sources.slice(0, 5).join(" | "));
  check("ui-no-page-errors", consoleErrors.length === 0, consoleErrors.join("; "));
} finally {
  await browser.close();
}

// ---- SIGTERM: the running job is interrupted, the process exits cleanly ----
const last = post("/sdapi/v1/txt2img", long);
await new Promise((res) => setTimeout(res, 1500));
server.kill("SIGTERM");
const lastAnswer = await last.catch((e) => ({ status: 0, text: String(e) }));
await exited;
check("sigterm-exits-cleanly", serverExit.code === 0 && /stopping/.test(serverOut), JSON.stringify(serverExit));
check("sigterm-running-job-answered", lastAnswer.status === 200 || lastAnswer.status === 503, lastAnswer.text?.slice(0, 200));

console.log(`${checks - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
