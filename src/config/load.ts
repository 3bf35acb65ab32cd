import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
} from 'yaml';
import type { z } from 'zod';
import { redactor } from '../model/redact.js';
import { configSchema, type Config } from './schema.js';
import { expandHome } from '../model/local-path.js';

/** A problem in the config file, located by its path inside the file and its line. */
export interface ConfigProblem {
  path: string;
  line: number | null;
  message: string;
}

/** The config could not be used; `problems` lists every one found, not only the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((problem) => formatProblem(file, problem)).join('\n'));
  }
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === null ? file : `${file}:${problem.line}`;
  return problem.path
    ? `${where} ${problem.path}: ${problem.message}`
    : `${where}: ${problem.message}`;
}

/** A loaded config: validated, with `${env:}` references resolved, and where it came from. */
export interface LoadedConfig {
  config: Config;
  file: string;
  /** The config file's folder; relative paths resolve from here. */
  dir: string;
  /** The file as parsed, before `${env:}` resolution: what `validate` shows. */
  raw: unknown;
}

/** Alias expansions allowed in a config file (the yaml library's default). */
const MAX_ALIAS_COUNT = 100;

const ENV_REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;
const ANY_REFERENCE = /\$\{([^}]*)\}/g;

/** `drills[2].source.path` from a zod or YAML path. */
export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${String(segment)}` : String(segment);
  }
  return out;
}

/** How strictly to resolve `${env:}` references. */
export interface LoadOptions {
  /**
   * Top-level sections the command does not use (`serve` for `run`): an unset variable
   * there is left unresolved instead of being an error, so `run` does not need the web token.
   */
  unusedSections?: readonly string[];
}

/** Reads, resolves and validates a config file; throws ConfigError listing every problem. */
export async function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): Promise<LoadedConfig> {
  let absolute: string;
  let text: string;
  try {
    absolute = path.resolve(expandHome(file));
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'file not found'
        : code === 'EACCES'
          ? 'permission denied'
          : (error as Error).message;
    throw new ConfigError(file, [
      { path: '', line: null, message: `cannot read config: ${reason}` },
    ]);
  }
  return parseConfig(text, file, env, path.dirname(absolute), options);
}

/** Validates config text; `file` only names it in messages. */
export function parseConfig(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  dir = process.cwd(),
  options: LoadOptions = {},
): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (offset: number | undefined): number | null =>
    offset === undefined ? null : lineCounter.linePos(offset).line;
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((error) => ({
        path: '',
        line: lineOf(error.pos[0]),
        message: `YAML: ${error.message.split('\n')[0]}`,
      })),
    );
  }
  let raw: unknown;
  try {
    // maxAliasCount bounds alias expansion: an alias bomb ("billion laughs") is refused, not expanded.
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (error) {
    throw new ConfigError(file, [
      {
        path: '',
        line: null,
        message: `YAML: ${(error as Error).message}: aliases (*name) may be expanded at most ${MAX_ALIAS_COUNT} times`,
      },
    ]);
  }
  const problems: ConfigProblem[] = [];
  const unused = new Set(options.unusedSections ?? []);
  const resolved = resolveEnv(raw, [], env, (segments, message) => {
    if (unused.has(String(segments[0]))) return;
    problems.push({ path: formatPath(segments), line: lineOf(locate(doc, segments)), message });
  });
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(describeIssue(issue, doc, lineOf));
  }
  if (problems.length > 0 || !parsed.success) {
    problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ConfigError(file, problems);
  }
  return { config: parsed.data, file, dir, raw };
}

/** Replaces `${env:NAME}` in every string, registering each value with the redactor. */
function resolveEnv(
  value: unknown,
  segments: PropertyKey[],
  env: NodeJS.ProcessEnv,
  report: (segments: PropertyKey[], message: string) => void,
): unknown {
  if (typeof value === 'string') {
    for (const match of value.matchAll(ANY_REFERENCE)) {
      if (!/^env:[A-Za-z_][A-Za-z0-9_]*$/.test(match[1] ?? '')) {
        report(segments, `'${match[0]}' is not a supported reference; expected \${env:NAME}`);
      }
    }
    return value.replace(ENV_REFERENCE, (reference, name: string) => {
      const resolved = env[name];
      if (resolved === undefined || resolved === '') {
        report(segments, `environment variable ${name} (from ${reference}) is not set`);
        return reference;
      }
      redactor.add(resolved, reference);
      return resolved;
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => resolveEnv(item, [...segments, index], env, report));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        resolveEnv(item, [...segments, key], env, report),
      ]),
    );
  }
  return value;
}

/** Start offset of the node at `segments`, or of the nearest enclosing node that exists. */
function locate(doc: Document, segments: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let best: number | undefined = rangeStart(node);
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => (isScalar(item.key) ? item.key.value : item.key) === segment,
      );
      if (!pair) break;
      node = pair.value;
      // The key's line: for a nested mapping that is the line a person looks for.
      best = rangeStart(pair.key) ?? rangeStart(node) ?? best;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (node === undefined) break;
      best = rangeStart(node) ?? best;
    } else break;
  }
  return best;
}

function rangeStart(node: unknown): number | undefined {
  return (node as YamlNode | undefined)?.range?.[0];
}

function describeIssue(
  issue: z.core.$ZodIssue,
  doc: Document,
  lineOf: (offset: number | undefined) => number | null,
): ConfigProblem {
  const segments = issue.path;
  const line = lineOf(locate(doc, segments));
  const at = formatPath(segments);
  const received = valueAt(doc.toJS(), segments);
  switch (issue.code) {
    case 'unrecognized_keys':
      return {
        path: at,
        line: lineOf(locate(doc, [...segments, issue.keys[0] as string])),
        message: `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`,
      };
    case 'invalid_union': {
      const atKind = segments[segments.length - 1] === 'kind';
      const noMatch =
        (issue as { note?: string }).note === 'No matching discriminator' ||
        issue.errors.length === 0;
      if (atKind || noMatch) {
        const kindPath = atKind ? segments : [...segments, 'kind'];
        const kindValue = valueAt(doc.toJS(), kindPath);
        // zod lists the discriminator's values; the noun follows where the union sits.
        const listed = (issue as { options?: unknown[] }).options;
        const options = listed ? listed.map((v) => `'${String(v)}'`).join(', ') : unionKinds();
        const noun = segments[0] === 'alerts' ? 'channel kind' : 'source kind';
        return {
          path: formatPath(kindPath),
          line: lineOf(locate(doc, kindPath)),
          message:
            kindValue === undefined
              ? `missing; expected one of ${options}`
              : `'${String(kindValue)}' is not a ${noun}; expected one of ${options}`,
        };
      }
      return { path: at, line, message: issue.message };
    }
    case 'invalid_type':
      if (received === undefined)
        return { path: at, line, message: `missing; expected ${issue.expected}` };
      return {
        path: at,
        line,
        message: `expected ${issue.expected}, got ${describeValue(received)}`,
      };
    case 'invalid_value':
      return {
        path: at,
        line,
        message: `${describeValue(received)} is not allowed; expected one of ${issue.values.map((v) => `'${String(v)}'`).join(', ')}`,
      };
    default:
      return { path: at, line, message: issue.message };
  }
}

let kindsText: string | undefined;
function unionKinds(): string {
  if (!kindsText) {
    // Lazy: the registry imports every source module.
    const drill = configSchema.shape.drills.element;
    const source = drill.shape.source;
    kindsText = source.options.map((option) => `'${option.shape.kind.value}'`).join(', ');
  }
  return kindsText;
}

function valueAt(root: unknown, segments: readonly PropertyKey[]): unknown {
  let node: unknown = root;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string')
    return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  return String(value);
}
