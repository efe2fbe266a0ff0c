/**
 * The records of an API answer exactly as the API wrote them. JSON.parse + JSON.stringify would
 * change what a bronze file holds: 1500.00 becomes 1500, an id above 2^53 loses digits, escapes
 * are rewritten. So the extractor takes each element of the answer's records array as the
 * source text of that element, with only the whitespace outside strings removed (a record must
 * fit on one line of a JSON-lines file; a newline inside a JSON string is always escaped).
 */

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function skipWs(text: string, i: number): number {
  while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  return i;
}

/** Index just after the string starting at `i` (a '"'). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c) j++; // backslash: skip the escaped character
    else if (c === 0x22) return j + 1;
  }
  throw new SyntaxError('unterminated string');
}

/** Index just after the JSON value starting at `i`. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x22) return stringEnd(text, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x22) j = stringEnd(text, j) - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated object or array');
  }
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === 0x2c || d === 0x7d || d === 0x5d || WS.has(d)) break;
    j++;
  }
  if (j === i) throw new SyntaxError(`unexpected character at ${i}`);
  return j;
}

/** `text[start, end)` without whitespace outside strings (the same slice when it has none). */
function compact(text: string, start: number, end: number): string {
  let hasWs = false;
  for (let j = start; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22) j = stringEnd(text, j) - 1;
    else if (WS.has(c)) {
      hasWs = true;
      break;
    }
  }
  if (!hasWs) return text.slice(start, end);
  let out = '';
  let from = start;
  for (let j = start; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x22) j = stringEnd(text, j) - 1;
    else if (WS.has(c)) {
      out += text.slice(from, j);
      from = j + 1;
    }
  }
  return out + text.slice(from, end);
}

/**
 * The source text of each element of the array under top-level key `key` of the JSON object in
 * `text`, compacted; undefined when the text is not an object with such an array. (For a
 * duplicated key the last one counts, as in JSON.parse.)
 */
export function rawArrayElements(text: string, key: string): string[] | undefined {
  try {
    let found: string[] | undefined;
    let i = skipWs(text, 0);
    if (text.charCodeAt(i) !== 0x7b) return undefined;
    i = skipWs(text, i + 1);
    if (text.charCodeAt(i) === 0x7d) return undefined;
    for (;;) {
      if (text.charCodeAt(i) !== 0x22) return undefined;
      const keyEnd = stringEnd(text, i);
      const name = JSON.parse(text.slice(i, keyEnd)) as string;
      i = skipWs(text, keyEnd);
      if (text.charCodeAt(i) !== 0x3a) return undefined;
      i = skipWs(text, i + 1);
      if (name === key && text.charCodeAt(i) === 0x5b) {
        const elements: string[] = [];
        i = skipWs(text, i + 1);
        if (text.charCodeAt(i) === 0x5d) i++;
        else {
          for (;;) {
            const end = valueEnd(text, i);
            elements.push(compact(text, i, end));
            i = skipWs(text, end);
            const c = text.charCodeAt(i);
            if (c === 0x2c) i = skipWs(text, i + 1);
            else if (c === 0x5d) {
              i++;
              break;
            } else return undefined;
          }
        }
        found = elements;
      } else i = valueEnd(text, i);
      i = skipWs(text, i);
      const c = text.charCodeAt(i);
      if (c === 0x2c) i = skipWs(text, i + 1);
      else if (c === 0x7d) return found;
      else return undefined;
    }
  } catch {
    return undefined;
  }
}
