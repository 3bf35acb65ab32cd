import { z } from 'zod';
import { configSchema } from './schema.js';

/** The JSON Schema of the config file, generated from the zod schema (the one source of truth). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://github.com/restore-drill/restore-drill/config/restore-drill.schema.json',
    title: 'restore-drill configuration',
    ...schema,
  };
}

/** The schema as written to config/restore-drill.schema.json. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
