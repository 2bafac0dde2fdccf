import { deepStrictEqual, throws } from "node:assert/strict";
import { PositionTokenCodec } from "./position_token.ts";

const SECRET = "position-token-test-secret-0123456789";

Deno.test("a position token round-trips only with its binding, purpose and secret", async () => {
  const feed = new PositionTokenCodec(SECRET, "feed");
  const token = await feed.encode(42, "tenant-a");
  deepStrictEqual(await feed.decode(token, "tenant-a"), 42);
  deepStrictEqual(await feed.decode(await feed.encode(0, "x"), "x"), 0);
  deepStrictEqual(await feed.decode(token, "tenant-b"), undefined);
  deepStrictEqual(
    await new PositionTokenCodec(SECRET, "dead-letters").decode(token, "tenant-a"),
    undefined,
  );
  deepStrictEqual(
    await new PositionTokenCodec(SECRET + "!", "feed").decode(token, "tenant-a"),
    undefined,
  );
  const [payload, mac] = token.split(".");
  const forged = `${btoa("1:43").replace(/=+$/, "")}.${mac}`;
  deepStrictEqual(await feed.decode(forged, "tenant-a"), undefined);
  for (const garbage of ["", ".", "a.b.c", `${payload}.`, "!!.??", "x".repeat(300)]) {
    deepStrictEqual(await feed.decode(garbage, "tenant-a"), undefined, garbage);
  }
});

Deno.test("a position token refuses ids that are not non-negative integers", () => {
  const feed = new PositionTokenCodec(SECRET, "feed");
  throws(() => new PositionTokenCodec(SECRET, "Bad Purpose"), /'purpose'/);
  for (const id of [-1, 1.5, Number.NaN]) {
    throws(() => feed.encode(id, "x"), /'id' must be/, `accepted ${id}`);
  }
});
