import assert from "node:assert/strict";
import { summarizeDemo, summaryLines } from "../../lib/demo/summary.ts";

Deno.test("summarizeDemo() counts changes, takes the median and worst time to traffic, and runtime applies vs reloads", () => {
  const summary = summarizeDemo({
    changes: [{ inTrafficMs: 40 }, { inTrafficMs: 12 }, { inTrafficMs: null }, { inTrafficMs: 90 }, {
      inTrafficMs: 20,
    }],
    passes: [
      { outcome: "applied", path: "runtime" },
      { outcome: "applied", path: "runtime" },
      { outcome: "applied", path: "reload" },
      { outcome: "unchanged", path: "unchanged" },
      { outcome: "reload-failed", path: "reload" },
    ],
  });
  assert.deepEqual(summary, {
    changes: 5,
    reached: 4,
    medianMs: 30,
    worstMs: 90,
    runtimeApplies: 2,
    reloads: 1,
  });
  assert.deepEqual(summaryLines(summary), [
    "Summary: 5 changes made, 1 not seen in traffic within the deadline",
    "  time to traffic: median 30 ms, worst 90 ms",
    "  reloads avoided: 2 of 3 applies went through the Runtime API, 1 reloaded HAProxy",
  ]);
});

Deno.test("summarizeDemo() of a run stopped before its first change says so", () => {
  const summary = summarizeDemo({ changes: [], passes: [] });
  assert.deepEqual(summary, {
    changes: 0,
    reached: 0,
    medianMs: null,
    worstMs: null,
    runtimeApplies: 0,
    reloads: 0,
  });
  assert.deepEqual(summaryLines(summary), [
    "Summary: 0 changes made",
    "  time to traffic: none measured",
    "  reloads avoided: 0 of 0 applies went through the Runtime API, 0 reloaded HAProxy",
  ]);
});

Deno.test("summarizeDemo() takes the middle value of an odd count", () => {
  assert.equal(
    summarizeDemo({ changes: [{ inTrafficMs: 9 }, { inTrafficMs: 3 }, { inTrafficMs: 5 }], passes: [] })
      .medianMs,
    5,
  );
});
