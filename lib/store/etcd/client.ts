/**
 * A small client of etcd's v3 JSON gateway (`POST /v3/...` over HTTP/1.1 with `fetch`): no gRPC,
 * no npm etcd client. It does what a subnet registry needs: ranges, puts, deletes,
 * compare-and-swap txns, leases and a watch. Keys and values are strings here and base64 on the
 * wire; etcd's int64s (revisions, lease ids) stay decimal strings, since lease ids exceed 2^53.
 * Every request has a timeout and fails over to the next endpoint when one is unreachable.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { HgError, InputError } from "../../errors.ts";
import { tlsFetch, type TlsFiles } from "./tls_fetch.ts";

/** Options for {@link EtcdClient}. */
export interface EtcdClientOptions {
  /** Base URLs of the cluster's members: `http://127.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** The timeout of each request (and of opening a watch), in ms. Default 3000. */
  readonly timeoutMs?: number;
  /** A user to authenticate as, when the cluster has auth enabled. */
  readonly auth?: { readonly user: string; readonly password: string };
  /** CA and client certificate for `https://` endpoints. */
  readonly tls?: TlsFiles;
}

/** A key as read from etcd. Revisions and the lease id ("0": none) are int64 decimal strings. */
export interface EtcdKeyValue {
  readonly key: string;
  readonly value: string;
  readonly createRevision: string;
  readonly modRevision: string;
  readonly lease: string;
}

/** The keys a range found and the store revision they were read at. */
export interface RangeResult {
  readonly revision: string;
  readonly kvs: readonly EtcdKeyValue[];
}

/**
 * One change seen by a watch. Deletes carry no value; with {@link WatchOptions.prevKv}, a
 * delete carries the value and lease the key had before it (`prevValue`, `prevLease`).
 */
export interface WatchEvent {
  readonly type: "put" | "delete";
  readonly key: string;
  readonly value?: string;
  readonly prevValue?: string;
  /** The lease the key was attached to before a delete ("0": none), with `prevValue`. */
  readonly prevLease?: string;
  readonly modRevision: string;
}

/** Options for {@link EtcdClient.watch}. */
export interface WatchOptions {
  /** Watch every key that starts with the key. */
  readonly prefix?: boolean;
  /** Replay changes from this revision on (resume with the last revision seen + 1). */
  readonly startRevision?: string;
  /** Deletes carry the value the key held before (etcd's `prev_kv`). */
  readonly prevKv?: boolean;
  /** Ends the watch and closes its HTTP stream. */
  readonly signal?: AbortSignal;
}

/**
 * No endpoint answered (refused, timed out, 5xx). The message lists each endpoint and why.
 *
 * @example
 * ```ts
 * new EtcdUnavailableError([["http://127.0.0.1:2379", "connection refused"]]).message;
 * // "etcd is unavailable: http://127.0.0.1:2379 (connection refused)"
 * ```
 */
export class EtcdUnavailableError extends HgError {
  constructor(failures: readonly (readonly [endpoint: string, reason: string])[]) {
    super(
      `etcd is unavailable: ${
        failures.map(([endpoint, reason]) => `${endpoint} (${oneLine(reason)})`).join(", ")
      }`,
    );
  }
}

/**
 * A write was sent but its answer never came (a timeout, a member that went away): it may or
 * may not have been applied. Read the key back to know; never undo it on a guess.
 *
 * @example
 * ```ts
 * declare const etcd: EtcdClient;
 * const key = "/coreos.com/network/subnets/1.1.3.0-24";
 * try {
 *   await etcd.createIfAbsent(key, "{...}", await etcd.leaseGrant(30));
 * } catch (e) {
 *   // The write may have been applied: read the key before writing it again.
 *   if (e instanceof EtcdOutcomeUnknownError) await etcd.range(key);
 * }
 * ```
 */
