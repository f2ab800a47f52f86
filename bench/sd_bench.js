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
// cached start; and the error the weights setting's f16 and int8 copies, and the UNet converted
// with --compress int8, cause in one UNet step's output against f32 weights. Prints the CPU
// model and the ratios (sinter / ONNX Runtime: below 1 is faster, or smaller). Timing only: no
// pass/fail.
//
//   node bench/sd_bench.js [--sinter build/bin/sinter] [--zoo build/bin/sinter-zoo]
//        [--pipeline DIR] [--threads 2] [-n 3] [--rounds 1] [--steps 20]
//        [--precision f32|bf16] [--weights f32|f16|int8]
//        [--stages text,unet512,unet768,vae,txt2img,start,error]
//        [--json]
// --pipeline defaults to $SINTER_SD15_DIR or ~/.cache/sinter-sd15/sd15 (made when missing,
// 4.3 GB). --precision and --weights set sinter's (ONNX Runtime stays f32).

const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { machine, median } = require('./bench_host');

const root = path.resolve(__dirname, '..');
const ortDir = path.join(root, 'tools/ort');
const { readNpy, writeNpy } = require(path.join(ortDir, 'npy'));

const ALL_STAGES = ['text', 'unet512', 'unet768', 'vae', 'txt2img', 'start', 'error'];

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
  if (!['f32', 'f16', 'int8'].includes(a.weights)) throw new Error('--weights is f32, f16 or int8');
  return a;
}

const log = (a, line) => { if (!a.json) process.stderr.write(`${line}\n`); };

// A side's JSON; a process that fails (ONNX Runtime killed by the kernel's out-of-memory killer
// at 768x768, say) throws an Error whose message says how it ended.
function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status === 0) return JSON.parse(r.stdout.toString());
  const how = r.signal === 'SIGKILL' ? 'killed (SIGKILL: out of memory?)'
    : r.signal ? `killed by ${r.signal}` : `exit status ${r.status}: ${r.stderr.toString().trim().split('\n').pop()}`;
  throw new Error(`${path.basename(args[0] && cmd === 'node' ? args[0] : cmd)} ${how}`);
}

// { ms, rss } of a side, or { error } where its process failed.
function attempt(run) {
  try {
    return run();
  } catch (e) {
    return { ms: NaN, rss: NaN, error: e.message };
  }
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
  // The benchmark's own cache holds f32, bf16, f16 and int8 compiles of the UNet at two sizes
  // (about 20 GiB): under the default 10 GiB cap each stage evicted the last one's entries, the
  // one in use among them, and every run compiled again.
  const env = { SINTER_CACHE_DIR: cacheDir, SINTER_CACHE_SIZE: '40GiB' };
  env.SINTER_WEIGHTS = a.weights;
  return env;
}

function sinterStage(a, stage, cacheDir, iterations) {
  const j = runJson(a.sinter, ['bench', path.join(a.pipeline, stage.model, 'model.onnx'),
    ...inputArgs(stage.inputs), '-d', 'CPU', '-n', String(iterations),
    '--threads', String(a.threads), '--precision', a.precision, '--json'], sinterEnv(a, cacheDir));
  return { ms: j.latency_ms.median, rss: j.peak_rss_mb, estimate: j.memory_estimate_mb,
    baseline: j.baseline_rss_mb, gflop: j.gflop };
}

function ortStage(a, stage, iterations) {
  const j = runJson('node', [path.join(ortDir, 'ort_bench.js'),
    path.join(a.pipeline, stage.model, 'model.onnx'), ...inputArgs(stage.inputs),
    '-n', String(iterations), '--threads', String(a.threads)],
  { NODE_PATH: path.join(ortDir, 'node_modules') });
  return { ms: j.median_ms, rss: j.peak_rss_mb };
}

