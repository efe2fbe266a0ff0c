/**
 * A small Bicep reader for the infra tests. No Bicep compiler can run here, so the templates are
 * parsed with tree-sitter-bicep (its WebAssembly build, loaded by web-tree-sitter) and the tests
 * walk the syntax tree: declarations, object properties, literal values and references.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';

export type { Node };

export const REPO = path.resolve(__dirname, '../..');
export const INFRA = path.join(REPO, 'infra');

const require_ = createRequire(__filename);

let parserPromise: Promise<Parser> | undefined;

/** The tree-sitter parser with the Bicep grammar loaded (created once per test file). */
export function bicepParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const language = await Language.load(require_.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

/** Every .bicep file under infra/, as paths relative to the repository. */
export function bicepFiles(dir = INFRA): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...bicepFiles(full));
    else if (entry.endsWith('.bicep')) out.push(path.relative(REPO, full));
  }
  return out;
}

export interface Decorator {
  name: string;
  args: Node[];
}

export interface Param {
  name: string;
  type: string;
  defaultValue?: Node;
  nullable: boolean;
  decorators: Decorator[];
  node: Node;
}

export interface Resource {
  symbol: string;
  type: string;
  apiVersion: string;
  existing: boolean;
  /** The resource body (for a loop, the body of one iteration). */
  body: Node;
  condition?: Node;
  loop?: Node;
  decorators: Decorator[];
  node: Node;
}

export interface Module {
  symbol: string;
  path: string;
  body: Node;
  condition?: Node;
  decorators: Decorator[];
  node: Node;
}

export interface Output {
  name: string;
  type: string;
  value: Node;
  decorators: Decorator[];
}

export class BicepFile {
  readonly params = new Map<string, Param>();
  readonly vars = new Map<string, Node>();
  readonly resources: Resource[] = [];
  readonly modules: Module[] = [];
  readonly outputs = new Map<string, Output>();
  readonly metadata = new Map<string, Node>();
  targetScope = 'resourceGroup';

  constructor(
    readonly relPath: string,
    readonly source: string,
    readonly root: Node,
  ) {
    for (const node of root.namedChildren) {
      if (!node) continue;
      const decorators = decoratorsOf(node);
      switch (node.type) {
        case 'target_scope_assignment': {
          const value = node.namedChildren.find((c) => c?.type === 'string');
          if (value) this.targetScope = stringValue(value) ?? this.targetScope;
          break;
        }
        case 'metadata_declaration': {
          const [id, value] = node.namedChildren.filter((c): c is Node => c !== null && c.type !== 'metadata');
          if (id && value) this.metadata.set(id.text, value);
          break;
        }
        case 'parameter_declaration': {
          const id = node.namedChildren.find((c) => c?.type === 'identifier');
          const typeNode = node.namedChildren.find((c) => c?.type === 'type' || c?.type === 'nullable_type');
          const eq = node.children.findIndex((c) => c?.type === '=');
          const defaultValue = eq >= 0 ? (node.children[eq + 1] ?? undefined) : undefined;
          if (!id) break;
          this.params.set(id.text, {
            name: id.text,
            type: typeNode?.text.replace(/\?$/, '') ?? '',
            defaultValue,
            nullable: typeNode?.text.endsWith('?') ?? false,
            decorators,
            node,
          });
          break;
        }
        case 'variable_declaration': {
          const id = node.namedChildren.find((c) => c?.type === 'identifier');
          const eq = node.children.findIndex((c) => c?.type === '=');
          const value = node.children[eq + 1];
          if (id && value) this.vars.set(id.text, value);
          break;
        }
        case 'resource_declaration': {
          const id = node.namedChildren.find((c) => c?.type === 'identifier');
          const typeString = node.namedChildren.find((c) => c?.type === 'string');
          const existing = node.children.some((c) => c?.type === 'existing');
          const eq = node.children.findIndex((c) => c?.type === '=');
          const value = node.children[eq + 1];
          if (!id || !typeString || !value) break;
          const [type = '', apiVersion = ''] = (stringValue(typeString) ?? '').split('@');
          this.resources.push({ symbol: id.text, type, apiVersion, existing, decorators, node, ...unwrapBody(value) });
          break;
        }
        case 'module_declaration': {
          const id = node.namedChildren.find((c) => c?.type === 'identifier');
          const pathString = node.namedChildren.find((c) => c?.type === 'string');
          const eq = node.children.findIndex((c) => c?.type === '=');
          const value = node.children[eq + 1];
          if (!id || !pathString || !value) break;
          const { body, condition } = unwrapBody(value);
          this.modules.push({ symbol: id.text, path: stringValue(pathString) ?? '', body, condition, decorators, node });
          break;
        }
        case 'output_declaration': {
          const id = node.namedChildren.find((c) => c?.type === 'identifier');
          const typeNode = node.namedChildren.find((c) => c?.type === 'type');
          const eq = node.children.findIndex((c) => c?.type === '=');
          const value = node.children[eq + 1];
          if (id && value) this.outputs.set(id.text, { name: id.text, type: typeNode?.text ?? '', value, decorators });
          break;
        }
      }
    }
  }

