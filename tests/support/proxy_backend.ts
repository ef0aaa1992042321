/**
 * An HTTP backend behind the PROXY protocol: a TCP front on the pod's address reads the PROXY v1 or v2
 * header HAProxy sends (`send-proxy`, `send-proxy-v2`), records it, and passes the rest to a plain HTTP
 * backend on a port of its own.
 */
import { type Backend, startHttpBackend } from "../../lib/demo/backends.ts";

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** The PROXY header's version and length at the start of `head`, or undefined when there is none. */
function proxyHeader(head: Uint8Array): { version: 1 | 2; length: number } | undefined {
  if (V2_SIGNATURE.every((b, i) => head[i] === b) && head.length >= 16) {
    return { version: 2, length: 16 + ((head[14]! << 8) | head[15]!) };
  }
  const text = new TextDecoder().decode(head.slice(0, 108));
  const end = text.indexOf("\r\n");
  return text.startsWith("PROXY ") && end > 0 ? { version: 1, length: end + 2 } : undefined;
}

/** Hands each connection `listener` accepts to `serve` (its failure ends only that connection), until closed. */
export function acceptEach(listener: Deno.Listener, serve: (conn: Deno.Conn) => Promise<void>): void {
  void (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        // A health check that connects and resets at once fails its accept (ENOTCONN): keep listening.
        if (error instanceof Deno.errors.BadResource) return;
        continue;
      }
      serve(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // Closed by `serve` already.
        }
      });
    }
  })();
}

/** A Backend that also counts the PROXY headers it received, by version. */
export interface ProxyBackend extends Backend {
  /** Connections that opened with a PROXY v1 / v2 header, and those without one. */
  readonly headers: { v1: number; v2: number; none: number };
}

/** Starts the HTTP backend `name` on `hostname:port` (0: any free port) behind a PROXY-reading front. */
export async function startProxyHttpBackend(
  name: string,
  hostname: string,
  port: number,
): Promise<ProxyBackend> {
  const inner = await startHttpBackend(name, { hostname, port: 0 });
  const listener = Deno.listen({ hostname, port });
  const open = new Set<Deno.Conn>();
  const headers = { v1: 0, v2: 0, none: 0 };
  async function relay(conn: Deno.Conn): Promise<void> {
    open.add(conn);
    const upstream = await Deno.connect({ hostname, port: inner.port });
    open.add(upstream);
    try {
      const buffer = new Uint8Array(4096);
      const n = await conn.read(buffer);
      if (n === null) return;
      const header = proxyHeader(buffer.subarray(0, n));
      headers[header === undefined ? "none" : header.version === 1 ? "v1" : "v2"]++;
      await upstream.write(buffer.subarray(header?.length ?? 0, n));
      await Promise.all([conn.readable.pipeTo(upstream.writable), upstream.readable.pipeTo(conn.writable)]);
    } finally {
      for (const c of [conn, upstream]) {
        open.delete(c);
        try {
          c.close();
        } catch {
          // Closed already by the other direction's pipe.
        }
      }
    }
  }
  acceptEach(listener, relay);
  const backend: ProxyBackend = {
    name,
    hostname,
    port: (listener.addr as Deno.NetAddr).port,
    headers,
    get hits() {
      return inner.hits;
    },
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // Closed already.
        }
      }
      await inner.close();
    },
    [Symbol.asyncDispose]: () => backend.close(),
  };
  return backend;
}
