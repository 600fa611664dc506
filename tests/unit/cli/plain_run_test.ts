/**
 * A plain run of `hg status` is parsed without commander (cli/command_table.ts parsePlainRun,
 * cli/main.ts): whatever it accepts must parse as commander parses it, from the same flag
 * definitions, and whatever it leaves (help, errors, odd spellings) goes to commander.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GLOBAL_FLAGS, parsePlainRun, type ValueFlagEntry } from "../../../cli/command_table.ts";
import { BRIDGE_FLAG, runPlainStatus } from "../../../cli/commands/status.ts";
import { buildProgram } from "../../../cli/program.ts";

/** What commander makes of `args` for status: the global switches and `--bridge`, or its error. */
async function commanderParse(args: readonly string[]) {
  const program = await buildProgram(["status"]);
  const status = program.commands.find((c) => c.name() === "status")!;
  let values: Record<string, unknown> | undefined;
  status.action(() => {
    values = { ...status.opts() };
  });
  try {
    await program.parseAsync([...args], { from: "user" });
  } catch (error) {
    return { error: String(error) };
  }
  if (values === undefined) return { error: "status did not run" };
  const o: Record<string, unknown> = program.opts();
  const globals = Object.fromEntries(GLOBAL_FLAGS.map((f) => [f.key, !!o[f.key]]));
  return { globals, values };
}

const STATUS_FLAGS: readonly ValueFlagEntry[] = [BRIDGE_FLAG];

/** Runs commander would run, odd ones among them. */
const PLAIN: readonly (readonly string[])[] = [
  ["status"],
  ["status", "--json"],
  ["--json", "status"],
  ["-q", "--dry-run", "status", "-v"],
  ["-vq", "status"],
  ["status", "-qv", "--json"],
  ["--verbose", "--quiet", "status"],
  ["status", "--bridge", "br0"],
  ["status", "--bridge=br0", "--json"],
  ["--json", "status", "--bridge", "br0", "-v"],
  // The last value wins, as in commander.
  ["status", "--bridge", "br0", "--bridge", "br1"],
  ["status", "--bridge", "status"],
  ["status", "--json", "--json"],
];

/** Runs the plain parse leaves to commander: help, version, errors, `--`, odd spellings. */
const NOT_PLAIN: readonly (readonly string[])[] = [
  [],
  ["--json"],
  ["status", "--help"],
  ["status", "-h"],
  ["help", "status"],
  ["status", "help"],
  ["status", "-V"],
  ["status", "--version"],
  ["status", "extra"],
  ["status", "--bogus"],
  ["status", "-x"],
  ["status", "-vx"],
  ["status", "--json=1"],
  ["status", "--"],
  ["status", "--", "--json"],
  ["status", "--bridge"],
  ["status", "--bridge", "--json"],
  ["status", "--bridge", "-x"],
  ["status", "--bridge="],
  ["status", "--bridge", "bad/name"],
  ["status", "--Bridge", "br0"],
  ["--bridge", "br0", "status"],
  ["statsu"],
  ["netns", "ls"],
];

describe("a plain run of status", () => {
  it("parses as commander parses it", async () => {
    for (const args of PLAIN) {
      const plain = parsePlainRun(args, "status", STATUS_FLAGS);
      assert.ok(plain, args.join(" "));
      assert.deepEqual(
        { globals: plain.globals, values: plain.values },
        await commanderParse(args),
        args.join(" "),
      );
    }
  });

  it("leaves everything else to commander", async () => {
    for (const args of NOT_PLAIN) {
      assert.equal(parsePlainRun(args, "status", STATUS_FLAGS), undefined, args.join(" "));
      assert.equal(runPlainStatus(args), undefined, args.join(" "));
    }
    // Among them runs commander refuses, and runs it takes that the plain parse does not try.
    assert.ok("error" in await commanderParse(["status", "--bridge", "bad/name"]));
    assert.ok("error" in await commanderParse(["status", "--bridge", "--json"]));
    assert.deepEqual((await commanderParse(["status", "--bridge", "-x"])).values, {
      bridge: "-x",
    });
  });

  it("reads the global flags from the definition commander's options are built from", async () => {
    const program = await buildProgram([]);
    const declared = program.options.map((o) => ({ flags: o.flags, description: o.description }));
    // -V, --version first, then the table's flags in its order (help lists them so).
    assert.deepEqual(
      declared.slice(1),
      GLOBAL_FLAGS.map(({ flags, description }) => ({ flags, description })),
    );
    // Each key is commander's name for the flag, which the Output switches are read by.
    assert.deepEqual(
      program.options.slice(1).map((o) => o.attributeName()),
      GLOBAL_FLAGS.map((f) => f.key),
    );
  });

  it("takes the default of --bridge as commander does, without its parser", () => {
    let parsed = 0;
    const flag = { ...BRIDGE_FLAG, parse: (text: string) => (parsed++, text) };
    assert.deepEqual(parsePlainRun(["status"], "status", [flag])?.values, { bridge: "cni0" });
    assert.equal(parsed, 0);
  });
});
