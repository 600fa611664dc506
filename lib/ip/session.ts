/**
 * One `ip -batch` process that first answers reads and then applies writes. iproute2 flushes
 * its output after each batch command, so hg can observe a namespace, plan, and apply the plan
 * through the same process: one process start per namespace for a whole observe → apply cycle.
 *
 * Writing a plan through this process costs what a raw `ip -batch -` of `route add` lines costs
 * (measured with iproute2 6.1 at 1,000 and 10,000 routes, docs/benchmarks.md): `route replace`
 * against `add` for absent routes, the `-N -d -j` flags, the stdout pipe and the flushing (a
 * write prints nothing, so nothing is flushed) each change ip's CPU by less than the noise, and
 * a separate write-only `ip -batch -` started early made the whole `hg peer sync` no cheaper.
 * If a line fails, ip stops there: the lines before it stay applied, the error names that line.
 *
 * @module
 */
import { type Child, readText, startProcess } from "../exec/spawn.ts";
import { batchFailure } from "./exec.ts";
import { batchLine, ipInvocation } from "./op.ts";

/** A running `ip -N -d -j -batch -` for one namespace. */
export class IpSession {
  private readonly child: Child;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private readonly stderr: Promise<string>;
  private readonly lines: string[] = [];
  private partial: string[] = [];
  private sent = 0;
  private ended = false;

  private constructor(readonly netns: string | undefined) {
    const ip = ipInvocation(netns, ["-N", "-d", "-j", "-batch", "-"]);
    this.child = startProcess(ip.command, ip.args, { stdin: true });
    this.reader = this.child.stdout.getReader();
    this.stderr = readText(this.child.stderr);
  }

  /**
   * Starts `ip` for the namespace `netns` (this process's own when undefined).
   *
   * @example
   * ```ts
   * const session = IpSession.open();
   * const [routes] = await session.read([["route", "show", "table", "main"]]);
   * if (!routes.includes("1.1.2.0/24")) {
   *   await session.apply([["route", "replace", "1.1.2.0/24", "via", "10.0.12.7"]]);
   * }
   * ```
   */
  static open(netns?: string): IpSession {
    return new IpSession(netns);
  }

  /** Runs read commands; resolves with one line of JSON output per command. */
  async read(commands: readonly (readonly string[])[]): Promise<string[]> {
    const start = this.lines.length;
    this.send(commands);
    while (this.lines.length < start + commands.length) {
      const { value, done } = await this.reader.read();
      if (done) throw await this.failure();
      const text = this.decoder.decode(value, { stream: true });
      // A table's JSON is one line of megabytes: its pieces are joined once, when it ends
      // (joining the growing line on every piece cost 70-200 ms of CPU at 10,000 routes).
      if (!text.includes("\n")) {
        this.partial.push(text);
        continue;
      }
      const parts = (this.partial.join("") + text).split("\n");
      this.partial = [parts.pop()!];
      this.lines.push(...parts.filter((l) => l.trim() !== ""));
    }
    return this.lines.slice(start, start + commands.length);
  }

  /** Runs write commands and ends the session; the first failing command rejects. */
  async apply(commands: readonly (readonly string[])[]): Promise<void> {
    const first = this.sent;
    this.send(commands);
    if ((await this.finish()) !== 0) throw await this.failure(commands, first);
  }

  /** Ends the session without writing anything. */
  async close(): Promise<void> {
    await this.finish();
  }

  private send(commands: readonly (readonly string[])[]): void {
    if (commands.length === 0) return;
    this.child.write(commands.map(batchLine).join("\n") + "\n");
    this.sent += commands.length;
  }

  private async finish(): Promise<number> {
    if (!this.ended) {
      this.ended = true;
      this.child.end();
      // Drain what is left so the process is never blocked on a full pipe.
      void (async () => {
        while (!(await this.reader.read()).done) { /* discard */ }
      })();
    }
    return await this.child.exited;
  }

  private async failure(writes: readonly (readonly string[])[] = [], first = 0): Promise<Error> {
    const code = await this.finish();
    return batchFailure(writes, first, code, await this.stderr, this.netns);
  }
}
