/**
 * Parsing what a runtime passes (CNI spec 1.1.0, section 2 and the CNI_ARGS conventions): the
 * environment podman 4.3 and containerd/CRI-O set, the plugin configuration on stdin, and the
 * spec's error codes for what is wrong (1 version, 4 environment, 6 decoding, 7 configuration).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CniError } from "../../../lib/cni/error.ts";
import {
  configVersion,
  parseCniArgs,
  parseNetConf,
  parseRequest,
} from "../../../lib/cni/request.ts";
import { formatAddress } from "../../../lib/net/address.ts";

const ID = "4f1c0f2b9e0d7a5c3b1e9f8d7c6b5a4938271605f4e3d2c1b0a9988776655443";
const conf = (cniVersion: string, more: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion, name: "hg", type: "hg", bridge: "cni0", ...more });

/** podman 4.3's ADD environment (see the project's notes). */
const podman = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: ID,
  CNI_NETNS: "/run/netns/netns-0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=web",
  CNI_PATH: "/usr/libexec/cni:/usr/lib/cni",
};

/** containerd's for a Kubernetes pod sandbox. */
const containerd = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: ID,
  CNI_NETNS: "/var/run/netns/cni-5b4f2f0e-7c61-2b1c-1d6e-9c2f3a4b5c6d",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;" +
    `K8S_POD_INFRA_CONTAINER_ID=${ID};K8S_POD_UID=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0`,
  CNI_PATH: "/opt/cni/bin",
};

/** Asserts `fn` throws a CniError with `code` whose message matches `names`. */
function throwsCode(fn: () => unknown, code: number, names?: RegExp, what = "input"): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown !== undefined, `${what}: expected CniError ${code}, nothing was thrown`);
  assert.ok(thrown instanceof CniError, `${what}: a CniError, got ${thrown}`);
  assert.equal(thrown.code, code, `${what}: code ${code}: ${thrown.message}`);
  if (names) assert.match(thrown.message + (thrown.details ?? ""), names);
}

function container(env: Record<string, string | undefined>, stdin = conf("1.0.0")) {
  const request = parseRequest(env, stdin);
  assert.ok("container" in request, `${request.command} is about a container`);
  return request.container;
}

