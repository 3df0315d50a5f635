/** The `ess` command: serve, gen, worker, task. */
import { Command } from 'commander';
import { workerCommand } from '@ess/client/cli';
import { ESS_VERSION } from '../version.js';
import { genCommand } from './gen.js';
import { serveCommand } from './serve.js';
import { taskCommand } from './task.js';

export function essProgram(): Command {
  return new Command('ess')
    .description('ESS, the Event Streaming Service: streams exactly the event data each worker needs, before it needs it')
    .version(ESS_VERSION)
    .addCommand(serveCommand())
    .addCommand(genCommand())
    .addCommand(workerCommand())
    .addCommand(taskCommand())
    .showHelpAfterError();
}
