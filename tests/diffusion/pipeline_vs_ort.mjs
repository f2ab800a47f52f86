// txt2img through sinter against the same pipeline run by ONNX Runtime: the same starting
// latents (--latents), the prompt tokenized by Hugging Face's tokenizer implementation, the
// Euler sampler written out here from diffusers' formulas, classifier-free guidance, the VAE
// decode and diffusers' conversion to 8-bit. The two images must agree within 1/255.
//
//   node tests/diffusion/pipeline_vs_ort.mjs SINTER PIPELINE_DIR WORK_DIR
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

import { clipTokenizerJson } from "./clip_tokenizer_json.mjs";

const [sinter, dir, work] = process.argv.slice(2);
if (!sinter || !dir || !work) {
  console.error("usage: pipeline_vs_ort.mjs SINTER PIPELINE_DIR WORK_DIR");
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);
const ort = require(path.join(repo, "tools/ort/node_modules/onnxruntime-node"));
const { writeNpy } = require(path.join(repo, "tools/ort/npy.js"));
const { Tokenizer } = await import(
  pathToFileURL(path.join(repo, "tools/ort/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs")).href);
fs.mkdirSync(work, { recursive: true });

const W = 64, H = 64, h = H / 8, w = W / 8, steps = 6, cfg = 7.5;
const prompt = "a photo of a red cat sitting in the forest", negative = "blurry, ugly";

// Starting latents: a fixed pattern both sides start from.
const latents = new Float32Array(4 * h * w).map((_, i) => Math.sin(0.37 * i) + 0.5 * Math.cos(1.3 * i));
writeNpy(path.join(work, "latents.npy"), "float32", latents, [1, 4, h, w]);
const png = path.join(work, "sinter.png");
execFileSync(sinter, ["txt2img", dir, "-p", prompt, "-n", negative, "--sampler", "Euler",
  "--steps", String(steps), "--cfg-scale", String(cfg), "-W", String(W), "-H", String(H),
  "--latents", path.join(work, "latents.npy"), "-o", png, "-q"], { stdio: "inherit" });

// The folder's tokenizer as Hugging Face's CLIP tokenizer.json describes it.
const tok = path.join(dir, "tokenizer");
const vocab = JSON.parse(fs.readFileSync(path.join(tok, "vocab.json"), "utf8"));
const merges = fs.readFileSync(path.join(tok, "merges.txt"), "utf8").split("\n")
  .filter((l) => l && !l.startsWith("#version"));
const config = JSON.parse(fs.readFileSync(path.join(tok, "tokenizer_config.json"), "utf8"));
const tokenizer = new Tokenizer(clipTokenizerJson(vocab, merges), config);
const bos = vocab["<|startoftext|>"], eos = vocab["<|endoftext|>"], pad = vocab[config.pad_token];
function input_ids(text) {
  const ids = [bos, ...tokenizer.encode(text, { add_special_tokens: false }).ids.slice(0, 75), eos];
  while (ids.length < 77) ids.push(pad);
  return new ort.Tensor("int32", Int32Array.from(ids), [1, 77]);
}

const session = (name) => ort.InferenceSession.create(path.join(dir, name, "model.onnx"),
  { intraOpNumThreads: 2 });
const [te, unet, vae] = await Promise.all([session("text_encoder"), session("unet"), session("vae_decoder")]);
const encode = async (text) => (await te.run({ input_ids: input_ids(text) })).last_hidden_state.data;
const cond = await encode(prompt), uncond = await encode(negative);
const context = new Float32Array(cond.length * 2);
context.set(uncond, 0);
context.set(cond, cond.length);

