/**
 * A password inside a store URL is refused and never quoted: the URL in the message is redacted,
 * whatever the URL's shape, while a path that merely holds an "@" is a path.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputError } from "../../../lib/errors.ts";
import { parseEtcdUrl } from "../../../lib/store/etcd/store.ts";
import { openStore } from "../../../lib/store/open.ts";
import { redactStoreUrl } from "../../../lib/store/url_credentials.ts";

const SECRET = "s3cret";

/** URLs with credentials, as a user may write them. */
const WITH_CREDENTIALS = [
  `etcd://root:${SECRET}@10.0.0.5:2379`,
  `etcds://root:${SECRET}@10.0.0.5:2379`,
  `etcd://:${SECRET}@10.0.0.5`,
  `etcd://root:${SECRET}@10.0.0.5:2379,root:${SECRET}@10.0.0.6:2379`,
  `etcd://root:${SECRET}/x@10.0.0.5:2379`,
  `etcd://root:${SECRET}@10.0.0.5:2379/prefix`,
  `etcd://root:${SECRET}@@10.0.0.5:2379`,
  `http://root:${SECRET}@10.0.0.5:2379`,
  `file://root:${SECRET}@host/var/lib/hg/subnets.json`,
];

describe("credentials in a store URL", () => {
  for (const url of WITH_CREDENTIALS) {
    it(`${url.replaceAll(SECRET, "***")} is refused (exit 2) without quoting the password`, () => {
      assert.throws(() => openStore(url), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.ok(!e.message.includes(SECRET), e.message);
        assert.match(e.message, /\*\*\*@.*--etcd-user and --etcd-password-file/);
        return true;
      });
      assert.ok(!redactStoreUrl(url).includes(SECRET), redactStoreUrl(url));
    });
  }

  it("parseEtcdUrl on its own refuses them too, redacted", () => {
    assert.throws(() => parseEtcdUrl(`etcd://root:${SECRET}@10.0.0.5:2379`), (e: unknown) => {
      assert.ok(e instanceof InputError && !e.message.includes(SECRET), String(e));
      return true;
    });
  });

  it("leaves URLs without credentials and paths holding an @ alone", () => {
    assert.equal(redactStoreUrl("etcd://10.0.0.5:2379"), "etcd://10.0.0.5:2379");
    assert.equal(redactStoreUrl("/srv/a@b/subnets.json"), "/srv/a@b/subnets.json");
    assert.equal(redactStoreUrl("file:///srv/a@b/subnets.json"), "file:///srv/a@b/subnets.json");
    assert.doesNotThrow(() => openStore("file:///srv/a@b/subnets.json"));
    assert.doesNotThrow(() => openStore("/srv/a@b/subnets.json"));
  });
});