  resource(symbol: string): Resource {
    const r = this.resources.find((x) => x.symbol === symbol);
    if (!r) throw new Error(`${this.relPath}: no resource '${symbol}'`);
    return r;
  }

  resourcesOfType(type: string): Resource[] {
    return this.resources.filter((r) => r.type.toLowerCase() === type.toLowerCase());
  }

  module(symbol: string): Module {
    const m = this.modules.find((x) => x.symbol === symbol);
    if (!m) throw new Error(`${this.relPath}: no module '${symbol}'`);
    return m;
  }

  param(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new Error(`${this.relPath}: no param '${name}'`);
    return p;
  }

  /**
   * Evaluates an expression to a JSON value where that is possible without deploying: literals,
   * arrays and objects of them, variables, and parameter defaults (or the values in `params`).
   * Anything else (function calls, resource references) yields UNKNOWN.
   */
  evaluate(node: Node | null | undefined, params: Record<string, unknown> = {}, depth = 0): unknown {
    if (!node || depth > 50) return UNKNOWN;
    switch (node.type) {
      case 'string': {
        const parts: string[] = [];
        for (const child of node.namedChildren) {
          if (!child) continue;
          if (child.type === 'string_content') parts.push(child.text);
          else if (child.type === 'escape_sequence') parts.push(unescape(child.text));
          else if (child.type === 'interpolation') {
            const inner = child.namedChildren[0];
            const v = this.evaluate(inner, params, depth + 1);
            if (v === UNKNOWN || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) return UNKNOWN;
            parts.push(String(v));
          }
        }
        return parts.join('');
      }
      case 'number':
        return Number(node.text);
      case 'boolean':
        return node.text === 'true';
      case 'null':
        return null;
      case 'array':
        return node.namedChildren.filter((c): c is Node => c !== null).map((c) => this.evaluate(c, params, depth + 1));
      case 'object': {
        const out: Record<string, unknown> = {};
        for (const [k, v] of objectEntries(node)) out[k] = this.evaluate(v, params, depth + 1);
        return out;
      }
      case 'parenthesized_expression':
        return this.evaluate(node.namedChildren[0], params, depth + 1);
      case 'identifier': {
        if (node.text in params) return params[node.text];
        const v = this.vars.get(node.text);
        if (v) return this.evaluate(v, params, depth + 1);
        const p = this.params.get(node.text);
        if (p?.defaultValue) return this.evaluate(p.defaultValue, params, depth + 1);
        return UNKNOWN;
      }
      case 'subscript_expression': {
        const obj = this.evaluate(node.childForFieldName('object'), params, depth + 1);
        const index = this.evaluate(node.childForFieldName('index'), params, depth + 1);
        if (obj && typeof obj === 'object' && (typeof index === 'string' || typeof index === 'number') && index in (obj as object)) {
          return (obj as Record<string, unknown>)[index];
        }
        return UNKNOWN;
      }
      case 'unary_expression': {
        const op = node.childForFieldName('operator')?.text;
        const v = this.evaluate(node.childForFieldName('argument'), params, depth + 1);
        if (op === '!' && typeof v === 'boolean') return !v;
        if (op === '-' && typeof v === 'number') return -v;
        return UNKNOWN;
      }
      case 'binary_expression':
        return binary(
          node.childForFieldName('operator')?.text ?? '',
          this.evaluate(node.childForFieldName('left'), params, depth + 1),
          this.evaluate(node.childForFieldName('right'), params, depth + 1),
        );
      case 'ternary_expression': {
        const c = this.evaluate(node.childForFieldName('condition'), params, depth + 1);
        if (typeof c !== 'boolean') return UNKNOWN;
        return this.evaluate(node.childForFieldName(c ? 'consequence' : 'alternative'), params, depth + 1);
      }
      case 'call_expression': {
        const fn = node.childForFieldName('function')?.text ?? '';
        const impl = PURE_FUNCTIONS[fn];
        if (!impl) return UNKNOWN;
        const args = (node.childForFieldName('arguments')?.namedChildren ?? [])
          .filter((a): a is Node => a !== null)
          .map((a) => this.evaluate(a, params, depth + 1));
        if (args.some((a) => a === UNKNOWN)) return UNKNOWN;
        return impl(...args);
      }
      case 'member_expression': {
        const obj = this.evaluate(node.childForFieldName('object'), params, depth + 1);
        const prop = node.childForFieldName('property')?.text;
        if (obj && typeof obj === 'object' && prop !== undefined && prop in (obj as object)) {
          return (obj as Record<string, unknown>)[prop];
        }
        return UNKNOWN;
      }
      default:
        return UNKNOWN;
    }
  }

