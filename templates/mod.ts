/**
 * The default templates, embedded in the module graph so that `deno run` and the compiled binary carry
 * the same files. Add a file to templates/ → add it here (a test checks that the two agree).
 *
 * @module
 */
import global from "./00-global.eta" with { type: "text" };
import http from "./10-http.eta" with { type: "text" };
import https from "./20-https.eta" with { type: "text" };
import tcp from "./30-tcp.eta" with { type: "text" };

/** File name → source of every default template. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  "00-global.eta": global,
  "10-http.eta": http,
  "20-https.eta": https,
  "30-tcp.eta": tcp,
};
