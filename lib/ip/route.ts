/**
 * Typed routes parsed from `ip -j route` (with or without `-N`) and `ip -j route get`.
 *
 * @module
 */
import { type Family, formatAddress, type IpAddress, parseAddressOf } from "../net/address.ts";
import { fastV4Prefix } from "../net/dotted_quad.ts";
import { formatPrefix, type Prefix, prefixOf } from "../net/prefix.ts";
import { JsonFields } from "./json_fields.ts";
import { IpOutputError } from "./output_error.ts";
import { HG_ROUTE_PROTOCOL, protocolName, protocolNumber } from "./protocol.ts";
import { TABLE_MAIN, tableName, tableNumber } from "./table.ts";

/** Route types as the kernel knows them (`ip -N` prints their numbers). */
export type RouteType =
  | "unicast"
  | "local"
  | "broadcast"
  | "anycast"
  | "multicast"
  | "blackhole"
  | "unreachable"
  | "prohibit"
  | "throw"
  | "nat";

const TYPE_BY_NUMBER: readonly (RouteType | undefined)[] = [
  undefined,
  "unicast",
  "local",
  "broadcast",
  "anycast",
  "multicast",
  "blackhole",
  "unreachable",
  "prohibit",
  "throw",
  "nat",
];

/** One route of a routing table. */
export interface Route {
  readonly type: RouteType;
  /** The destination; `default` is parsed as the family's /0. */
  readonly dst: Prefix;
  readonly gateway?: IpAddress;
  readonly dev?: string;
  /** Route protocol number (2 kernel, 3 boot, 4 static, 104 hg, ...). */
  readonly protocol: number;
  /** Scope number (0 global, 253 link, 254 host). */
  readonly scope: number;
  readonly metric: number;
  readonly prefsrc?: IpAddress;
  /** Flags such as `onlink` and `linkdown`. */
  readonly flags: readonly string[];
  /** The table it is in, when ip printed one (`show table all`, `-d`). */
  readonly table?: number;
  /** The TOS value it is limited to (`tos 0x10`): it carries only packets of that TOS. */
  readonly tos?: number;
  /** The next hops of a multipath route (no `gateway` or `dev` of its own then). */
  readonly nexthops?: readonly { readonly gateway?: IpAddress; readonly dev?: string }[];
}

const SCOPES: Readonly<Record<string, number>> = {
  global: 0,
  universe: 0,
  site: 200,
  link: 253,
  host: 254,
  nowhere: 255,
};

/**
 * Parses the output of `ip -j [-N] route show` for one address family.
 *
 * @example
 * ```ts
 * const routes = parseRoutes('[{"dst":"default","gateway":"10.0.12.1","dev":"eth0","flags":[]}]', 4);
 * routes[0].dst.length; // 0
 * ```
 */
export function parseRoutes(text: string | readonly unknown[], family: Family): Route[] {
  const entries = typeof text === "string" ? JsonFields.parseList(text, "route") : text;
  if (!Array.isArray(entries)) {
    return JsonFields.list(entries, "route").map((f) => parseRoute(f, family));
  }
  // Every entry is checked to be an object before any is read, as JsonFields.list does; with a
  // test in place, not a wrapper per entry (10,000 of them in a big table's dump).
  for (const entry of entries) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      JsonFields.of(entry, "route");
    }
  }
  return entries.map((entry) =>
    plainRoute(entry, family) ?? parseRoute(JsonFields.of(entry, "route"), family)
  );
}

/** Route types by the text `ip` prints for them, as a number (`-N`) or a name. */
const TYPE_BY_TEXT: ReadonlyMap<string, RouteType> = new Map(
  TYPE_BY_NUMBER.flatMap((t, n) => t === undefined ? [] : [[String(n), t], [t, t]]),
);

/** The protocol numbers `ip -N` prints, by their text: a lookup instead of a regular expression. */
const PROTOCOL_BY_TEXT: ReadonlyMap<string, number> = new Map(
  Array.from({ length: 256 }, (_, n) => [String(n), n] as const),
);

/** Scope numbers by the text `ip` prints for them, as a number (`-N`) or a name. */
const SCOPE_BY_TEXT: ReadonlyMap<string, number> = new Map([
  ...Array.from({ length: 256 }, (_, n) => [String(n), n] as const),
  ...Object.entries(SCOPES),
]);

