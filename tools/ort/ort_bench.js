#!/usr/bin/env node
'use strict';
// Times one ONNX model through ONNX Runtime (CPU provider, all graph optimisations) on .npy
// inputs: a first inference, then N timed ones; prints one JSON object (latencies in ms, peak
// RSS of this process in MiB). The ONNX Runtime side of bench/compare_ort.js.
//
//   node tools/ort/ort_bench.js MODEL.onnx -i NAME=FILE.npy [...] [-n N] [--threads T]

const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');

function parseArgs(argv) {
  const args = { inputs: [], iterations: 10, threads: 2, model: null };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '-i' || a === '--input') args.inputs.push(argv[++i]);
    else if (a === '-n') args.iterations = Number(argv[++i]);
    else if (a === '--threads') args.threads = Number(argv[++i]);
    else if (!args.model) args.model = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!args.model) throw new Error('no model given');
  if (!(args.iterations > 0)) throw new Error('-n must be positive');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(args.model, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const spec of args.inputs) {
    const eq = spec.indexOf('=');
    const t = readNpy(spec.slice(eq + 1));
    feeds[spec.slice(0, eq)] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const t1 = process.hrtime.bigint();
  await session.run(feeds);
  const firstMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const latencies = [];
  for (let i = 0; i < args.iterations; ++i) {
    const a = process.hrtime.bigint();
    await session.run(feeds);
    latencies.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  latencies.sort((x, y) => x - y);
  console.log(JSON.stringify({
    load_ms: loadMs,
    first_inference_ms: firstMs,
    iterations: latencies.length,
    median_ms: latencies[Math.floor(latencies.length / 2)],
    min_ms: latencies[0],
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }));
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
