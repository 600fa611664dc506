/**
 * The README's exit-code table, row by row (issue 11): every case the table names is run here on
 * a real two-host lab and must exit with its row's code and say it in one line. The test fails
 * when the table names a case this file does not run, or this file runs one the table lacks.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { containerIp, hg, hgArgv, hgIn, type Run, run, sh, withLab } from "./harness.ts";

/** The table's cases: code → the case phrases after "meaning:", split at "; ". */
function readmeCases(): Map<string, number> {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Exit codes"), readme.indexOf("Each case in"));
  const cases = new Map<string, number>();
  for (const line of section.split("\n")) {
    const row = /^\| (\d)\s+\| (.+?)\s*\|$/.exec(line);
    if (!row) continue;
    const meaning = row[2].replaceAll("`", "");
    for (const c of meaning.slice(meaning.indexOf(":") + 1).split("; ")) {
      cases.set(c.trim(), Number(row[1]));
    }
  }
  return cases;
}

/** What a case runs, given the lab; the lab is put back as it was afterwards by `undo`. */
interface Case {
  readonly run: (lab: string) => Run;
  readonly undo?: (lab: string) => void;
}

const store = (lab: string) => `/run/hg/lab-${lab}/subnets.json`;
const h1 = (lab: string) => `${lab}-h1`;
const doctorTo = (lab: string) => [
  "doctor",
  "--store",
  store(lab),
  "--to",
  containerIp(`${lab}-h2`),
  "--peer-netns",
  `${lab}-h2`,
];

/** A directory with an `ip` that turns every route change into one the kernel refuses. */
function refusingIp(): string {
  const dir = mkdtempSync("/tmp/hg-refusing-ip-");
  const real = run("sh", ["-c", "command -v ip"]).stdout.trim();
  writeFileSync(
    `${dir}/ip`,
    `#!/bin/sh\n# Reads pass; "route replace" lines become one the kernel refuses.\n` +
      `case " $* " in *" -batch "*) sed -u 's|^route replace .*|route replace 1.2.3.0/24 via 1.2.3.4 dev nosuchdev0|' | ${real} "$@"; exit $?;; esac\n` +
      `exec ${real} "$@"\n`,
  );
  chmodSync(`${dir}/ip`, 0o755);
  return dir;
}

const nsenter = (lab: string, prefix: readonly string[], args: readonly string[], env = {}) =>
  run(
    "/usr/bin/nsenter",
    [`--net=/run/netns/${h1(lab)}`, "--", ...prefix, ...hgArgv(), ...args],
    env,
  );

