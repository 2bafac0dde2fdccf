import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { Admission, type Entry } from "./admission.ts";

function refusal(entry: Entry): string | undefined {
  return entry.admitted ? undefined : `${entry.limit}:${entry.ceiling}`;
}

Deno.test("a tenant at its ceiling is refused while another tenant still enters", () => {
  const admission = new Admission({ total: 10, perTenant: 2 });
  const a1 = admission.tryEnter("a");
  const a2 = admission.tryEnter("a");
  equal(refusal(admission.tryEnter("a")), "tenant:2");
  equal(refusal(admission.tryEnter("b")), undefined);
  equal(admission.inProgress("a"), 2);
  if (a1.admitted) a1.leave();
  equal(refusal(admission.tryEnter("a")), undefined, "a place given back is taken again");
  equal(a2.admitted, true);
});

Deno.test("the total ceiling refuses everyone once reached", () => {
  const admission = new Admission({ total: 3, perTenant: 2 });
  admission.tryEnter("a");
  admission.tryEnter("b");
  admission.tryEnter("c");
  equal(refusal(admission.tryEnter("d")), "total:3");
  equal(admission.total, 3);
});

Deno.test("a subject at its ceiling is refused before its tenant's ceiling is reached", () => {
  const admission = new Admission({ total: 10, perTenant: 5, perSubject: 1 });
  admission.tryEnter("a", "alice");
  equal(refusal(admission.tryEnter("a", "alice")), "subject:1");
  equal(refusal(admission.tryEnter("a", "bob")), undefined);
  equal(
    refusal(admission.tryEnter("a")),
    undefined,
    "a token without sub is not counted by subject",
  );
});

Deno.test("leaving twice gives back one place only", () => {
  const admission = new Admission({ total: 2, perTenant: 2 });
  const entry = admission.tryEnter("a");
  admission.tryEnter("a");
  if (entry.admitted) {
    entry.leave();
    entry.leave();
  }
  deepStrictEqual([admission.total, admission.inProgress("a")], [1, 1]);
});

Deno.test("ceilings must be positive integers", () => {
  throws(() => new Admission({ total: 0, perTenant: 1 }), /'total' must be a positive integer/);
});
