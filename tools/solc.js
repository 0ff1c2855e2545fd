#!/usr/bin/env node
// A `solc` executable over solc-js (the official compiler built to WebAssembly), for machines
// where native solc cannot be downloaded. It answers the two calls py-solc-x and ape-solidity
// make: `--version` (in native solc's format, which they parse) and `--standard-json` (JSON on
// stdin, imports resolved from --base-path and --include-path like native solc).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

function fail(msg) {
  process.stderr.write(`solc (solc-js wrapper): ${msg}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
let standardJson = false;
let basePath = null;
const includePaths = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--version' || a === '-v') {
    const v = solc.version().replace('.Emscripten.clang', '.Linux.g++');
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${v}\n`);
    process.exit(0);
  } else if (a === '--standard-json') {
    standardJson = true;
  } else if (a === '--base-path') {
    basePath = args[++i];
  } else if (a === '--include-path') {
    includePaths.push(args[++i]);
  } else if (a === '--allow-paths' || a === '--output-dir') {
    i++; // solc-js reads only what the callback below allows: base and include paths
  } else if (a === '-' || a === '--allow-empty') {
    // stdin marker / accepted for compatibility
  } else if (a === '--help') {
    process.stdout.write('usage: solc --version | solc --standard-json [--base-path P] [--include-path P]...\n');
    process.exit(0);
  } else {
    fail(`unsupported option ${a}; only --version and --standard-json are implemented`);
  }
}
if (!standardJson) fail('only --standard-json mode is supported');

const roots = [basePath || process.cwd(), ...includePaths];

function resolveFile(p) {
  const candidates = path.isAbsolute(p) ? [p] : roots.map((r) => path.resolve(r, p));
  for (const c of candidates) {
    if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  }
  return null;
}

function findImports(p) {
  const f = resolveFile(p);
  if (f === null) return { error: `File not found: ${p} (searched ${roots.join(', ')})` };
  return { contents: fs.readFileSync(f, 'utf8') };
}

let raw;
try {
  raw = fs.readFileSync(0, 'utf8');
} catch (e) {
  fail(`cannot read standard input: ${e.message}`);
}
let input;
try {
  input = JSON.parse(raw);
} catch (e) {
  fail(`standard input is not JSON: ${e.message}`);
}
// Native solc loads `urls` itself; solc-js only sees `content`, so inline the files here.
for (const [name, src] of Object.entries(input.sources || {})) {
  if (src.content === undefined && Array.isArray(src.urls)) {
    const found = src.urls.map(resolveFile).find((f) => f !== null);
    if (!found) fail(`source ${name}: none of ${src.urls.join(', ')} found`);
    input.sources[name] = { content: fs.readFileSync(found, 'utf8') };
  }
}
process.stdout.write(solc.compile(JSON.stringify(input), { import: findImports }));
