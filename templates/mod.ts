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
import tls from "./25-tls.eta" with { type: "text" };
import tcp from "./30-tcp.eta" with { type: "text" };
import httpBackend from "./_http-backend.eta" with { type: "text" };
import httpMap from "./_http-map.eta" with { type: "text" };
import httpPathRoute from "./_http-path-route.eta" with { type: "text" };
import httpsBackend from "./_https-backend.eta" with { type: "text" };
import httpsMap from "./_https-map.eta" with { type: "text" };
import servers from "./_servers.eta" with { type: "text" };
import settings from "./_settings.eta" with { type: "text" };
import tcpListen from "./_tcp-listen.eta" with { type: "text" };
import tlsMap from "./_tls-map.eta" with { type: "text" };
import tlsPathRoute from "./_tls-path-route.eta" with { type: "text" };
import redirectMap from "./_redirect-map.eta" with { type: "text" };
import redirectHostsMap from "./haconfd-redirect.map.eta" with { type: "text" };
import hostsMap from "./haconfd-hosts.map.eta" with { type: "text" };
import sniMap from "./haconfd-sni.map.eta" with { type: "text" };
import tlsHostsMap from "./haconfd-tls.map.eta" with { type: "text" };

/** File name → source of every default template. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  "00-global.eta": global,
  "10-http.eta": http,
  "20-https.eta": https,
  "25-tls.eta": tls,
  "30-tcp.eta": tcp,
  "_http-backend.eta": httpBackend,
  "_http-map.eta": httpMap,
  "_http-path-route.eta": httpPathRoute,
  "_https-backend.eta": httpsBackend,
  "_https-map.eta": httpsMap,
  "_servers.eta": servers,
  "_settings.eta": settings,
  "_tcp-listen.eta": tcpListen,
  "_redirect-map.eta": redirectMap,
  "_tls-map.eta": tlsMap,
  "_tls-path-route.eta": tlsPathRoute,
  "haconfd-hosts.map.eta": hostsMap,
  "haconfd-redirect.map.eta": redirectHostsMap,
  "haconfd-sni.map.eta": sniMap,
  "haconfd-tls.map.eta": tlsHostsMap,
};