export class EtcdOutcomeUnknownError extends EtcdUnavailableError {
  constructor(failures: readonly (readonly [endpoint: string, reason: string])[]) {
    super(failures);
    this.message = `etcd did not answer whether a write was applied: ${
      failures.map(([endpoint, reason]) => `${endpoint} (${oneLine(reason)})`).join(", ")
    }`;
  }
}

/**
 * An error answer from etcd (bad request, lease not found, auth failure). `code` is the gRPC
 * status code etcd gave (5: not found, 16: unauthenticated), 0 when it gave none.
 *
 * @example
 * ```ts
 * declare const etcd: EtcdClient;
 * declare const lease: string; // an id leaseGrant gave, since expired
 * try {
 *   await etcd.put("/coreos.com/network/subnets/1.1.3.0-24", "{...}", lease);
 * } catch (e) {
 *   if (e instanceof EtcdRequestError && e.code === 5) console.log("no such lease");
 * }
 * ```
 */
export class EtcdRequestError extends HgError {
  constructor(message: string, readonly code: number) {
    super(oneLine(message));
  }
}

/**
 * A watch asked for revisions that compaction has removed: start again from a fresh read at
 * or after `compactRevision`.
 *
 * @example
 * ```ts
 * declare const etcd: EtcdClient;
 * declare function resumeFrom(revision: string): void; // list everything again, watch from there
 * try {
 *   const startRevision = "8";
 *   for await (const events of etcd.watch("/coreos.com/network/subnets/", { prefix: true, startRevision })) {
 *     console.log(events.length);
 *   }
 * } catch (e) {
 *   if (e instanceof EtcdCompactedError) resumeFrom(e.compactRevision);
 * }
 * ```
 */
export class EtcdCompactedError extends HgError {
  constructor(readonly compactRevision: string, key: string) {
    super(`the watch on ${JSON.stringify(key)} was compacted at revision ${compactRevision}`);
  }
}

type Json = Readonly<Record<string, unknown>>;

/** Why a request that never reached etcd failed. */
const REFUSED = "connection refused";

/** One endpoint's failure that moves the request to the next endpoint. */
class EndpointFailure extends Error {}

const GRPC_NOT_FOUND = 5;
const GRPC_UNAUTHENTICATED = 16;
const INT64 = /^-?[0-9]{1,19}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A client of an etcd cluster through its JSON gateway.
 *
 * @example
 * ```ts
 * const etcd = new EtcdClient({ endpoints: ["http://127.0.0.1:2379"] });
 * const lease = await etcd.leaseGrant(30);
 * await etcd.createIfAbsent("/coreos.com/network/subnets/1.1.3.0-24", "{...}", lease); // true
 * ```
 */
