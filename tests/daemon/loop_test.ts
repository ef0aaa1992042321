import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import type { Applier, ApplyResult } from "../../lib/apply/apply.ts";
import { sha256Hex } from "../../lib/hash.ts";
import { createGenerator, generate } from "../../lib/render/generate.ts";
import type { EndpointSet } from "../../lib/model/endpoints.ts";
import { memoryLogger } from "../../lib/log.ts";
import { createLoop, type LoopOptions, readiness } from "../../lib/daemon/loop.ts";
import type { ApplyRecord } from "../../lib/record/state.ts";
import type { Timers } from "../../lib/daemon/quiescence.ts";
import { compileTemplates, defaultTemplates } from "../../lib/render/render.ts";
import { initialStatus, type Source, type SourceStatus } from "../../lib/source/source.ts";
import { endpointSet } from "../support/fixtures.ts";

const listen = { http: "*:80", https: "*:443", tcp: "*" };
const renderer = compileTemplates(defaultTemplates());

/** A source the test drives by hand; with `journal`, it keeps a change journal as the Kubernetes source does. */
function fakeSource(journal = false) {
  let sets: EndpointSet[] = [];
  let changes: Map<string, EndpointSet | null> | null = null; // null: unknown (until the first take)
  const listeners: (() => void)[] = [];
  const status: SourceStatus = initialStatus("file", "test", "test");
  const source: Source & {
    set(next: EndpointSet[], fullSync?: boolean): void;
    setListing(listing: string[]): void;
  } = {
    run: () => Promise.resolve(),
    snapshot: () => sets,
    ...(journal
      ? {
        takeChanges() {
          const taken = changes;
          changes = new Map();
          return taken;
        },
      }
      : {}),
    onChange: (listener) => void listeners.push(listener),
    status: () => ({ ...status }),
    set(next, fullSync = false) {
      const key = (set: EndpointSet) => `${set.namespace}/${set.name}`;
      const before = new Map(sets.map((set) => [key(set), set]));
      for (const set of next) if (before.get(key(set)) !== set) changes?.set(key(set), set);
      const after = new Set(next.map(key));
      for (const gone of before.keys()) if (!after.has(gone)) changes?.set(gone, null);
      sets = next;
      status.synced ||= fullSync;
      if (fullSync) status.fullSyncs++;
      for (const listener of listeners) listener();
    },
    setListing(listing) {
      status.listing = listing;
      for (const listener of listeners) listener();
    },
  };
  return source;
}

type Outcome = "applied" | "reload-failed" | "check-failed" | "check-not-run";

/** An applier that records the texts it gets and answers what the test says. */
function fakeApplier(answers: Outcome[] = [], initial?: string) {
  let installed: string | undefined = initial;
  const texts: string[] = [];
  const applier: Applier & { texts: string[] } = {
    texts,
    async apply(text) {
      texts.push(text);
      const outcome = answers.shift() ?? "applied";
      const durations = { checkMs: 1, reloadMs: 1, waitMs: 0, totalMs: 2 };
      const base = { hash: sha256Hex(text), durations };
      const reload = { ok: outcome === "applied", durationMs: 1, detail: "fake" };
      if (outcome === "check-failed" || outcome === "check-not-run") {
        return await Promise.resolve<ApplyResult>({
          retryable: outcome === "check-not-run",
          status: "check-failed",
          ...base,
          installedHash: installed === undefined ? undefined : "old",
          errors: ["[ALERT] bad"],
          output: "",
          rejectedPath: "/x.rejected",
        });
      }
      installed = text;
      const installedHash = base.hash;
      if (outcome === "reload-failed") {
        return await Promise.resolve<ApplyResult>({
          status: "reload-failed",
          ...base,
          installedHash,
          changed: true,
          error: "reload refused",
          reload: { ...reload, error: "reload refused" },
        });
      }
      return await Promise.resolve<ApplyResult>({
        status: "applied",
        ...base,
        installedHash,
        changed: true,
        reload,
        warnings: [],
      });
    },
    installed: () => installed,
    reloadPending: () => false,
  };
  return applier;
}

