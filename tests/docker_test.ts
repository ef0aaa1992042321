/**
 * The shipped artifacts run for real under a Docker engine (issue 13): compose.yaml with
 * examples/compose/Dockerfile beside a "kind node" stand-in, and deploy/haconfd.service under systemd
 * (PID 1 in a container), installed the way README says. Images are built locally and cached by tag
 * (tests/docker/images.ts). Skipped, with the reason, where Docker cannot run (tools/test.sh installs
 * and starts the engine when it can: root and apt).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { httpGet } from "../lib/demo/backends.ts";
import { waitFor } from "./support/haproxy.ts";
import { note, ROOT, run } from "./support/process.ts";
import { commandError, DOCKER, docker, ensureImages, type TestImages } from "./docker/images.ts";
import { annotatedEndpoints, dockerUnavailable, ports, startKindNode, waitHealthy } from "./docker/stack.ts";

const SKIP = await dockerUnavailable();
if (SKIP) note(`docker_test: SKIPPED: ${SKIP}`);
const suffix = SKIP ? ` (SKIPPED: ${SKIP})` : "";

const DOMAIN = "echo.haconfd.test";
/** This run's id (tools/test.sh sets it): container and compose project names end with it, so that two runs
 * of the suite can share the engine (tests/docker/engine.sh removes only its own run's leftovers). */
const RUN = Deno.env.get("HACONFD_DOCKER_RUN") ?? String(Deno.pid);
/** HACONFD_DOCKER_KEEP=1 leaves a failed scenario's systemd container running for a look inside. */
const KEEP = Deno.env.get("HACONFD_DOCKER_KEEP") === "1";
let images: TestImages | undefined;

/** The images, built once per run of this file. */
async function testImages(): Promise<TestImages> {
  images ??= await ensureImages();
  return images;
}

/** The backend named in the answer of HAProxy at `hostname:port` for `domain` (or the status). */
async function routedTo(hostname: string, port: number, domain = DOMAIN): Promise<string> {
  const answer = await httpGet(port, domain, "/", { hostname, timeoutMs: 3_000 });
  return answer.status === 200 ? answer.headers["x-backend"] ?? "?" : `HTTP ${answer.status}`;
}

/** Waits until HAProxy answers `domain` from `backend` (three answers in a row). */
async function waitRoutedTo(
  hostname: string,
  port: number,
  backend: string,
  timeoutMs = 60_000,
  domain = DOMAIN,
): Promise<void> {
  let last = "";
  await waitFor(async () => {
    for (let i = 0; i < 3; i++) {
      last = await routedTo(hostname, port, domain);
      if (last !== backend) return false;
    }
    return true;
  }, { timeoutMs, intervalMs: 250, what: `${domain} via ${hostname}:${port} to answer from ${backend}` })
    .catch(
      (error) => {
        throw new Error(`${(error as Error).message}; last answer: ${last}`, { cause: error });
      },
    );
}

