#!/usr/bin/env node
'use strict';
// Stable Diffusion 1.5 at full size, sinter against ONNX Runtime on the CPU, side by side in one
// run, on the same ONNX files (`sinter-zoo DIR sd15`: SD 1.5's architecture with random
// weights, written once into the cache folder below). Per stage, each side in its own process
// with the same inputs and thread count, interleaved: the text encoder (batch 1, as diffusers
// encodes prompt and negative prompt), one UNet step at batch 2 (classifier-free guidance) for
// 512x512 and 768x768 images, the VAE decode of a 512x512 image; the median latency and the
// peak RSS of each process. Then a whole txt2img (Euler, --steps, 512x512) on each side, and
// sinter's cold start (first use: convert + compile + first step, empty model cache) against its
// cached start. Prints the CPU model and the ratios (sinter / ONNX Runtime: below 1 is faster,
// or smaller). Timing only: no pass/fail.
//
//   node bench/sd_bench.js [--sinter build/bin/sinter] [--zoo build/bin/sinter-zoo]
//        [--pipeline DIR] [--threads 2] [-n 3] [--rounds 1] [--steps 20]
//        [--precision f32|bf16] [--weights f32|f16] [--stages text,unet512,unet768,vae,txt2img,start]
//        [--json]
// --pipeline defaults to $SINTER_SD15_DIR or ~/.cache/sinter-sd15/sd15 (made when missing,
// 4.3 GB). --precision and --weights set sinter's (ONNX Runtime stays f32).

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const ortDir = path.join(root, 'tools/ort');
const { writeNpy } = require(path.join(ortDir, 'npy'));

const ALL_STAGES = ['text', 'unet512', 'unet768', 'vae', 'txt2img', 'start'];

function parseArgs(argv) {
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const a = {
    sinter: path.join(root, 'build/bin/sinter'),
    zoo: path.join(root, 'build/bin/sinter-zoo'),
    pipeline: process.env.SINTER_SD15_DIR || path.join(cache, 'sinter-sd15', 'sd15'),
    threads: 2, iterations: 3, rounds: 1, steps: 20, precision: 'f32', weights: 'f32',
    stages: ALL_STAGES, json: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--sinter') a.sinter = next();
    else if (k === '--zoo') a.zoo = next();
    else if (k === '--pipeline') a.pipeline = next();
    else if (k === '--threads') a.threads = Number(next());
    else if (k === '-n') a.iterations = Number(next());
    else if (k === '--rounds') a.rounds = Number(next());
    else if (k === '--steps') a.steps = Number(next());
    else if (k === '--precision') a.precision = next();
    else if (k === '--weights') a.weights = next();
    else if (k === '--stages') a.stages = next().split(',');
    else if (k === '--json') a.json = true;
    else if (k === '-h' || k === '--help') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 20).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${k} (see --help)`);
  }
  for (const [name, v] of [['--threads', a.threads], ['-n', a.iterations],
    ['--rounds', a.rounds], ['--steps', a.steps]])
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer`);
  const unknown = a.stages.filter((s) => !ALL_STAGES.includes(s));
  if (unknown.length) throw new Error(`unknown stage ${unknown.join(', ')} (${ALL_STAGES.join(', ')})`);
  if (!['f32', 'bf16'].includes(a.precision)) throw new Error('--precision is f32 or bf16');
  if (!['f32', 'f16'].includes(a.weights)) throw new Error('--weights is f32 or f16');
  return a;
}

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
const log = (a, line) => { if (!a.json) process.stderr.write(`${line}\n`); };

function runJson(cmd, args, env) {
  const out = execFileSync(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.toString());
}