export class EtcdClient {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly #auth?: { readonly user: string; readonly password: string };
  readonly #tls?: TlsFiles;
  /** The endpoint that answered last: requests start there. */
  #current = 0;
  /** The auth token, or the login under way that gets it (concurrent requests share one). */
  #token?: Promise<string>;

  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new InputError("etcd: no endpoints given");
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ""));
    for (const endpoint of this.endpoints) {
      if (!/^https?:\/\/[^/?#]+$/.test(endpoint)) {
        throw new InputError(
          `${JSON.stringify(endpoint)} is not an etcd endpoint: expected http(s)://host:port`,
        );
      }
    }
    this.timeoutMs = options.timeoutMs ?? 3000;
    this.#auth = options.auth;
    this.#tls = options.tls;
  }

  /**
   * The keys equal to `key`, or starting with it when `prefix` is set, in key order.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const { revision, kvs } = await etcd.range("/coreos.com/network/subnets/", { prefix: true });
   * ```
   */
  async range(key: string, options: { prefix?: boolean } = {}): Promise<RangeResult> {
    const body: Record<string, unknown> = { key: encodeKey(key, options.prefix) };
    if (options.prefix) body.range_end = base64(prefixEnd(bytesOf(key)));
    const answer = await this.#call("/v3/kv/range", body);
    return {
      revision: headerRevision(answer),
      kvs: arrayField(answer, "kvs").map((kv) => keyValue(object(kv, "kv"))),
    };
  }

  /**
   * Writes `value` at `key`, attached to `lease` when given (a put without a lease detaches a
   * key from its lease). Returns the new store revision.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * await etcd.put("/hg/a", "1"); // "2"
   * ```
   */
  async put(key: string, value: string, lease?: string): Promise<string> {
    return headerRevision(await this.#call("/v3/kv/put", putRequest(key, value, lease)));
  }

  /**
   * Deletes `key`; returns how many keys were deleted (0 or 1).
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * await etcd.deleteKey("/hg/a"); // 1
   * ```
   */
  async deleteKey(key: string): Promise<number> {
    const answer = await this.#call("/v3/kv/deleterange", { key: encodeKey(key) });
    return Number(int64(answer.deleted, "deleted"));
  }

  /**
   * Writes `key` only if it does not exist (its create revision is 0); false when it did.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * await etcd.createIfAbsent("/hg/a", "1"); // true
   * await etcd.createIfAbsent("/hg/a", "2"); // false
   * ```
   */
  createIfAbsent(key: string, value: string, lease?: string): Promise<boolean> {
    return this.#txn(
      { key: encodeKey(key), result: "EQUAL", target: "CREATE", create_revision: "0" },
      { request_put: putRequest(key, value, lease) },
    );
  }

  /**
   * Writes `key` only if its mod revision is still `modRevision` ("0": the key must not exist);
   * false when someone changed it in between.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const [kv] = (await etcd.range("/hg/a")).kvs;
   * await etcd.putIfModRevision("/hg/a", "3", kv.modRevision); // true unless changed meanwhile
   * ```
   */
  putIfModRevision(
    key: string,
    value: string,
    modRevision: string,
    lease?: string,
  ): Promise<boolean> {
    return this.#txn(
      { key: encodeKey(key), result: "EQUAL", target: "MOD", mod_revision: int64Arg(modRevision) },
      { request_put: putRequest(key, value, lease) },
    );
  }

  /**
   * Deletes `key` only if it holds `value`; false when it holds something else or is absent.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * await etcd.deleteIfValue("/hg/a", "3"); // true
   * ```
   */
  deleteIfValue(key: string, value: string): Promise<boolean> {
    return this.#txn(
      { key: encodeKey(key), result: "EQUAL", target: "VALUE", value: base64(bytesOf(value)) },
      { request_delete_range: { key: encodeKey(key) } },
    );
  }

  /**
   * Grants a lease of `ttlSeconds`; returns its id. etcd raises TTLs below its minimum (1.5
   * election timeouts, rounded up to whole seconds: 2 s with default settings).
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const id = await etcd.leaseGrant(30); // "7587870245190312708"
   * ```
   */
  async leaseGrant(ttlSeconds: number): Promise<string> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
      throw new InputError(`lease TTL ${ttlSeconds} is not valid: expected whole seconds >= 1`);
    }
    const answer = await this.#call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    return int64(answer.ID, "lease ID");
  }

  /**
   * Renews a lease to its granted TTL; returns the TTL left, 0 or less when the lease is gone.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const id = await etcd.leaseGrant(30);
   * await etcd.leaseKeepAlive(id); // 30
   * ```
   */
  async leaseKeepAlive(id: string): Promise<number> {
    // The gateway maps this streaming RPC to one request and one `{"result": ...}` line.
    const answer = await this.#call("/v3/lease/keepalive", { ID: int64Arg(id) });
    return Number(int64(object(answer.result ?? {}, "result").TTL, "TTL"));
  }

  /**
   * Revokes a lease, deleting every key attached to it; false when it was already gone.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const id = await etcd.leaseGrant(30);
   * await etcd.leaseRevoke(id); // true
   * ```
   */
  async leaseRevoke(id: string): Promise<boolean> {
    try {
      await this.#call("/v3/lease/revoke", { ID: int64Arg(id) });
      return true;
    } catch (e) {
      if (e instanceof EtcdRequestError && e.code === GRPC_NOT_FOUND) return false;
      throw e;
    }
  }

  /**
   * The TTL left on a lease and the TTL it was granted with, in seconds; ttl is -1 when the
   * lease is gone.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const id = await etcd.leaseGrant(30);
   * await etcd.leaseTimeToLive(id); // { ttl: 29, granted: 30 }
   * ```
   */
  async leaseTimeToLive(id: string): Promise<{ ttl: number; granted: number }> {
    const answer = await this.#call("/v3/lease/timetolive", { ID: int64Arg(id) });
    return {
      ttl: Number(int64(answer.TTL, "TTL")),
      granted: Number(int64(answer.grantedTTL, "grantedTTL")),
    };
  }

  /**
   * The changes to `key` (or under it, with `prefix`), one batch per revision, until `signal`
   * aborts (the iteration then ends quietly). Throws {@link EtcdCompactedError} when
   * `startRevision` is compacted, and {@link EtcdUnavailableError} when the stream breaks:
   * resume with the last revision seen + 1.
   *
   * @example
   * ```ts
   * declare const etcd: EtcdClient;
   * const signal = AbortSignal.timeout(60_000);
   * for await (const events of etcd.watch("/coreos.com/network/subnets/", { prefix: true, signal })) {
   *   for (const e of events) console.log(e.type, e.key, e.modRevision);
   * }
   * ```
   */
  async *watch(key: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent[]> {
    const create: Record<string, unknown> = { key: encodeKey(key, options.prefix) };
    if (options.prefix) create.range_end = base64(prefixEnd(bytesOf(key)));
    if (options.startRevision !== undefined) {
      create.start_revision = int64Arg(options.startRevision);
    }
    if (options.prevKv) create.prev_kv = true;
    const signal = options.signal;
    if (signal?.aborted) return;
    const stream = new AbortController();
    const onAbort = () => stream.abort();
    signal?.addEventListener("abort", onAbort);
    let endpoint = "";
    try {
      let lines: AsyncGenerator<Json> | undefined;
      for (let attempt = 0; !lines; attempt++) {
        const opened = await this.#open("/v3/watch", { create_request: create }, stream.signal);
        endpoint = opened.endpoint;
        const reader = opened.body.pipeThrough(new TextDecoderStream()).getReader();
        lines = jsonLines(reader);
        // A watch refused for an expired token says so in its first line: log in once more.
        const first = await lines.next();
        const result = first.done ? undefined : watchResult(first.value, key);
        if (result && isAuthCancel(result) && this.#auth && attempt === 0) {
          this.#token = undefined;
          await reader.cancel().catch(() => {});
          lines = undefined;
          continue;
        }
        const batch = result && watchBatch(result, key);
        if (batch && batch.length > 0) yield batch;
      }
      for await (const line of lines) {
        const batch = watchBatch(watchResult(line, key), key);
        if (batch.length > 0) yield batch;
      }
      if (!signal?.aborted) throw new EtcdUnavailableError([[endpoint, "the watch stream ended"]]);
    } catch (e) {
      if (signal?.aborted) return;
      if (e instanceof HgError) throw e;
      throw new EtcdUnavailableError([[endpoint, `the watch stream broke: ${reason(e, 0)}`]]);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      // etcd keeps a canceled watch's stream open: closing it is up to the client.
      stream.abort();
    }
  }

  async #txn(compare: Json, success: Json): Promise<boolean> {
    const failures: [string, string][] = [];
    // A member that timed out may have applied the txn, whatever the others answered (a compare
    // that failed because of our own write is not "false").
    const unseen = () => failures.filter(([, why]) => why !== REFUSED);
    let answer: Json;
    try {
      answer = await this.#call("/v3/kv/txn", { compare: [compare], success: [success] }, failures);
    } catch (e) {
      if (e instanceof EtcdUnavailableError && unseen().length > 0) {
        throw new EtcdOutcomeUnknownError(unseen());
      }
      throw e;
    }
    // A failed compare comes back without `succeeded` at all (false fields are omitted).
    if (answer.succeeded === true) return true;
    if (unseen().length > 0) throw new EtcdOutcomeUnknownError(unseen());
    return false;
  }

  /**
   * POSTs `body` to `path` with failover; returns etcd's JSON answer. The endpoints that failed
   * before one answered are added to `failures`.
   */
  async #call(path: string, body: Json, failures: [string, string][] = []): Promise<Json> {
    const text = JSON.stringify(body);
    return await this.#failover(failures, async (endpoint) => {
      for (let attempt = 0;; attempt++) {
        const response = await this.#post(
          endpoint,
          path,
          text,
          AbortSignal.timeout(this.timeoutMs),
        );
        const answer = await readJson(response);
        if (response.ok && answer.error === undefined) return answer;
        const error = requestError(answer, response.status, endpoint, path, this.#auth?.user);
        if (error.code === GRPC_UNAUTHENTICATED && this.#auth && attempt === 0) {
          // Tokens expire (5 min by default): log in again once.
          this.#token = undefined;
          continue;
        }
        throw error;
      }
    });
  }

  /** Opens a streaming POST with failover; the connect phase has the request timeout. */
  #open(
    path: string,
    body: Json,
    signal: AbortSignal,
  ): Promise<{ endpoint: string; body: ReadableStream<Uint8Array> }> {
    const text = JSON.stringify(body);
    return this.#failover([], async (endpoint) => {
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const connecting = new AbortController();
      const stop = () => connecting.abort(signal.aborted ? signal.reason : timeout.reason);
      signal.addEventListener("abort", stop);
      timeout.addEventListener("abort", stop);
      let response: Response;
      try {
        response = await this.#post(endpoint, path, text, connecting.signal);
      } finally {
        timeout.removeEventListener("abort", stop);
      }
      // From here on only the caller's signal ends the stream.
      if (!response.ok || !response.body) {
        signal.removeEventListener("abort", stop);
        const answer = await readJson(response);
        throw requestError(answer, response.status, endpoint, path, this.#auth?.user);
      }
      return { endpoint, body: response.body };
    });
  }

  /**
   * Runs `request` on the endpoint that worked last, then on each other one once, moving on
   * when an endpoint is unreachable, times out or answers 5xx.
   */
  async #failover<T>(
    failures: [string, string][],
    request: (endpoint: string) => Promise<T>,
  ): Promise<T> {
    for (let i = 0; i < this.endpoints.length; i++) {
      const index = (this.#current + i) % this.endpoints.length;
      const endpoint = this.endpoints[index];
      try {
        const result = await request(endpoint);
        this.#current = index;
        return result;
      } catch (e) {
        if (e instanceof HgError) throw e;
        failures.push([endpoint, reason(e, this.timeoutMs)]);
      }
    }
    throw new EtcdUnavailableError(failures);
  }

  /** One POST to one endpoint, with the auth token (logging in first when needed). */
  async #post(endpoint: string, path: string, body: string, signal: AbortSignal) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#auth) headers.authorization = await this.#login(endpoint);
    const response = await this.#fetch(`${endpoint}${path}`, {
      method: "POST",
      headers,
      body,
      signal,
    });
    if (response.status >= 500) {
      const answer = await response.text().catch(() => "");
      throw new EndpointFailure(`HTTP ${response.status} ${answer.slice(0, 100)}`.trim());
    }
    return response;
  }

  #login(endpoint: string): Promise<string> {
    if (this.#token) return this.#token;
    const login = this.#authenticate(endpoint, this.#auth!);
    this.#token = login;
    login.catch(() => {
      if (this.#token === login) this.#token = undefined;
    });
    return login;
  }

  async #authenticate(
    endpoint: string,
    auth: { readonly user: string; readonly password: string },
  ): Promise<string> {
    const response = await this.#fetch(`${endpoint}/v3/auth/authenticate`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: auth.user, password: auth.password }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (response.status >= 500) {
      throw new EndpointFailure(`HTTP ${response.status} on /v3/auth/authenticate`);
    }
    const answer = await readJson(response);
    if (!response.ok || answer.error !== undefined || typeof answer.token !== "string") {
      throw new EtcdRequestError(
        `etcd at ${endpoint} refused the login of user ${JSON.stringify(auth.user)}: ${
          errorMessage(answer) ?? `HTTP ${response.status}`
        }`,
        grpcCode(answer),
      );
    }
    return answer.token;
  }

  #fetch(url: string, init: RequestInit): Promise<Response> {
    if (this.#tls && url.startsWith("https:")) return tlsFetch(url, init, this.#tls);
    return fetch(url, init);
  }
}