const CASES: Record<string, Case> = {
  // 0
  "a change made": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--via", "10.0.12.99"]),
    undo: (lab) => sh(h1(lab), "ip route del 1.9.9.0/24"),
  },
  "nothing to do": {
    run: (lab) => hgIn(h1(lab), ["peer", "sync", "--store", store(lab), "--node", h1(lab)]),
  },
  "a dry run": { run: (lab) => hgIn(h1(lab), ["--dry-run", "netns", "add", "web9"]) },
  "doctor: traffic flows": { run: (lab) => hgIn(h1(lab), doctorTo(lab)) },
  // 1
  "not root": {
    run: (lab) =>
      nsenter(
        lab,
        ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        ["peer", "add", "1.9.9.0/24", "--via", "10.0.12.99"],
        { HOME: "/tmp", DENO_DIR: process.env.HG_TEST_DENO_DIR ?? "/tmp/hg-test-deno-dir" },
      ),
  },
  "ip missing": {
    run: (lab) => nsenter(lab, [], ["peer", "ls"], { PATH: "/nonexistent" }),
  },
  "a bridge missing": {
    run: (lab) => hgIn(h1(lab), ["netns", "add", "web9", "--bridge", "nobr0"]),
  },
  "a link down": {
    run: (lab) => {
      sh(h1(lab), "ip link set eth0 down");
      return hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--via", "10.0.12.99"]);
    },
    // Taking eth0 down removed the routes through it: put the lab's back.
    undo: (lab) => {
      sh(h1(lab), "ip link set eth0 up");
      const sync = hgIn(h1(lab), ["peer", "sync", "--store", store(lab), "--node", h1(lab)]);
      assert.equal(sync.code, 0, sync.stderr);
    },
  },
  "an ip command refused": {
    run: (lab) => {
      const dir = refusingIp();
      try {
        return nsenter(lab, [], ["peer", "add", "1.9.9.0/24", "--via", "10.0.12.99"], {
          PATH: `${dir}:${process.env.PATH}`,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  "the registry unreachable": {
    run: (lab) => hgIn(h1(lab), ["subnet", "ls", "--store", "etcd://127.0.0.1:1"]),
  },
  "a registry without network config": {
    run: (lab) => {
      const dir = mkdtempSync("/tmp/hg-exit-");
      try {
        return hgIn(h1(lab), ["peer", "sync", "--store", `${dir}/none.json`, "--node", h1(lab)]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  "a lab ping failed": {
    run: (lab) => {
      sh(`${lab}-h2`, "iptables -P FORWARD DROP");
      return hg(["lab", "status", "--name", lab]);
    },
    undo: (lab) => sh(`${lab}-h2`, "iptables -P FORWARD ACCEPT"),
  },
  "doctor found an error": {
    run: (lab) => {
      sh(`${lab}-h2`, "iptables -P FORWARD DROP");
      return hgIn(h1(lab), doctorTo(lab));
    },
    undo: (lab) => sh(`${lab}-h2`, "iptables -P FORWARD ACCEPT"),
  },
  // 2
  "unknown command or flag": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--vai", "10.0.12.99"]),
  },
  "missing argument": { run: (lab) => hgIn(h1(lab), ["peer", "add"]) },
  "bad CIDR or address": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/33", "--via", "10.0.12.99"]),
  },
  "wrong address family": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--via", "fd00::1"]),
  },
  "an address no host can have": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--via", "224.0.0.1"]),
  },
  "unknown container": { run: (lab) => hgIn(h1(lab), ["netns", "del", "web9"]) },
  "unknown lab": { run: () => hg(["lab", "status", "--name", "nosuchlab9"]) },
  "bad name": { run: (lab) => hgIn(h1(lab), ["netns", "add", "a b"]) },
  "off-link gateway": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "1.9.9.0/24", "--via", "10.0.16.7"]),
  },
  "overlapping subnet": {
    run: (lab) => hgIn(h1(lab), ["peer", "add", "10.0.12.0/24", "--via", "10.0.12.99"]),
  },
  "a bridge holding another subnet": {
    run: (lab) => hgIn(h1(lab), ["setup", "--subnet", "1.9.9.0/24"]),
  },
  "an MTU above the uplink's": {
    run: (lab) =>
      hgIn(h1(lab), ["setup", "--subnet", "1.9.9.0/24", "--bridge", "br9", "--mtu", "9000"]),
  },
  // 3
  "no error, but something it cannot evaluate (a rule match it does not model) may stop traffic, and no probe was sent":
    {
      run: (lab) => {
        sh(
          h1(lab),
          "iptables -P FORWARD DROP && iptables -A FORWARD -m length --length 0:65535 -j ACCEPT",
        );
        return hgIn(h1(lab), [...doctorTo(lab), "--no-probe"]);
      },
      undo: (lab) => sh(h1(lab), "iptables -F FORWARD && iptables -P FORWARD ACCEPT"),
    },
};

describe("the README's exit-code table (e2e, root)", () => {
  it("names exactly the cases this test runs", () => {
    assert.deepEqual([...readmeCases().keys()].sort(), Object.keys(CASES).sort());
  });

  it("every case exits with its row's code and one line on stderr (none on success)", async () => {
    await withLab(2, (lab) => {
      const wrong: string[] = [];
      for (const [name, code] of readmeCases()) {
        const c = CASES[name];
        if (!c) continue;
        try {
          const r = c.run(lab);
          const lines = r.stderr.split("\n").filter((l) => l && !l.includes("Download"));
          const oneLine = code === 0 ? true : lines.length === 1 && lines[0].startsWith("hg: ");
          if (r.code !== code || !oneLine) {
            wrong.push(`${name}: exit ${r.code} (want ${code}): ${lines.join(" | ")}`);
          }
        } finally {
          c.undo?.(lab);
        }
      }
      assert.deepEqual(wrong, []);
    }, "file");
  });
});
