/**
 * The systemd unit text: words quoted the way systemd reads them, and no way for a password to
 * get into it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AGENT_ENVIRONMENT_FILE, execWord, systemdUnit } from "../../../lib/agent/systemd.ts";

describe("systemdUnit", () => {
  it("quotes words with spaces, quotes and backslashes; doubles % and $", () => {
    assert.equal(
      execWord("etcd://10.0.0.5:2379,10.0.0.6:2379"),
      "etcd://10.0.0.5:2379,10.0.0.6:2379",
    );
    assert.equal(execWord("/srv/my hg/subnets.json"), '"/srv/my hg/subnets.json"');
    assert.equal(execWord('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(execWord("50%n"), '"50%%n"');
    assert.equal(execWord("$HOME/x"), '"$$HOME/x"');
    assert.equal(execWord("a\nb"), '"a\\x0ab"');
    assert.equal(execWord(";"), "\\;");
  });

  it("writes the environment file and Environment= lines before ExecStart", () => {
    const unit = systemdUnit({
      executable: "/usr/local/bin/hg",
      args: ["--store", "etcd://10.0.0.5:2379", "--etcd-user", "hg"],
      environment: { HG_RUN_DIR: "/run/hg 2" },
      environmentFile: AGENT_ENVIRONMENT_FILE,
    });
    const service = unit.split("[Service]\n")[1].split("\n");
    assert.deepEqual(service.slice(1, 5), [
      'Environment="HG_RUN_DIR=/run/hg 2"',
      "# /etc/hg/agent.env holds the etcd password: HG_ETCD_PASSWORD=... (owner root, mode 0600).",
      "EnvironmentFile=/etc/hg/agent.env",
      "ExecStart=/usr/local/bin/hg agent --store etcd://10.0.0.5:2379 --etcd-user hg",
    ]);
    assert.match(unit, /^RestartPreventExitStatus=2$/m);
  });

  it("refuses to write a password, as a flag or as a variable", () => {
    for (const args of [["--etcd-password", "pw"], ["--etcd-password=pw"]]) {
      assert.throws(
        () => systemdUnit({ executable: "/usr/local/bin/hg", args }),
        /must not be written into a unit/,
      );
    }
    assert.throws(
      () =>
        systemdUnit({
          executable: "/usr/local/bin/hg",
          args: [],
          environment: { HG_ETCD_PASSWORD: "pw" },
        }),
      /must not be written into a unit/,
    );
    // A password file is a path, not a password.
    const unit = systemdUnit({
      executable: "/usr/local/bin/hg",
      args: ["--etcd-password-file", "/etc/hg/etcd-password"],
    });
    assert.match(unit, /--etcd-password-file \/etc\/hg\/etcd-password$/m);
  });
});
