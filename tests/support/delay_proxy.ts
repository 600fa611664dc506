/**
 * An HTTP proxy in front of etcd's JSON gateway that holds back the answers of chosen requests
 * (say `/v3/kv/txn` and `/v3/lease/keepalive`) for a while: the request reaches etcd at once and
 * is applied, but its answer comes after the client's timeout. That is what a slow network or
 * an overloaded member does to a client, and what makes a write's outcome unknown.
 *
 * In a test process: `startDelayProxy(target)`. As a program (for lab hosts, inside the
 * underlay namespace, where the test cannot connect): `delay_proxy.ts LISTEN_HOST:PORT
 * TARGET_URL CONTROL_FILE`; it reads what to delay from CONTROL_FILE before each request
 * (`{"paths":["/v3/kv/txn"],"ms":4000}`; none or `{"paths":[]}`: no delay) and writes how many
 * answers it held back to CONTROL_FILE.delayed.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, request as forward, type Server } from "node:http";

/** A running proxy. */
export interface DelayProxy {
  /** `http://HOST:PORT` of the proxy. */
  readonly url: string;
  /** Holds back the answers of requests to `paths` by `ms` from now on ([] to stop). */
  delay(paths: readonly string[], ms: number): void;
  /** How many answers were held back so far. */
  readonly delayed: number;
  close(): Promise<void>;
}

/**
 * Starts a proxy to `target` (`http://127.0.0.1:2379`) on `host`, port `port` (0: any free one).
 *
 * @example
 * ```ts
 * const proxy = await startDelayProxy("http://127.0.0.1:2379");
 * proxy.delay(["/v3/kv/txn"], 4000);
 * ```
 */
export function startDelayProxy(
  target: string,
  host = "127.0.0.1",
  port = 0,
  control?: string,
): Promise<DelayProxy> {
  const to = new URL(target);
  let paths = new Set<string>();
  let ms = 0;
  let delayed = 0;
  const readControl = () => {
    if (control === undefined) return;
    const text = (() => {
      try {
        return readFileSync(control, "utf8");
      } catch {
        return '{"paths":[]}';
      }
    })();
    const asked = JSON.parse(text) as { paths: string[]; ms?: number };
    paths = new Set(asked.paths);
    ms = asked.ms ?? 0;
  };
  const server: Server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (chunk: Buffer) => body.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(body).toString();
      readControl();
      const hold = paths.has(req.url ?? "") ? ms : 0;
      const upstream = forward({
        host: to.hostname,
        port: to.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      }, (answer) => {
        const send = () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        };
        if (hold > 0) {
          delayed++;
          if (control !== undefined) writeFileSync(`${control}.delayed`, String(delayed));
          setTimeout(send, hold);
        } else send();
      });
      upstream.on("error", () => res.destroy());
      // A client that gave up closes its side: the answer, when it comes, goes nowhere.
      res.on("close", () => upstream.destroy());
      upstream.end(text);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      resolve({
        url: `http://${host}:${bound}`,
        delay(p, holdMs) {
          paths = new Set(p);
          ms = holdMs;
        },
        get delayed() {
          return delayed;
        },
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.main) {
  const [listen, target, control] = process.argv.slice(2).filter((a) => !a.endsWith(".ts"));
  const [host, port] = (listen ?? "").split(":");
  if (!host || !port || !target || !control) {
    console.error("usage: delay_proxy.ts LISTEN_HOST:PORT TARGET_URL CONTROL_FILE");
    process.exit(2);
  }
  const proxy = await startDelayProxy(target, host, Number(port), control);
  console.log(`delay proxy on ${proxy.url} for ${target}`);
}
