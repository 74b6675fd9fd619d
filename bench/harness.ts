import { Bench } from 'tinybench';

/**
 * One measured task. `opsPerSecond` is derived from the median latency, not the mean: on this
 * shared machine a neighbour's burst or one GC pause moves the mean of a 1 MiB task by 20 %, while
 * the median stays put. `meanOpsPerSecond` is kept for reference.
 */
export interface Measurement {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly meanOpsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/**
 * Measures tasks in interleaved rounds (A B C, A B C, …) and keeps each task's median round, so a
 * burst of load from a neighbour on this shared machine hits every contender alike.
 */
export async function measure(
  tasks: ReadonlyArray<readonly [string, () => unknown]>,
  { rounds = 5, timeMs = 500 }: { rounds?: number; timeMs?: number } = {},
): Promise<Measurement[]> {
  const results = new Map<string, Measurement[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of tasks) {
      (globalThis as { gc?: () => void }).gc?.();
      const bench = new Bench({ time: timeMs, warmupTime: 100 });
      bench.add(name, fn);
      await bench.run();
      const result = bench.tasks[0]!.result;
      if (result.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${result.state}`);
      const list = results.get(name) ?? [];
      list.push({
        name,
        opsPerSecond: 1000 / result.latency.p50,
        meanOpsPerSecond: 1000 / result.period,
        p50Us: result.latency.p50 * 1000,
        p99Us: result.latency.p99 * 1000,
      });
      results.set(name, list);
    }
  }
  return tasks.map(([name]) => {
    const list = [...results.get(name)!].sort((a, b) => a.opsPerSecond - b.opsPerSecond);
    return list[Math.floor(list.length / 2)]!;
  });
}

export function formatOps(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

export function ratio(a: number, b: number): string {
  return (a / b).toFixed(2);
}

/** A markdown table, printed so it can go straight into docs/benchmarks.md. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
