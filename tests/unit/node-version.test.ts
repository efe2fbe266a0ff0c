/**
 * The project runs on Node.js 22 (the newest LTS Azure Functions supports GA on Flex Consumption; Node 20 reached end
 * of life on 2026-04-30). The CLI refuses an older Node in one line, before anything else loads,
 * and every place that names the version agrees: package.json "engines", bin/medallion.js,
 * .ci/run (which installs that Node for CI) and the GitHub workflow.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'medallion.js');
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');

// Required (not run as the main module): the gate only exports its check.
const gate = createRequire(__filename)(BIN) as {
  REQUIRED_NODE_MAJOR: number;
  nodeVersionProblem(version: string): string | undefined;
};

const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

/** Every distinct `node` executable on PATH, with its version. */
function nodesOnPath(): Array<{ bin: string; version: string }> {
  const seen = new Set<string>();
  const out: Array<{ bin: string; version: string }> = [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const bin = path.join(dir, 'node');
    let real: string;
    try {
      accessSync(bin, constants.X_OK);
      real = realpathSync(bin);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const r = spawnSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) out.push({ bin, version: r.stdout.trim() });
  }
  return out;
}

function runCli(nodeBin: string) {
  return spawnSync(nodeBin, [BIN, '--help'], { cwd: REPO, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
}

describe('the Node.js version the project needs', () => {
  it('is 22, and package.json "engines", .ci/run, the GitHub workflow and the function app (Bicep) say the same', () => {
    expect(gate.REQUIRED_NODE_MAJOR).toBe(22);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe(`>=${gate.REQUIRED_NODE_MAJOR}`);
    const ciNode = /target_node="\$\{MEDALLION_CI_NODE_VERSION:-(\d+\.\d+\.\d+)\}"/.exec(read('.ci/run'));
    expect(ciNode, '.ci/run pins the Node it installs').not.toBeNull();
    expect(major(ciNode![1]!)).toBe(gate.REQUIRED_NODE_MAJOR);
    const workflowVersions = [...read('.github/workflows/ci.yml').matchAll(/node-version:\s*['"]?([\d.x]+)/g)].map((m) => m[1]!);
    expect(workflowVersions.length).toBeGreaterThan(0);
    for (const v of workflowVersions) expect(major(v), `workflow node-version ${v}`).toBe(gate.REQUIRED_NODE_MAJOR);
    // The tests run on the Node the app runs on in Azure.
    for (const bicep of ['infra/main.bicep', 'infra/app/functionapp.bicep']) {
      const app = /^param nodeVersion string = '(\d+)'/m.exec(read(bicep));
      expect(app, `${bicep} declares nodeVersion`).not.toBeNull();
      expect(Number(app![1]), bicep).toBe(gate.REQUIRED_NODE_MAJOR);
    }
  });

  it('the check refuses an older Node in one line that names the Node needed and the one found', () => {
    for (const old of ['20.19.5', 'v21.7.3', '18.0.0', '16.20.2']) {
      const problem = gate.nodeVersionProblem(old);
      expect(problem, old).toBeDefined();
      expect(problem).not.toContain('\n');
      expect(problem).toContain('needs Node.js 22 or newer');
      expect(problem).toContain(old.replace(/^v/, ''));
    }
  });

  it('the check accepts Node 22 and newer', () => {
    for (const ok of ['22.0.0', 'v22.23.5', '24.22.3', '30.0.0']) expect(gate.nodeVersionProblem(ok), ok).toBeUndefined();
  });

  it('the CLI started on this Node: refused in one line with exit 1 when older, else it runs', () => {
    const r = runCli(process.execPath);
    if (major(process.versions.node) < gate.REQUIRED_NODE_MAJOR) {
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('medallion needs Node.js 22 or newer');
      expect(r.stdout).toBe('');
    } else {
      expect(r.stderr).not.toContain('needs Node.js');
      expect(r.status, r.stderr).toBe(0);
    }
  });

  // .ci/run puts Node 22 first on PATH, but the machine's own (older) Node is usually still there:
  // the refusal is checked with a real old Node whenever one is found.
  const older = nodesOnPath().filter((n) => major(n.version) < gate.REQUIRED_NODE_MAJOR);
  it.skipIf(older.length === 0)('the CLI started on an older Node found on PATH exits 1 with one line naming Node 22', () => {
    for (const n of older) {
      const r = runCli(n.bin);
      expect(r.status, `${n.bin} (${n.version})`).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toBe(
        `medallion needs Node.js 22 or newer (the LTS Azure Functions runs); this is Node.js ${n.version} (${realpathSync(n.bin)}): install Node.js 22 and run it again.`,
      );
      expect(r.stdout).toBe('');
    }
  });
});
