/**
 * Typed access to the fields of one `ip -j` object. Each reader names the field and the
 * object kind in its error, so an unexpected iproute2 version fails with a message that
 * says exactly what changed.
 *
 * @module
 */
import { IpOutputError } from "./output_error.ts";

/** One JSON object from `ip -j` output, with typed field readers. */
export class JsonFields {
  constructor(
    private readonly fields: Record<string, unknown>,
    private readonly what: string,
  ) {}

  /**
   * Parses `text` as a JSON array of objects (`ip -j` prints `[]` or nothing for no entries);
   * an array already parsed (from a snapshot document) is taken as it is.
   */
  static list(text: string | readonly unknown[], what: string): JsonFields[] {
    const data = typeof text === "string" ? JsonFields.parseList(text, what) : text;
    if (!Array.isArray(data)) {
      throw new IpOutputError(`ip printed ${what} output that is not a list`);
    }
    return data.map((item) => JsonFields.of(item, what));
  }

  /**
   * The entries of `ip -j` output `text`, not yet checked one by one (see {@link JsonFields.of}):
   * for parsers with a fast path for entries of the common shape.
   */
  static parseList(text: string, what: string): unknown[] {
    const trimmed = text.trim();
    if (trimmed === "") return [];
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch {
      throw new IpOutputError(
        `ip printed ${what} output that is not JSON: ${trimmed.slice(0, 80)}`,
      );
    }
    if (!Array.isArray(data)) {
      throw new IpOutputError(`ip printed ${what} output that is not a list`);
    }
    return data;
  }

  /** One entry of a list, which must be an object. */
  static of(item: unknown, what: string): JsonFields {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      throw new IpOutputError(`ip printed a ${what} entry that is not an object`);
    }
    return new JsonFields(item as Record<string, unknown>, what);
  }

  has(key: string): boolean {
    return this.fields[key] !== undefined && this.fields[key] !== null;
  }

  /** Whether the key is there at all, also with a null value (`ip -j` prints flags as `"not": null`). */
  present(key: string): boolean {
    return key in this.fields;
  }

  /** The keys of the object, in the order ip printed them. */
  keys(): string[] {
    return Object.keys(this.fields);
  }

  /** A field's value as printed, for fields of more than one type. */
  raw(key: string): unknown {
    return this.fields[key];
  }

  string(key: string): string {
    const v = this.fields[key];
    if (typeof v !== "string") throw this.bad(key, "a string", v);
    return v;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  /** A number, also accepted as a decimal string (`ip -N` prints numbers as strings). */
  number(key: string): number {
    const v = this.fields[key];
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "string" && /^\d+$/.test(v)) return Number(v);
    throw this.bad(key, "a number", v);
  }

  optionalNumber(key: string): number | undefined {
    return this.has(key) ? this.number(key) : undefined;
  }

  strings(key: string): string[] {
    const v = this.fields[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      throw this.bad(key, "a list of strings", v);
    }
    return v as string[];
  }

  object(key: string): JsonFields | undefined {
    const v = this.fields[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) throw this.bad(key, "an object", v);
    return new JsonFields(v as Record<string, unknown>, `${this.what}.${key}`);
  }

  objects(key: string): JsonFields[] {
    const v = this.fields[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.bad(key, "a list", v);
    return v.map((item) => {
      if (typeof item !== "object" || item === null) throw this.bad(key, "a list of objects", v);
      return new JsonFields(item as Record<string, unknown>, `${this.what}.${key}`);
    });
  }

  private bad(key: string, expected: string, got: unknown): IpOutputError {
    return new IpOutputError(
      `ip printed a ${this.what} entry whose "${key}" is not ${expected}: ${JSON.stringify(got)}`,
    );
  }
}
