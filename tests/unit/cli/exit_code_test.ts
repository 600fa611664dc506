import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildProgram } from "../../../cli/program.ts";
import { describeError, errorDocument } from "../../../cli/exit_code.ts";
import { HgError, InputError, UndecidedError } from "../../../lib/errors.ts";

/** What commander throws for `args` (with hg's exitOverride). */
async function commanderError(args: string[]): Promise<unknown> {
  try {
    await (await buildProgram()).parseAsync(args, { from: "user" });
  } catch (e) {
    return e;
  }
  assert.fail(`hg ${args.join(" ")} parsed`);
}

describe("describeError: one line and the README's exit code", () => {
  it("puts commander's suggestion on the same line", async () => {
    assert.deepEqual(describeError(await commanderError(["statsu"])), {
      code: 2,
      message: "hg: unknown command 'statsu' (did you mean status?) (see --help)",
    });
    assert.deepEqual(describeError(await commanderError(["status", "--jsn"])), {
      code: 2,
      message: "hg: unknown option '--jsn' (did you mean --json?) (see --help)",
    });
  });

  it("joins a message that quotes several lines (an ip error) into one", () => {
    const { code, message } = describeError(
      new HgError('"ip link add x" failed: RTNETLINK answers: File exists\nCommand failed -:1'),
    );
    assert.equal(code, 1);
    assert.equal(
      message,
      'hg: "ip link add x" failed: RTNETLINK answers: File exists; Command failed -:1',
    );
  });

  it("never repeats credentials a URL in the message carries", async () => {
    const e = await commanderError(["lab", "up", "--store", "etcd://root:s3cret@10.0.0.5:2379"]);
    const { code, message } = describeError(e);
    assert.equal(code, 2);
    assert.match(message!, /etcd:\/\/\*\*\*@10\.0\.0\.5:2379/);
    assert.doesNotMatch(message!, /s3cret/);
    // A path with an @ is no URL with credentials.
    assert.match(describeError(new InputError("bad /srv/a@b.json")).message!, /\/srv\/a@b\.json/);
  });

  it("maps each kind of error to its code; help and version are no error", async () => {
    assert.equal(describeError(new InputError("x")).code, 2);
    assert.equal(describeError(new UndecidedError("x")).code, 3);
    assert.equal(describeError(new HgError("x")).code, 1);
    assert.deepEqual(describeError(new TypeError("boom\nat f")), {
      code: 1,
      message: "hg: internal error: boom",
    });
    assert.deepEqual(describeError(await commanderError(["--version"])), { code: 0 });
  });

  it("the --json error document carries the code and the line without hg:", () => {
    assert.deepEqual(errorDocument(2, "hg: bad thing"), {
      schema: 1,
      error: { exitCode: 2, message: "bad thing" },
    });
  });
});