// diffusers' EulerDiscreteScheduler for this config: scaled_linear betas, linspace spacing.
const sc = JSON.parse(fs.readFileSync(path.join(dir, "scheduler/scheduler_config.json"), "utf8"));
const N = sc.num_train_timesteps;
const train = [];
let cumprod = 1;
for (let i = 0; i < N; ++i) {
  const root = Math.sqrt(sc.beta_start) + (Math.sqrt(sc.beta_end) - Math.sqrt(sc.beta_start)) * i / (N - 1);
  cumprod *= 1 - root * root;
  train.push(Math.sqrt((1 - cumprod) / cumprod));
}
const timesteps = [], sigmas = [];
for (let k = steps - 1; k >= 0; --k) {
  const t = (N - 1) * k / (steps - 1), low = Math.floor(t);
  timesteps.push(t);
  sigmas.push(low + 1 < N ? train[low] + (t - low) * (train[low + 1] - train[low]) : train[low]);
}
sigmas.push(0);
const x = latents.map((v) => v * Math.max(...sigmas));
for (let i = 0; i < steps; ++i) {
  const scale = 1 / Math.sqrt(sigmas[i] * sigmas[i] + 1);
  const input = new Float32Array(x.length * 2);
  for (let k = 0; k < x.length; ++k) input[k] = input[x.length + k] = x[k] * scale;
  const out = await unet.run({
    sample: new ort.Tensor("float32", input, [2, 4, h, w]),
    timestep: new ort.Tensor("int64", BigInt64Array.from([BigInt(Math.trunc(timesteps[i]))]), [1]),
    encoder_hidden_states: new ort.Tensor("float32", context, [2, 77, cond.length / 77]),
  });
  const eps = out.out_sample.data;
  for (let k = 0; k < x.length; ++k) {
    const guided = eps[k] + cfg * (eps[x.length + k] - eps[k]);
    x[k] += guided * (sigmas[i + 1] - sigmas[i]);  // Euler: derivative = eps
  }
}
const z = x.map((v) => v / 0.18215);
const decoded = (await vae.run({ latent_sample: new ort.Tensor("float32", z, [1, 4, h, w]) })).sample.data;

// sinter's PNG: 8-bit RGB, each row a filter byte then the pixels (PNG's five filters).
function read_png(file) {
  const buf = fs.readFileSync(file);
  let at = 8, width = 0, height = 0;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at), type = buf.toString("latin1", at + 4, at + 8);
    if (type === "IHDR") { width = buf.readUInt32BE(at + 8); height = buf.readUInt32BE(at + 12); }
    if (type === "IDAT") idat.push(buf.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat)), stride = width * 3;
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; ++y) {
    const f = raw[y * (stride + 1)];
    for (let i = 0; i < stride; ++i) {
      const v = raw[y * (stride + 1) + 1 + i];
      const a = i >= 3 ? px[y * stride + i - 3] : 0, b = y > 0 ? px[(y - 1) * stride + i] : 0;
      const c = i >= 3 && y > 0 ? px[(y - 1) * stride + i - 3] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      px[y * stride + i] = (v + pred) & 255;
    }
  }
  return { width, height, px };
}
const img = read_png(png);
if (img.width !== W || img.height !== H) throw new Error(`sinter wrote ${img.width}x${img.height}`);
let worst = 0, mean = 0;
for (let c = 0; c < 3; ++c)
  for (let p = 0; p < W * H; ++p) {
    const v = Math.min(1, Math.max(0, decoded[c * W * H + p] / 2 + 0.5));
    const d = Math.abs(Math.round(v * 255) - img.px[p * 3 + c]);
    worst = Math.max(worst, d);
    mean += d / (3 * W * H);
  }
console.log(`pipeline_vs_ort: txt2img ${W}x${H}, ${steps} Euler steps, CFG ${cfg}: max |sinter - ORT| ${worst}/255, mean ${mean.toFixed(4)}/255`);

// img2img at strength 0 is the init image's VAE round trip: pixels to [-1, 1], the encoder's
// mean (the first 4 of its 8 channels) times the scaling factor, divided again, decoded.
const roundtrip = path.join(work, "roundtrip.png");
execFileSync(sinter, ["img2img", dir, "--init-image", png, "--strength", "0", "-p", prompt,
  "-o", roundtrip, "-q"], { stdio: "inherit" });
const encoder = await session("vae_encoder");
const init = read_png(png).px, plane = W * H;
const pixels = new Float32Array(3 * plane);
for (let p = 0; p < plane; ++p) for (let c = 0; c < 3; ++c) pixels[c * plane + p] = init[p * 3 + c] / 255 * 2 - 1;
const params = (await encoder.run({ sample: new ort.Tensor("float32", pixels, [1, 3, H, W]) })).latent_parameters.data;
const mean4 = params.slice(0, 4 * h * w);  // (x * 0.18215) / 0.18215
const back = (await vae.run({ latent_sample: new ort.Tensor("float32", mean4, [1, 4, h, w]) })).sample.data;
const rt = read_png(roundtrip).px;
let worst_rt = 0;
for (let c = 0; c < 3; ++c)
  for (let p = 0; p < plane; ++p) {
    const v = Math.min(1, Math.max(0, back[c * plane + p] / 2 + 0.5));
    worst_rt = Math.max(worst_rt, Math.abs(Math.round(v * 255) - rt[p * 3 + c]));
  }
console.log(`pipeline_vs_ort: img2img strength 0 (VAE round trip): max |sinter - ORT| ${worst_rt}/255`);
process.exit(worst <= 1 && worst_rt <= 1 ? 0 : 1);
