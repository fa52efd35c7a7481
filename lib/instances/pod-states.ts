/**
 * The state files of local process pods (`<stateDir>/pods/<name>.json`), one per pod: the only
 * record of a pod, shared by every process that looks (npm start, short invocations). A file is
 * always written whole (a temporary file, then renamed or linked), so no reader sees half of one.
 */
import { link, mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InstanceRuntimeError } from './port.js';

/** The state file of one pod. */
export interface ProcessPodState {
  readonly name: string;
  readonly resource: string;
  readonly instanceId: string;
  /** 0 while `creator` starts the worker: the name is reserved before the spawn (see `create`). */
  readonly pid: number;
  /** The process starting the worker, until `pid` is written: if it dies first, the next reader settles the pod. */
  readonly creator?: { readonly pid: number; readonly procStartTicks?: number };
  /** Epoch ms. */
  readonly startedAt: number;
  /** `/proc/<pid>/stat` start time (clock ticks since boot), to tell our process from a reused pid. */
  readonly procStartTicks?: number;
  /** Epoch ms deletion began. */
  readonly deletedAt?: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export class PodStates {
  constructor(private readonly podsDir: string) {}

  path(name: string): string {
    if (!DNS_LABEL.test(name)) throw new InstanceRuntimeError(`invalid pod name ${JSON.stringify(name)}`, undefined);
    return join(this.podsDir, `${name}.json`);
  }

  async read(name: string): Promise<ProcessPodState | undefined> {
    try {
      return JSON.parse(await readFile(this.path(name), 'utf8')) as ProcessPodState;
    } catch (error) {
      if (error instanceof InstanceRuntimeError) throw error;
      return undefined;
    }
  }

  async readAll(): Promise<ProcessPodState[]> {
    let files: string[];
    try {
      files = await readdir(this.podsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new InstanceRuntimeError(`list ${this.podsDir}: ${(error as Error).message}`, undefined, { cause: error });
    }
    const states = await Promise.all(
      files
        .filter((file) => file.endsWith('.json'))
        .map((file) => file.slice(0, -'.json'.length))
        .filter((name) => DNS_LABEL.test(name))
        .map((name) => this.read(name)),
    );
    return states.filter((state): state is ProcessPodState => state !== undefined);
  }

  /**
   * Creates the state file unless the name is taken: linked from a temporary file, and link() fails
   * if the name exists, so two concurrent creates of one name leave one pod.
   */
  async create(state: ProcessPodState): Promise<'created' | 'exists'> {
    await mkdir(this.podsDir, { recursive: true });
    const path = this.path(state.name);
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(state));
    try {
      await link(temporary, path);
      return 'created';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw new InstanceRuntimeError(`create ${state.name}: ${(error as Error).message}`, undefined, { cause: error });
    } finally {
      await unlink(temporary).catch(() => undefined);
    }
  }

  async write(state: ProcessPodState): Promise<void> {
    const path = this.path(state.name);
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(state));
    await rename(temporary, path);
  }

  async remove(name: string): Promise<void> {
    await unlink(this.path(name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
}
