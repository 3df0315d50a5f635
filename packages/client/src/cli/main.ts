#!/usr/bin/env node
/** Entry point of the `ess-worker` binary. */
import { workerCommand } from './command.js';

await workerCommand().name('ess-worker').parseAsync(process.argv);
