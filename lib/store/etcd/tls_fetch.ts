/**
 * `fetch` with client TLS (a private CA, a client certificate), which the web `fetch` cannot
 * express: Bun takes a `tls` option, Deno an HTTP client made by `Deno.createHttpClient`. The
 * only module besides `lib/exec/spawn.ts` that uses `Bun.*` or `Deno.*`.
 *
 * @module
 */
import { EnvironmentError } from "../../errors.ts";

/** PEM texts (file contents, not paths) for a TLS connection to etcd. */
export interface TlsFiles {
  /** The CA that signed the server's certificate (added to the system's roots). */
  readonly ca?: string;
  /** The client certificate, for servers started with `--client-cert-auth`. */
  readonly cert?: string;
  /** The client certificate's private key. */
  readonly key?: string;
}

interface BunRuntime {
  readonly version: string;
}
interface DenoHttpClient {
  close(): void;
}
interface DenoRuntime {
  createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): DenoHttpClient;
}

const runtime = globalThis as { Bun?: BunRuntime; Deno?: DenoRuntime };

/** `fetch` with the runtime-specific options both runtimes accept beside the standard ones. */
type ExtendedFetch = (
  url: string,
  init: RequestInit & { tls?: TlsFiles; client?: DenoHttpClient },
) => Promise<Response>;

// A Deno HTTP client holds a connection pool: one per TLS config keeps connections reused.
const denoClients = new Map<string, DenoHttpClient>();

/**
 * Fetches `url` with `tls`: the CA to trust and the client certificate to present.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * const ca = await readFile("ca.pem", "utf8");
 * const response = await tlsFetch("https://127.0.0.1:2379/health", {}, { ca });
 * ```
 */
export function tlsFetch(url: string, init: RequestInit, tls: TlsFiles): Promise<Response> {
  const extended = fetch as ExtendedFetch;
  if (runtime.Bun) {
    return extended(url, { ...init, tls: { ca: tls.ca, cert: tls.cert, key: tls.key } });
  }
  if (runtime.Deno) return extended(url, { ...init, client: denoClient(runtime.Deno, tls) });
  return Promise.reject(
    new EnvironmentError(`client TLS for ${url} needs Bun or Deno: this runtime has neither`),
  );
}

function denoClient(deno: DenoRuntime, tls: TlsFiles): DenoHttpClient {
  const id = JSON.stringify([tls.ca ?? "", tls.cert ?? "", tls.key ?? ""]);
  let client = denoClients.get(id);
  if (!client) {
    client = deno.createHttpClient({
      ...(tls.ca === undefined ? {} : { caCerts: [tls.ca] }),
      ...(tls.cert === undefined || tls.key === undefined ? {} : { cert: tls.cert, key: tls.key }),
    });
    denoClients.set(id, client);
  }
  return client;
}

/**
 * Closes the HTTP clients made for TLS configs (Deno keeps their connections open otherwise).
 *
 * @example
 * ```ts
 * closeTlsClients(); // at the end of a test, so that no connection outlives it
 * ```
 */
export function closeTlsClients(): void {
  for (const client of denoClients.values()) client.close();
  denoClients.clear();
}
