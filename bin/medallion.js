#!/usr/bin/env node
'use strict';
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