function setup(
  answers: Outcome[] = [],
  maxShrink = 0.5,
  installed?: string,
  { journal = false, ...extra }: Partial<LoopOptions> & { journal?: boolean } = {},
) {
  const clock = FakeTimers.createClock(0);
  const timers: Timers = {
    now: () => clock.now,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (id) => clock.clearTimeout(id as FakeTimers.TimerId),
  };
  const source = fakeSource(journal);
  const applier = fakeApplier(answers, installed);
  const log = memoryLogger();
  const loop = createLoop({
    source,
    generate: (input) => generate(input.snapshot(), renderer, listen),
    applier,
    configPath: "/etc/haproxy/haproxy.cfg",
    reloadMode: "test",
    wait: { minMs: 200, maxMs: 2000 },
    maxShrink,
    log,
    timers,
    // No jitter: the retry times below are exact.
    random: () => 1,
    ...extra,
  });
  loop.start();
  return { clock, source, applier, loop, log };
}

/** Advances the fake clock, letting pending promises settle on the way. */
async function settle(clock: FakeTimers.Clock, ms = 0): Promise<void> {
  await clock.tickAsync(ms);
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    await clock.tickAsync(0);
  }
}

/** Settles the fake clock (no time passes) until `done()` holds; fails loudly after 500 rounds. */
async function settleUntil(clock: FakeTimers.Clock, done: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 500 && !done(); round++) await settle(clock);
  if (!done()) throw new Error(`Gave up waiting for ${what}`);
}

function domains(n: number, offset = 0): EndpointSet[] {
  return Array.from(
    { length: n },
    (_, i) => endpointSet(`s${i + offset}`, { domain: `d${i + offset}.example.test`, proto: "http" }),
  );
}

Deno.test("createLoop() writes nothing before the first complete sync", async () => {
  const { clock, source, applier, loop } = setup();
  source.set(domains(2)); // a change, but not a complete sync
  await settle(clock, 5000);
  assert.equal(applier.texts.length, 0);
  assert.equal(loop.state().ready.ok, false);
  assert.match(loop.state().ready.reason, /waiting for the first complete sync/);
  source.set(domains(2), true);
  await settle(clock);
  assert.equal(applier.texts.length, 1);
  assert.equal(loop.state().ready.ok, true);
  assert.deepEqual(Object.keys(loop.state().domains), ["d0.example.test", "d1.example.test"]);
  loop.close();
});

Deno.test("createLoop() turns a burst of 1000 changes into a handful of applies", async () => {
  const { clock, source, applier, loop } = setup();
  source.set(domains(1), true);
  await settle(clock);
  for (let i = 0; i < 1000; i++) {
    source.set(domains(1 + (i % 5)));
    await clock.tickAsync(1);
  }
  await settle(clock, 3000);
  assert.ok(applier.texts.length <= 4, `${applier.texts.length} applies`);
  assert.match(applier.texts.at(-1)!, /d4\.example\.test/, "the last state is applied");
  loop.close();
});

Deno.test("createLoop() keeps the installed config when a template fails, and reports it", async () => {
  const { clock, source, applier, loop } = setup();
  source.set(domains(1), true);
  await settle(clock);
  loop.setGenerator(() => {
    throw new Error('Cannot render template "x.eta" line 2: boom');
  });
  await settle(clock);
  assert.equal(applier.texts.length, 1);
  const state = loop.state();
  assert.equal(state.applies[0]?.outcome, "render-failed");
  assert.equal(state.ready.ok, false);
  assert.match(state.ready.reason, /last apply render-failed: Cannot render template "x\.eta" line 2/);
  loop.close();
});

Deno.test("createLoop() retries a failed reload with backoff until it succeeds", async () => {
  const { clock, source, applier, loop } = setup(["reload-failed", "reload-failed", "applied"]);
  source.set(domains(1), true);
  await settle(clock);
  assert.equal(loop.state().ready.ok, false);
  assert.match(loop.state().ready.reason, /reload-failed: reload refused/);
  await settle(clock, 1000); // first retry after 1 s
  assert.equal(applier.texts.length, 2);
  await settle(clock, 1999);
  assert.equal(applier.texts.length, 2, "second retry waits 2 s");
  await settle(clock, 1);
  assert.equal(applier.texts.length, 3);
  assert.equal(loop.state().ready.ok, true);
  assert.ok(loop.state().lastReload !== null);
  loop.close();
});

