import { deepStrictEqual, equal } from "node:assert/strict";
import type { ConsumerConfig } from "@nats-io/jetstream";
import { consumerDrift, desiredConsumerConfig } from "./consumer.ts";

const SETTINGS = {
  stream: "DEVICE_EVENTS",
  durable: "api-session-audit-consumer",
  subject: "audit.session.end.>",
};

Deno.test("the desired consumer is durable, explicit ack, deliver all, filtered, never gives up", () => {
  const config = desiredConsumerConfig(SETTINGS);
  equal(config.durable_name, "api-session-audit-consumer");
  equal(config.ack_policy, "explicit");
  equal(config.deliver_policy, "all");
  equal(config.filter_subject, "audit.session.end.>");
  equal(config.max_deliver, -1);
  equal(config.replay_policy, "instant");
});

Deno.test("ack wait and max ack pending default to 30 s and 10000, and can be set", () => {
  const defaults = desiredConsumerConfig(SETTINGS);
  equal(defaults.ack_wait, 30_000_000_000); // nanoseconds
  equal(defaults.max_ack_pending, 10_000);
  const tuned = desiredConsumerConfig({ ...SETTINGS, ackWaitMs: 5_000, maxAckPending: 100 });
  equal(tuned.ack_wait, 5_000_000_000);
  equal(tuned.max_ack_pending, 100);
});

Deno.test("a consumer as the server reports it back, extra fields and all, has no drift", () => {
  const desired = desiredConsumerConfig(SETTINGS);
  const current = {
    ...desired,
    name: "api-session-audit-consumer",
    num_replicas: 0,
    max_waiting: 512,
    inactive_threshold: 0,
  } as Partial<ConsumerConfig>;
  deepStrictEqual(consumerDrift(current, desired), []);
});

Deno.test("drift lists exactly the fields that differ", () => {
  const desired = desiredConsumerConfig(SETTINGS);
  const current = {
    ...desired,
    filter_subject: "audit.>",
    max_ack_pending: 1_000,
    max_deliver: 5,
  } as Partial<ConsumerConfig>;
  deepStrictEqual(
    consumerDrift(current, desired).sort(),
    ["filter_subject", "max_ack_pending", "max_deliver"],
  );
});

Deno.test("a field missing from the current config counts as drift", () => {
  const desired = desiredConsumerConfig(SETTINGS);
  const { description: _gone, ...current } = desired;
  deepStrictEqual(consumerDrift(current, desired), ["description"]);
});

Deno.test("a different durable_name is not drift", () => {
  const desired = desiredConsumerConfig(SETTINGS);
  const current = { ...desired, durable_name: "someone-else" };
  deepStrictEqual(consumerDrift(current, desired), []);
});
