// The request path when things go wrong at the worst moment: a client slower than the route
// timeout, a per-try timeout after the response has started, DNS retiring the host a request
// is using, the admin reading hosts while DNS changes them, and a drain deadline with a request
// still in flight. Each must end with the gateway alive (or, for the drain, exiting cleanly).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFrontdesk, freePort, fetchText, httpListener, staticCluster, bootstrap, repo } from './lib/frontdesk.mjs';

const run = promisify(execFile);
let backendPort;
const servers = [];

// Backends on 127.0.0.1 and 127.0.0.2 (both loopback), the two addresses flip.test takes.
function handler(req, res) {
  req.resume();
  req.on('end', () => {
    if (req.url.startsWith('/busy')) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
    } else if (req.url.startsWith('/big')) { // 32 MiB, with backpressure
      const piece = Buffer.alloc(1024 * 1024, 97);
      res.writeHead(200, { 'content-length': String(32 * piece.length) });
      let left = 32;
      const more = () => {
        while (left-- > 0) if (!res.write(piece)) return res.once('drain', more);
        res.end();
      };
      more();
    } else if (req.url.startsWith('/trickle')) { // 10 pieces, 100 ms apart
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const timer = setInterval(() => {
        res.write('0123456789');
        if (++n === 10) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
    } else if (req.url.startsWith('/hang')) { // never answers
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`ok ${req.socket.localAddress}`);
    }
  });
}

before(async () => {
  backendPort = await freePort();
  for (const host of ['127.0.0.1', '127.0.0.2']) {
    const server = createServer(handler);
    await new Promise((r) => server.listen(backendPort, host, r));
    servers.push(server);
  }
});

after(() => {
  for (const s of servers) s.close();
});

const routeYaml = (routes) => `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:${routes}`;

test('an HTTP/2 client slower than the route timeout gets its stream reset; the gateway lives on', async () => {
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('slow', main, routeYaml(`
              - match: {prefix: "/"}
                route: {cluster: b, timeout: 1s}`)), staticCluster('b', [{ port: backendPort }]));
  const fd = await startFrontdesk(yaml, { adminPort: admin });
  const client = http2Connect(`http://127.0.0.1:${main}`);
  try {
    // the client takes nothing for 2.5 s: h2o holds a chunk of the response when the timeout fires
    const result = await new Promise((resolve) => {
      const stream = client.request({ ':path': '/big' });
      let bytes = 0;
      stream.on('response', () => {
        stream.pause();
        setTimeout(() => stream.resume(), 2500);
      });
      stream.on('data', (d) => (bytes += d.length));
      stream.on('close', () => resolve({ bytes, rstCode: stream.rstCode }));
      stream.on('error', () => {});
    });
    assert.ok(result.bytes < 32 * 1024 * 1024, `the whole body arrived: ${result.bytes}`);
    assert.notEqual(result.rstCode, 0, 'the stream ended without a reset');
    const r = await fetchText(`http://127.0.0.1:${main}/small`);
    assert.equal(r.status, 200);
    assert.equal(fd.proc.exitCode, null, fd.proc.stderrText);
  } finally {
    client.close();
    assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  }
});

test('per_try_timeout no longer applies once the response has started (as in Envoy)', async () => {
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('trickle', main, routeYaml(`
              - match: {prefix: "/"}
                route: {cluster: b, timeout: 5s, retry_policy: {retry_on: 5xx, num_retries: 1, per_try_timeout: 0.3s}}`)),
  staticCluster('b', [{ port: backendPort }]));
  const fd = await startFrontdesk(yaml, { adminPort: admin });
  try {
    for (const version of ['--http1.1', '--http2-prior-knowledge']) { // async: the backend runs in this process
      const { stdout } = await run('curl', ['-s', version, '-w', ' %{http_code}', `http://127.0.0.1:${main}/trickle`],
        { timeout: 10000 });
      assert.equal(stdout, `${'0123456789'.repeat(10)} 200`, version);
    }
  } finally {
    assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  }
});

// The getaddrinfo shim of lib/flipdns.c, built for this run; null when no C compiler is found.
function buildFlipDns() {
  const out = join(mkdtempSync(join(tmpdir(), 'frontdesk-flipdns-')), 'flipdns.so');
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-O1', '-o', out, join(repo, 'tests/e2e/lib/flipdns.c'), '-ldl'],
    { encoding: 'utf8' });
  return cc.status === 0 ? out : null;
}

// LD_PRELOAD puts the shim before an ASan runtime, which ASan refuses unless told otherwise.
function preloadEnv(shim) {
  const asan = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : '';
  return { LD_PRELOAD: shim, ASAN_OPTIONS: `${asan}verify_asan_link_order=0` };
}

// A STRICT_DNS cluster of n endpoints named flip.test: with n odd, every refresh changes them all.
function flipCluster(name, n = 1) {
  const endpoint = `
        - endpoint: {address: {socket_address: {address: flip.test, port_value: ${backendPort}}}}`;
  return `
  - name: ${name}
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY
    dns_refresh_rate: 0.005s
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:${endpoint.repeat(n)}`;
}

