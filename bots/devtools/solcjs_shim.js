#!/usr/bin/env node
// Makes solc-js (the official compiler built to WebAssembly, from node_modules) answer like a
// native solc binary, so py-solc-x can drive it: `--version` prints the native banner and
// `--standard-json` reads the input JSON on stdin and writes only the output JSON to stdout.
// Other flags py-solc-x may pass (for example --allow-paths) do not apply: every source is
// passed inline in the standard JSON input.
"use strict";
const path = require("path");
const root = process.env.OTCMM_NODE_MODULES || path.join(__dirname, "..", "..", "node_modules");
const solc = require(path.join(root, "solc"));

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solcjs_shim: only --version and --standard-json are supported\n");
  process.exit(2);
}
const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
});
