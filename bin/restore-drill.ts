#!/usr/bin/env node
import { main } from '../src/cli/program.js';
import { jobs } from '../jobs/index.js';

process.exitCode = await main(process.argv, jobs);
