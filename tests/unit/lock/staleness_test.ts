/**
 * The lock's staleness judgement, pure: content (current, older form, empty, garbled, foreign),
 * age, and what the kernel says about the owner's PID. Several set-ups look odd but are fine
 * and must not be taken over.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lockHostName } from "../../../lib/lock/host.ts";
import { formatLockOwner, parseLockOwner } from "../../../lib/lock/owner.ts";
import {
  parseProcStat,
  type ProcessState,
  processState,
  thisProcess,
} from "../../../lib/exec/process_state.ts";
import {
  FOREIGN_STALE_MS,
  FOREIGN_WATCH_MS,
  judgeLock,
  ownerGone,
  UNPARSABLE_GRACE_MS,
} from "../../../lib/lock/staleness.ts";

const HERE = { scope: "5cb8470e-68bf-41c2-82ca-fe42a9abffbb/4026531836" };
const TOKEN = "00112233445566ff";

/** A kernel in which only `pids` run, each started at the given time. */
function kernel(pids: Record<number, string | undefined>): (pid: number) => ProcessState {
  return (pid) =>
    pid in pids
      ? (pids[pid] === undefined ? { alive: true } : { alive: true, startTime: pids[pid] })
      : { alive: false };
}

const lockOf = (pid: number, startTime?: string, scope: string | undefined = HERE.scope) =>
  formatLockOwner({ pid, token: TOKEN, startTime, scope });

describe("lock owner line", () => {
  it("round-trips, with unknown start time and scope as '-'", () => {
    const owner = { pid: 4711, token: TOKEN, startTime: "123456", scope: HERE.scope };
    assert.equal(formatLockOwner(owner), `4711 ${TOKEN} 123456 ${HERE.scope}\n`);
    assert.deepEqual(parseLockOwner(formatLockOwner(owner)), owner);
    assert.equal(formatLockOwner({ pid: 7, token: TOKEN }), `7 ${TOKEN} - -\n`);
    assert.deepEqual(parseLockOwner(`7 ${TOKEN} - -\n`), { pid: 7, token: TOKEN });
  });

  it("keeps understanding the older 'PID TOKEN' form, and keeps the PID first for older readers", () => {
    assert.deepEqual(parseLockOwner(`4711 ${TOKEN}\n`), { pid: 4711, token: TOKEN });
    assert.equal(Number(lockOf(4711, "1").split(" ")[0]), 4711);
  });

  it("refuses empty, cut short, garbled and foreign content", () => {
    for (
      const text of [
        "",
        "4711",
        `4711 ${TOKEN}`, // no newline: cut short
        `4711 ${TOKEN} 12`,
        `0 ${TOKEN}\n`,
        `-5 ${TOKEN}\n`,
        `4711 nothex!!nothex!!\n`,
        "\0\0\0\0",
        "locked by alice\n",
        '{"pid":4711}\n',
        `4711 ${TOKEN} 12 ${HERE.scope}\nextra`,
      ]
    ) {
      assert.equal(parseLockOwner(text), undefined, JSON.stringify(text));
    }
  });
});

describe("lock owner line with the owner's host", () => {
  const owner = { pid: 4711, token: TOKEN, startTime: "123456", scope: HERE.scope, host: "node1" };

  it("round-trips, the host last", () => {
    assert.equal(formatLockOwner(owner), `4711 ${TOKEN} 123456 ${HERE.scope} node1\n`);
    assert.deepEqual(parseLockOwner(formatLockOwner(owner)), owner);
    assert.deepEqual(parseLockOwner(`7 ${TOKEN} - - n-2.example_x\n`), {
      pid: 7,
      token: TOKEN,
      host: "n-2.example_x",
    });
  });

  it("refuses a host with characters a host name line cannot hold, or a sixth field", () => {
    for (const host of ["a b", "a/b", "x".repeat(65), "node1 extra"]) {
      assert.equal(parseLockOwner(`7 ${TOKEN} - - ${host}\n`), undefined, host);
    }
  });

  it("lockHostName keeps a host name readable and within the line's alphabet", () => {
    assert.equal(lockHostName("node1.example.com"), "node1.example.com");
    assert.equal(lockHostName("odd name\n"), "odd_name_");
    assert.equal(lockHostName("x".repeat(80)), "x".repeat(64));
    assert.equal(lockHostName(""), undefined);
    assert.match(lockHostName() ?? "", /^[A-Za-z0-9._-]{1,64}$/);
  });
});