// `sinter txt2img` with --timings-json; `ready_s` is when the first step began: its end less
// one steady step (the median length of the later steps), so it holds reading, compiling and
// encoding the prompt.
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
  const lengths = done.slice(1).map((t, i) => t - done[i]).sort((x, y) => x - y);
  const steady = lengths.length ? lengths[Math.floor(lengths.length / 2)] : 0;
  return { wall_s: wall, ready_s: done[0] - steady, first_step_done_s: done[0], steady_step_s: steady,
    rss: j.peak_rss_mb, plan_mb: j.memory_plan_peak_mb, stages: j.stages };
}

// The UNet converted with `sinter convert --compress int8` (once, next to the pipeline):
// { file, convert_s (0 when it was there), file_mb }.
function int8File(a) {
  const file = path.join(a.pipeline, '..', 'unet-int8.sinter');
  let convertS = 0;
  if (!fs.existsSync(file)) {
    const t0 = Date.now();
    execFileSync(a.sinter, ['convert', path.join(a.pipeline, 'unet', 'model.onnx'), '-o', file,
      '--compress', 'int8'], { stdio: ['ignore', 'ignore', 'inherit'] });
    convertS = (Date.now() - t0) / 1000;
  }
  return { file, convert_s: convertS, file_mb: fs.statSync(file).size / 1048576 };
}

// One UNet step (batch 2, 512x512) through `sinter run` with each weights setting and with the
// int8 file; their outputs against the f32 one: largest difference, largest |f32 value|, and
// the RMS of the difference over the RMS of the f32 output. The int8 file's step is also timed
// (`sinter bench`, median and peak RSS).
function weightsError(a, stage, cacheDir) {
  const outputs = {};
  const int8 = int8File(a);
  const unet = path.join(a.pipeline, stage.model, 'model.onnx');
  const runs = [['f32', unet], ['f16', unet], ['int8', unet], ['int8 file', int8.file]];
  for (const [weights, model] of runs) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-bench-weights-'));
    execFileSync(a.sinter, ['run', model, ...inputArgs(stage.inputs), '-d', 'CPU', '-o', dir,
      '--threads', String(a.threads)],
    { env: { ...process.env, ...sinterEnv(a, cacheDir),
      SINTER_WEIGHTS: weights === 'int8 file' ? 'f32' : weights },
    stdio: ['ignore', 'ignore', 'inherit'] });
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.npy'));
    outputs[weights] = readNpy(path.join(dir, file)).data;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const j = runJson(a.sinter, ['bench', int8.file, ...inputArgs(stage.inputs), '-d', 'CPU',
    '-n', String(a.iterations), '--threads', String(a.threads), '--json'],
  { ...sinterEnv(a, cacheDir), SINTER_WEIGHTS: 'f32' });
  int8.ms = j.latency_ms.median;
  int8.rss = j.peak_rss_mb;
  int8.estimate = j.memory_estimate_mb;
  const ref = outputs.f32;
  const rms = (f) => Math.sqrt(ref.reduce((acc, _, i) => acc + f(i) ** 2, 0) / ref.length);
  const refRms = rms((i) => ref[i]);
  return Object.fromEntries(['f16', 'int8', 'int8 file'].map((w) => {
    let worst = 0, largest = 0;
    for (let i = 0; i < ref.length; ++i) {
      worst = Math.max(worst, Math.abs(outputs[w][i] - ref[i]));
      largest = Math.max(largest, Math.abs(ref[i]));
    }
    return [w, { max_abs_diff: worst, max_abs_f32: largest,
      relative_rms: rms((i) => outputs[w][i] - ref[i]) / refRms,
      ...(w === 'int8 file' ? { int8_file: int8 } : {}) }];
  }));
}