function ensurePipeline(a) {
  if (fs.existsSync(path.join(a.pipeline, 'unet', 'model.onnx'))) return;
  log(a, `writing SD 1.5 (random weights, 4.3 GB) to ${a.pipeline} ...`);
  fs.mkdirSync(path.dirname(a.pipeline), { recursive: true });
  execFileSync(a.zoo, [path.dirname(a.pipeline), 'sd15'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

// Seeded uniform values in [-1, 1) for the inputs: both sides read the same files.
function randomFloats(n, seed) {
  let s = seed >>> 0;
  const v = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2147483648 - 1;
  }
  return v;
}

// The inputs of each stage as .npy files, written once next to the pipeline.
function stageInputs(a) {
  const dir = path.join(a.pipeline, '..', 'bench-inputs');
  fs.mkdirSync(dir, { recursive: true });
  const file = (name, type, data, dims) => {
    const p = path.join(dir, `${name}.npy`);
    if (!fs.existsSync(p)) writeNpy(p, type, data, dims);
    return p;
  };
  const ids = new Int32Array(77).fill(49407);
  ids.set([49406, 320, 1125, 539, 320, 2368]);
  const context = file('encoder_hidden_states', 'float32', randomFloats(2 * 77 * 768, 3), [2, 77, 768]);
  const timestep = file('timestep', 'int64', BigInt64Array.from([999n]), [1]);
  const unet = (size) => ({ model: 'unet', inputs: {
    sample: file(`sample_${size}`, 'float32', randomFloats(2 * 4 * (size / 8) ** 2, size),
        [2, 4, size / 8, size / 8]),
    timestep, encoder_hidden_states: context } });
  return {
    text: { label: 'text encoder, batch 1', model: 'text_encoder',
      inputs: { input_ids: file('input_ids', 'int32', ids, [1, 77]) } },
    unet512: { label: 'UNet step, batch 2, 512x512', ...unet(512) },
    unet768: { label: 'UNet step, batch 2, 768x768', ...unet(768) },
    vae: { label: 'VAE decode, 512x512', model: 'vae_decoder', inputs: {
      latent_sample: file('latent_sample', 'float32', randomFloats(4 * 64 * 64, 5), [1, 4, 64, 64]) } },
  };
}

const inputArgs = (inputs) => Object.entries(inputs).flatMap(([k, v]) => ['-i', `${k}=${v}`]);

function sinterEnv(a, cacheDir) {
  const env = { SINTER_CACHE_DIR: cacheDir };
  if (a.weights === 'f16') env.SINTER_WEIGHTS = 'f16';
  return env;
}

function sinterStage(a, stage, cacheDir, iterations) {
  const j = runJson(a.sinter, ['bench', path.join(a.pipeline, stage.model, 'model.onnx'),
    ...inputArgs(stage.inputs), '-d', 'CPU', '-n', String(iterations),
    '--threads', String(a.threads), '--precision', a.precision, '--json'], sinterEnv(a, cacheDir));
  return { ms: j.latency_ms.median, rss: j.peak_rss_mb, estimate: j.memory_estimate_mb,
    gflop: j.gflop };
}

function ortStage(a, stage, iterations) {
  const j = runJson('node', [path.join(ortDir, 'ort_bench.js'),
    path.join(a.pipeline, stage.model, 'model.onnx'), ...inputArgs(stage.inputs),
    '-n', String(iterations), '--threads', String(a.threads)],
  { NODE_PATH: path.join(ortDir, 'node_modules') });
  return { ms: j.median_ms, rss: j.peak_rss_mb };
}

// `sinter txt2img` with --timings-json; `ready_s` is when the first step began: its end less
// one steady step (the second's length), so it holds reading, compiling and encoding the prompt.
function sinterTxt2img(a, cacheDir, steps) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-bench-'));
  const timings = path.join(out, 'timings.json');
  const t0 = Date.now();
  execFileSync(a.sinter, ['txt2img', a.pipeline, '-p', 'a photo of a cat', '-n', 'blurry',
    '--sampler', 'Euler', '--steps', String(steps), '-W', '512', '-H', '512', '--seed', '1',
    '--threads', String(a.threads), '--precision', a.precision, '-d', 'CPU', '-q',
    '-o', path.join(out, 'out.png'), '--timings-json', timings],
  { env: { ...process.env, ...sinterEnv(a, cacheDir) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const wall = (Date.now() - t0) / 1000;
  const j = JSON.parse(fs.readFileSync(timings, 'utf8'));
  fs.rmSync(out, { recursive: true, force: true });
  const done = j.step_done_s;
  const steady = done.length > 1 ? done[1] - done[0] : 0;
  return { wall_s: wall, ready_s: done[0] - steady, first_step_done_s: done[0], steady_step_s: steady,
    rss: j.peak_rss_mb, plan_mb: j.memory_plan_peak_mb, stages: j.stages };
}

function ortTxt2img(a, steps) {
  const t0 = Date.now();
  const j = runJson('node', [path.join(ortDir, 'ort_txt2img.js'), a.pipeline, '--steps',
    String(steps), '--threads', String(a.threads)], { NODE_PATH: path.join(ortDir, 'node_modules') });
  return { wall_s: (Date.now() - t0) / 1000, load_s: j.load_ms / 1000, rss: j.peak_rss_mb,
    step_s: median(j.step_ms) / 1000 };
}

function machine(a) {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpu = (/^model name\s*:\s*(.*)$/m.exec(info) || [, 'unknown CPU'])[1];
  const family = (/^cpu family\s*:\s*(\d+)$/m.exec(info) || [, '?'])[1];
  const model = (/^model\s*:\s*(\d+)$/m.exec(info) || [, '?'])[1];
  const devices = runJson(a.sinter, ['devices', '--json'], {}).devices;
  const cpuDevice = devices.find((d) => d.name === 'CPU') || {};
  return { cpu, family, model, isa: cpuDevice.driver || 'unknown' };
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  ensurePipeline(a);
  const host = machine(a);
  log(a, `CPU: ${host.cpu} (family ${host.family}, model ${host.model}); oneDNN ISA ${host.isa}; ` +
      `${a.threads} threads each; sinter precision ${a.precision}, weights ${a.weights}`);
  const stages = stageInputs(a);
  const cacheDir = path.join(a.pipeline, '..', `bench-cache-${a.precision}-${a.weights}`);
  const rows = [];
  for (const name of a.stages.filter((s) => stages[s])) {
    const stage = stages[name];
    log(a, `${stage.label}: converting into sinter's model cache (once) ...`);
    sinterStage(a, stage, cacheDir, 1);
    const s = [], o = [];
    for (let r = 0; r < a.rounds; ++r) {
      log(a, `${stage.label}: round ${r + 1}/${a.rounds}`);
      s.push(sinterStage(a, stage, cacheDir, a.iterations));
      o.push(ortStage(a, stage, a.iterations));
    }
    rows.push({ stage: name, label: stage.label, sinter_ms: median(s.map((x) => x.ms)),
      ort_ms: median(o.map((x) => x.ms)), sinter_rss_mb: Math.max(...s.map((x) => x.rss)),
      ort_rss_mb: Math.max(...o.map((x) => x.rss)), sinter_estimate_mb: s[0].estimate,
      gflop: s[0].gflop });
  }
  const result = { cpu: host.cpu, cpu_family: host.family, cpu_model: host.model,
    onednn_isa: host.isa, threads: a.threads, precision: a.precision, weights: a.weights,
    iterations: a.iterations, rounds: a.rounds, rows };
  if (a.stages.includes('txt2img')) {
    log(a, `txt2img, ${a.steps} Euler steps at 512x512: sinter ...`);
    const s = sinterTxt2img(a, cacheDir, a.steps);
    log(a, `txt2img, ${a.steps} Euler steps at 512x512: ONNX Runtime ...`);
    const o = ortTxt2img(a, a.steps);
    result.txt2img = { steps: a.steps, sinter: s, ort: o };
  }
  if (a.stages.includes('start')) {
    const cold = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-bench-cold-'));
    log(a, 'cold start (empty model cache): sinter txt2img --steps 2 ...');
    const c = sinterTxt2img(a, cold, 2);
    log(a, 'cached start: sinter txt2img --steps 2 ...');
    const w = sinterTxt2img(a, cold, 2);
    fs.rmSync(cold, { recursive: true, force: true });
    result.start = { cold: c, cached: w };
  }
  if (a.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  print(result);
}

function print(r) {
  const pad = (v, n) => String(v).padStart(n);
  console.log(`CPU: ${r.cpu} (family ${r.cpu_family}, model ${r.cpu_model}); oneDNN ISA ` +
      `${r.onednn_isa}; ${r.threads} threads each; sinter ${r.precision}, weights ${r.weights}; ` +
      'ONNX Runtime f32');
  console.log(`${'stage'.padEnd(30)}${pad('sinter ms', 11)}${pad('ORT ms', 10)}${pad('ratio', 7)}` +
      `${pad('sinter MiB', 12)}${pad('ORT MiB', 9)}${pad('ratio', 7)}${pad('estimate', 10)}` +
      `${pad('GFLOP/s', 9)}`);
  for (const x of r.rows) {
    console.log(`${x.label.padEnd(30)}${pad(x.sinter_ms.toFixed(0), 11)}${pad(x.ort_ms.toFixed(0), 10)}` +
        `${pad((x.sinter_ms / x.ort_ms).toFixed(2), 7)}${pad(x.sinter_rss_mb.toFixed(0), 12)}` +
        `${pad(x.ort_rss_mb.toFixed(0), 9)}${pad((x.sinter_rss_mb / x.ort_rss_mb).toFixed(2), 7)}` +
        `${pad(x.sinter_estimate_mb.toFixed(0), 10)}` +
        `${pad((x.gflop / (x.sinter_ms / 1000)).toFixed(0), 9)}`);
  }
  if (r.txt2img) {
    const { sinter: s, ort: o, steps } = r.txt2img;
    console.log(`txt2img ${steps} steps 512x512: sinter ${s.wall_s.toFixed(1)} s, ` +
        `${s.rss.toFixed(0)} MiB (plan ${s.plan_mb.toFixed(0)}); ONNX Runtime ${o.wall_s.toFixed(1)} s, ` +
        `${o.rss.toFixed(0)} MiB; ratio ${(s.wall_s / o.wall_s).toFixed(2)} time, ` +
        `${(s.rss / o.rss).toFixed(2)} memory`);
  }
  if (r.start) {
    const { cold: c, cached: w } = r.start;
    console.log(`start to first UNet step: cold ${c.ready_s.toFixed(1)} s (${c.rss.toFixed(0)} MiB), ` +
        `cached ${w.ready_s.toFixed(1)} s (${w.rss.toFixed(0)} MiB): ` +
        `${(100 * w.ready_s / c.ready_s).toFixed(0)}% of cold`);
  }
  console.log(`medians of ${r.rounds} round(s) of ${r.iterations} inferences per stage`);
}

try {
  main();
} catch (e) {
  console.error(`sd_bench: ${e.message}`);
  process.exit(1);
}