Deno.test("createLoop() does not retry a config the check rejected until something changes", async () => {
  const { clock, source, applier, loop } = setup(["applied", "check-failed"]);
  source.set(domains(1), true);
  await settle(clock);
  source.set(domains(2));
  await settle(clock, 500);
  assert.equal(applier.texts.length, 2);
  assert.deepEqual(loop.state().applies[0]?.errors, ["[ALERT] bad"]);
  await clock.tickAsync(60_000);
  assert.equal(applier.texts.length, 2);
  source.set(domains(3));
  await settle(clock, 500);
  assert.equal(applier.texts.length, 3);
  assert.equal(loop.state().ready.ok, true);
  loop.close();
});

Deno.test("createLoop() holds a large shrink until a second full sync confirms it", async () => {
  const { clock, source, applier, loop, log } = setup([], 0.5);
  source.set(domains(10), true);
  await settle(clock);
  assert.equal(applier.texts.length, 1);
  source.set(domains(3)); // drops 70%
  await settle(clock, 500);
  assert.equal(applier.texts.length, 1, "held");
  assert.equal(loop.state().applies[0]?.outcome, "held");
  assert.match(loop.state().applies[0]!.detail, /drops 7 of 10 domains.*second full sync/);
  assert.ok(log.lines.some((l) => l.msg === "apply held"));
  source.set(domains(3), true); // a full sync confirms
  await settle(clock, 500);
  assert.equal(applier.texts.length, 2);
  assert.equal(Object.keys(loop.state().domains).length, 3);
  // A small shrink passes at once.
  source.set(domains(2));
  await settle(clock, 500);
  assert.equal(applier.texts.length, 3);
  loop.close();
});

Deno.test("createLoop() runNow() runs one pass and returns its record", async () => {
  const { clock, source, loop } = setup();
  source.set(domains(1), true);
  await settle(clock);
  const pending = loop.runNow();
  await settle(clock);
  const record = await pending;
  assert.equal(record.outcome, "applied");
  assert.equal(typeof record.hash, "string");
  loop.close();
});

Deno.test("createLoop() stays ready while a good change is being applied", async () => {
  const { clock, source, applier, loop } = setup();
  source.set(domains(1), true);
  await settle(clock);
  assert.equal(loop.state().ready.ok, true);
  // The next apply hangs until the test lets it finish, like a slow check and reload.
  const apply = applier.apply.bind(applier);
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  applier.apply = async (text, options) => {
    await released;
    return await apply(text, options);
  };
  source.set(domains(2));
  await settle(clock, 5000);
  assert.equal(applier.texts.length, 1, "the second apply is still running");
  assert.deepEqual(loop.state().ready, { ok: true, reason: "the installed config is the last one rendered" });
  release();
  await settle(clock);
  assert.equal(applier.texts.length, 2);
  assert.equal(loop.state().ready.ok, true);
  assert.equal(loop.state().config.renderedHash, loop.state().config.installedHash);
  loop.close();
});

Deno.test("createLoop() holds passes but stays ready while a watch started after the first sync lists", async () => {
  const { clock, source, applier, loop, log } = setup();
  source.set(domains(1), true);
  await settle(clock);
  assert.equal(applier.texts.length, 1);
  source.setListing(["listing TLS Secrets"]);
  // More held passes than the loop keeps records of: readiness still reads the last apply.
  for (let i = 2; i < 30; i++) {
    source.set(domains(i));
    await settle(clock, 500);
  }
  assert.equal(applier.texts.length, 1, "no config from a half-known cluster");
  assert.equal(loop.state().applies[0]?.outcome, "held");
  assert.equal(loop.state().applies[0]?.detail, "waiting while the source is listing TLS Secrets");
  assert.deepEqual(loop.state().ready, {
    ok: true,
    reason: "serving the last good config; changes wait while the source is listing TLS Secrets",
  });
  assert.equal(log.lines.filter((l) => l.msg === "changes wait for the source").length, 1);
  source.setListing([]);
  await settle(clock, 500);
  assert.equal(applier.texts.length, 2);
  assert.equal(Object.keys(loop.state().domains).length, 29);
  assert.deepEqual(loop.state().ready, { ok: true, reason: "the installed config is the last one rendered" });
  loop.close();
});

Deno.test("createLoop() shows the domains HAProxy serves, not those of a rejected render", async () => {
  const { clock, source, loop } = setup(["applied", "check-failed"]);
  source.set(domains(1), true);
  await settle(clock);
  source.set(domains(2));
  await settle(clock, 500);
  assert.equal(loop.state().applies[0]?.outcome, "check-failed");
  assert.deepEqual(Object.keys(loop.state().domains), ["d0.example.test"]);
  loop.close();
});

