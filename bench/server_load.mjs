// Load on `sinter serve`, loopback only and bounded: starts the server on a free port with one
// pipeline, runs CLIENTS concurrent clients that each send REQUESTS txt2img requests one after
// another, and reports latency percentiles of the accepted requests, how many were refused
// with 503 (queue full), and whether every accepted job was answered with its images (the
// server's own finished-job counter must equal the 200s). Exits 1 when a job was lost.
//
//   node bench/server_load.mjs --sinter build/bin/sinter --pipeline build/zoo/sd-tiny \
//     [--clients 8] [--requests 4] [--max-queue 4] [--steps 8] [--size 64]
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import fs from "node:fs";

function options(argv) {
  const o = { clients: 8, requests: 4, "max-queue": 4, steps: 8, size: 64 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in o) && key !== "sinter" && key !== "pipeline") {
      console.error(`unknown option ${argv[i]}`);
      process.exit(2);
    }
    o[key] = key === "sinter" || key === "pipeline" ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!o.sinter || !o.pipeline) {
    console.error("usage: server_load.mjs --sinter BIN --pipeline DIR [--clients N] [--requests M] " +
      "[--max-queue Q] [--steps S] [--size PIXELS]");
    process.exit(2);
  }
  for (const k of ["clients", "requests", "steps", "size"])
    if (!(o[k] >= 1 && o[k] <= 1000)) { console.error(`--${k} must be 1..1000`); process.exit(2); }
  return o;
}

const o = options(process.argv.slice(2));
const cache = fs.mkdtempSync(path.join(os.tmpdir(), "sinter-load-"));
const server = spawn(o.sinter, ["serve", "--model", o.pipeline, "--port", "0", "--max-queue",
  String(o["max-queue"])], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, SINTER_CACHE_DIR: cache } });
let out = "";
server.stdout.on("data", (d) => (out += d));
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no URL after 120 s:\n" + out)), 120000);
  server.stdout.on("data", () => {
    const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  });
  server.on("exit", () => reject(new Error("the server exited:\n" + out)));
});

const body = (seed) => JSON.stringify({ prompt: "a lighthouse at dusk", steps: o.steps, width: o.size,
  height: o.size, seed, sampler_name: "Euler" });
// One warm-up job compiles the UNet and VAE for the size, so latencies are of generations.
await fetch(base + "/sdapi/v1/txt2img", { method: "POST", body: body(0) }).then((r) => r.text());
const before = await (await fetch(base + "/sinter/v1/queue")).json();

const latencies = [];
let refused = 0, missingImages = 0, otherErrors = 0;
const start = performance.now();
await Promise.all(Array.from({ length: o.clients }, async (_, client) => {
  for (let k = 0; k < o.requests; ++k) {
    const t0 = performance.now();
    const res = await fetch(base + "/sdapi/v1/txt2img", { method: "POST", body: body(1 + client * o.requests + k) });
    const text = await res.text();
    if (res.status === 200) {
      latencies.push(performance.now() - t0);
      if (JSON.parse(text).images?.length !== 1) missingImages++;
    } else if (res.status === 503) {
      refused++;
      // A client that respects Retry-After would wait; this one waits a little and goes on.
      await new Promise((r) => setTimeout(r, 50));
    } else {
      otherErrors++;
      console.error(`client ${client}: ${res.status} ${text.slice(0, 200)}`);
    }
  }
}));
const wall = (performance.now() - start) / 1000;
const after = await (await fetch(base + "/sinter/v1/queue")).json();
server.kill("SIGTERM");
await new Promise((r) => server.on("exit", r));
fs.rmSync(cache, { recursive: true, force: true });

latencies.sort((a, b) => a - b);
const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN;
const delta = (k) => after[k] - before[k];
// Every job the queue took ends finished, failed or cancelled; each must have reached its
// client as a 200 with its image.
const taken = delta("finished") + delta("failed") + delta("cancelled");
const answered = latencies.length - missingImages;
const lost = taken - answered;
console.log(`sinter serve load: ${o.clients} clients x ${o.requests} requests, txt2img ${o.size}x${o.size}, ` +
  `${o.steps} steps, --max-queue ${o["max-queue"]}`);
console.log(`  accepted ${latencies.length}, refused 503 ${refused}, other errors ${otherErrors}, ` +
  `in ${wall.toFixed(1)} s (${(latencies.length / wall).toFixed(2)} images/s)`);
console.log(`  latency of accepted requests: p50 ${(pct(0.5) / 1000).toFixed(2)} s, ` +
  `p99 ${(pct(0.99) / 1000).toFixed(2)} s, max ${(latencies.at(-1) / 1000).toFixed(2)} s`);
console.log(`  server: ${taken} jobs taken, ${delta("finished")} finished, ${delta("failed")} failed, ` +
  `${delta("cancelled")} cancelled, ${delta("rejected")} rejected; accepted jobs lost: ${lost}`);
process.exit(lost === 0 && otherErrors === 0 && delta("rejected") === refused ? 0 : 1);
