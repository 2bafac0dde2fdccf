import { equal } from "node:assert/strict";
import { Activity } from "./activity.ts";
import { Admission } from "./admission.ts";
import { FakeTimers } from "../testing/fake_timers.ts";

/** An activity over its own admission, and a way in for a request of `tenant` of `kind`. */
function activityOf(clock: FakeTimers, lingerMs?: number) {
  const requests = new Admission({ total: 100, perTenant: 100 });
  const activity = new Activity({ clock, lingerMs, requests });
  const enter = (tenant: string, kind: "bulk" | "quiet") => {
    const entry = requests.tryEnter(tenant);
    if (!entry.admitted) throw new Error("not admitted");
    const noted = activity.enter(tenant, kind);
    return () => {
      entry.leave();
      noted();
    };
  };
  return { activity, enter };
}

Deno.test("a tenant's own bulk requests do not contend its work; another tenant's do, until the linger is over", () => {
  const clock = new FakeTimers();
  const { activity, enter } = activityOf(clock, 1_000);
  const exportA = enter("a", "bulk");
  const statsA = enter("a", "bulk");
  equal(activity.contended("a"), false, "a alone");
  equal(activity.contended("b"), true, "a's work is in progress");
  statsA();
  exportA();
  clock.advance(999);
  equal(activity.contended("b"), true, "a's requests linger");
  equal(activity.contended("a"), false);
  clock.advance(1);
  equal(activity.contended("b"), false, "the linger is over");
});

Deno.test("a quiet request contends every tenant's bulk work, its own tenant's too, and lingers", () => {
  const clock = new FakeTimers();
  const { activity, enter } = activityOf(clock, 1_000);
  const list = enter("a", "quiet");
  equal(activity.contended("a"), true);
  equal(activity.contended("b"), true);
  list();
  list(); // a second call changes nothing
  clock.advance(500);
  equal(activity.contended("a"), true);
  clock.advance(500);
  equal(activity.contended("a"), false);
  equal(activity.contended("b"), false);
});

Deno.test("the party of a tenant asks the activity as each step ends", () => {
  const clock = new FakeTimers();
  const { activity, enter } = activityOf(clock);
  const party = activity.party("a");
  equal(party.key, "a");
  equal(party.contended?.(), false);
  const other = enter("b", "bulk");
  equal(party.contended?.(), true);
  other();
});
