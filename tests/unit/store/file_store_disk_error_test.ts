/**
 * The one line a full, limited, read-only or forbidden disk gives on the file store: each errno
 * its own words, each step its own verb, the path named, and what happened to the registry.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HgError } from "../../../lib/errors.ts";
import { describeError } from "../../../cli/exit_code.ts";
import { diskFaultWords } from "../../../lib/lock/disk_fault.ts";
import { RegistryDiskError, registryDiskMessage } from "../../../lib/store/file/disk_error.ts";

const errno = (code: string, message = `${code}: something, write`) =>
  Object.assign(new Error(message), { code });

describe("file store disk errors", () => {
  it("each errno has its own words", () => {
    assert.equal(diskFaultWords(errno("ENOSPC")), "no space left on device");
    assert.equal(diskFaultWords(errno("EDQUOT")), "disk quota exceeded");
    assert.equal(diskFaultWords(errno("EROFS")), "the file system is mounted read-only");
    const uid = process.getuid?.();
    assert.equal(diskFaultWords(errno("EACCES")), `permission denied (hg runs as uid ${uid})`);
    assert.equal(diskFaultWords(errno("EPERM")), `permission denied (hg runs as uid ${uid})`);
    assert.equal(
      diskFaultWords(errno("EIO", "EIO: i/o error, write\nmore")),
      "EIO: i/o error, write",
    );
  });

  it("each step says what it could not do, names the registry, and that nothing changed", () => {
    const full = errno("ENOSPC");
    assert.equal(
      registryDiskMessage("/x/subnets.json", "write", full),
      "cannot write the registry /x/subnets.json: no space left on device; the registry is unchanged",
    );
    assert.equal(
      registryDiskMessage("/x/subnets.json", "lock", full),
      "cannot lock the registry /x/subnets.json (lock file /x/subnets.json.lock): no space left on device; the registry is unchanged",
    );
    assert.equal(
      registryDiskMessage(
        "/x/subnets.json",
        "lock",
        errno("EROFS"),
        "/x/subnets.json.lock.takeover",
      ),
      "cannot lock the registry /x/subnets.json (lock file /x/subnets.json.lock.takeover): the file system is mounted read-only; the registry is unchanged",
    );
    assert.equal(
      registryDiskMessage("/x/subnets.json", "replace", errno("EDQUOT")),
      "cannot replace the registry /x/subnets.json: disk quota exceeded; the registry is unchanged",
    );
    assert.match(
      registryDiskMessage("/x/subnets.json", "read", errno("EACCES")),
      /^cannot read the registry \/x\/subnets\.json: permission denied \(hg runs as uid \d+\)$/,
    );
  });

  it("is an HgError: exit code 1 and one line", () => {
    const e = new RegistryDiskError("/x/subnets.json", "write", errno("ENOSPC"));
    assert.ok(e instanceof HgError);
    assert.equal(e.code, "ENOSPC");
    assert.equal(e.name, "RegistryDiskError");
    assert.deepEqual(describeError(e), {
      code: 1,
      message:
        "hg: cannot write the registry /x/subnets.json: no space left on device; the registry is unchanged",
    });
  });
});
