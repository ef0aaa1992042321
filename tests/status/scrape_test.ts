/**
 * What a scrape costs HAProxy, with a real one: /metrics, /status and the page ask for the backend rows
 * only (never every server), and a domain's detail for its one backend; the figures match HAProxy's own
 * server rows.
 */
import assert from "node:assert/strict";
import { DEFAULT_SETTINGS } from "../../lib/model/settings.ts";
import { type Domain, domainId } from "../../lib/model/model.ts";
import { masterCommand } from "../../lib/haproxy/master_cli.ts";
import {
  BACKENDS_COMMAND,
  HaproxyViewReader,
  parseShowStat,
  serversCommand,
} from "../../lib/haproxy/view.ts";
import { createStatusApp } from "../../lib/status/app.ts";
import { createMetrics } from "../../lib/status/metrics.ts";
import { daemonState } from "../support/fixtures.ts";
import { answeringConfig, freePort, haproxyAvailable, startHaproxy } from "../support/haproxy.ts";
import { familiesByName, findSample, parsePrometheus } from "../support/prometheus.ts";

const WEB = "web.example.test";
const DB = "db.example.test";

function domain(host: string, listenPort: number | null, port: number, names: string[]): Domain {
  return {
    ips: names.map(() => "127.0.0.1"),
    proto: listenPort === null ? "http" : "postgres",
    port,
    id: domainId(host),
    namespace: "shop",
    name: host.split(".")[0]!,
    ports: { main: port },
    notReadyIps: [],
    servers: names.map((name) => ({ ip: "127.0.0.1", port, name, ready: true })),
    listenPort,
    host,
    settings: DEFAULT_SETTINGS,
  };
}

/**
 * web: three servers, one in maintenance; db: a TCP `listen` with one; two backends of no domain, one
 * without servers (UP for HAProxy) and one whose only server is in maintenance (DOWN).
 */
function config(port: number, tcpPort: number): string {
  return `${answeringConfig(port)}
backend be_${domainId(WEB)}
  mode http
  server web-1 127.0.0.1:${port}
  server web-2 127.0.0.1:${port}
  server web-3 127.0.0.1:${port} disabled

backend be_no_route
  mode http
  http-request return status 404

backend be_gone
  mode http
  server gone-1 127.0.0.1:${port} disabled

listen tcp_${domainId(DB)}
  mode tcp
  bind 127.0.0.1:${tcpPort}
  server db-0 127.0.0.1:${port}
`;
}

Deno.test({
  name: "createStatusApp() over real HAProxy: scrapes ask for backend rows only, a detail for one backend",
  ignore: !haproxyAvailable(),
  async fn() {
    const [port, tcpPort] = [freePort(), freePort()];
    await using haproxy = await startHaproxy(config(port, tcpPort), { waitFor: [port, tcpPort] });
    const master = { transport: "unix", path: haproxy.masterSocket } as const;
    const sent: string[] = [];
    const reader = new HaproxyViewReader((command) => {
      sent.push(command);
      return masterCommand(master, command);
    });
    const domains = {
      [WEB]: domain(WEB, null, port, ["web-1", "web-2", "web-3"]),
      [DB]: domain(DB, tcpPort, port, ["db-0"]),
    };
    const app = createStatusApp(() => daemonState(Date.now(), { domains }), {
      metrics: createMetrics(),
      readHaproxy: () => reader.view(),
      readServers: (names) => reader.servers(names),
    });
    const get = async (path: string) => {
      sent.length = 0;
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      return await res.text();
    };
    const every = parseShowStat(await masterCommand(master, "@1 show stat"));
    const usable = Object.values(every).flat().filter((s) => !/^(DOWN|MAINT)/.test(s.status)).length;
    assert.equal(usable, 3, "web-1, web-2, db-0");

    const families = familiesByName(parsePrometheus(await get("/metrics")));
    assert.deepEqual(sent, ["show proc", BACKENDS_COMMAND], "/metrics");
    assert.equal(findSample(families.get("haconfd_haproxy_servers_usable")!)?.value, String(usable));
    assert.equal(findSample(families.get("haconfd_haproxy_backends")!, { status: "UP" })?.value, "3");
    assert.equal(findSample(families.get("haconfd_haproxy_backends")!, { status: "DOWN" })?.value, "1");

    const status = JSON.parse(await get("/status"));
    assert.deepEqual(sent, ["show proc", BACKENDS_COMMAND], "/status");
    assert.deepEqual(status.haproxy.backends, { UP: 3, DOWN: 1 });
    assert.equal(status.haproxy.usableServers, usable);
    assert.deepEqual(status.domains[WEB].haproxy, { status: "UP", usable: 2 });

    assert.match(await get("/"), />2\/3 up</);
    assert.deepEqual(sent, ["show proc", BACKENDS_COMMAND], "the page's list");

    const detail = JSON.parse(await get(`/status/domains/${WEB}`));
    assert.deepEqual(sent, [serversCommand(`be_${domainId(WEB)}`)], "one backend");
    assert.deepEqual(detail.haproxy.servers, every[`be_${domainId(WEB)}`]);
    assert.equal(detail.haproxy.servers[2].status, "MAINT");

    const page = await get(`/?domain=${DB}`);
    assert.deepEqual(sent.toSorted(), [BACKENDS_COMMAND, serversCommand(`tcp_${domainId(DB)}`), "show proc"]);
    assert.match(page, new RegExp(`\\(tcp_${domainId(DB)}\\)`));
  },
});
