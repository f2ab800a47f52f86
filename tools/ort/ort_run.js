#!/usr/bin/env node
'use strict';
// Runs one ONNX model through ONNX Runtime (CPU provider) on .npy inputs and writes each output
// as <output-dir>/<name>.npy, with the same name sanitising as `sinter run`.
//
//   node tools/ort/ort_run.js MODEL.onnx -i NAME=FILE.npy [...] -o DIR [--threads N] [--unoptimized]
//
// --unoptimized runs the graph as written (no fusions): for QDQ models that is the ONNX
// definition itself (QuantizeLinear, DequantizeLinear and an f32 Conv), where ONNX Runtime's
// optimised graph requantizes through its own fused QLinearConv.

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, writeNpy } = require('./npy');

function parseArgs(argv) {
  const args = { inputs: [], outputDir: 'outputs', threads: 0, model: null, optimize: true };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '-i' || a === '--input') args.inputs.push(argv[++i]);
    else if (a === '-o' || a === '--output-dir') args.outputDir = argv[++i];
    else if (a === '--threads') args.threads = Number(argv[++i]);
    else if (a === '--unoptimized') args.optimize = false;
    else if (a === '-h' || a === '--help') {
      console.log('usage: ort_run.js MODEL -i NAME=FILE.npy [...] -o DIR [--threads N] [--unoptimized]');
      process.exit(0);
    } else if (!args.model) args.model = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!args.model) throw new Error('no model given');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const options = { graphOptimizationLevel: args.optimize ? 'all' : 'disabled' };
  if (args.threads > 0) options.intraOpNumThreads = args.threads;
  const session = await ort.InferenceSession.create(args.model, options);
  const feeds = {};
  for (const spec of args.inputs) {
    const eq = spec.indexOf('=');
    if (eq < 0) throw new Error(`input ${spec}: expected NAME=FILE`);
    const t = readNpy(spec.slice(eq + 1));
    feeds[spec.slice(0, eq)] = new ort.Tensor(t.type, t.data, t.dims);
  }
  const results = await session.run(feeds);
  fs.mkdirSync(args.outputDir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    const file = name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy';
    writeNpy(path.join(args.outputDir, file), t.type, t.data, t.dims);
  }
}

main().catch((e) => {
  console.error(`ort_run: ${e.message}`);
  process.exit(1);
});
