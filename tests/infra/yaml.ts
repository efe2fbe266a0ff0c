/**
 * A minimal YAML reader for the repository's own azure.yaml and GitHub workflow: block mappings,
 * block sequences, plain/quoted scalars, `|` and `>` block scalars, comments, and simple flow
 * sequences/mappings. It throws on anything it does not understand rather than guessing.
 */

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  indent: number;
  text: string;
  no: number;
}

export function parseYaml(source: string): Yaml {
  const raw = source.replace(/\r\n/g, '\n').split('\n');
  const lines: Line[] = [];
  raw.forEach((text, i) => {
    const stripped = stripComment(text);
    if (stripped.trim() === '' || stripped.trim() === '---') {
      lines.push({ indent: -1, text: '', no: i + 1 });
      return;
    }
    lines.push({ indent: stripped.length - stripped.trimStart().length, text: stripped.trimEnd().trimStart(), no: i + 1 });
  });
  const state = { i: 0, lines, raw };
  skipBlank(state);
  if (state.i >= lines.length) return null;
  const value = parseBlock(state, lines[state.i]!.indent);
  skipBlank(state);
  if (state.i < lines.length) throw new Error(`yaml: unexpected content at line ${lines[state.i]!.no}`);
  return value;
}

interface State {
  i: number;
  lines: Line[];
  raw: string[];
}

function skipBlank(state: State) {
  while (state.i < state.lines.length && state.lines[state.i]!.indent < 0) state.i++;
}

function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      if (i === 0 || /[\s:[{,-]/.test(text[i - 1]!)) quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      return text.slice(0, i);
    }
  }
  return text;
}

function parseBlock(state: State, indent: number): Yaml {
  const first = state.lines[state.i]!;
  if (first.text.startsWith('- ') || first.text === '-') return parseSequence(state, indent);
  return parseMapping(state, indent);
}

function parseSequence(state: State, indent: number): Yaml[] {
  const out: Yaml[] = [];
  for (;;) {
    skipBlank(state);
    const line = state.lines[state.i];
    if (!line || line.indent !== indent || !(line.text.startsWith('- ') || line.text === '-')) break;
    const rest = line.text === '-' ? '' : line.text.slice(2).trim();
    if (rest === '') {
      state.i++;
      skipBlank(state);
      const next = state.lines[state.i];
      out.push(next && next.indent > indent ? parseBlock(state, next.indent) : null);
    } else if (/^[^'"[{][^:]*:(\s|$)/.test(rest) || /^["'][^"']*["']\s*:(\s|$)/.test(rest)) {
      // "- key: value" starts a mapping whose keys sit at indent + 2.
      const itemIndent = indent + 2;
      state.lines[state.i] = { indent: itemIndent, text: rest, no: line.no };
      out.push(parseMapping(state, itemIndent));
    } else {
      state.i++;
      out.push(scalar(rest, line.no));
    }
  }
  return out;
}

function parseMapping(state: State, indent: number): { [key: string]: Yaml } {
  const out: { [key: string]: Yaml } = {};
  for (;;) {
    skipBlank(state);
    const line = state.lines[state.i];
    if (!line || line.indent !== indent) {
      if (line && line.indent > indent) throw new Error(`yaml: bad indentation at line ${line.no}`);
      break;
    }
    const m = /^("[^"]*"|'[^']*'|[^:]+?)\s*:(?:\s+(.*))?$/.exec(line.text);
    if (!m) throw new Error(`yaml: expected 'key: value' at line ${line.no}: ${line.text}`);
    const key = String(scalar(m[1]!, line.no));
    const rest = (m[2] ?? '').trim();
    state.i++;
    if (rest === '|' || rest === '>' || rest === '|-' || rest === '>-') {
      out[key] = blockScalar(state, indent, rest);
    } else if (rest === '') {
      skipBlank(state);
      const next = state.lines[state.i];
      if (next && next.indent > indent) out[key] = parseBlock(state, next.indent);
      else if (next && next.indent === indent && (next.text.startsWith('- ') || next.text === '-')) out[key] = parseSequence(state, indent);
      else out[key] = null;
    } else {
      out[key] = scalar(rest, line.no);
    }
  }
  return out;
}

function blockScalar(state: State, parentIndent: number, style: string): string {
  const collected: string[] = [];
  let blockIndent = -1;
  while (state.i < state.lines.length) {
    const line = state.lines[state.i]!;
    const rawText = state.raw[line.no - 1]!;
    const rawIndent = rawText.length - rawText.trimStart().length;
    if (rawText.trim() !== '' && rawIndent <= parentIndent) break;
    if (rawText.trim() !== '' && blockIndent < 0) blockIndent = rawIndent;
    collected.push(rawText.trim() === '' ? '' : rawText.slice(Math.max(blockIndent, 0)));
    state.i++;
  }
  while (collected.length && collected[collected.length - 1] === '') collected.pop();
  const text = style.startsWith('>') ? collected.join(' ') : collected.join('\n');
  return style.endsWith('-') ? text : `${text}\n`;
}

function scalar(text: string, no: number): Yaml {
  const t = text.trim();
  if (t.startsWith('"')) {
    if (!t.endsWith('"')) throw new Error(`yaml: unterminated string at line ${no}`);
    return JSON.parse(t) as string;
  }
  if (t.startsWith("'")) {
    if (!t.endsWith("'")) throw new Error(`yaml: unterminated string at line ${no}`);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new Error(`yaml: unsupported flow sequence at line ${no}`);
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((s) => scalar(s, no));
  }
  if (t.startsWith('{')) {
    if (!t.endsWith('}')) throw new Error(`yaml: unsupported flow mapping at line ${no}`);
    const inner = t.slice(1, -1).trim();
    const out: { [key: string]: Yaml } = {};
    if (inner === '') return out;
    for (const pair of inner.split(',')) {
      const idx = pair.indexOf(':');
      if (idx < 0) throw new Error(`yaml: bad flow mapping at line ${no}`);
      out[String(scalar(pair.slice(0, idx), no))] = scalar(pair.slice(idx + 1), no);
    }
    return out;
  }
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === 'null' || t === '~') return null;
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}