/** Reads a response's JSON; a non-JSON answer (not etcd?) moves on to the next endpoint. */
async function readJson(response: Response): Promise<Json> {
  const text = await response.text();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new EndpointFailure(
      `answered HTTP ${response.status} with non-JSON ${JSON.stringify(text.slice(0, 60))}`,
    );
  }
  return object(data, "answer");
}

/** etcd's error answer as an error: unary `{error, message, code}` or streaming `{error: {...}}`. */
function requestError(
  answer: Json,
  status: number,
  endpoint: string,
  path: string,
  user: string | undefined,
): EtcdRequestError {
  const code = grpcCode(answer);
  const message = errorMessage(answer) ?? `HTTP ${status}`;
  const where = `etcd at ${endpoint} refused ${path}`;
  // Without a token etcd 3.4 says "user name is empty", which does not say what to do.
  if (user === undefined && /user name is empty|invalid auth token/.test(message)) {
    return new EtcdRequestError(
      `${where}: the cluster has auth enabled (${message}): give a user and password`,
      code,
    );
  }
  return new EtcdRequestError(`${where}: ${message}`, code);
}

function errorMessage(answer: Json): string | undefined {
  const error = answer.error;
  if (typeof answer.message === "string" && answer.message !== "") return answer.message;
  if (typeof error === "string" && error !== "") return error;
  if (typeof error === "object" && error !== null) {
    const message = (error as Json).message;
    if (typeof message === "string") return message;
  }
  return undefined;
}