/**
 * The route of one `ip -j` entry of the common shape (an IPv4 `a.b.c.d/len` destination, at most
 * a gateway, device, source, metric and flags, every field of its plain type), built without
 * {@link JsonFields}; undefined for any other entry, which {@link parseRoute} reads (and refuses,
 * when it must, with its messages). A table of 10,000 routes is mostly such entries.
 */
function plainRoute(entry: unknown, family: Family): Route | undefined {
  if (family !== 4 || typeof entry !== "object" || entry === null) return undefined;
  const e = entry as Record<string, unknown>;
  const { dst, type, protocol, scope, gateway, dev, prefsrc, metric, flags } = e;
  // Table main as `-d` and `show table all` print it is common too (doctor's dump).
  const inMain = e.table === "254" || e.table === "main" || e.table === 254;
  if (
    typeof dst !== "string" || (e.table !== undefined && !inMain) || e.tos !== undefined ||
    e.nexthops !== undefined
  ) return undefined;
  const dstPrefix = fastV4Prefix(dst);
  if (!dstPrefix) return undefined;
  const routeType = type === undefined
    ? "unicast"
    : typeof type === "string"
    ? TYPE_BY_TEXT.get(type)
    : undefined;
  const protocolNo = protocol === undefined
    ? 3
    : typeof protocol === "string"
    ? PROTOCOL_BY_TEXT.get(protocol) ?? protocolNumber(protocol)
    : undefined;
  const scopeNo = scope === undefined
    ? 0
    : typeof scope === "string"
    ? SCOPE_BY_TEXT.get(scope)
    : undefined;
  if (routeType === undefined || protocolNo === undefined || scopeNo === undefined) {
    return undefined;
  }
  if (gateway !== undefined && typeof gateway !== "string") return undefined;
  if (dev !== undefined && typeof dev !== "string") return undefined;
  if (prefsrc !== undefined && typeof prefsrc !== "string") return undefined;
  if (metric !== undefined && !(typeof metric === "number" && Number.isFinite(metric))) {
    return undefined;
  }
  if (flags !== undefined) {
    if (!Array.isArray(flags)) return undefined;
    for (const flag of flags) if (typeof flag !== "string") return undefined;
  }
  return {
    type: routeType,
    dst: dstPrefix,
    gateway: gateway === undefined ? undefined : parseAddressOf(4, gateway),
    dev,
    protocol: protocolNo,
    scope: scopeNo,
    metric: metric ?? 0,
    prefsrc: prefsrc === undefined ? undefined : parseAddressOf(4, prefsrc),
    flags: (flags ?? []) as string[],
    // Always present (undefined outside table main): one object shape, no spread per route.
    table: inMain ? TABLE_MAIN : undefined,
  };
}

function parseRoute(f: JsonFields, family: Family): Route {
  const dstText = f.string("dst");
  const bits = family === 4 ? 32 : 128;
  let dst: Prefix;
  if (dstText === "default") {
    dst = prefixOf(parseAddressOf(family, family === 4 ? "0.0.0.0" : "::"), 0);
  } else {
    const [addr, len] = dstText.split("/");
    dst = prefixOf(parseAddressOf(family, addr), len === undefined ? bits : Number(len));
  }
  const typeText = f.optionalString("type") ?? "unicast";
  const type = /^\d+$/.test(typeText)
    ? TYPE_BY_NUMBER[Number(typeText)]
    : (TYPE_BY_NUMBER.find((t) => t === typeText) as RouteType | undefined);
  if (!type) throw new IpOutputError(`ip printed a route of unknown type "${typeText}"`);
  const protocolText = f.has("protocol") ? f.string("protocol") : "boot";
  const protocol = protocolNumber(protocolText);
  if (protocol === undefined) {
    throw new IpOutputError(`ip printed a route with unknown protocol "${protocolText}"`);
  }
  const scopeText = f.has("scope") ? f.string("scope") : "global";
  const scope = /^\d+$/.test(scopeText) ? Number(scopeText) : SCOPES[scopeText];
  if (scope === undefined) {
    throw new IpOutputError(`ip printed a route with unknown scope "${scopeText}"`);
  }
  const gateway = f.optionalString("gateway");
  const prefsrc = f.optionalString("prefsrc");
  const tos = f.has("tos") ? Number(f.raw("tos")) : undefined;
  const nexthops = f.objects("nexthops").map((n) => {
    const via = n.optionalString("gateway");
    return {
      ...(via === undefined ? {} : { gateway: parseAddressOf(family, via) }),
      ...(n.has("dev") ? { dev: n.string("dev") } : {}),
    };
  });
  return {
    type,
    dst,
    gateway: gateway === undefined ? undefined : parseAddressOf(family, gateway),
    dev: f.optionalString("dev"),
    protocol,
    scope,
    metric: f.optionalNumber("metric") ?? 0,
    prefsrc: prefsrc === undefined ? undefined : parseAddressOf(family, prefsrc),
    flags: f.strings("flags"),
    ...(f.has("table") ? { table: tableNumber(f.raw("table")) } : {}),
    ...(tos ? { tos } : {}),
    ...(nexthops.length > 0 ? { nexthops } : {}),
  };
}

