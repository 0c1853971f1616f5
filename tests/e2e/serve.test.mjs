// The data plane end to end: the real binary, real Node.js backends, real clients (fetch,
// Node's http2, curl). Routing, direct responses, redirects, forwarding with Envoy's
// headers, load balancing, local replies for failures, HTTP/2, and drain on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startFrontdesk, freePort, fetchText, httpRequest, httpListener, staticCluster, bootstrap } from './lib/frontdesk.mjs';

const run = promisify(execFile);
let fd, ports, backends = [], seen = [], connections = [0, 0, 0];

function backend(index, handler) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ backend: index, method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', () => connections[index]++);
  server.keepAliveTimeout = 30000;
  return server;
}

// Writes n bytes in 1 MiB pieces, honouring backpressure.
function streamBytes(res, n) {
  const piece = Buffer.alloc(1024 * 1024, 120);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
  let left = n;
  const more = () => {
    while (left > 0) {
      left -= piece.length;
      if (!res.write(piece)) return res.once('drain', more);
    }
    res.end();
  };
  more();
}

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

before(async () => {
  ports = { admin: await freePort(), main: await freePort(), b0: await freePort(), b1: await freePort(), dead: await freePort() };
  const handler = (index) => (req, res, body) => {
    if (req.url.startsWith('/slow')) setTimeout(() => reply(res, 200, 'slow done'), 1500);
    else if (req.url.startsWith('/stream')) streamBytes(res, 256 * 1024 * 1024);
    else if (req.url.startsWith('/big')) reply(res, 200, 'x'.repeat(4 * 1024 * 1024));
    else reply(res, 200, `backend ${index} ${req.method} ${req.url} ${body}`, { server: 'node-backend', 'x-backend': String(index) });
  };
  for (const [i, port] of [[0, ports.b0], [1, ports.b1]]) {
    const server = backend(i, handler(i));
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    backends.push(server);
  }
  const routes = `
            name: main
            response_headers_to_add: [{header: {key: x-route-config, value: "yes"}}]
            virtual_hosts:
            - name: api
              domains: ["api.test", "api.test:${ports.main}"]
              routes:
              - match: {prefix: "/v1/"}
                route: {cluster: one, prefix_rewrite: "/internal/"}
            - name: default
              domains: ["*"]
              response_headers_to_add: [{header: {key: x-vhost, value: default}}]
              routes:
              - match: {path: "/direct"}
                direct_response: {status: 202, body: {inline_string: "direct body"}}
                response_headers_to_add: [{header: {key: x-route, value: direct}}]
              - match: {prefix: "/old/"}
                redirect: {prefix_rewrite: "/new/", response_code: PERMANENT_REDIRECT}
              - match: {prefix: "/secure"}
                redirect: {https_redirect: true}
              - match: {prefix: "/dead"}
                route: {cluster: dead}
              - match: {prefix: "/slowok"}
                route: {cluster: one, timeout: 5s}
              - match: {prefix: "/slow"}
                route: {cluster: one, timeout: 0.3s}
              - match: {prefix: "/both"}
                route: {cluster: both}
              - match: {prefix: "/"}
                route: {cluster: one}
                request_headers_to_add: [{header: {key: x-added, value: route}}]`;
  const yaml = bootstrap(ports.admin, httpListener('main', ports.main, routes, { extraHcm: '          use_remote_address: true' }),
    staticCluster('one', [{ port: ports.b0 }]) +
    staticCluster('both', [{ port: ports.b0 }, { port: ports.b1, weight: 3 }]) +
    staticCluster('dead', [{ port: ports.dead }]));
  fd = await startFrontdesk(yaml, { adminPort: ports.admin, args: ['--drain-time-s', '5'] });
});

after(async () => {
  if (fd) await fd.stop();
  for (const b of backends) b.close();
});

const url = (path) => `http://127.0.0.1:${ports.main}${path}`;

