#!/usr/bin/env node
import { main } from '../src/cli/program.js';
import { jobs } from '../jobs/index.js';
import { endQuietlyWhenOutputCloses } from '../src/cli/closed-output.js';

endQuietlyWhenOutputCloses([process.stdout, process.stderr]);

process.exitCode = await main(process.argv, jobs);