/** Whether an `ip -j route show table all` entry is an IPv6 route (that listing holds both). */
function isIpv6Entry(f: JsonFields): boolean {
  const has6 = (v: unknown) => typeof v === "string" && v.includes(":");
  return f.present("pref") || has6(f.raw("dst")) || has6(f.raw("gateway")) ||
    has6(f.raw("prefsrc")) ||
    // Most routes have no next hops: no list is made for them (10,000 routes a dump).
    (f.has("nexthops") && f.objects("nexthops").some((n) => has6(n.raw("gateway"))));
}

/**
 * Parses the IPv4 routes of `ip -j [-N] route show table all`, which lists every table of both
 * address families; each route keeps its table (main when ip printed none).
 *
 * @example
 * ```ts
 * const routes = parseRouteTables('[{"dst":"1.1.0.0/16","gateway":"10.0.12.1","table":"100","flags":[]}]');
 * routes[0].table; // 100
 * ```
 */
export function parseRouteTables(text: string | readonly unknown[]): Route[] {
  return JsonFields.list(text, "route").filter((f) => !isIpv6Entry(f)).map((f) => {
    const route = parseRoute(f, 4);
    return route.table === undefined ? { ...route, table: TABLE_MAIN } : route;
  });
}

/**
 * A route the way `ip route` prints it (protocol and scope by name where iproute2 knows one).
 *
 * @example
 * ```ts
 * const [route] = parseRoutes('[{"dst":"1.1.2.0/24","gateway":"10.0.12.12","dev":"eth0","protocol":"104","flags":[]}]', 4);
 * formatRoute(route); // "1.1.2.0/24 via 10.0.12.12 dev eth0 proto 104"
 * ```
 */
export function formatRoute(route: Route): string {
  const dst = route.dst.length === 0 ? "default" : formatPrefix(route.dst);
  return [
    route.type === "unicast" ? "" : route.type,
    dst,
    route.gateway ? `via ${formatAddress(route.gateway)}` : "",
    route.dev ? `dev ${route.dev}` : "",
    // hg's own number, not its name: iproute2 does not know the name, and this is pasteable.
    route.protocol === 3
      ? ""
      : `proto ${
        route.protocol === HG_ROUTE_PROTOCOL ? route.protocol : protocolName(route.protocol)
      }`,
    route.scope === 253 ? "scope link" : route.scope === 254 ? "scope host" : "",
    route.prefsrc ? `src ${formatAddress(route.prefsrc)}` : "",
    route.metric ? `metric ${route.metric}` : "",
    route.table !== undefined && route.table !== TABLE_MAIN
      ? `table ${tableName(route.table)}`
      : "",
    route.tos ? `tos 0x${route.tos.toString(16)}` : "",
    ...(route.nexthops ?? []).map((n) =>
      ["nexthop", n.gateway ? `via ${formatAddress(n.gateway)}` : "", n.dev ? `dev ${n.dev}` : ""]
        .filter(Boolean).join(" ")
    ),
    ...route.flags,
  ].filter(Boolean).join(" ");
}
