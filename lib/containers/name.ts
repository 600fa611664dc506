/**
 * Container names and the interface names derived from them.
 *
 * @module
 */
import { InputError } from "../errors.ts";

/** The longest container name hg accepts. */
export const MAX_NAME_LENGTH = 32;

/**
 * Checks a container (network namespace) name: 1-32 characters of `[A-Za-z0-9_.-]`, not "." or
 * "..". Names end up in `/run/netns/NAME` and in `ip -batch` lines, so nothing else is allowed.
 *
 * @example
 * ```ts
 * validateName("web1"); // "web1"
 * validateName("a b"); // throws InputError
 * ```
 */
export function validateName(name: string): string {
  if (name.length === 0) {
    throw new InputError("container name is empty: expected 1-32 characters of A-Za-z0-9_.-");
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new InputError(
      `container name ${
        JSON.stringify(name)
      } is too long: ${name.length} characters, at most ${MAX_NAME_LENGTH}`,
    );
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === "." || name === "..") {
    throw new InputError(
      `container name ${
        JSON.stringify(name)
      } is not valid: use only letters, digits, "_", "." and "-"`,
    );
  }
  return name;
}

/**
 * The host-side veth name for a container: "hgv" and 8 hex digits of the name's FNV-1a hash.
 * Interface names are limited to 15 characters, container names are not, so the name is hashed.
 *
 * @example
 * ```ts
 * hostVethName("web1"); // "hgv" + 8 hex digits, the same every time
 * ```
 */
export function hostVethName(name: string): string {
  return "hgv" + fnv1a(name);
}

/**
 * The host-side veth name for a runtime container's attachment: "hgc" and 8 hex digits of the
 * hash of its network, container id and interface, so every CNI command finds it again.
 *
 * @example
 * ```ts
 * attachmentVethName("hg", "0123abcd", "eth0"); // "hgc" + 8 hex digits
 * ```
 */
export function attachmentVethName(network: string, containerId: string, ifname: string): string {
  return "hgc" + fnv1a(`${network}/${containerId}/${ifname}`);
}

/** FNV-1a (32 bits) of `text`, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** The interface name a container sees. */
export const CONTAINER_IFNAME = "eth0";
