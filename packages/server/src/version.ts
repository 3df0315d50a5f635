/** The server's version, from its package.json (the same path from src/ and dist/). */
import { createRequire } from 'node:module';

export const ESS_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
