import { equal } from "node:assert/strict";
import { streams } from "./fair_share.ts";

/** A response that counts reads of its `body`. */
function watched(body: string | null, contentType: string) {
  const res = new Response(body, { headers: { "Content-Type": contentType } });
  const reads = { body: 0 };
  const proxy = new Proxy(res, {
    get(target, name) {
      if (name === "body") reads.body++;
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { res: proxy, reads };
}

Deno.test("a JSON answer is complete and its body is never read (Deno keeps its fast path)", () => {
  const { res, reads } = watched('{"items":[]}', "application/json");
  equal(streams(res), false);
  equal(reads.body, 0);
});

Deno.test("any other answer with a body streams; one without a body does not", () => {
  equal(streams(watched("a,b\n", "text/csv").res), true);
  equal(streams(watched("data: x\n\n", "text/event-stream").res), true);
  // An NDJSON export is not a JSON answer: it holds its place until its last line.
  equal(streams(watched('{"a":1}\n', "application/x-ndjson; charset=utf-8").res), true);
  equal(streams(watched(null, "text/plain").res), false);
});
