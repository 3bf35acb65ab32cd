/**
 * Canonical JSON (the shape of RFC 8785): object keys sorted by UTF-16 code
 * unit, no whitespace, numbers and strings as `JSON.stringify` writes them. The
 * same value always gives the same text, so a hash over the text is a hash over
 * the value. `undefined` object members are left out (as `JSON.stringify` does).
 *
 * Throws for what JSON cannot carry faithfully: non-finite numbers, bigint,
 * functions, symbols, and cycles — evidence must not silently turn them into null.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$', new Set());
}

function write(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value))
        throw new TypeError(`canonical JSON: ${path} is ${value}, which JSON cannot represent`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(
        `canonical JSON: ${path} is a ${typeof value}, which JSON cannot represent`,
      );
  }
  const object = value as Record<string, unknown> & { toJSON?: () => unknown };
  // Dates and similar: serialise what they say they are, as JSON.stringify does.
  if (typeof object.toJSON === 'function') return write(object.toJSON(), path, seen);
  if (seen.has(object)) throw new TypeError(`canonical JSON: ${path} refers back to itself`);
  seen.add(object);
  let text: string;
  if (Array.isArray(object)) {
    // Array holes and undefined become null, as JSON.stringify does.
    text = `[${Array.from(object, (item, index) => (item === undefined ? 'null' : write(item, `${path}[${index}]`, seen))).join(',')}]`;
  } else {
    const members: string[] = [];
    for (const key of Object.keys(object).sort()) {
      const member = object[key];
      if (member === undefined) continue;
      members.push(`${JSON.stringify(key)}:${write(member, `${path}.${key}`, seen)}`);
    }
    text = `{${members.join(',')}}`;
  }
  seen.delete(object);
  return text;
}