  /** Follows identifiers that name variables until it reaches a non-variable expression. */
  deref(node: Node | null | undefined): Node | undefined {
    let current = node ?? undefined;
    for (let i = 0; current && current.type === 'identifier' && i < 20; i++) {
      const v = this.vars.get(current.text);
      if (!v) break;
      current = v;
    }
    return current;
  }

  /** The value node at a property path inside an object (variables on the way are followed). */
  get(node: Node | null | undefined, ...keys: string[]): Node | undefined {
    let current = this.deref(node);
    for (const key of keys) {
      if (!current || current.type !== 'object') return undefined;
      current = this.deref(objectEntries(current).get(key));
    }
    return current;
  }

  /** Identifiers referenced anywhere in the file (excluding declaration names). */
  referencedIdentifiers(): Set<string> {
    const out = new Set<string>();
    const visit = (n: Node) => {
      if (n.type === 'identifier') {
        const parent = n.parent;
        const isDeclName =
          parent &&
          ['parameter_declaration', 'variable_declaration', 'resource_declaration', 'module_declaration', 'output_declaration', 'metadata_declaration'].includes(
            parent.type,
          ) &&
          parent.namedChildren.find((c) => c?.type === 'identifier')?.id === n.id;
        const isPropertyKey = parent?.type === 'object_property' && parent.namedChildren[0]?.id === n.id;
        if (!isDeclName && !isPropertyKey) out.add(n.text);
      }
      for (const c of n.children) if (c) visit(c);
    };
    visit(this.root);
    return out;
  }
}

export const UNKNOWN = Symbol('unknown');

/** Bicep operators on evaluated operands (int division truncates, as in Bicep); UNKNOWN otherwise. */
function binary(op: string, l: unknown, r: unknown): unknown {
  if (l === UNKNOWN || r === UNKNOWN) return UNKNOWN;
  switch (op) {
    case '==':
      return typeof l === 'string' && typeof r === 'string' ? l === r : JSON.stringify(l) === JSON.stringify(r);
    case '!=':
      return typeof l === 'string' && typeof r === 'string' ? l !== r : JSON.stringify(l) !== JSON.stringify(r);
    case '=~':
      return typeof l === 'string' && typeof r === 'string' ? l.toLowerCase() === r.toLowerCase() : UNKNOWN;
    case '&&':
      return typeof l === 'boolean' && typeof r === 'boolean' ? l && r : UNKNOWN;
    case '||':
      return typeof l === 'boolean' && typeof r === 'boolean' ? l || r : UNKNOWN;
    case '??':
      return l ?? r;
  }
  if (typeof l !== 'number' || typeof r !== 'number') return UNKNOWN;
  switch (op) {
    case '+':
      return l + r;
    case '-':
      return l - r;
    case '*':
      return l * r;
    case '/':
      return r === 0 ? UNKNOWN : Math.trunc(l / r);
    case '%':
      return r === 0 ? UNKNOWN : l % r;
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    case '>=':
      return l >= r;
  }
  return UNKNOWN;
}

/** The side-effect-free Bicep functions evaluate() knows. */
const PURE_FUNCTIONS: Record<string, (...args: unknown[]) => unknown> = {
  min: (...a) => (a.every((x) => typeof x === 'number') ? Math.min(...(a as number[])) : UNKNOWN),
  max: (...a) => (a.every((x) => typeof x === 'number') ? Math.max(...(a as number[])) : UNKNOWN),
  string: (v) => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v)),
  int: (v) => (typeof v === 'number' ? Math.trunc(v) : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : UNKNOWN),
  empty: (v) => (v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && Object.keys(v).length === 0)),
  length: (v) => (typeof v === 'string' || Array.isArray(v) ? v.length : typeof v === 'object' && v !== null ? Object.keys(v).length : UNKNOWN),
  contains: (c, x) =>
    typeof c === 'string' && typeof x === 'string'
      ? c.includes(x)
      : Array.isArray(c)
        ? c.includes(x)
        : typeof c === 'object' && c !== null && typeof x === 'string'
          ? x in c
          : UNKNOWN,
  toLower: (v) => (typeof v === 'string' ? v.toLowerCase() : UNKNOWN),
  toUpper: (v) => (typeof v === 'string' ? v.toUpperCase() : UNKNOWN),
  replace: (s, a, b) => (typeof s === 'string' && typeof a === 'string' && typeof b === 'string' ? s.split(a).join(b) : UNKNOWN),
};

function unescape(seq: string): string {
  const map: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };
  return map[seq] ?? seq;
}