describe("parseRequest: the environment runtimes set", () => {
  it("VERSION as podman asks it needs nothing but CNI_COMMAND (dummy values, no config)", () => {
    const env = {
      CNI_COMMAND: "VERSION",
      CNI_CONTAINERID: "",
      CNI_NETNS: "dummy",
      CNI_IFNAME: "dummy",
      CNI_PATH: "dummy",
    };
    assert.deepEqual(parseRequest(env, '{"cniVersion":"1.0.0"}'), { command: "VERSION" });
    assert.deepEqual(parseRequest({ CNI_COMMAND: "VERSION" }, ""), { command: "VERSION" });
  });

  it("podman's ADD: container id, netns path, eth0, its name from K8S_POD_NAME", () => {
    const c = container(podman);
    assert.equal(c.id, ID);
    assert.equal(c.netns, podman.CNI_NETNS);
    assert.equal(c.ifname, "eth0");
    assert.equal(c.name, "web");
    assert.equal(c.requestedIp, undefined);
  });

  it("containerd's ADD for a pod: /var/run/netns path, namespace/name", () => {
    const c = container(containerd, conf("1.1.0"));
    assert.equal(c.netns, containerd.CNI_NETNS);
    assert.equal(c.name, "default/web-0");
  });

  it("a namespace outside /run/netns: /proc/PID/ns/net, a bind-mounted file", () => {
    for (
      const netns of ["/proc/12345/ns/net", "/tmp/hgct-x/netns-file", "/var/run/docker/netns/1a2b"]
    ) {
      assert.equal(container({ ...podman, CNI_NETNS: netns }).netns, netns);
    }
  });

  it("CHECK needs the same variables as ADD; DEL allows an empty CNI_NETNS", () => {
    assert.equal(container({ ...podman, CNI_COMMAND: "CHECK" }).netns, podman.CNI_NETNS);
    const del = container({ ...podman, CNI_COMMAND: "DEL", CNI_NETNS: "" });
    assert.equal(del.netns, undefined);
    const unset = { ...podman, CNI_COMMAND: "DEL" } as Record<string, string | undefined>;
    delete unset.CNI_NETNS;
    assert.equal(container(unset).netns, undefined);
  });

  it("STATUS and GC need no container variables (GC: only CNI_COMMAND and CNI_PATH)", () => {
    const status = parseRequest({ CNI_COMMAND: "STATUS", CNI_PATH: "/opt/cni/bin" }, conf("1.1.0"));
    assert.equal(status.command, "STATUS");
    const gc = parseRequest(
      { CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin" },
      conf("1.1.0", {
        "cni.dev/valid-attachments": [{ containerID: ID, ifname: "eth0" }, {
          containerID: "b",
          ifname: "net1",
        }],
      }),
    );
    assert.ok(gc.command === "GC");
    assert.deepEqual(gc.conf.validAttachments, [
      { containerId: ID, ifname: "eth0" },
      { containerId: "b", ifname: "net1" },
    ]);
  });

  it("4 for a missing or invalid variable, naming it", () => {
    const without = (key: string) => {
      const env: Record<string, string | undefined> = { ...podman };
      delete env[key];
      return env;
    };
    throwsCode(() => parseRequest(without("CNI_CONTAINERID"), conf("1.0.0")), 4, /CNI_CONTAINERID/);
    throwsCode(
      () => parseRequest({ ...podman, CNI_CONTAINERID: "" }, conf("1.0.0")),
      4,
      /CNI_CONTAINERID/,
    );
    for (const bad of ["-abc", "a/b", "a b", "a;b", "_x"]) {
      throwsCode(
        () => parseRequest({ ...podman, CNI_CONTAINERID: bad }, conf("1.0.0")),
        4,
        /CNI_CONTAINERID/,
      );
    }
    throwsCode(() => parseRequest(without("CNI_NETNS"), conf("1.0.0")), 4, /CNI_NETNS/);
    throwsCode(
      () => parseRequest({ ...without("CNI_NETNS"), CNI_COMMAND: "CHECK" }, conf("1.0.0")),
      4,
      /CNI_NETNS/,
    );
    throwsCode(() => parseRequest(without("CNI_IFNAME"), conf("1.0.0")), 4, /CNI_IFNAME/);
    throwsCode(
      () => parseRequest({ ...podman, CNI_COMMAND: "ATTACH" }, conf("1.0.0")),
      4,
      /CNI_COMMAND/,
    );
    throwsCode(
      () => parseRequest({ ...podman, CNI_COMMAND: "add" }, conf("1.0.0")),
      4,
      /CNI_COMMAND/,
    );
  });

  it("4 for a CNI_IFNAME the kernel cannot take (too long, '/', ':', whitespace, '.', '..')", () => {
    for (const bad of ["abcdefghijklmnop", "a/b", "net:1", "a b", ".", ".."]) {
      throwsCode(
        () => parseRequest({ ...podman, CNI_IFNAME: bad }, conf("1.0.0")),
        4,
        /CNI_IFNAME/,
        `CNI_IFNAME ${JSON.stringify(bad)}`,
      );
    }
    for (const good of ["net1", "eth0.100", "abcdefghijklmno", "veth-a_b"]) {
      assert.equal(container({ ...podman, CNI_IFNAME: good }).ifname, good);
    }
  });

  it("CNI_ARGS IP= takes an address with or without a prefix length (the conventions' form)", () => {
    for (const asked of ["1.1.1.50", "1.1.1.50/24"]) {
      const c = container({ ...podman, CNI_ARGS: `IgnoreUnknown=1;IP=${asked}` });
      assert.equal(c.requestedIp && formatAddress(c.requestedIp), "1.1.1.50", `IP=${asked}`);
    }
  });
});

describe("parseCniArgs", () => {
  it("splits KEY=VALUE pairs on ';'", () => {
    const args = parseCniArgs(containerd.CNI_ARGS);
    assert.equal(args.get("K8S_POD_NAMESPACE"), "default");
    assert.equal(args.get("K8S_POD_NAME"), "web-0");
    assert.equal(args.get("K8S_POD_INFRA_CONTAINER_ID"), ID);
    assert.equal(parseCniArgs("").size, 0);
  });

  it("accepts unknown keys with IgnoreUnknown 1, true or True", () => {
    for (const v of ["1", "true", "True"]) {
      const args = parseCniArgs(`IgnoreUnknown=${v};FOO=bar;io.kubernetes.cri.sandbox-id=${ID}`);
      assert.equal(args.get("FOO"), "bar");
    }
  });

  it("refuses an unknown key otherwise; code 2 must carry the key and the value", () => {
    for (const text of ["FOO=bar", "IgnoreUnknown=0;FOO=bar", "IgnoreUnknown=false;FOO=bar"]) {
      assert.throws(() => parseCniArgs(text), (e) => {
        assert.ok(e instanceof CniError);
        assert.match(e.message, /FOO/);
        if (e.code === 2) {
          assert.match(e.message + (e.details ?? ""), /FOO=bar/, "spec: key and value");
        }
        return true;
      });
    }
  });

  it("refuses a pair without '='", () => {
    assert.throws(() => parseCniArgs("IgnoreUnknown=1;JUNK"), CniError);
    assert.throws(() => parseCniArgs("=x"), CniError);
  });
});

describe("parseNetConf: the plugin configuration", () => {
  it("reads the versions hg answers, the bridge (default cni0), mtu, ipMasq, hairpinMode, prevResult", () => {
    for (const v of ["0.4.0", "1.0.0", "1.1.0"]) {
      const c = parseNetConf(conf(v), "ADD");
      assert.equal(c.cniVersion, v);
      assert.equal(c.name, "hg");
      assert.equal(c.bridge, "cni0");
      assert.equal(c.mtu, undefined);
      assert.equal(c.ipMasq, false);
    }
    const noBridge = parseNetConf('{"cniVersion":"1.0.0","name":"hg","type":"hg"}', "ADD");
    assert.equal(noBridge.bridge, "cni0");
    const prev = { cniVersion: "1.0.0", interfaces: [], ips: [] };
    const full = parseNetConf(
      conf("1.0.0", {
        bridge: "br-hg",
        mtu: 1400,
        ipMasq: true,
        hairpinMode: true,
        prevResult: prev,
      }),
      "CHECK",
    );
    assert.equal(full.bridge, "br-hg");
    assert.equal(full.mtu, 1400);
    assert.equal(full.ipMasq, true);
    assert.equal(full.hairpinMode, true);
    assert.deepEqual(full.prevResult, prev);
  });

  it("passes over fields it does not use: runtimeConfig, args, capabilities' results, plugin keys", () => {
    const c = parseNetConf(
      conf("1.1.0", {
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
        args: { cni: { labels: [{ key: "app", value: "web" }] } },
        keyA: ["some more", "plugin specific", "configuration"],
        dns: { nameservers: ["10.1.0.1"] },
        cniVersions: ["0.4.0", "1.0.0", "1.1.0"],
      }),
      "ADD",
    );
    assert.equal(c.name, "hg");
  });

  it("1 for a version hg does not answer, and for STATUS or GC before 1.1.0", () => {
    for (const v of ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "2.0.0", "1.0", "latest"]) {
      throwsCode(() => parseNetConf(conf(v), "ADD"), 1);
    }
    for (const command of ["STATUS", "GC"] as const) {
      throwsCode(() => parseNetConf(conf("1.0.0"), command), 1);
      throwsCode(() => parseNetConf(conf("0.4.0"), command), 1);
    }
  });

  it("6 for stdin that is not JSON", () => {
    for (const text of ["", "{", '{"cniVersion":"1.0.0",', "cniVersion: 1.0.0"]) {
      throwsCode(() => parseNetConf(text, "ADD"), 6);
    }
  });

  it("6 or 7 for JSON that is not an object", () => {
    for (const text of ["[]", '"hg"', "null", "42"]) {
      assert.throws(() => parseNetConf(text, "ADD"), (e) => {
        assert.ok(e instanceof CniError && (e.code === 6 || e.code === 7), `${text}: ${e}`);
        return true;
      });
    }
  });

  it("7 for an invalid value, naming the field", () => {
    for (const mtu of ["big", 0, 67, 65536, 1400.5, -1, null, true]) {
      throwsCode(() => parseNetConf(conf("1.0.0", { mtu }), "ADD"), 7, /mtu/);
    }
    throwsCode(() => parseNetConf(conf("1.0.0", { ipMasq: "yes" }), "ADD"), 7, /ipMasq/);
    throwsCode(() => parseNetConf(conf("1.0.0", { hairpinMode: 1 }), "ADD"), 7, /hairpinMode/);
    throwsCode(() => parseNetConf(conf("1.0.0", { bridge: "a b" }), "ADD"), 7, /bridge/);
    throwsCode(() => parseNetConf(conf("1.0.0", { bridge: 7 }), "ADD"), 7, /bridge/);
    throwsCode(() => parseNetConf(conf("1.0.0", { name: "" }), "ADD"), 7, /name/);
    throwsCode(() => parseNetConf(conf("1.0.0", { name: "-x" }), "ADD"), 7, /name/);
    throwsCode(() => parseNetConf(conf("1.0.0", { name: "a/b" }), "ADD"), 7, /name/);
    throwsCode(() => parseNetConf('{"cniVersion":"1.0.0","type":"hg"}', "ADD"), 7, /name/);
    throwsCode(
      () => parseNetConf(conf("1.1.0", { "cni.dev/valid-attachments": "all" }), "GC"),
      7,
      /valid-attachments/,
    );
    throwsCode(
      () =>
        parseNetConf(conf("1.1.0", { "cni.dev/valid-attachments": [{ ifname: "eth0" }] }), "GC"),
      7,
      /valid-attachments/,
    );
  });

  it("accepts the network names the spec allows", () => {
    for (const name of ["hg", "podman", "k8s-pod-network", "net_1.a", "0net"]) {
      assert.equal(parseNetConf(conf("1.0.0", { name }), "ADD").name, name);
    }
  });
});

describe("configVersion", () => {
  it("is the config's cniVersion, or undefined", () => {
    assert.equal(configVersion(conf("0.4.0")), "0.4.0");
    assert.equal(configVersion('{"cniVersion":"1.0.0"}'), "1.0.0");
    assert.equal(configVersion(""), undefined);
    assert.equal(configVersion("{"), undefined);
    assert.equal(configVersion('{"cniVersion":1}'), undefined);
    assert.equal(configVersion("null"), undefined);
  });
});
