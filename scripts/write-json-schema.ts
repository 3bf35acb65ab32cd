import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { configJsonSchemaText } from '../src/config/json-schema.js';

// Run from dist/scripts/: the schema lives in config/ at the package root.
const target = fileURLToPath(new URL('../../config/restore-drill.schema.json', import.meta.url));
await writeFile(target, configJsonSchemaText());
process.stdout.write(`wrote ${target}\n`);
