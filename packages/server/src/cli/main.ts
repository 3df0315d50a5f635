#!/usr/bin/env node
/** Entry point of the `ess` binary. */
import { essProgram } from './ess.js';

await essProgram().parseAsync(process.argv);
