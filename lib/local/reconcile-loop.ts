/**
 * Runs a task every `intervalMs`, measured from the end of one run to the
 * start of the next, so runs never overlap however long one takes. `kick()`
 * asks for a run now (e.g. right after new instances were created, so their
 * workers start without waiting for the next tick); a kick during a run
 * schedules exactly one more run right after it.
 */
export interface Loop {
  kick(): void;
  /** Resolves when the run in progress (if any) has finished; no run starts after. */
  stop(): Promise<void>;
  readonly runs: number;
}

export function startLoop(task: () => Promise<void>, intervalMs: number, onError: (error: unknown) => void): Loop {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let runs = 0;

  const schedule = (delay: number): void => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(run, delay);
  };

  function run(): void {
    timer = undefined;
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    runs += 1;
    running = task()
      .catch(onError)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          schedule(0);
        } else schedule(intervalMs);
      });
  }

  schedule(0);
  return {
    kick() {
      if (stopped) return;
      if (running) again = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    get runs() {
      return runs;
    },
  };
}