/** GET /readyz on `hostname:port`: the status code, 0 when nothing answers. */
async function readyz(hostname: string, port: number): Promise<number> {
  try {
    const res = await fetch(`http://${hostname}:${port}/readyz`, { signal: AbortSignal.timeout(3_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/**
 * The ports of haconfd's host at `${net}.1` (HTTP, HTTPS, status) and a kind-node stand-in named after
 * `kind` with two pods at `${net}.11` and `${net}.12`, pod-a the only one in the Endpoints of DOMAIN.
 */
async function twoPodNode(net: string, kind: string, image: string) {
  const ip = `${net}.1`;
  const [httpPort, httpsPort, statusPort] = ports(ip, 3) as [number, number, number];
  const pod = (host: string) => ({ ip: host, port: ports(host, 1)[0] as number });
  const pods = [pod(`${net}.11`), pod(`${net}.12`)] as const;
  const node = await startKindNode({
    name: `haconfd-test-${kind}-node-${RUN}`,
    image,
    backends: [
      { name: "pod-a", hostname: pods[0].ip, port: pods[0].port },
      { name: "pod-b", hostname: pods[1].ip, port: pods[1].port },
    ],
    endpoints: [annotatedEndpoints("default", "echo", DOMAIN, [pods[0]])],
  });
  return { ip, httpPort, httpsPort, statusPort, pods, node };
}

Deno.test({
  name: "docker images: stand-ins for haproxy:2.6 and denoland/deno are built only when absent" + suffix,
  ignore: SKIP !== undefined,
  async fn() {
    const built = await testImages();
    assert.equal(built.haproxy, "haproxy:2.6");
    const pin = JSON.parse(await Deno.readTextFile(join(ROOT, "tools/toolchain/package.json")));
    assert.equal(built.deno, `denoland/deno:bin-${pin.devDependencies.deno}`);
    // The Dockerfile pins the same Deno as tools/deno.
    const dockerfile = await Deno.readTextFile(join(ROOT, "examples/compose/Dockerfile"));
    assert.match(
      dockerfile,
      new RegExp(`^ARG DENO_VERSION=${pin.devDependencies.deno.replaceAll(".", "\\.")}$`, "m"),
    );
    // The official image's layout: haproxy on PATH at /usr/local/sbin, config dir, entrypoint adds -W -db.
    const layout = await docker([
      "run",
      "--rm",
      "--network",
      "none",
      built.haproxy,
      "sh",
      "-c",
      "command -v haproxy; test -d /usr/local/etc/haproxy && echo etc; id -un",
    ]);
    assert.deepEqual(layout.split("\n"), ["/usr/local/sbin/haproxy", "etc", "haproxy"]);
    // A second call finds every image by its tag and builds nothing.
    images = undefined;
    assert.deepEqual(await testImages(), built);
  },
});

Deno.test({
  name:
    "compose.yaml: builds, routes through HAProxy, follows Endpoints, survives a killed haconfd, leaves nothing" +
    suffix,
  ignore: SKIP !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const built = await testImages();
    const { ip, httpPort, httpsPort, statusPort, pods, node: started } = await twoPodNode(
      "127.86.0",
      "compose",
      built.base,
    );
    await using node = started;
    const project = `haconfd-dockertest-${RUN}`;
    const env = {
      KIND_NODE: node.name,
      HACONFD_KUBECONFIG: node.kubeconfig,
      HACONFD_HTTP_BIND: `${ip}:${httpPort}`,
      HACONFD_HTTPS_BIND: `${ip}:${httpsPort}`,
      HACONFD_STATUS_LISTEN: `${ip}:${statusPort}`,
      // No bridge network on this engine: the image build reaches npm through the host's network.
      HACONFD_BUILD_NETWORK: "host",
      DOCKER_BUILDKIT: "1",
      COMPOSE_DOCKER_CLI_BUILD: "1",
      // docker-compose calls `docker build`: the engine's own client, not a newer one without buildx.
      PATH: `${DOCKER.replace(/\/docker$/, "")}:${Deno.env.get("PATH")}`,
    };
    const compose = async (args: string[]) => {
      const res = await run("docker-compose", ["-p", project, "-f", join(ROOT, "compose.yaml"), ...args], {
        env,
      });
      if (res.code !== 0) throw commandError(`docker-compose ${args.join(" ")}`, res);
      return res.stdout.trim();
    };
    await compose(["down", "-v", "--remove-orphans"]);
    let ok = true;
    try {
      ok = (await t.step(
        "up -d --build, then a Host header through HAProxy answers from the backend",
        async () => {
          await compose(["up", "-d", "--build"]);
          await waitFor(async () => (await readyz(ip, statusPort)) === 200, {
            timeoutMs: 90_000,
            intervalMs: 500,
            what: "haconfd's /readyz to answer 200",
          });
          await waitRoutedTo(ip, httpPort, "pod-a");
          const other = await httpGet(httpPort, "unknown.haconfd.test", "/", { hostname: ip });
          assert.equal(other.status, 404, "an unknown Host header is not routed");
        },
      )) && ok;

      ok =
        (await t.step("kubectl replaces the Endpoints: the traffic moves to the other backend", async () => {
          const subsets = annotatedEndpoints("default", "echo", DOMAIN, [pods[1]]).subsets;
          await node.kubectl([
            "patch",
            "endpoints",
            "echo",
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            JSON.stringify({ subsets }),
          ]);
          await waitRoutedTo(ip, httpPort, "pod-b");
        })) && ok;

      const haconfd = await compose(["ps", "-q", "haconfd"]);
      assert.ok(haconfd, "compose knows the haconfd container");

      ok = (await t.step("docker kill haconfd: HAProxy keeps serving", async () => {
        await docker(["kill", haconfd]);
        assert.equal(await docker(["inspect", "-f", "{{.State.Running}}", haconfd]), "false");
        assert.equal(await readyz(ip, statusPort), 0, "haconfd's status endpoint is gone");
        assert.equal(await routedTo(ip, httpPort), "pod-b");
      })) && ok;

      ok = (await t.step(
        "restart: /readyz 200 again and the container's healthcheck reports healthy",
        async () => {
          await compose(["start", "haconfd"]);
          await waitFor(async () => (await readyz(ip, statusPort)) === 200, {
            timeoutMs: 60_000,
            intervalMs: 500,
            what: "haconfd's /readyz to answer 200 after the restart",
          });
          await waitHealthy(haconfd);
          await waitRoutedTo(ip, httpPort, "pod-b");
        },
      )) && ok;

      ok = (await t.step("docker-compose stop haconfd: it stops on the stop signal and exits 0", async () => {
        await compose(["stop", "haconfd"]);
        assert.equal(await docker(["inspect", "-f", "{{.State.ExitCode}}", haconfd]), "0");
        assert.match((await run(DOCKER, ["logs", "--tail", "5", haconfd])).stderr, /msg=stopping/);
      })) && ok;

      ok = (await t.step("down -v leaves no container, volume or network of the project", async () => {
        await compose(["down", "-v", "--remove-orphans"]);
        const label = `label=com.docker.compose.project=${project}`;
        assert.equal(await docker(["ps", "-aq", "--filter", label]), "");
        assert.equal(await docker(["volume", "ls", "-q", "--filter", label]), "");
        assert.equal(await docker(["network", "ls", "-q", "--filter", label]), "");
      })) && ok;
    } catch (error) {
      ok = false;
      throw error;
    } finally {
      if (!ok) {
        note(
          `docker_test: compose logs:\n${
            (await run("docker-compose", [
              "-p",
              project,
              "-f",
              join(ROOT, "compose.yaml"),
              "logs",
              "--no-color",
              "--tail=60",
            ], { env })).stdout
          }\nnode: ${(await run(DOCKER, ["logs", "--tail", "30", node.name])).stderr}`,
        );
      }
      await run("docker-compose", [
        "-p",
        project,
        "-f",
        join(ROOT, "compose.yaml"),
        "down",
        "-v",
        "--remove-orphans",
      ], {
        env,
      });
    }
  },
});

/** README's install commands the systemd test runs, verbatim (checked against README.md). */
const README_INSTALL = [
  "useradd --system --no-create-home --shell /usr/sbin/nologin --gid haproxy haconfd",
  "chgrp haproxy /etc/haproxy && chmod 2775 /etc/haproxy",
  "install -m 0644 deploy/haconfd.service /etc/systemd/system/haconfd.service",
  "install -m 0640 -g haproxy deploy/haconfd.default /etc/default/haconfd",
  "install -D -m 0644 deploy/haproxy-master-socket.conf /etc/systemd/system/haproxy.service.d/haconfd.conf",
  "systemctl daemon-reload && systemctl restart haproxy",
];
const README_START = [
  "haconfd check --from examples/endpoints.json",
  "systemctl daemon-reload && systemctl enable --now haconfd",
];

/** A logfmt line of haconfd (lib/log.ts). */
const LOGFMT = /^time=\S+ level=(debug|info|warn|error) (component=\S+ )?msg=/;

Deno.test({
  name:
    "haconfd.service under systemd, installed as README says: runs as haconfd, reloads HAProxy, recovers" +
    suffix,
  ignore: SKIP !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const readme = await Deno.readTextFile(join(ROOT, "README.md"));
    for (const command of [...README_INSTALL, ...README_START]) {
      assert.ok(readme.includes(command), `README no longer says: ${command}`);
    }
    const built = await testImages();
    const { ip, httpPort, httpsPort, statusPort, pods, node: started } = await twoPodNode(
      "127.86.1",
      "systemd",
      built.base,
    );
    await using node = started;
    const host = `haconfd-test-systemd-${RUN}`;
    await run(DOCKER, ["rm", "-f", host]);
    // Unprivileged, but with CAP_SYS_ADMIN: systemd needs it to set up the units' mount namespaces
    // (ProtectSystem=, PrivateTmp=, even Debian's own haproxy.service fails with 226/NAMESPACE without it).
    await docker([
      "run",
      "-d",
      "--name",
      host,
      "--network",
      "host",
      "--cap-add",
      "SYS_ADMIN",
      "--tmpfs",
      "/run",
      "--tmpfs",
      "/run/lock",
      "-v",
      "/sys/fs/cgroup:/sys/fs/cgroup:ro",
      "-v",
      `${ROOT}:/src:ro`,
      "-v",
      `${node.dir}:/kube:ro`,
      built.systemd,
    ]);
    const sh = async (script: string) => {
      const res = await run(DOCKER, ["exec", "-w", "/src", host, "bash", "-euo", "pipefail", "-c", script]);
      if (res.code !== 0) throw commandError(`in the systemd container: ${script}`, res);
      return res.stdout.trim();
    };
    const journal = async () => (await sh("journalctl -u haconfd -o cat --no-pager")).split("\n");
    const masterReloads = async () => {
      const out = await sh("echo 'show proc' | socat -t 2 - UNIX-CONNECT:/run/haproxy-master.sock");
      const match = /^\d+\s+master\s+(\d+)/m.exec(out);
      if (!match) throw new Error(`no master line in "show proc":\n${out}`);
      return Number(match[1]);
    };
    const waitReady = (what: string) =>
      waitFor(async () => (await readyz(ip, statusPort)) === 200, {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: `haconfd's /readyz to answer 200 ${what}`,
      });
    let ok = true;
    try {
      await waitFor(async () => {
        const state = (await run(DOCKER, ["exec", host, "systemctl", "is-system-running"])).stdout.trim();
        return state === "running" || state === "degraded";
      }, { timeoutMs: 60_000, intervalMs: 500, what: "systemd in the container to finish booting" });

      ok = (await t.step(
        "README's install steps, then systemctl enable --now haconfd: active as user haconfd",
        async () => {
          await sh(README_INSTALL.join("\n"));
          // The program: the wrapper stands in for the release binary (install -m 0755 haconfd-linux-$ARCH ...).
          await sh(
            "mkdir -p /opt/haconfd/examples && cp -r main.ts deno.json deno.lock lib templates /opt/haconfd/ && " +
              "cp examples/endpoints.json /opt/haconfd/examples/ && " +
              "install -m 0755 tests/docker/systemd/haconfd /usr/local/bin/haconfd",
          );
          // The "editor /etc/default/haconfd" step: the stand-in API, a token, loopback binds.
          await sh([
            "install -d -m 0750 -g haproxy /etc/haconfd /etc/haconfd/pki",
            "install -m 0640 -g haproxy /kube/ca.crt /etc/haconfd/pki/ca.crt",
            "install -m 0640 -g haproxy /kube/token /etc/haconfd/token",
            `sed -i -e 's|^APISERVERS=.*|APISERVERS=${node.apiUrl}|' -e 's|^SSL_KEY_FILE=|#SSL_KEY_FILE=|' ` +
            `-e 's|^SSL_CERT_FILE=|#SSL_CERT_FILE=|' -e 's|^#TOKEN_FILE=|TOKEN_FILE=|' ` +
            `-e 's|^#HTTP_BIND=.*|HTTP_BIND=${ip}:${httpPort}|' -e 's|^#HTTPS_BIND=.*|HTTPS_BIND=${ip}:${httpsPort}|' ` +
            `-e 's|^STATUS_LISTEN=.*|STATUS_LISTEN=${ip}:${statusPort}|' /etc/default/haconfd`,
          ].join("\n"));
          await sh(README_START.join("\n"));
          await waitReady("under systemd");
          assert.equal(await sh("systemctl is-active haconfd"), "active");
          const pid = await sh("systemctl show -p MainPID --value haconfd");
          const uid = await sh("id -u haconfd");
          assert.notEqual(uid, "0");
          const uids = /^Uid:\s+(.*)$/m.exec(await sh(`cat /proc/${pid}/status`))?.[1]?.split(/\s+/);
          assert.deepEqual(uids, [uid, uid, uid, uid], "real, effective, saved and fs uid are haconfd's");
          // ProtectSystem=strict is in force, and ReadWritePaths= leaves the config directory writable.
          const mounts = (await sh(`cat /proc/${pid}/mountinfo`)).split("\n").map((l) => l.split(" "));
          const options = (point: string) => mounts.findLast((m) => m[4] === point)?.[5] ?? "";
          assert.match(options("/"), /^ro\b/, "/ is read-only for haconfd");
          assert.match(options("/etc/haproxy"), /^rw\b/, "/etc/haproxy is writable for haconfd");
          assert.match(await sh("head -n 1 /etc/haproxy/haproxy.cfg"), /^# Generated by haconfd/);
          assert.equal(await sh("stat -c %U:%G /etc/haproxy/haproxy.cfg"), "haconfd:haproxy");
          await waitRoutedTo(ip, httpPort, "pod-a");
        },
      )) && ok;

      ok = (await t.step(
        "an Endpoints change: servers changed through the master socket's Runtime API (no reload), " +
          "a domain change: HAProxy reloaded through the master socket",
        async () => {
          const before = await masterReloads();
          const subsets = annotatedEndpoints("default", "echo", DOMAIN, [pods[1]]).subsets;
          await node.kubectl([
            "patch",
            "endpoints",
            "echo",
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            JSON.stringify({ subsets }),
          ]);
          await waitRoutedTo(ip, httpPort, "pod-b");
          assert.equal(await masterReloads(), before, "a server change needs no reload");
          const renamed = "echo2.haconfd.test";
          const annotate = (domain: string) =>
            node.kubectl([
              "annotate",
              "endpoints",
              "echo",
              "-n",
              "default",
              "--overwrite",
              `domain=${domain}`,
            ]);
          await annotate(renamed);
          await waitRoutedTo(ip, httpPort, "pod-b", 60_000, renamed);
          assert.ok((await masterReloads()) > before, "the master's reload counter rose");
          await annotate(DOMAIN);
          await waitRoutedTo(ip, httpPort, "pod-b");
        },
      )) && ok;

      ok = (await t.step(
        "systemctl reload haconfd (SIGHUP): templates re-read by the same process",
        async () => {
          const pid = await sh("systemctl show -p MainPID --value haconfd");
          const reread = async () =>
            (await journal()).filter((l) => l.includes('msg="templates re-read"')).length;
          const before = await reread();
          await sh("systemctl reload haconfd");
          await waitFor(async () => (await reread()) > before, {
            timeoutMs: 30_000,
            what: '"templates re-read" in the journal',
          });
          assert.equal(await sh("systemctl show -p MainPID --value haconfd"), pid);
          assert.equal(await sh("systemctl is-active haconfd"), "active");
        },
      )) && ok;

      ok = (await t.step(
        "systemctl stop haproxy, then start: haconfd recovers and updates the new HAProxy",
        async () => {
          await sh("systemctl stop haproxy");
          assert.notEqual(await routedTo(ip, httpPort).catch(() => "down"), "pod-b", "HAProxy is down");
          await sh("systemctl start haproxy");
          await waitReady("after HAProxy's restart");
          await waitRoutedTo(ip, httpPort, "pod-b");
          const subsets = annotatedEndpoints("default", "echo", DOMAIN, [pods[0]]).subsets;
          await node.kubectl([
            "patch",
            "endpoints",
            "echo",
            "-n",
            "default",
            "--type",
            "merge",
            "-p",
            JSON.stringify({ subsets }),
          ]);
          await waitRoutedTo(ip, httpPort, "pod-a");
          assert.equal(await sh("systemctl is-active haconfd"), "active");
        },
      )) && ok;

      ok = (await t.step("journalctl -u haconfd: structured (logfmt) lines", async () => {
        const lines = await journal();
        const structured = lines.filter((l) => LOGFMT.test(l));
        assert.ok(structured.some((l) => l.includes('msg="haproxy reloaded"')), lines.join("\n"));
        assert.ok(structured.length >= 5, `few logfmt lines:\n${lines.join("\n")}`);
      })) && ok;
    } catch (error) {
      ok = false;
      throw error;
    } finally {
      if (!ok) {
        const logs = await run(DOCKER, [
          "exec",
          host,
          "journalctl",
          "-u",
          "haconfd",
          "-u",
          "haproxy",
          "--no-pager",
          "-n",
          "80",
        ]);
        note(`docker_test: journal of the systemd container:\n${logs.stdout}${logs.stderr}`);
      }
      if (KEEP && !ok) note(`docker_test: HACONFD_DOCKER_KEEP=1: container ${host} left running`);
      else await run(DOCKER, ["rm", "-f", "-v", host]);
    }
  },
});