function grpcCode(answer: Json): number {
  const error = answer.error;
  const code = typeof error === "object" && error !== null
    ? (error as Json).grpc_code
    : answer.code;
  return typeof code === "number" ? code : 0;
}

/** Why a request to one endpoint failed, short and on one line. */
function reason(e: unknown, timeoutMs: number): string {
  const error = e as { name?: string; message?: string; code?: string; cause?: unknown };
  if (error?.name === "TimeoutError") return `timed out after ${timeoutMs} ms`;
  // Deno says "fetch failed" and tells why in `cause`; Bun sets `code`.
  const messages: string[] = [];
  for (let at: unknown = e; at !== undefined && messages.length < 4;) {
    const { message, cause } = at as { message?: unknown; cause?: unknown };
    messages.push(String(message ?? at));
    at = cause;
  }
  const all = messages.join(": ");
  if (/refused/i.test(all) || error?.code === "ConnectionRefused") return REFUSED;
  return oneLine(all).slice(0, 160);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

async function* jsonLines(reader: ReadableStreamDefaultReader<string>): AsyncGenerator<Json> {
  let buffered = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffered += value;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== "") yield parseLine(line);
    }
  }
  // An error line may come without a trailing newline before the stream ends.
  if (buffered.trim() !== "") yield parseLine(buffered.trim());
}