describe("another host's lock: judged by the time since its holder last renewed it", () => {
  const nobody = kernel({});
  const otherBoot = "aaaaaaaa-0000-0000-0000-000000000000/4026531836";
  const theirs = (scope: string | undefined, host: string | undefined) =>
    formatLockOwner({ pid: 4711, token: TOKEN, startTime: "900", scope, host });

  it("renewed within the bound: not stale however long it has been held, and says by whom", () => {
    const v = judgeLock(
      { content: theirs(otherBoot, "node-b"), ageMs: FOREIGN_STALE_MS - 1 },
      { ...HERE, host: "node-a" },
      nobody,
    );
    assert.deepEqual(v, {
      stale: false,
      why: `held from another machine or boot (pid 4711 on node-b), renewed ${
        FOREIGN_STALE_MS - 1
      } ms ago`,
    });
  });

  it("not renewed for longer than the bound: stale, and the bound can be shortened", () => {
    const content = theirs(otherBoot, "node-b");
    const here = { ...HERE, host: "node-a" };
    assert.equal(judgeLock({ content, ageMs: FOREIGN_STALE_MS + 1 }, here, nobody).stale, true);
    assert.equal(
      judgeLock({ content, ageMs: 301 }, { ...here, foreignStaleMs: 300 }, nobody).stale,
      true,
    );
    assert.equal(
      judgeLock({ content, ageMs: 299 }, { ...here, foreignStaleMs: 300 }, nobody).stale,
      false,
    );
  });

  it("an old mtime alone is not enough: the judge must have seen it unchanged for a while", () => {
    const content = theirs(otherBoot, "node-b");
    const here = { ...HERE, host: "node-a" };
    // The holder's clock is a minute behind: its fresh renewal looks a minute old.
    const justSeen = judgeLock({ content, ageMs: 60_000, watchedMs: 200 }, here, nobody);
    assert.equal(justSeen.stale, false, justSeen.why);
    assert.match(justSeen.why, /seen unchanged for only 200 ms/);
    const watched = { content, ageMs: 60_000, watchedMs: FOREIGN_WATCH_MS };
    assert.equal(judgeLock(watched, here, nobody).stale, true);
    // With a bound shorter than the watch, the bound is the watch.
    const short = { ...here, foreignStaleMs: 300 };
    assert.equal(judgeLock({ content, ageMs: 60_000, watchedMs: 299 }, short, nobody).stale, false);
    assert.equal(judgeLock({ content, ageMs: 60_000, watchedMs: 300 }, short, nobody).stale, true);
  });

  it("where /proc gives no scope, another host name alone makes it foreign", () => {
    for (const [ownerScope, hereScope] of [[undefined, HERE.scope], [otherBoot, undefined]]) {
      const v = judgeLock(
        { content: theirs(ownerScope, "node-b"), ageMs: 1000 },
        { scope: hereScope, host: "node-a" },
        nobody,
      );
      assert.equal(v.stale, false, `${ownerScope} / ${hereScope}: ${v.why}`);
      assert.match(v.why, /on node-b/);
    }
  });

  it("the same scope with another host name is this kernel (a UTS namespace): the PID decides", () => {
    const v = judgeLock(
      { content: theirs(HERE.scope, "container-1"), ageMs: 0 },
      { ...HERE, host: "node-a" },
      nobody,
    );
    assert.deepEqual(v, { stale: true, why: "pid 4711 is gone" });
  });
});