test('direct_response with route, virtual host and route configuration headers', async () => {
  const r = await fetchText(url('/direct'));
  assert.equal(r.status, 202);
  assert.equal(r.body, 'direct body');
  assert.equal(r.headers.get('x-route'), 'direct');
  assert.equal(r.headers.get('x-vhost'), 'default');
  assert.equal(r.headers.get('x-route-config'), 'yes');
});

test('no route: 404 with an empty body (NR)', async () => {
  const r = await httpRequest(ports.main, '/v2/none', { headers: { host: 'api.test' } });
  assert.equal(r.status, 404);
  assert.equal(r.body, '');
});

test('redirects: prefix rewrite with 308, and https', async () => {
  let r = await fetchText(url('/old/page?q=1'));
  assert.equal(r.status, 308);
  assert.equal(r.headers.get('location'), `http://127.0.0.1:${ports.main}/new/page?q=1`);
  r = await httpRequest(ports.main, '/secure/x', { headers: { host: 'shop.test:80' } });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'https://shop.test/secure/x');
});

test('forwarding: body, rewrites, Envoy headers both ways', async () => {
  seen = [];
  const r = await fetchText(url('/hello?x=1'), { method: 'POST', body: 'ping', headers: { 'x-forwarded-for': '10.9.8.7' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'backend 0 POST /hello?x=1 ping');
  assert.equal(r.headers.get('server'), 'envoy');
  assert.match(r.headers.get('x-envoy-upstream-service-time'), /^\d+$/);
  assert.equal(r.headers.get('x-backend'), '0');
  const up = seen.at(-1).headers;
  assert.equal(up['x-forwarded-for'], '10.9.8.7, 127.0.0.1');
  assert.equal(up['x-forwarded-proto'], 'http');
  assert.match(up['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(up['x-added'], 'route');
  assert.equal(up['x-envoy-expected-rq-timeout-ms'], '15000');
  assert.equal(up.host, `127.0.0.1:${ports.main}`);
});

test('x-request-id is kept when present; prefix_rewrite on the api virtual host', async () => {
  seen = [];
  const r = await httpRequest(ports.main, '/v1/users', { headers: { host: 'api.test', 'x-request-id': 'given-id' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'backend 0 GET /internal/users ');
  assert.equal(seen.at(-1).headers['x-request-id'], 'given-id');
  assert.equal(seen.at(-1).headers['x-envoy-original-path'], '/v1/users');
});

test('weighted round robin spreads 1:3 and pooled connections are reused', async () => {
  seen = [];
  const before = [...connections];
  for (let i = 0; i < 40; i++) assert.equal((await fetchText(url('/both'))).status, 200);
  const counts = [0, 0];
  for (const s of seen) counts[s.backend]++;
  assert.deepEqual(counts, [10, 30]);
  // two workers, each with its own pool: a handful of connections, not forty
  assert.ok(connections[0] - before[0] <= 4 && connections[1] - before[1] <= 4, `new connections: ${connections}`);
});

test('backend down: 503 with Envoy\'s connection failure body (UF)', async () => {
  const r = await fetchText(url('/dead'));
  assert.equal(r.status, 503);
  assert.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure');
});

test('slow backend: 504 upstream request timeout (UT)', async () => {
  const r = await fetchText(url('/slow'));
  assert.equal(r.status, 504);
  assert.equal(r.body, 'upstream request timeout');
});

test('a 4 MiB response streams through intact', async () => {
  const r = await fetchText(url('/big'));
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 4 * 1024 * 1024);
});

test('a 256 MiB download streams through with flat memory', async () => {
  const { readFileSync } = await import('node:fs');
  const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${fd.proc.pid}/status`, 'utf8'))[1]);
  const before = hwm();
  const { request } = await import('node:http');
  const total = await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ports.main, path: '/stream', timeout: 60000 }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => resolve(bytes));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(total, 256 * 1024 * 1024);
  const grown = hwm() - before;
  assert.ok(grown < 64 * 1024, `peak RSS grew by ${grown} KiB while streaming`);
});

test('HTTP/1.1 pipelining and chunked request bodies', async () => {
  const { connect } = await import('node:net');
  seen = [];
  const out = await new Promise((resolve) => {
    const sock = connect(ports.main, '127.0.0.1', () => {
      sock.write('GET /pipe1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /pipe2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\nGET /pipe3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    let data = '';
    sock.on('data', (d) => (data += d));
    sock.on('close', () => resolve(data));
    sock.setTimeout(5000, () => sock.destroy());
  });
  const bodies = out.match(/backend 0 \w+ \/pipe\d \w*/g);
  assert.deepEqual(bodies, ['backend 0 GET /pipe1 ', 'backend 0 POST /pipe2 wikipedia', 'backend 0 GET /pipe3 ']);
  assert.equal(seen.find((s) => s.url === '/pipe2').headers['content-length'], '9');
});

test('HTTP/2 with prior knowledge (Node http2)', async () => {
  const client = http2Connect(`http://127.0.0.1:${ports.main}`);
  try {
    const result = await new Promise((resolve, reject) => {
      const stream = client.request({ ':path': '/h2', ':method': 'GET' });
      let body = '';
      let status;
      stream.on('response', (h) => (status = h[':status']));
      stream.on('data', (d) => (body += d));
      stream.on('end', () => resolve({ status, body }));
      stream.on('error', reject);
      stream.setTimeout(5000, () => reject(new Error('timeout')));
    });
    assert.equal(result.status, 200);
    assert.equal(result.body, 'backend 0 GET /h2 ');
  } finally {
    client.close();
  }
});

test('HTTP/1.1 pipelining and h2c upgrade (curl)', async () => {
  const { stdout } = await run('curl', ['-s', '--http2', url('/upgrade')], { timeout: 10000 });
  assert.equal(stdout, 'backend 0 GET /upgrade ');
  const { stdout: v } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_version}', '--http2', url('/upgrade')], { timeout: 10000 });
  assert.equal(v, '2');
});

test('admin: /ready and /server_info', async () => {
  const r = await fetchText(`http://127.0.0.1:${ports.admin}/ready`);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'LIVE\n');
  const info = JSON.parse((await fetchText(`http://127.0.0.1:${ports.admin}/server_info`)).body);
  assert.equal(info.state, 'LIVE');
});

test('SIGTERM drains: a request in flight completes, /ready says DRAINING, exit 0', async () => {
  const inflight = fetchText(url('/slowok'), { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 200));
  fd.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  const ready = await fetchText(`http://127.0.0.1:${ports.admin}/ready`).catch(() => null);
  if (ready) assert.equal(ready.body, 'DRAINING\n');
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'slow done');
  const { code } = await fd.proc.exited;
  assert.equal(code, 0);
  fd = null;
});

test('admin: /stats, ?format=json, ?filter=, /stats/prometheus, /clusters, /config_dump', async () => {
  // the SIGTERM test above stopped the first instance: start a fresh one with its own stats
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('edge', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/up"}
                route: {cluster: one}
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "ok"}}`), staticCluster('one', [{ port: ports.b0 }]));
  const other = await startFrontdesk(yaml, { adminPort: admin });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await fetchText(`http://127.0.0.1:${main}/up`)).status, 200);
    assert.equal((await fetchText(`http://127.0.0.1:${main}/x`)).status, 200);
    const text = (await fetchText(`http://127.0.0.1:${admin}/stats`)).body;
    assert.match(text, /^cluster\.one\.upstream_rq_total: 3$/m);
    assert.match(text, /^cluster\.one\.upstream_rq_2xx: 3$/m);
    assert.match(text, /^http\.edge\.downstream_rq_total: 4$/m);
    assert.match(text, /^http\.edge\.rq_direct_response: 1$/m);
    const json = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/stats?format=json&filter=upstream_rq_total`)).body);
    assert.deepEqual(json.stats, [{ name: 'cluster.one.upstream_rq_total', value: 3 }]);
    const bad = await fetchText(`http://127.0.0.1:${admin}/stats?filter=(`);
    assert.equal(bad.status, 400);
    const prom = (await fetchText(`http://127.0.0.1:${admin}/stats/prometheus`)).body;
    assert.match(prom, /^# TYPE envoy_cluster_upstream_rq_total counter$/m);
    assert.match(prom, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="one"\} 3$/m);
    assert.match(prom, /^envoy_cluster_upstream_rq_xx\{envoy_response_code_class="2",envoy_cluster_name="one"\} 3$/m);
    assert.match(prom, /^envoy_http_downstream_rq_total\{envoy_http_conn_manager_prefix="edge"\} 4$/m);
    // promtool (from Debian's prometheus): 0 or 3 is "parsed", 3 adding lint notes such as
    // "no help text" that Envoy's own output draws as well; 1 would be a format error
    const { spawnSync } = await import('node:child_process');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: prom, encoding: 'utf8', timeout: 10000 });
    assert.ok(check.status === 0 || check.status === 3, `promtool: ${check.status} ${check.stderr}${check.stdout}`);
    assert.doesNotMatch(check.stdout + check.stderr, /error/i);
    const clusters = (await fetchText(`http://127.0.0.1:${admin}/clusters`)).body;
    assert.match(clusters, new RegExp(`^one::127\\.0\\.0\\.1:${ports.b0}::rq_total::3$`, 'm'));
    assert.match(clusters, new RegExp(`^one::127\\.0\\.0\\.1:${ports.b0}::health_flags::healthy$`, 'm'));
    const dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
    const types = dump.configs.map((c) => c['@type'].split('.').pop());
    assert.deepEqual(types, ['BootstrapConfigDump', 'ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump']);
    assert.equal(dump.configs[1].static_clusters[0].cluster.name, 'one');
    assert.equal(dump.configs[2].static_listeners[0].listener['@type'], 'type.googleapis.com/envoy.config.listener.v3.Listener');
  } finally {
    assert.equal((await other.stop()).code, 0);
  }
});

