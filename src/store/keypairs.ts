/** Keypairs: OpenSSH public keys, checked for shape and fingerprinted as nova did (MD5). */
import { createHash } from "node:crypto";
import type { Keypair } from "../model.ts";
import type { Store } from "./db.ts";
import { conflict, invalid, notFound } from "../util/errors.ts";

type Row = Record<string, unknown>;
const KEY_TYPES = [
  "ssh-rsa",
  "ssh-ed25519",
  "ssh-dss",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
];

export function keypairFromRow(r: Row): Keypair {
  return {
    name: r.name as string,
    publicKey: r.public_key as string,
    fingerprint: r.fingerprint as string,
    type: r.type as string,
    origin: r.origin as string,
    hlc: r.hlc as string,
    deleted: !!r.deleted,
  };
}

/** Validate "type base64 [comment]"; the blob must decode and name the same type. Returns the fingerprint. */
export function parsePublicKey(text: string): { type: string; fingerprint: string; normalized: string } {
  const line = text.trim().split("\n")[0]?.trim() ?? "";
  const [type, b64, ...comment] = line.split(/\s+/);
  const err = (why: string) =>
    invalid(
      `public key is malformed: ${why} (expected an OpenSSH public key line such as "ssh-ed25519 AAAA… user@host")`,
      "public_key",
    );
  if (!type || !b64) throw err("missing key type or key data");
  if (!KEY_TYPES.includes(type)) throw err(`unsupported key type ${type}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw err("key data is not base64");
  const blob = Buffer.from(b64, "base64");
  if (blob.length < 8) throw err("key data too short");
  const len = blob.readUInt32BE(0);
  if (len + 4 > blob.length || blob.subarray(4, 4 + len).toString() !== type)
    throw err(`key data does not hold a ${type} key`);
  const md5 = createHash("md5").update(blob).digest("hex");
  return { type, fingerprint: md5.match(/../g)!.join(":"), normalized: [type, b64, ...comment].join(" ") };
}

export function listKeypairs(store: Store): Keypair[] {
  return store.db.query<Row, []>("SELECT * FROM keypairs WHERE deleted = 0 ORDER BY name").all().map(keypairFromRow);
}

export function getKeypair(store: Store, name: string, field = "name"): Keypair {
  const r = store.db.query<Row, [string]>("SELECT * FROM keypairs WHERE deleted = 0 AND name = ?").get(name);
  if (!r) throw notFound(`keypair ${name}`, field);
  return keypairFromRow(r);
}

export function addKeypair(store: Store, name: string, publicKey: string): Keypair {
  if (!/^[A-Za-z0-9 _.@-]{1,255}$/.test(name))
    throw invalid("keypair name must be 1 to 255 of letters, digits, space, _ . @ -", "name");
  const k = parsePublicKey(publicKey);
  return store.write(() => {
    if (store.db.query("SELECT 1 FROM keypairs WHERE deleted = 0 AND name = ?").get(name))
      throw conflict(`keypair ${name} already exists`, "name");
    const v = store.version();
    store.db
      .query(
        "INSERT INTO keypairs (name, public_key, fingerprint, type, origin, hlc, deleted) VALUES (?,?,?,?,?,?,0) ON CONFLICT(name) DO UPDATE SET public_key = excluded.public_key, fingerprint = excluded.fingerprint, type = excluded.type, origin = excluded.origin, hlc = excluded.hlc, deleted = 0",
      )
      .run(name, k.normalized, k.fingerprint, k.type, v.origin, v.hlc);
    store.changed("keypair", "put", name);
    return getKeypair(store, name);
  });
}

export function deleteKeypair(store: Store, name: string): Keypair {
  return store.write(() => {
    const k = getKeypair(store, name);
    const v = store.version();
    store.db.query("UPDATE keypairs SET deleted = 1, origin = ?, hlc = ? WHERE name = ?").run(v.origin, v.hlc, name);
    store.changed("keypair", "delete", name);
    return k;
  });
}
