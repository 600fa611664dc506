/**
 * Credentials inside a store URL (`etcd://user:secret@host:2379`). hg never takes them from the
 * URL: a URL is shown by `ps`, written into shell histories, logs and systemd units, and quoted by
 * error messages. It refuses such a URL, and its message shows the URL with the credentials
 * replaced by `***`.
 *
 * @module
 */
import { InputError } from "../errors.ts";

/**
 * Where the credentials of `url` are: the text between `scheme://` and the `@` that ends them.
 * For `file://` only the authority counts (a path may hold an `@`); for every other scheme any
 * `@` does, since no etcd endpoint holds one and a password may hold a `/`.
 */
function credentialSpan(url: string): { start: number; end: number } | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url);
  if (!scheme) return undefined; // a plain path: no URL, no credentials
  const start = scheme[0].length;
  const rest = url.slice(start);
  const at = /^file:/i.test(url) ? rest.slice(0, rest.search(/\/|$/)).lastIndexOf("@") : rest
    .lastIndexOf("@");
  return at < 0 ? undefined : { start, end: start + at };
}

/**
 * `url` with any `user:password@` replaced by `***@`, for messages.
 *
 * @example
 * ```ts
 * redactStoreUrl("etcd://root:s3cret@10.0.0.5:2379"); // "etcd://***@10.0.0.5:2379"
 * redactStoreUrl("/var/lib/hg/subnets.json"); // unchanged
 * ```
 */
export function redactStoreUrl(url: string): string {
  const span = credentialSpan(url);
  return span ? `${url.slice(0, span.start)}***${url.slice(span.end)}` : url;
}

/**
 * Throws an {@link InputError} when `url` carries credentials; its message names the URL
 * redacted and the flags to use instead.
 *
 * @example
 * ```ts
 * refuseUrlCredentials("etcd://10.0.0.5:2379"); // fine
 * refuseUrlCredentials("etcd://root:s3cret@10.0.0.5:2379"); // throws, without "s3cret"
 * ```
 */
export function refuseUrlCredentials(url: string): void {
  if (credentialSpan(url) === undefined) return;
  throw new InputError(
    `the store URL ${
      redactStoreUrl(url)
    } carries credentials, which hg does not take from a URL (ps, logs and units would show them): ` +
      `give --etcd-user and --etcd-password-file (or HG_ETCD_PASSWORD)`,
  );
}