Deno.test("createLoop() guards what a previous run installed: a restart that sees far fewer domains waits", async () => {
  const previous = generate(domains(10), renderer, listen).text; // ends with "# haconfd: 10 domains"
  const { clock, source, applier, loop } = setup([], 0.5, previous);
  source.set(domains(2), true); // first sync after a restart: 2 of 10
  await settle(clock, 500);
  assert.equal(applier.texts.length, 0, "held");
  assert.match(loop.state().applies[0]!.detail, /drops 8 of 10 domains/);
  source.set(domains(2), true); // confirmed by a second full sync
  await settle(clock, 500);
  assert.equal(applier.texts.length, 1);
  loop.close();
});

Deno.test("createLoop() retries when the check could not run (it is not a rejection)", async () => {
  const { clock, source, applier, loop } = setup(["check-not-run", "applied"]);
  source.set(domains(1), true);
  await settle(clock);
  assert.equal(loop.state().applies[0]?.outcome, "check-failed");
  assert.match(loop.state().applies[0]!.detail, /could not run; installed config kept, will retry/);
  await settle(clock, 1000);
  assert.equal(applier.texts.length, 2);
  assert.equal(loop.state().ready.ok, true);
  await loop.close();
});

Deno.test("createLoop() survives a throwing onPass for held, render-failed and applied passes", async () => {
  const seen: string[] = [];
  const { clock, source, applier, loop, log } = setup([], 0.5, undefined, {
    onPass(record) {
      seen.push(record.outcome);
      throw new Error(`observer broke on ${record.outcome}`);
    },
  });
  const held = loop.runNow(); // before the first sync: a held pass
  await settle(clock);
  assert.equal((await held).outcome, "held");
  source.set(domains(1), true);
  await settle(clock, 500);
  await settleUntil(clock, () => loop.state().applies.length >= 2, "the applied pass");
  assert.equal(loop.state().applies[0]?.outcome, "applied", "a throwing observer is not a failed write");
  loop.setGenerator(() => {
    throw new Error("template broke");
  });
  await settle(clock, 500);
  await settleUntil(clock, () => loop.state().applies.length >= 3, "the render-failed pass");
  assert.equal(loop.state().applies[0]?.outcome, "render-failed");
  assert.deepEqual(seen, ["held", "applied", "render-failed"]);
  assert.equal(log.lines.filter((l) => l.msg === "pass observer failed").length, 3);
  assert.equal(applier.texts.length, 1);
  await loop.close();
});

Deno.test("createLoop() records an unexpected exception as internal-error with its stack, and goes on", async () => {
  const outcomes: string[] = [];
  const { clock, source, applier, loop, log } = setup([], 0.5, undefined, {
    onPass: (record) => void outcomes.push(record.outcome),
  });
  const apply = applier.apply.bind(applier);
  let throwOnce = true;
  applier.apply = (text, options) => {
    if (throwOnce) {
      throwOnce = false;
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    }
    return apply(text, options);
  };
  source.set(domains(1), true);
  await settleUntil(clock, () => loop.state().applies.length >= 1, "the first pass");
  assert.equal(loop.state().applies[0]?.outcome, "internal-error");
  const logged = log.lines.find((l) => l.msg === "pass failed unexpectedly");
  assert.match(String(logged?.stack), /TypeError: Cannot read properties of undefined[\s\S]*loop_test\.ts/);
  await settle(clock, 1000); // retried
  await settleUntil(clock, () => loop.state().applies.length >= 2, "the retry");
  assert.equal(loop.state().applies[0]?.outcome, "applied");
  assert.deepEqual(outcomes, ["internal-error", "applied"], "counted as its own kind");
  await loop.close();
});

Deno.test("createLoop() runs when reading the installed config at start-up throws", async () => {
  const { clock, source, applier, loop, log } = setup([], 0.5, undefined, {
    applier: Object.assign(fakeApplier(), {
      installed: (): string | undefined => {
        throw new Error("installed() broke");
      },
    }),
  });
  source.set(domains(1), true);
  await settle(clock);
  assert.equal(loop.state().applies[0]?.outcome, "applied");
  assert.ok(log.lines.some((l) => l.msg === "cannot read the installed config's hash"));
  assert.equal(applier.texts.length, 0, "the injected applier ran instead");
  await loop.close();
});

