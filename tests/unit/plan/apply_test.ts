/**
 * applyPlan against a stand-in `ip` (first in PATH) that logs how it was started and the batch
 * lines it read, and fails on a line holding "fail-here" the way iproute2 does ("Command failed
 * -:N" on stderr, exit 1): which processes a plan starts, and where it stops. The same paths
 * with the real `ip` in a namespace: tests/integration/ip_apply_test.ts.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { IpCommandError } from "../../../lib/ip/exec.ts";
import { applyPlan } from "../../../lib/plan/apply.ts";
import { ipStep } from "../../../lib/plan/step.ts";

const dir = mkdtempSync(join(tmpdir(), "hg-apply-test-"));
const log = join(dir, "log");
const savedPath = process.env.PATH;

const FAKE_IP = `#!/bin/bash
echo "argv: $*" >> "${log}"
if [[ " $* " == *" -batch - "* ]]; then
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    echo "line: $line" >> "${log}"
    if [[ $line == *fail-here* ]]; then
      echo "Error: an invented failure" >&2
      echo "Command failed -:$n" >&2
      exit 1
    fi
  done
fi
`;

function logged(): string[] {
  try {
    return readFileSync(log, "utf8").trim().split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

before(() => {
  writeFileSync(join(dir, "ip"), FAKE_IP);
  chmodSync(join(dir, "ip"), 0o755);
  process.env.PATH = `${dir}:${savedPath}`;
});
after(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => rmSync(log, { force: true }));

describe("applyPlan", () => {
  it("runs nothing for an empty plan", async () => {
    await applyPlan([]);
    assert.deepEqual(logged(), []);
  });

  it("writes all of a namespace's lines to one ip -batch process, in plan order", async () => {
    await applyPlan([
      ipStep(["route", "replace", "100.64.0.0/24", "via", "10.0.12.12"]),
      ipStep(["route", "replace", "100.64.1.0/24", "via", "10.0.12.12"]),
      ipStep(["route", "del", "100.64.2.0/24", "proto", "104"]),
    ]);
    assert.deepEqual(logged(), [
      "argv: -batch -",
      "line: route replace 100.64.0.0/24 via 10.0.12.12",
      "line: route replace 100.64.1.0/24 via 10.0.12.12",
      "line: route del 100.64.2.0/24 proto 104",
    ]);
  });

  it("names the failing line, exits non-zero and starts no later namespace's batch", async () => {
    const failed = await applyPlan([
      ipStep(["route", "replace", "100.64.0.0/24", "via", "10.0.12.12"]),
      ipStep(["route", "replace", "fail-here", "via", "10.0.12.12"]),
      ipStep(["route", "replace", "100.64.2.0/24", "via", "10.0.12.12"]),
      ipStep(["link", "set", "lo", "up"], "hgtest-apply-absent"),
    ]).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof IpCommandError, `expected an IpCommandError, got ${failed}`);
    assert.equal(
      failed.message,
      '"ip route replace fail-here via 10.0.12.12" failed: Error: an invented failure',
    );
    assert.equal(failed.exitCode, 1);
    // The stand-in stops reading at the failing line, as ip does; the next namespace's batch
    // (`ip -n hgtest-apply-absent -batch -`, not started early: no such namespace) never starts.
    assert.deepEqual(logged(), [
      "argv: -batch -",
      "line: route replace 100.64.0.0/24 via 10.0.12.12",
      "line: route replace fail-here via 10.0.12.12",
    ]);
  });
});
