// deno-lint-ignore-file no-console -- a tool prints its output
/**
 * Lists every function, method and arrow function in lib/ and main.ts longer than 60 lines, with the reason
 * written right above it (a comment starting `// Long because:`) when there is one:
 * `tools/deno run --allow-read --allow-env tools/long_functions.ts`. tests/long_functions_test.ts fails on one without a
 * reason.
 *
 * @module
 */
import ts from "typescript";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The longest a function may be without saying why. */
export const LINE_LIMIT = 60;

/** How a reason starts. */
export const REASON_PREFIX = "// Long because:";

/** One function over the limit. */
export interface LongFunction {
  /** Repository-relative path. */
  path: string;
  /** `name`, `Class.method`, or `outer.<anonymous>` for an unnamed function inside `outer`. */
  name: string;
  /** 1-based line of its first line. */
  line: number;
  /** Its length in lines, first and last included. */
  lines: number;
  /** The text after `// Long because:`, when the comment is there. */
  reason?: string;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The functions of one source text longer than `limit` lines. */
export function longFunctionsIn(path: string, text: string, limit = LINE_LIMIT): LongFunction[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const last = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (last - first + 1 > limit) {
        const reason = reasonAbove(file, node);
        found.push({
          path,
          name: nameOf(node),
          line: first + 1,
          lines: last - first + 1,
          ...(reason === undefined ? {} : { reason }),
        });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The functions of lib/ and main.ts longer than {@linkcode LINE_LIMIT} lines. */
export async function longFunctions(root = ROOT): Promise<LongFunction[]> {
  const found: LongFunction[] = [];
  for (const path of [`${root}main.ts`, ...await tsFiles(`${root}lib`)]) {
    found.push(...longFunctionsIn(relative(root, path), await Deno.readTextFile(path)));
  }
  return found;
}

async function tsFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await tsFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

// The comment may sit above the statement that holds the function (`const f = () => …`, `app.get(…, () => …)`
// written on one line), so every ancestor starting on the function's first line is looked above too.
function reasonAbove(file: ts.SourceFile, node: ts.Node): string | undefined {
  const line = (n: ts.Node) => file.getLineAndCharacterOfPosition(n.getStart(file)).line;
  let host: ts.Node = node;
  while (host.parent !== undefined && !ts.isSourceFile(host.parent) && line(host.parent) === line(node)) {
    host = host.parent;
  }
  const text = file.getFullText();
  for (const range of ts.getLeadingCommentRanges(text, host.getFullStart()) ?? []) {
    const comment = text.slice(range.pos, range.end);
    if (comment.startsWith(REASON_PREFIX)) return comment.slice(REASON_PREFIX.length).trim();
  }
  return undefined;
}

function nameOf(node: ts.Node): string {
  const own = ownName(node);
  if (own !== undefined) {
    const owner = ts.isClassLike(node.parent) ? node.parent.name?.text : undefined;
    return owner === undefined ? own : `${owner}.${own}`;
  }
  for (let up = node.parent; up !== undefined; up = up.parent) {
    if (ts.isFunctionLike(up) && ownName(up) !== undefined) return `${nameOf(up)}.<anonymous>`;
  }
  return "<anonymous>";
}

function ownName(node: ts.Node): string | undefined {
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const named = node as { name?: ts.Node };
  if (named.name !== undefined) return named.name.getText();
  const parent = node.parent;
  if (
    ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)
  ) {
    return parent.name.getText();
  }
  return undefined;
}

if (import.meta.main) {
  for (const f of await longFunctions()) {
    console.log(`${f.path}:${f.line}  ${f.name}  ${f.lines} lines  ${f.reason ?? "(no reason)"}`);
  }
}