// The quarantine with the full generator, and with the daemon's incremental one fed by a source journal
// (quarantined objects must leave its model store, and come back when released).
const GENERATORS: [string, () => Partial<LoopOptions> & { journal?: boolean }][] = [
  ["generate()", () => ({})],
  [
    "createGenerator() and a journaled source",
    () => ({ journal: true, generate: createGenerator(renderer, listen) }),
  ],
];

for (const [how, variant] of GENERATORS) {
  Deno.test(`createLoop() skips the object a failed reload is traced to and applies the rest in the same pass (${how})`, async () => {
    const sets = [
      endpointSet("web", { domain: "web.example.test", proto: "http" }),
      endpointSet(
        "redis",
        { domain: "redis.example.test", proto: "redis", "haconfd.io/listen-port": "9180" },
        [
          "10.0.0.2",
        ],
        { namespace: "cache" },
      ),
    ];
    const { clock, source, applier, loop, log } = setup([], 0.5, undefined, variant());
    const apply = applier.apply.bind(applier);
    applier.apply = async (text, options) => {
      if (!text.includes(":9180")) return await apply(text, options);
      applier.texts.push(text);
      return {
        status: "reload-failed",
        hash: await sha256Hex(text),
        installedHash: undefined,
        durations: { checkMs: 1, reloadMs: 1, waitMs: 0, totalMs: 2 },
        changed: true,
        restored: true,
        error: "HAProxy exited during start-up",
        reload: {
          ok: false,
          durationMs: 1,
          error: "HAProxy exited during start-up",
          detail:
            "[ALERT] (7) : Binding [/etc/haproxy/haproxy.cfg:40] for proxy tcp_redis_example_test_0a1b2c3d: cannot bind socket (Address already in use) for [127.0.0.1:9180]",
        },
      };
    };
    source.set(sets, true);
    await settleUntil(clock, () => loop.state().applies.length > 0, "the first pass");
    assert.equal(applier.texts.length, 2, "the failed apply, then the one without the culprit");
    assert.ok(!applier.texts[1]!.includes(":9180"));
    const state = loop.state();
    assert.equal(state.applies[0]?.outcome, "applied");
    assert.deepEqual(Object.keys(state.domains), ["web.example.test"]);
    assert.equal(state.skipped.length, 1);
    assert.equal(state.skipped[0]?.object, "cache/redis");
    assert.match(state.skipped[0]!.reason, /cannot listen on 127\.0\.0\.1:9180 .*Address already in use/);
    assert.ok(
      log.lines.some((l) => l.msg === "object skipped: HAProxy could not load its part of the config"),
    );

    // Later passes leave it out without trying again; a changed object gets another try.
    source.set([...sets, endpointSet("wiki", { domain: "wiki.example.test", proto: "http" })]);
    await settle(clock, 500);
    await settleUntil(clock, () => loop.state().applies.length >= 2, "the second pass");
    assert.equal(applier.texts.length, 3);
    assert.ok(!applier.texts[2]!.includes(":9180"));
    // New addresses, same annotations: still left out.
    const wiki = endpointSet("wiki", { domain: "wiki.example.test", proto: "http" });
    const readdressed = endpointSet(sets[1]!.name, sets[1]!.annotations, ["10.0.0.3"], {
      namespace: "cache",
    });
    source.set([sets[0]!, readdressed, wiki]);
    await settle(clock, 500);
    await settleUntil(clock, () => loop.state().applies.length >= 3, "the pass after the new addresses");
    assert.ok(!applier.texts.at(-1)!.includes(":9180"), "the held object came back with new addresses");
    assert.deepEqual(loop.state().skipped.map((s) => s.object), ["cache/redis"]);
    const moved = endpointSet(
      "redis",
      {
        domain: "redis.example.test",
        proto: "redis",
        "haconfd.io/listen-port": "6390",
      },
      ["10.0.0.2"],
      { namespace: "cache" },
    );
    source.set([sets[0]!, moved]);
    await settle(clock, 500);
    await settleUntil(clock, () => loop.state().applies.length >= 4, "the pass after the move");
    assert.match(applier.texts.at(-1)!, /:6390/);
    assert.deepEqual(loop.state().skipped, []);
    await loop.close();
  });

  Deno.test(`createLoop() traces a failed start-up reload of the installed file to its culprit (${how})`, async () => {
    const sets = [
      endpointSet("web", { domain: "web.example.test", proto: "http" }),
      endpointSet("redis", {
        domain: "redis.example.test",
        proto: "redis",
        "haconfd.io/listen-port": "9180",
      }),
    ];
    // An older haconfd installed a file with the busy port; HAProxy cannot start it.
    const previous = generate(sets, renderer, listen).text;
    const { clock, source, applier, loop } = setup([], 0.5, previous, variant());
    const apply = applier.apply.bind(applier);
    applier.apply = async (text, options) => {
      if (!text.includes(":9180")) return await apply(text, options);
      applier.texts.push(text);
      return {
        status: "reload-failed",
        hash: await sha256Hex(text),
        installedHash: await sha256Hex(previous),
        durations: { checkMs: 0, reloadMs: 1, waitMs: 0, totalMs: 1 },
        changed: false,
        restored: false,
        error: "Cannot start HAProxy: HAProxy exited during start-up: Binding [/x.cfg:40] for proxy " +
          "tcp_x: cannot bind socket (Address already in use) for [127.0.0.1:9180]",
        reload: { ok: false, durationMs: 1, detail: "", error: "Cannot start HAProxy" },
      };
    };
    source.set(sets, true);
    await settleUntil(clock, () => loop.state().applies.length > 0, "the first pass");
    assert.equal(applier.texts.length, 2);
    assert.equal(loop.state().applies[0]?.outcome, "applied");
    assert.deepEqual(loop.state().skipped.map((s) => s.object), ["default/redis"]);
    await loop.close();
  });
}