test('hosts retired by DNS while requests still name them: retries, timeouts and access logs', async (t) => {
  const shim = buildFlipDns();
  if (!shim) return t.skip('no C compiler for the DNS shim');
  const admin = await freePort(), main = await freePort();
  const log = join(mkdtempSync(join(tmpdir(), 'frontdesk-flip-log-')), 'access.log');
  // every refresh (5 ms) retires the host in use: a retry's backoff (25, 50, 100, ... ms) outlives
  // it, and the route timeout fires during one, on a request whose access log line names the host
  const yaml = bootstrap(admin, httpListener('flip', main, routeYaml(`
              - match: {prefix: "/"}
                route: {cluster: flip, timeout: 0.2s, retry_policy: {retry_on: 5xx, num_retries: 5}}`), {
    extraHcm: `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${log}` }),
  flipCluster('flip'));
  const fd = await startFrontdesk(yaml, { adminPort: admin, env: preloadEnv(shim) });
  try {
    for (let i = 0; i < 5; i++) {
      const r = await fetchText(`http://127.0.0.1:${main}/busy`);
      assert.equal(r.status, 504, fd.proc.stderrText);
      assert.equal(r.body, 'upstream request timeout');
    }
    const ok = await fetchText(`http://127.0.0.1:${main}/fine`);
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^ok 127\.0\.0\.[12]$/);
  } finally {
    assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  }
  assert.match(readFileSync(log, 'utf8'), /"GET \/busy HTTP\/1\.1" 504 UT /);
});

// A race, so a stress test: it caught the admin walking freed host lists, and a worker's queue
// reading into buffers of the main thread's allocator, in most runs before they were fixed.
test('/clusters and /stats while DNS keeps changing the hosts', async (t) => {
  const shim = buildFlipDns();
  if (!shim) return t.skip('no C compiler for the DNS shim');
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('flip', main, routeYaml(`
              - match: {prefix: "/"}
                route: {cluster: flip}`)), flipCluster('flip', 63));
  const fd = await startFrontdesk(yaml, { adminPort: admin, env: preloadEnv(shim) });
  try {
    const deadline = Date.now() + 4000;
    let reads = 0;
    while (Date.now() < deadline) {
      const [clusters, stats, fwd] = await Promise.all([fetchText(`http://127.0.0.1:${admin}/clusters`),
        fetchText(`http://127.0.0.1:${admin}/stats?filter=cluster.flip`), fetchText(`http://127.0.0.1:${main}/`),
        fetchText(`http://127.0.0.1:${admin}/clusters`)]);
      assert.equal(clusters.status, 200);
      assert.match(clusters.body, /^flip::127\.0\.0\.[12]:\d+::rq_total::\d+$/m);
      assert.match(stats.body, /^cluster\.flip\.membership_total: 63$/m);
      assert.equal(fwd.status, 200);
      reads++;
    }
    assert.ok(reads > 20, `only ${reads} rounds`);
  } finally {
    assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  }
});

test('the drain deadline passes with a request in flight: a clean exit', async () => {
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('drain', main, routeYaml(`
              - match: {prefix: "/"}
                route: {cluster: b, timeout: 0s}`)), staticCluster('b', [{ port: backendPort }]));
  // what the cut-off request holds is left to the process exit: not a leak worth reporting
  const asan = process.env.ASAN_OPTIONS ? `${process.env.ASAN_OPTIONS}:` : '';
  const fd = await startFrontdesk(yaml, { adminPort: admin, args: ['--drain-time-s', '1'],
    env: { ASAN_OPTIONS: `${asan}detect_leaks=0` } });
  const hanging = fetchText(`http://127.0.0.1:${main}/hang`, { timeout: 10000 }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  const { code, signal } = await fd.stop();
  assert.equal(signal, null, fd.proc.stderrText);
  assert.equal(code, 0, fd.proc.stderrText);
  assert.ok(Date.now() - started < 5000);
  assert.match(fd.proc.stderrText, /drained, exiting/);
  assert.ok((await hanging) instanceof Error, 'the cut-off request got an answer');
});

test('a listener with only a default_filter_chain: its settings, its stats and HTTP/2', async () => {
  const admin = await freePort(), main = await freePort();
  const yaml = `admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${admin}}}}
static_resources:
  listeners:
  - name: only_default
    address: {socket_address: {address: 127.0.0.1, port_value: ${main}}}
    default_filter_chain:
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: fallback
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: b}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:${staticCluster('b', [{ port: backendPort }])}
`;
  const fd = await startFrontdesk(yaml, { adminPort: admin });
  try {
    const { stdout } = await run('curl', ['-s', '--http2-prior-knowledge', `http://127.0.0.1:${main}/h2`], { timeout: 10000 });
    assert.equal(stdout, 'ok 127.0.0.1');
    const stats = await fetchText(`http://127.0.0.1:${admin}/stats?filter=downstream_rq_total`);
    assert.equal(stats.status, 200);
    assert.match(stats.body, /^http\.fallback\.downstream_rq_total: 1$/m);
  } finally {
    assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  }
});
