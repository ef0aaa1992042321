import assert from "node:assert/strict";
import { type OptionSpec, parseCommandLine } from "../../lib/settings/cli.ts";

const SPECS: OptionSpec[] = [
  { flag: "api-servers", type: "string", list: true },
  { flag: "interval", type: "string", short: "i" },
  { flag: "once", type: "boolean" },
  { flag: "verbose", type: "boolean", short: "v" },
];

Deno.test("parseCommandLine() returns raw values and positionals", () => {
  const cases: [string[], Record<string, string | boolean>, string[]][] = [
    [[], {}, []],
    [["run"], {}, ["run"]],
    [["run", "--interval", "5s", "--once"], { interval: "5s", once: true }, ["run"]],
    [["--interval=5s", "check", "extra"], { interval: "5s" }, ["check", "extra"]],
    [["-i", "2s", "-v"], { interval: "2s", verbose: true }, []],
    [["--interval", "1s", "--interval", "9s"], { interval: "9s" }, []],
    [["--api-servers", "https://a", "--api-servers=https://b,https://c"], {
      "api-servers": "https://a,https://b,https://c",
    }, []],
    [["--", "--once"], {}, ["--once"]],
    [["--interval", ""], { interval: "" }, []],
  ];
  for (const [args, values, positionals] of cases) {
    assert.deepEqual(parseCommandLine(args, SPECS), { values, positionals }, args.join(" "));
  }
});

Deno.test("parseCommandLine() throws a TypeError naming the flag, without parseArgs' positional hint", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /'--bogus'/],
    [["-x"], /'-x'/],
    [["--interval"], /--interval/],
    [["--once=yes"], /--once/],
  ];
  for (const [args, flag] of cases) {
    assert.throws(
      () => parseCommandLine(args, SPECS),
      (error: unknown) =>
        error instanceof TypeError && flag.test(error.message) &&
        !/positional argument/.test(error.message) &&
        error.cause instanceof Error,
      args.join(" "),
    );
  }
});

Deno.test("parseCommandLine() does not let one call's specs leak into another's", () => {
  assert.deepEqual(parseCommandLine(["--once"], SPECS).values, { once: true });
  assert.throws(() => parseCommandLine(["--once"], []), TypeError);
});