Deno.test("createLoop() ends a pass that found nothing new without hashing or applying", async () => {
  const { clock, source, applier, loop } = setup([], 0.5, undefined, {
    generate: createGenerator(renderer, listen),
  });
  const sets = domains(3);
  source.set(sets, true);
  await settle(clock);
  assert.equal(applier.texts.length, 1);
  source.set([...sets], true); // a resync that found the same objects
  await settle(clock, 5000);
  assert.equal(applier.texts.length, 1);
  assert.equal(loop.state().applies[0]?.outcome, "unchanged");
  assert.equal(loop.state().ready.ok, true);
  source.set(domains(4), true);
  await settle(clock, 5000);
  assert.equal(applier.texts.length, 2);
  assert.equal(loop.state().applies[0]?.outcome, "applied");
  assert.equal(Object.keys(loop.state().domains).length, 4);
});

Deno.test("createLoop() applies again after a failed apply even when the generator found nothing new", async () => {
  const { clock, source, applier, loop } = setup(
    ["reload-failed"],
    0.5,
    undefined,
    { generate: createGenerator(renderer, listen) },
  );
  const sets = domains(2);
  source.set(sets, true);
  await settle(clock);
  assert.equal(loop.state().applies[0]?.outcome, "reload-failed");
  source.set([...sets], true);
  await settle(clock, 60_000);
  assert.ok(applier.texts.length >= 2, "the failed apply was not retried");
  assert.ok(loop.state().applies.some((r) => r.outcome === "applied"));
  assert.equal(loop.state().ready.ok, true);
});

Deno.test("createLoop() probes each pass with the generator's listen ports and the installed config's hash, and skips what the probe finds", async () => {
  const seen: { listenPorts: boolean; hashMatches: boolean }[] = [];
  const probe: LoopOptions["probe"] = (generated, installed) => {
    const text = installed.text();
    seen.push({
      listenPorts: generated.listenPorts !== undefined,
      hashMatches: installed.hash === (text === undefined ? null : sha256Hex(text)),
    });
    const redis = [...generated.listenPorts?.ports ?? []].find(([port]) => port === 6379);
    return redis === undefined
      ? []
      : [{ object: "default/redis", domain: redis[1], reason: "port 6379 is busy" }];
  };
  const { clock, source, applier, loop } = setup([], 0.5, "# a previous run's config\n", {
    journal: true,
    generate: createGenerator(renderer, listen),
    probe,
  });
  const web = endpointSet("web", { domain: "web.example.test", proto: "http" });
  const redis = endpointSet("redis", { domain: "redis.example.test", proto: "redis" });
  source.set([web, redis], true);
  await settle(clock, 3000);
  assert.equal(applier.texts.length, 1);
  assert.doesNotMatch(applier.texts[0]!, /redis\.example\.test/, "the object the probe found is skipped");
  assert.ok(
    loop.state().skipped.some((s) => s.object === "default/redis" && s.reason === "port 6379 is busy"),
  );
  source.set([endpointSet("web", { domain: "web.example.test", proto: "http" }, ["10.0.0.9"]), redis]);
  await settle(clock, 3000);
  assert.equal(applier.texts.length, 2);
  assert.ok(seen.length >= 3, `${seen.length} probes`);
  assert.deepEqual(
    seen.filter((s) => !s.listenPorts || !s.hashMatches),
    [],
    "every probe: listen ports, current hash",
  );
  await loop.close();
});

