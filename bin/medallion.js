#!/usr/bin/env node
'use strict';
// Node-version gate, before anything else loads. Written for any Node (no `?.`, `??`, `let`), so
// an old Node prints this one line instead of a syntax error from deep inside dist/. Keep
// REQUIRED_NODE_MAJOR equal to package.json "engines" (tests/unit/node-version.test.ts checks).
var REQUIRED_NODE_MAJOR = 22;
function nodeVersionProblem(version) {
  var major = Number(String(version).replace(/^v/, '').split('.')[0]);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  return 'medallion needs Node.js ' + REQUIRED_NODE_MAJOR + ' or newer (the LTS Azure Functions runs); this is Node.js ' +
    String(version).replace(/^v/, '') + ' (' + process.execPath + '): install Node.js ' + REQUIRED_NODE_MAJOR + ' and run it again.';
}
if (require.main !== module) {
  // Required by the tests: expose the check, run nothing.
  module.exports = { REQUIRED_NODE_MAJOR: REQUIRED_NODE_MAJOR, nodeVersionProblem: nodeVersionProblem };
  return;
}
var nodeProblem = nodeVersionProblem(process.versions.node);
if (nodeProblem) {
  console.error(nodeProblem);
  process.exit(1);
}
// The CLI is TypeScript compiled to dist/ (npm install runs the build via "prepare").
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'shared', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('medallion is not built yet: run `npm install` (or `npm run build`) in the repository first.');
  process.exit(2);
}
// runCli waits for stdout/stderr to drain before it exits: piped output is never cut off.
require(entry).runCli(process.argv.slice(2));