function parseLine(line: string): Json {
  try {
    return object(JSON.parse(line), "watch message");
  } catch (e) {
    if (e instanceof HgError) throw e;
    throw new HgError(
      `etcd sent a watch line that is not JSON: ${JSON.stringify(line.slice(0, 60))}`,
    );
  }
}

/** The `result` of a watch line; a line carrying an error throws it. */
function watchResult(line: Json, key: string): Json {
  if (line.error !== undefined) {
    throw new EtcdRequestError(
      `the watch on ${JSON.stringify(key)} failed: ${errorMessage(line) ?? "unknown error"}`,
      grpcCode(line),
    );
  }
  return object(line.result, "watch result");
}

function isAuthCancel(result: Json): boolean {
  return result.canceled === true && typeof result.cancel_reason === "string" &&
    /invalid auth token/.test(result.cancel_reason);
}

function watchBatch(result: Json, key: string): WatchEvent[] {
  if (result.canceled === true) {
    const compacted = int64(result.compact_revision, "compact_revision");
    if (compacted !== "0") throw new EtcdCompactedError(compacted, key);
    const why = typeof result.cancel_reason === "string" ? result.cancel_reason : "no reason given";
    throw new EtcdRequestError(`etcd canceled the watch on ${JSON.stringify(key)}: ${why}`, 0);
  }
  return arrayField(result, "events").map((raw) => {
    const event = object(raw, "event");
    const kv = keyValue(object(event.kv, "event kv"));
    if (event.type === "DELETE") {
      const prev = event.prev_kv === undefined
        ? undefined
        : keyValue(object(event.prev_kv, "event prev_kv"));
      return prev === undefined
        ? { type: "delete", key: kv.key, modRevision: kv.modRevision } as const
        : {
          type: "delete",
          key: kv.key,
          prevValue: prev.value,
          prevLease: prev.lease,
          modRevision: kv.modRevision,
        } as const;
    }
    // Puts carry no `type` (PUT is the zero value, and zero values are omitted).
    if (event.type !== undefined && event.type !== "PUT") {
      throw new HgError(`etcd sent a watch event of unknown type ${JSON.stringify(event.type)}`);
    }
    return { type: "put", key: kv.key, value: kv.value, modRevision: kv.modRevision } as const;
  });
}

