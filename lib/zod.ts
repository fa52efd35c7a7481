/**
 * zod, as every module of lib/ imports it (`import * as z from '../zod.js'`):
 * its light entry `zod/mini`, whose schemas are built from functions
 * (`z.optional(z.string())`, `z.string().check(z.minLength(1))`), so esbuild
 * keeps only the ones used and building one is cheap (a Lambda's cold
 * `require` builds every schema of its modules), with the English messages
 * the full entry installs by default: errors read and name their field the same.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
