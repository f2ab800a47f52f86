#!/usr/bin/env node
'use strict';
// A whole txt2img through ONNX Runtime (CPU provider, all graph optimisations) on a diffusers
// ONNX pipeline folder (text_encoder/, unet/, vae_decoder/ with model.onnx): the prompt and the
// negative prompt encoded, N Euler steps of the UNet at batch 2 (classifier-free guidance), the
// VAE decode. The ONNX Runtime side of bench/sd_bench.js's whole-run row, timed as a user of
// ONNX Runtime would run it. Token ids are given (the tokenizer costs microseconds and is not
// what is compared); the scheduler is Euler over SD's scaled-linear betas, as `sinter txt2img
// --sampler Euler` runs it. Prints one JSON object: load, encode, per-step, decode and total
// times in ms and the peak RSS of this process in MiB.
//
//   node tools/ort/ort_txt2img.js PIPELINE_DIR [--steps 20] [--size 512] [--threads 2]

const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { dir: null, steps: 20, size: 512, threads: 2, cfg: 7.5 };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (k === '--steps') a.steps = Number(argv[++i]);
    else if (k === '--size') a.size = Number(argv[++i]);
    else if (k === '--threads') a.threads = Number(argv[++i]);
    else if (!a.dir) a.dir = k;
    else throw new Error(`unexpected argument ${k}`);
  }
  if (!a.dir) throw new Error('no pipeline folder given');
  if (!(a.steps > 0) || !(a.size % 8 === 0)) throw new Error('--steps > 0, --size a multiple of 8');
  return a;
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

// SD's training noise levels: scaled_linear betas from 0.00085 to 0.012 over 1000 steps; the
// sampling timesteps spaced evenly from 999 to 0, as k-diffusion's Euler uses them.
function eulerSchedule(steps) {
  const sigmasAll = [];
  let alphaBar = 1;
  for (let t = 0; t < 1000; ++t) {
    const b = Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * (t / 999);
    alphaBar *= 1 - b * b;
    sigmasAll.push(Math.sqrt((1 - alphaBar) / alphaBar));
  }
  const timesteps = [], sigmas = [];
  for (let i = 0; i < steps; ++i) {
    const t = steps === 1 ? 999 : 999 * (1 - i / (steps - 1));
    const lo = Math.floor(t), hi = Math.min(999, lo + 1), w = t - lo;
    timesteps.push(Math.round(t));
    sigmas.push(Math.exp((1 - w) * Math.log(sigmasAll[lo]) + w * Math.log(sigmasAll[hi])));
  }
  sigmas.push(0);
  return { timesteps, sigmas };
}

// Seeded normal noise (Box-Muller over a small LCG): the images are the random-weight
// pipeline's noise anyway; what matters is that both sides do the same work.
function gaussian(n, seed) {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform())), th = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = r * Math.sin(th);
  }
  return out;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const options = { graphOptimizationLevel: 'all', intraOpNumThreads: a.threads,
    interOpNumThreads: 1 };
  const t0 = now();
  const open = (m) => ort.InferenceSession.create(path.join(a.dir, m, 'model.onnx'), options);
  const textEncoder = await open('text_encoder');
  const unet = await open('unet');
  const vae = await open('vae_decoder');
  const loadMs = now() - t0;

  // Prompt and negative prompt: start token, a few word ids, end token padded to 77.
  const ids = (words) => {
    const v = new Int32Array(77).fill(49407);
    v[0] = 49406;
    words.forEach((w, i) => { v[i + 1] = w; });
    return v;
  };
  const t1 = now();
  const encode = async (v) => (await textEncoder.run(
      { input_ids: new ort.Tensor('int32', v, [1, 77]) })).last_hidden_state.data;
  const cond = await encode(ids([320, 1125, 539, 320, 2368]));
  const uncond = await encode(ids([]));
  const context = new Float32Array(2 * 77 * 768);
  context.set(uncond, 0);
  context.set(cond, 77 * 768);
  const encodeMs = now() - t1;

  const h = a.size / 8, w = a.size / 8, n = 4 * h * w;
  const { timesteps, sigmas } = eulerSchedule(a.steps);
  const latents = gaussian(n, 1).map((x) => x * sigmas[0]);
  const stepMs = [];
  const contextTensor = new ort.Tensor('float32', context, [2, 77, 768]);
  for (let i = 0; i < a.steps; ++i) {
    const ts = now();
    const scale = 1 / Math.sqrt(sigmas[i] * sigmas[i] + 1);
    const sample = new Float32Array(2 * n);
    for (let j = 0; j < n; ++j) sample[j] = sample[n + j] = latents[j] * scale;
    const out = (await unet.run({
      sample: new ort.Tensor('float32', sample, [2, 4, h, w]),
      timestep: new ort.Tensor('int64', BigInt64Array.from([BigInt(timesteps[i])]), [1]),
      encoder_hidden_states: contextTensor,
    })).out_sample.data;
    const dt = sigmas[i + 1] - sigmas[i];
    for (let j = 0; j < n; ++j) {
      const eps = out[j] + a.cfg * (out[n + j] - out[j]);
      latents[j] += eps * dt;
    }
    stepMs.push(now() - ts);
  }
  const t2 = now();
  for (let j = 0; j < n; ++j) latents[j] /= 0.18215;
  await vae.run({ latent_sample: new ort.Tensor('float32', latents, [1, 4, h, w]) });
  const decodeMs = now() - t2;
  console.log(JSON.stringify({
    load_ms: loadMs, encode_ms: encodeMs, step_ms: stepMs,
    steps_ms: stepMs.reduce((x, y) => x + y, 0), decode_ms: decodeMs,
    total_ms: now() - t0, peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
}

main().catch((e) => {
  console.error(`ort_txt2img: ${e.message}`);
  process.exit(1);
});