test('retry_policy: 5xx answers and connection failures are retried, within num_retries', async () => {
  const admin = await freePort(), main = await freePort(), flaky = await freePort(), dead = await freePort();
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    if (req.url.startsWith('/fail-twice') && calls <= 2) reply(res, 503, 'busy');
    else if (req.url.startsWith('/always')) reply(res, 502, 'bad');
    else reply(res, 200, `ok after ${calls}`);
  });
  await new Promise((r) => server.listen(flaky, '127.0.0.1', r));
  const yaml = bootstrap(admin, httpListener('retry', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/conn"}
                route: {cluster: half_dead, retry_policy: {retry_on: connect-failure, num_retries: 3}}
              - match: {prefix: "/"}
                route: {cluster: flaky, retry_policy: {retry_on: "5xx", num_retries: 2}}`),
    staticCluster('flaky', [{ port: flaky }]) + staticCluster('half_dead', [{ port: dead }, { port: flaky }]));
  const fd2 = await startFrontdesk(yaml, { adminPort: admin });
  try {
    let r = await fetchText(`http://127.0.0.1:${main}/fail-twice`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok after 3');
    calls = 0;
    r = await fetchText(`http://127.0.0.1:${main}/always`);
    assert.equal(r.status, 502); // three attempts, then the last answer goes to the client
    assert.equal(calls, 3);
    for (let i = 0; i < 6; i++) assert.equal((await fetchText(`http://127.0.0.1:${main}/conn`)).status, 200);
    const stats = (await fetchText(`http://127.0.0.1:${admin}/stats?filter=upstream_rq_retry`)).body;
    assert.match(stats, /^cluster\.flaky\.upstream_rq_retry: 4$/m);
    assert.match(stats, /^cluster\.half_dead\.upstream_rq_retry: [1-9]/m);
  } finally {
    await fd2.stop();
    server.close();
  }
});

