import assert from "node:assert/strict";
import { buildModel } from "../../lib/model/model.ts";
import { nodePortDetail } from "../../lib/status/page_nodes.ts";
import { endpointSet } from "../support/fixtures.ts";

Deno.test("nodePortDetail() lists every node with whether it receives traffic and why", async () => {
  const set = endpointSet("web", { domain: "web.test", proto: "http" });
  set.groups[0]!.addresses = [{ ip: "10.244.0.5", ready: true, node: "node-a" }];
  const model = buildModel([{
    ...set,
    nodePort: {
      service: {
        type: "LoadBalancer",
        ports: [{ name: "http", port: 80, nodePort: 30080 }],
        externalTrafficPolicy: "Local",
        healthCheckNodePort: 31305,
      },
      nodes: [
        {
          name: "node-a",
          ready: true,
          addresses: { InternalIP: "192.0.2.1" },
          labels: {},
          unschedulable: false,
        },
        {
          name: "node-b",
          ready: true,
          addresses: { InternalIP: "192.0.2.2" },
          labels: {},
          unschedulable: false,
        },
      ],
      policy: { defaultMode: "nodeport", addressType: "InternalIP", includeUnschedulable: true },
    },
  }]);
  const page = String(await nodePortDetail(model.domains["web.test"]!)).replace(/>\s+</g, "><");
  assert.match(page, /nodeport 30080, externalTrafficPolicy Local/);
  assert.match(page, /GET \/healthz on port 31305/);
  assert.match(
    page,
    /<td class="mono">node-a<\/td><td class="mono">192\.0\.2\.1<\/td><td>yes<\/td><td>Ready, runs a ready endpoint<\/td>/,
  );
  assert.match(
    page,
    /node-b.*<td>no<\/td><td>no ready endpoint of the service on this node \(externalTrafficPolicy Local\)<\/td>/,
  );
  assert.equal(nodePortDetail(buildModel([set]).domains["web.test"]!), "");
});