/** A pass record that ended with `outcome` (for readiness()). */
function record(outcome: ApplyRecord["outcome"]): ApplyRecord {
  return {
    at: 0,
    outcome,
    detail: "why",
    durationMs: 0,
    renderMs: null,
    checkMs: null,
    reloadMs: null,
    hash: null,
    errors: [],
  };
}

Deno.test("readiness() follows the first sync, the last record and whether the rendered config is installed", () => {
  const synced = { ...initialStatus("file", "test", "test"), synced: true };
  const same = { renderedHash: "a", installedHash: "a" };
  assert.equal(readiness(initialStatus("file", "test", "test"), record("applied"), same).ok, false);
  assert.deepEqual(readiness(synced, undefined, same), { ok: false, reason: "no config applied yet" });
  assert.deepEqual(readiness(synced, record("reload-failed"), same), {
    ok: false,
    reason: "last apply reload-failed: why",
  });
  assert.equal(readiness(synced, record("applied"), { renderedHash: "b", installedHash: "a" }).ok, false);
  assert.equal(readiness(synced, record("dry-run"), { renderedHash: "b", installedHash: "a" }).ok, true);
  assert.deepEqual(readiness(synced, record("unchanged"), same), {
    ok: true,
    reason: "the installed config is the last one rendered",
  });
  // A later source error keeps the host ready (the installed config is the last good one) and says so.
  assert.deepEqual(readiness({ ...synced, lastError: "API down" }, record("applied"), same), {
    ok: true,
    reason: "serving the last good config; the source is failing: API down",
  });
});

Deno.test("readiness() stays ready while a watch started after the first sync makes its first list, and says so", () => {
  const same = { renderedHash: "a", installedHash: "a" };
  const listing = { ...initialStatus("kube", "test", "endpoints"), listing: ["listing TLS Secrets"] };
  // Before the first complete sync nothing changes.
  assert.deepEqual(readiness(listing, undefined, same), {
    ok: false,
    reason: "waiting for the first complete sync with the source",
  });
  const synced = {
    ...listing,
    synced: true,
    listing: ["listing TLS Secrets", "listing Nodes and Services' node ports"],
  };
  assert.deepEqual(readiness(synced, record("applied"), same), {
    ok: true,
    reason:
      "serving the last good config; changes wait while the source is listing TLS Secrets and listing Nodes and Services' node ports",
  });
  // A failure or a hold of its own is still not ready.
  assert.equal(readiness(synced, record("reload-failed"), same).ok, false);
  assert.equal(readiness(synced, record("held"), same).ok, false);
  assert.equal(readiness(synced, record("applied"), { renderedHash: "b", installedHash: "a" }).ok, false);
  assert.equal(
    readiness({ ...synced, listing: [] }, record("applied"), same).reason,
    "the installed config is the last one rendered",
  );
});

Deno.test("createLoop() says once whether the templates render incrementally, and again when that changes", async () => {
  let incremental = true;
  const { clock, source, loop, log } = setup([], 0.5, undefined, {
    generate: (input) => ({ ...generate(input.snapshot(), renderer, listen), incremental }),
  });
  const said = () => log.lines.filter((l) => /^templates render/.test(String(l.msg))).map((l) => l.msg);
  source.set(domains(1), true);
  await settle(clock);
  await loop.runNow();
  assert.deepEqual(said(), ["templates render incrementally: a change renders only its domains' partials"]);
  incremental = false;
  source.set(domains(2), true);
  await settle(clock, 5000);
  assert.equal(said().length, 2);
  assert.match(String(said()[1]), /render in full on every change/);
  loop.close();
});
