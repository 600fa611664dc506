/**
 * Interface names hg accepts: the kernel's 15 characters (IFNAMSIZ - 1), and only characters
 * that are safe everywhere a name goes (`ip -batch` lines, sysctl paths, aliases).
 *
 * @module
 */

/**
 * Why `text` cannot be an interface name, or undefined when it can.
 *
 * @example
 * ```ts
 * interfaceNameError("cni0"); // undefined
 * interfaceNameError("a b"); // "\"a b\" is not a valid interface name: 1-15 letters, digits or _.-@:+"
 * ```
 */
export function interfaceNameError(text: string): string | undefined {
  if (/^[A-Za-z0-9_.@:+-]{1,15}$/.test(text) && text !== "." && text !== "..") return undefined;
  return `${JSON.stringify(text)} is not a valid interface name: 1-15 letters, digits or _.-@:+`;
}