function putRequest(key: string, value: string, lease?: string): Json {
  return {
    key: encodeKey(key),
    value: base64(bytesOf(value)),
    ...(lease === undefined || lease === "0" ? {} : { lease: int64Arg(lease) }),
  };
}

function keyValue(kv: Json): EtcdKeyValue {
  return {
    key: text(kv.key, "key"),
    value: text(kv.value, "value"),
    createRevision: int64(kv.create_revision, "create_revision"),
    modRevision: int64(kv.mod_revision, "mod_revision"),
    lease: int64(kv.lease, "lease"),
  };
}

function headerRevision(answer: Json): string {
  return int64(object(answer.header ?? {}, "header").revision, "header revision");
}

function object(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HgError(`etcd sent a ${what} that is not a JSON object: ${preview(value)}`);
  }
  return value as Json;
}

function arrayField(answer: Json, field: string): unknown[] {
  const value = answer[field] ?? [];
  if (!Array.isArray(value)) {
    throw new HgError(`etcd sent ${field} that is not an array: ${preview(value)}`);
  }
  return value;
}

/** An int64 field as a decimal string; etcd omits zeros. */
function int64(value: unknown, what: string): string {
  if (value === undefined) return "0";
  if (typeof value === "string" && INT64.test(value)) return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
  throw new HgError(`etcd sent a ${what} that is not an int64: ${preview(value)}`);
}

/** A base64 field as UTF-8 text; etcd omits empty values. */
function text(value: unknown, what: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string" || !BASE64.test(value)) {
    throw new HgError(`etcd sent a ${what} that is not base64: ${preview(value)}`);
  }
  return Buffer.from(value, "base64").toString("utf8");
}

function preview(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 60);
}

function int64Arg(value: string): string {
  if (!INT64.test(value)) throw new InputError(`${JSON.stringify(value)} is not an etcd int64`);
  return value;
}

function bytesOf(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** A key for a request; the empty prefix is "\0" (with range end "\0": every key). */
function encodeKey(key: string, prefix = false): string {
  return prefix && key === "" ? base64(new Uint8Array([0])) : base64(bytesOf(key));
}

/** The first key after every key that starts with `prefix`, as etcd's clientv3 computes it. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}
