'use strict';
// What the benchmark drivers (compare_ort.js, sd_bench.js) share: the machine as a benchmark
// table must name it (CPU model and the ISA oneDNN runs, from `sinter devices --json`) and the
// median they quote.

const { execFileSync } = require('child_process');
const fs = require('fs');

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];

function machine(sinter) {
  const info = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpu = (/^model name\s*:\s*(.*)$/m.exec(info) || [, 'unknown CPU'])[1];
  const family = (/^cpu family\s*:\s*(\d+)$/m.exec(info) || [, '?'])[1];
  const model = (/^model\s*:\s*(\d+)$/m.exec(info) || [, '?'])[1];
  const devices = JSON.parse(execFileSync(sinter, ['devices', '--json']).toString()).devices;
  const cpuDevice = devices.find((d) => d.name === 'CPU') || {};
  return { cpu, family, model, isa: cpuDevice.driver || 'unknown',
    capabilities: cpuDevice.capabilities || [] };
}

module.exports = { machine, median };
