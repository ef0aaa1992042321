import assert from "node:assert/strict";
import { parseShowStat } from "../../lib/haproxy/view.ts";

const CSV = await Deno.readTextFile(new URL("./fixtures/show_stat_2.6.csv", import.meta.url));

/** The straightforward reading: every line split into all its fields. */
function splitAll(csv: string) {
  const lines = csv.split("\n").filter((line) => line.trim() !== "");
  const header = lines.shift()!.replace(/^#\s*/, "").split(",");
  const col = (name: string) => header.indexOf(name);
  const out: Record<string, { server: string; address: string; status: string }[]> = {};
  for (const line of lines) {
    const f = line.split(",");
    const server = f[col("svname")] ?? "";
    if (server === "FRONTEND" || server === "BACKEND") continue;
    (out[f[col("pxname")] ?? ""] ??= []).push({
      server,
      address: f[col("addr")] ?? "",
      status: f[col("status")] ?? "",
    });
  }
  return out;
}

Deno.test("parseShowStat() reads HAProxy 2.6's show stat: servers per backend with address and status", () => {
  assert.deepEqual(parseShowStat(CSV), {
    be_a: [
      { server: "a1", address: "127.0.0.1:19556", status: "DOWN" },
      { server: "a2", address: "127.0.0.1:19557", status: "no check" },
    ],
    be_b: [{ server: "b1", address: "127.0.0.1:19558", status: "MAINT" }],
  });
  assert.deepEqual(parseShowStat(CSV), splitAll(CSV));
});

Deno.test("parseShowStat() gives what splitting every field gives, for many servers and without a final newline", () => {
  const [header, ...rest] = CSV.split("\n");
  const server = rest.find((line) => line.startsWith("be_a,a1,"))!;
  const many = Array.from({ length: 500 }, (_, i) => server.replace("be_a,a1,", `be_${i % 7},s${i},`));
  const csv = [header, ...many].join("\n");
  assert.deepEqual(parseShowStat(csv), splitAll(csv));
  assert.equal(Object.values(parseShowStat(csv)).flat().length, 500);
});

Deno.test("parseShowStat() refuses text without the header line", () => {
  assert.throws(() => parseShowStat("be_a,a1,DOWN\n"), /no header line/);
});
