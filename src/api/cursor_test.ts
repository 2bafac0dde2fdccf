import { deepStrictEqual } from "node:assert/strict";
import { CursorCodec } from "./cursor.ts";

const SECRET = "cursor-test-secret-0123456789-abcdef";
const POSITION = { sortTime: 1_773_309_600_000, id: 48_213 };
const BINDING = '["tenant",null,null,null,null,null]';

Deno.test("a cursor decodes to the position it was made from, for the same query", async () => {
  const codec = new CursorCodec(SECRET);
  const cursor = await codec.encode(POSITION, BINDING);
  deepStrictEqual(await codec.decode(cursor, BINDING), POSITION);
  deepStrictEqual(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(cursor), true);
});

Deno.test("a cursor is refused for another query, another secret, or when edited", async () => {
  const codec = new CursorCodec(SECRET);
  const cursor = await codec.encode(POSITION, BINDING);
  deepStrictEqual(await codec.decode(cursor, BINDING.replace("tenant", "other")), undefined);
  deepStrictEqual(await new CursorCodec(SECRET + "x").decode(cursor, BINDING), undefined);
  const [payload, mac] = cursor.split(".");
  const other = await codec.encode({ ...POSITION, sortTime: 1 }, BINDING);
  deepStrictEqual(await codec.decode(`${other.split(".")[0]}.${mac}`, BINDING), undefined);
  deepStrictEqual(await codec.decode(`${payload}.${mac.slice(1)}`, BINDING), undefined);
  deepStrictEqual(await codec.decode(`${payload}.${mac}.x`, BINDING), undefined);
});

Deno.test("garbage is not a cursor", async () => {
  const codec = new CursorCodec(SECRET);
  for (const text of ["", ".", "a", "a.b", "!!.??", "A".repeat(300) + ".A", "=.=", "a..b"]) {
    deepStrictEqual(await codec.decode(text, BINDING), undefined, text);
  }
});
