/**
 * The default templates, embedded in the module graph so that `deno run` and the compiled binary carry
 * the same files. Add a file to templates/ → add it here (a test checks that the two agree). `_*.eta` files
 * are partials, included by the others (README, "Templates").
 *
 * @module
 */
import global from "./00-global.eta" with { type: "text" };
import http from "./10-http.eta" with { type: "text" };
import https from "./20-https.eta" with { type: "text" };
import tcp from "./30-tcp.eta" with { type: "text" };
import httpBackend from "./_http-backend.eta" with { type: "text" };
import httpRoute from "./_http-route.eta" with { type: "text" };
import httpsBackend from "./_https-backend.eta" with { type: "text" };
import httpsRoute from "./_https-route.eta" with { type: "text" };
import servers from "./_servers.eta" with { type: "text" };
import settings from "./_settings.eta" with { type: "text" };
import tcpListen from "./_tcp-listen.eta" with { type: "text" };

/** File name → source of every default template. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  "00-global.eta": global,
  "10-http.eta": http,
  "20-https.eta": https,
  "30-tcp.eta": tcp,
  "_http-backend.eta": httpBackend,
  "_http-route.eta": httpRoute,
  "_https-backend.eta": httpsBackend,
  "_https-route.eta": httpsRoute,
  "_servers.eta": servers,
  "_settings.eta": settings,
  "_tcp-listen.eta": tcpListen,
};