test('limits: oversized headers 431, too many headers refused, oversized body 413, slowloris closed', async () => {
  const admin = await freePort(), main = await freePort();
  const yaml = bootstrap(admin, httpListener('limits', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "ok"}}`, { extraHcm: `          max_request_headers_kb: 8
          request_headers_timeout: 0.5s
          common_http_protocol_options: {max_headers_count: 20}` }));
  const fd3 = await startFrontdesk(yaml, { adminPort: admin });
  const { connect } = await import('node:net');
  const raw = (data, { wait = 3000 } = {}) => new Promise((resolve) => {
    const sock = connect(main, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { sock.destroy(); resolve({ out, closed: false }); }, wait);
    sock.on('data', (d) => (out += d));
    sock.on('close', () => { clearTimeout(timer); resolve({ out, closed: true }); });
    sock.on('error', () => {});
    if (data) sock.write(data);
  });
  try {
    assert.equal((await httpRequest(main, '/', { headers: { 'x-big': 'a'.repeat(10000) } })).status, 431);
    const many = {};
    for (let i = 0; i < 30; i++) many[`x-h${i}`] = 'v';
    assert.equal((await httpRequest(main, '/', { headers: many })).status, 431);
    assert.equal((await httpRequest(main, '/', { headers: { 'x-small': 'ok' } })).status, 200);
    const big = await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n');
    assert.match(big.out, /^HTTP\/1\.1 413 /);
    // a client that sends half a request line and stops is cut off by request_headers_timeout
    const started = Date.now();
    const slow = await raw('GET / HTTP/1.1\r\nHost: x\r\n', { wait: 5000 });
    assert.ok(slow.closed, 'slowloris connection still open after 5 s');
    assert.ok(Date.now() - started < 4000);
  } finally {
    await fd3.stop();
  }
});

test('what validates but cannot be served yet is refused at start, by name', async () => {
  const { spawnSync } = await import('node:child_process');
  const { binary, repo } = await import('./lib/frontdesk.mjs');
  const r = spawnSync(binary, ['-c', 'tests/configs/valid/upstream-tls.yaml'], { cwd: repo, timeout: 10000, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cluster '[^']+': upstream TLS cannot be served yet/);
});

test('STRICT_DNS and LOGICAL_DNS clusters resolve their names off the workers', async () => {
  const admin = await freePort(), main = await freePort();
  const dns = (name, type) => `
  - name: ${name}
    type: ${type}
    dns_lookup_family: V4_ONLY
    dns_refresh_rate: 0.2s
    connect_timeout: 0.5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: localhost, port_value: ${ports.b1}}}}`;
  const yaml = bootstrap(admin, httpListener('dns', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/strict"}
                route: {cluster: strict, auto_host_rewrite: true}
              - match: {prefix: "/logical"}
                route: {cluster: logical}`), dns('strict', 'STRICT_DNS') + dns('logical', 'LOGICAL_DNS'));
  const fd4 = await startFrontdesk(yaml, { adminPort: admin });
  try {
    seen = [];
    let r = await fetchText(`http://127.0.0.1:${main}/strict`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-backend'), '1');
    assert.equal(seen.at(-1).headers.host, 'localhost'); // auto_host_rewrite: the DNS name
    r = await fetchText(`http://127.0.0.1:${main}/logical`);
    assert.equal(r.status, 200);
    await new Promise((res) => setTimeout(res, 500)); // a few refreshes: same answer, hosts kept
    assert.equal((await fetchText(`http://127.0.0.1:${main}/strict`)).status, 200);
    const clusters = (await fetchText(`http://127.0.0.1:${admin}/clusters`)).body;
    assert.match(clusters, new RegExp(`^strict::127\\.0\\.0\\.1:${ports.b1}::hostname::localhost$`, 'm'));
    assert.match(clusters, new RegExp(`^strict::127\\.0\\.0\\.1:${ports.b1}::rq_total::2$`, 'm'));
  } finally {
    assert.equal((await fd4.stop()).code, 0);
  }
});