function ortTxt2img(a, steps) {
  const t0 = Date.now();
  const j = runJson('node', [path.join(ortDir, 'ort_txt2img.js'), a.pipeline, '--steps',
    String(steps), '--threads', String(a.threads)], { NODE_PATH: path.join(ortDir, 'node_modules') });
  return { wall_s: (Date.now() - t0) / 1000, load_s: j.load_ms / 1000, rss: j.peak_rss_mb,
    step_s: median(j.step_ms) / 1000 };
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  ensurePipeline(a);
  const host = machine(a.sinter);
  log(a, `CPU: ${host.cpu} (family ${host.family}, model ${host.model}); oneDNN ISA ${host.isa}; ` +
      `${a.threads} threads each; sinter precision ${a.precision}, weights ${a.weights}`);
  const stages = stageInputs(a);
  const cacheDir = path.join(a.pipeline, '..', 'bench-cache');  // compiles keyed by settings
  const rows = [];
  for (const name of a.stages.filter((s) => stages[s])) {
    const stage = stages[name];
    log(a, `${stage.label}: converting into sinter's model cache (once) ...`);
    sinterStage(a, stage, cacheDir, 1);
    const s = [], o = [];
    for (let r = 0; r < a.rounds; ++r) {
      log(a, `${stage.label}: round ${r + 1}/${a.rounds}`);
      s.push(attempt(() => sinterStage(a, stage, cacheDir, a.iterations)));
      o.push(attempt(() => ortStage(a, stage, a.iterations)));
    }
    const row = { stage: name, label: stage.label, sinter_ms: median(s.map((x) => x.ms)),
      ort_ms: median(o.map((x) => x.ms)), sinter_rss_mb: Math.max(...s.map((x) => x.rss)),
      ort_rss_mb: Math.max(...o.map((x) => x.rss)), sinter_estimate_mb: s[0].estimate,
      sinter_baseline_mb: s[0].baseline, gflop: s[0].gflop, sinter_error: s.find((x) => x.error)?.error,
      ort_error: o.find((x) => x.error)?.error };
    rows.push(row);
    log(a, `  ${JSON.stringify(row)}`);  // kept in the log should a later stage fail
  }
  const result = { cpu: host.cpu, cpu_family: host.family, cpu_model: host.model,
    onednn_isa: host.isa, threads: a.threads, precision: a.precision, weights: a.weights,
    iterations: a.iterations, rounds: a.rounds, rows };
  if (a.stages.includes('txt2img')) {
    log(a, `txt2img, ${a.steps} Euler steps at 512x512: sinter ...`);
    const s = sinterTxt2img(a, cacheDir, a.steps);
    log(a, `txt2img, ${a.steps} Euler steps at 512x512: ONNX Runtime ...`);
    const o = attempt(() => ortTxt2img(a, a.steps));
    result.txt2img = { steps: a.steps, sinter: s, ort: o };
  }
  if (a.stages.includes('start')) {
    const cold = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-bench-cold-'));
    log(a, 'cold start (empty model cache): sinter txt2img --steps 4 ...');
    // Four steps: a steady step varies by several tenths of a second on a VM, as much as a
    // cached start takes, so its median over three is taken.
    const c = sinterTxt2img(a, cold, 4);
    // The cached start once per round, its median reported.
    const cached = [];
    for (let round = 1; round <= a.rounds; ++round) {
      log(a, `cached start: sinter txt2img --steps 4, round ${round}/${a.rounds} ...`);
      cached.push(sinterTxt2img(a, cold, 4));
    }
    fs.rmSync(cold, { recursive: true, force: true });
    cached.sort((x, y) => x.ready_s - y.ready_s);
    result.start = { cold: c, cached: cached[Math.floor(cached.length / 2)],
      cached_ready_s: cached.map((x) => x.ready_s) };
  }
  if (a.stages.includes('error')) {
    log(a, 'UNet step with f32, f16 and int8 weights and from the int8 file: output error ...');
    result.weights_error = weightsError(a, stages.unet512, cacheDir);
  }
  if (a.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  print(result);
}

// What a stage's model added to sinter's process: its peak RSS less what the process held
// before reading the model. The preflight's estimate predicts this, not the libraries' share.
function grown(x) {
  return x.sinter_rss_mb - x.sinter_baseline_mb;
}

function print(r) {
  const pad = (v, n) => String(v).padStart(n);
  console.log(`CPU: ${r.cpu} (family ${r.cpu_family}, model ${r.cpu_model}); oneDNN ISA ` +
      `${r.onednn_isa}; ${r.threads} threads each; sinter ${r.precision}, weights ${r.weights}; ` +
      'ONNX Runtime f32');
  console.log(`${'stage'.padEnd(30)}${pad('sinter ms', 11)}${pad('ORT ms', 10)}${pad('ratio', 7)}` +
      `${pad('sinter MiB', 12)}${pad('ORT MiB', 9)}${pad('ratio', 7)}${pad('estimate', 10)}` +
      `${pad('grown', 7)}${pad('est.err', 8)}${pad('GFLOP/s', 9)}`);
  const f = (v, digits) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
  for (const x of r.rows) {
    console.log(`${x.label.padEnd(30)}${pad(f(x.sinter_ms, 0), 11)}${pad(f(x.ort_ms, 0), 10)}` +
        `${pad(f(x.sinter_ms / x.ort_ms, 2), 7)}${pad(f(x.sinter_rss_mb, 0), 12)}` +
        `${pad(f(x.ort_rss_mb, 0), 9)}${pad(f(x.sinter_rss_mb / x.ort_rss_mb, 2), 7)}` +
        `${pad(f(x.sinter_estimate_mb, 0), 10)}${pad(f(grown(x), 0), 7)}` +
        `${pad(f(100 * (x.sinter_estimate_mb / grown(x) - 1), 1) + '%', 8)}` +
        `${pad(f(x.gflop / (x.sinter_ms / 1000), 0), 9)}`);
  }
  console.log('estimate: what the preflight expects the model to add to the process; grown: ' +
      'peak RSS less the RSS before the model was read (libraries, runtime); est.err: the ' +
      'estimate against grown');
  for (const x of r.rows) {
    if (x.sinter_error) console.log(`${x.label}: sinter ${x.sinter_error}`);
    if (x.ort_error) console.log(`${x.label}: ONNX Runtime ${x.ort_error}`);
  }
  if (r.txt2img) {
    const { sinter: s, ort: o, steps } = r.txt2img;
    console.log(`txt2img ${steps} steps 512x512: sinter ${s.wall_s.toFixed(1)} s, ` +
        `${s.rss.toFixed(0)} MiB (plan ${s.plan_mb.toFixed(0)}); ONNX Runtime ` +
        (o.error ? o.error : `${o.wall_s.toFixed(1)} s, ${o.rss.toFixed(0)} MiB; ratio ` +
          `${(s.wall_s / o.wall_s).toFixed(2)} time, ${(s.rss / o.rss).toFixed(2)} memory`));
  }
  if (r.start) {
    const { cold: c, cached: w, cached_ready_s: all } = r.start;
    const spread = all.length > 1 ?
      ` (median of ${all.length}: ${all.map((t) => t.toFixed(1)).join(', ')})` : '';
    console.log(`start to first UNet step: cold ${c.ready_s.toFixed(1)} s (${c.rss.toFixed(0)} MiB), ` +
        `cached ${w.ready_s.toFixed(1)} s${spread} (${w.rss.toFixed(0)} MiB): ` +
        `${(100 * w.ready_s / c.ready_s).toFixed(0)}% of cold`);
  }
  if (r.weights_error) {
    for (const [w, e] of Object.entries(r.weights_error)) {
      console.log(`UNet step output with ${w} weights vs f32 weights: max |diff| ` +
          `${e.max_abs_diff.toPrecision(3)} (max |f32| ${e.max_abs_f32.toPrecision(3)}), ` +
          `RMS of diff / RMS of output ${e.relative_rms.toExponential(2)}`);
      const f = e.int8_file;
      if (f) {
        console.log(`UNet converted with --compress int8: ${f.file_mb.toFixed(0)} MiB file` +
            (f.convert_s ? ` (converted in ${f.convert_s.toFixed(1)} s)` : '') +
            `; one step ${f.ms.toFixed(0)} ms, peak RSS ${f.rss.toFixed(0)} MiB ` +
            `(estimate ${f.estimate.toFixed(0)})`);
      }
    }
  }
  console.log(`medians of ${r.rounds} round(s) of ${r.iterations} inferences per stage`);
}

try {
  main();
} catch (e) {
  console.error(`sd_bench: ${e.message}`);
  process.exit(1);
}