describe("staleness judgement", () => {
  const nobody = kernel({});

  it("a lock being written right now (empty, age 0) is not stale, even though no PID is known", () => {
    const v = judgeLock({ content: "", ageMs: 0 }, HERE, nobody);
    assert.equal(v.stale, false, v.why);
    assert.equal(judgeLock({ content: "", ageMs: UNPARSABLE_GRACE_MS }, HERE, nobody).stale, false);
  });

  it("an empty lock older than the grace is stale: its writer died before writing it", () => {
    const v = judgeLock({ content: "", ageMs: UNPARSABLE_GRACE_MS + 1 }, HERE, nobody);
    assert.equal(v.stale, true);
    assert.match(v.why, /empty/);
  });

  it("garbled or foreign content is judged by age alone, whoever is alive", () => {
    const everyone = kernel({ 4711: "1" });
    for (const content of ["4711", "locked by alice\n", "\0\0\0", `4711 ${TOKEN} 1`]) {
      assert.equal(judgeLock({ content, ageMs: 10 }, HERE, everyone).stale, false, content);
      assert.equal(judgeLock({ content, ageMs: 60_000 }, HERE, everyone).stale, true, content);
    }
  });

  it("a live owner's lock is not stale, however old", () => {
    const v = judgeLock(
      { content: lockOf(4711, "900"), ageMs: 3_600_000 },
      HERE,
      kernel({ 4711: "900" }),
    );
    assert.equal(v.stale, false, v.why);
  });

  it("a dead owner's lock is stale at once, however young", () => {
    const v = judgeLock({ content: lockOf(4711, "900"), ageMs: 0 }, HERE, nobody);
    assert.deepEqual(v, { stale: true, why: "pid 4711 is gone" });
  });

  it("a lock whose PID now belongs to another process (started at another time) is stale", () => {
    const v = judgeLock(
      { content: lockOf(4711, "900"), ageMs: 0 },
      HERE,
      kernel({ 4711: "77000" }),
    );
    assert.deepEqual(v, { stale: true, why: "pid 4711 now belongs to another process" });
  });

  it("when /proc cannot tell a start time, a live PID counts as the owner", () => {
    assert.equal(
      judgeLock({ content: lockOf(4711), ageMs: 0 }, HERE, kernel({ 4711: "5" })).stale,
      false,
    );
    assert.equal(
      judgeLock({ content: lockOf(4711, "900"), ageMs: 0 }, HERE, kernel({ 4711: undefined }))
        .stale,
      false,
    );
  });

  it("a legacy 'PID TOKEN' lock of a live process is not stale; of a dead one it is", () => {
    const legacy = `4711 ${TOKEN}\n`;
    assert.equal(
      judgeLock({ content: legacy, ageMs: 60_000 }, HERE, kernel({ 4711: "1" })).stale,
      false,
    );
    assert.equal(judgeLock({ content: legacy, ageMs: 0 }, HERE, nobody).stale, true);
  });

  it("a lock from another machine or boot is not judged by this machine's PIDs, only by age", () => {
    const other = lockOf(4711, "900", "aaaaaaaa-0000-0000-0000-000000000000/4026531836");
    // PID 4711 is dead here, yet the lock is young: another machine's live writer may hold it.
    assert.equal(judgeLock({ content: other, ageMs: 1000 }, HERE, nobody).stale, false);
    // ...and alive here means nothing either once the lock is old.
    const old = judgeLock(
      { content: other, ageMs: FOREIGN_STALE_MS + 1 },
      HERE,
      kernel({ 4711: "900" }),
    );
    assert.equal(old.stale, true);
    assert.match(old.why, /another machine or boot/);
  });

  it("without a scope on either side, the PID is judged here (as older versions did)", () => {
    assert.equal(
      judgeLock({ content: lockOf(4711, "900", undefined), ageMs: 0 }, HERE, nobody).stale,
      true,
    );
    assert.equal(judgeLock({ content: lockOf(4711, "900"), ageMs: 0 }, {}, nobody).stale, true);
  });

  it("a file server's clock ahead of this one (negative age) does not make a lock stale", () => {
    assert.equal(judgeLock({ content: "", ageMs: -50_000 }, HERE, nobody).stale, false);
  });

  it("ownerGone tells dead, reused and alive apart", () => {
    assert.equal(ownerGone({ pid: 1, startTime: "5" }, kernel({ 1: "5" })), undefined);
    assert.equal(ownerGone({ pid: 1 }, kernel({ 1: "5" })), undefined);
    assert.match(
      ownerGone({ pid: 1, startTime: "5" }, kernel({ 1: "6" })) ?? "",
      /another process/,
    );
    assert.match(ownerGone({ pid: 1 }, nobody) ?? "", /gone/);
  });
});

describe("/proc/PID/stat", () => {
  it("reads the state and field 22 (start time), whatever the command name holds", () => {
    const tail = "S 1 7 7 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 37865 3133440 393";
    assert.deepEqual(parseProcStat(`16777 (cat) ${tail}`), { state: "S", startTime: "37865" });
    assert.deepEqual(parseProcStat(`16777 (a) (b) c) ${tail}`), {
      state: "S",
      startTime: "37865",
    });
    assert.deepEqual(parseProcStat(`9 (x) Z${tail.slice(1)}`)?.state, "Z");
    assert.equal(parseProcStat("garbage"), undefined);
    assert.equal(parseProcStat("1 (x) S 1 2"), undefined);
  });

  it("this very process is alive and has a start time", () => {
    const state = processState(process.pid);
    assert.equal(state.alive, true);
    assert.match((state as { startTime?: string }).startTime ?? "", /^\d+$/);
    assert.equal(thisProcess().startTime, (state as { startTime?: string }).startTime);
    assert.match(thisProcess().scope ?? "", /^[0-9a-f-]+\/\d+$/);
  });
});