function unwrapBody(value: Node): { body: Node; condition?: Node; loop?: Node } {
  if (value.type === 'if_statement') {
    const condition = value.namedChildren.find((c) => c?.type === 'parenthesized_expression') ?? undefined;
    const body = value.namedChildren.find((c) => c?.type === 'object') ?? value;
    return { body, condition };
  }
  if (value.type === 'for_statement') {
    const inner = value.childForFieldName('body') ?? value;
    const { body, condition } = unwrapBody(inner);
    return { body, condition, loop: value };
  }
  return { body: value };
}

/** Decorators written above a declaration (a sibling `decorators` node in this grammar). */
export function decoratorsOf(node: Node): Decorator[] {
  const prev = node.previousNamedSibling;
  if (!prev || prev.type !== 'decorators') return [];
  return prev.namedChildren
    .filter((d): d is Node => d !== null && d.type === 'decorator')
    .map((d) => {
      const call = d.namedChildren.find((c) => c?.type === 'call_expression');
      const fn = call?.childForFieldName('function');
      const args = call?.childForFieldName('arguments')?.namedChildren.filter((a): a is Node => a !== null) ?? [];
      return { name: fn?.text ?? d.text.slice(1), args };
    });
}

/** The literal value of a string without interpolation; undefined otherwise. */
export function stringValue(node: Node | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  let out = '';
  for (const child of node.namedChildren) {
    if (!child) continue;
    if (child.type === 'string_content') out += child.text;
    else if (child.type === 'escape_sequence') out += unescape(child.text);
    else return undefined;
  }
  return out;
}

/** Properties of an object literal, keyed by their (unquoted) names. */
export function objectEntries(node: Node | null | undefined): Map<string, Node> {
  const out = new Map<string, Node>();
  if (!node || node.type !== 'object') return out;
  for (const prop of node.namedChildren) {
    if (!prop || prop.type !== 'object_property') continue;
    const [key, value] = prop.namedChildren.filter((c): c is Node => c !== null);
    if (!key || !value) continue;
    const name = key.type === 'string' ? (stringValue(key) ?? key.text) : key.text;
    out.set(name, value);
  }
  return out;
}

/** Syntax errors and missing tokens tree-sitter recovered from, with their positions. */
export function syntaxErrors(root: Node, source: string): string[] {
  const out: string[] = [];
  const visit = (n: Node) => {
    if (n.type === 'ERROR' || n.isMissing) {
      const snippet = source.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 60)).replace(/\n/g, '\\n');
      out.push(`${n.isMissing ? `missing ${n.type}` : 'syntax error'} at ${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${snippet}`);
    }
    for (const c of n.children) if (c) visit(c);
  };
  visit(root);
  return out;
}

const cache = new Map<string, BicepFile>();

/** Parses infra/<relPath> (relative to the repository root). */
export async function loadBicep(relPath: string): Promise<BicepFile> {
  const hit = cache.get(relPath);
  if (hit) return hit;
  const source = readFileSync(path.join(REPO, relPath), 'utf8');
  const file = await parseBicepSource(source, relPath);
  cache.set(relPath, file);
  return file;
}

export async function parseBicepSource(source: string, relPath = '<inline>'): Promise<BicepFile> {
  const parser = await bicepParser();
  const tree = parser.parse(source);
  if (!tree) throw new Error(`tree-sitter returned no tree for ${relPath}`);
  return new BicepFile(relPath, source, tree.rootNode);
}

export function descriptionOf(decorators: Decorator[]): string | undefined {
  const d = decorators.find((x) => x.name === 'description' || x.name === 'sys.description');
  return d ? stringValue(d.args[0]) : undefined;
}

export function allowedValues(file: BicepFile, decorators: Decorator[]): unknown[] | undefined {
  const d = decorators.find((x) => x.name === 'allowed');
  if (!d) return undefined;
  const v = file.evaluate(d.args[0]);
  return Array.isArray(v) ? v : undefined;
}

/** All descendant nodes of a type. */
export function descendants(node: Node, type: string): Node[] {
  return node.descendantsOfType(type).filter((n): n is Node => n !== null);
}

/** Calls of a function (by name) anywhere under node. */
export function calls(node: Node, fn: string): Node[] {
  return descendants(node, 'call_expression').filter((c) => c.childForFieldName('function')?.text === fn);
}

export function readRepoFile(relPath: string): string {
  return readFileSync(path.join(REPO, relPath), 'utf8');
}

/** TypeScript sources under a directory of the repository (recursively); [] if it does not exist. */
export function typeScriptSources(relDir: string): string[] {
  const walk = (dir: string): string[] => {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((entry) => {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) return walk(full);
      return entry.endsWith('.ts') ? [full] : [];
    });
  };
  return walk(path.join(REPO, relDir));
}
