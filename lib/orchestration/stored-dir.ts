/**
 * Reads a directory of small JSON records (heartbeats, instance records) by
 * schema. One corrupt child must not blind the caller to the rest: it is
 * logged with its path and left out, never read as a zero.
 */
import type * as z from '../zod.js';
import type { OrchestrationContext } from './context.js';
import { CorruptNodeError, parseNode } from './stored.js';

export async function readRecordDir<T>(
  context: Pick<OrchestrationContext, 'store' | 'logger'>,
  dir: string,
  schema: z.ZodMiniType<T>,
): Promise<Map<string, T>> {
  const names = await context.store.children(dir);
  const nodes = await context.store.getMany(names.map((name) => `${dir}/${name}`));
  const out = new Map<string, T>();
  names.forEach((name, i) => {
    const node = nodes[i];
    if (!node) return;
    try {
      out.set(name, parseNode(schema, node));
    } catch (error) {
      if (!(error instanceof CorruptNodeError)) throw error;
      context.logger.error({ path: error.path, problem: error.problem }, 'corrupt record skipped');
    }
  });
  return out;
}
