// frontdesk's own HTTP/1.1 codec, byte by byte over raw sockets: framing of responses
// (content-length, chunked, HEAD, HTTP/1.0), connections kept across local replies,
// 100-continue, pipelining behind a slow request, half-closed clients, the requests it must
// refuse (conflicting lengths, both framings, unknown transfer-codings, folded lines, bad
// request lines), an Upgrade: h2c it cannot hand to HTTP/2, and the idle timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { startFrontdesk, freePort, httpListener, staticCluster, bootstrap } from './lib/frontdesk.mjs';

let fd, backend, main, seen = [];

before(async () => {
  const admin = await freePort(), backendPort = await freePort();
  main = await freePort();
  backend = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (d) => (bytes += d.length));
    req.on('end', () => {
      seen.push({ url: req.url, method: req.method, bytes, headers: req.headers });
      if (req.url === '/chunked') {
        res.write('one,');
        setTimeout(() => { res.write('two,'); res.end('three'); }, 20);
      } else if (req.url.startsWith('/slow')) {
        setTimeout(() => res.end(`slow ${req.url}`), 300);
      } else {
        res.end(`${req.method} ${req.url} ${bytes}`);
      }
    });
  });
  await new Promise((r) => backend.listen(backendPort, '127.0.0.1', r));
  const yaml = bootstrap(admin, httpListener('h1', main, `
            virtual_hosts:
            - name: x
              domains: ["x"]
              routes:
              - match: {prefix: "/direct"}
                direct_response: {status: 200, body: {inline_string: "direct body"}}
              - match: {prefix: "/"}
                route: {cluster: b}`, { extraHcm: '          common_http_protocol_options: {idle_timeout: 0.5s}' }),
  staticCluster('b', [{ port: backendPort }]));
  fd = await startFrontdesk(yaml, { adminPort: admin });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  backend.close();
});

// Writes each piece (with a pause between), collects everything the proxy sends until it
// closes or `until` matches what came, and says whether it closed.
function exchange(pieces, { until, wait = 3000, halfClose = false, pause = 50 } = {}) {
  return new Promise((resolve) => {
    const sock = connect(main, '127.0.0.1');
    let out = '', done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ out, closed });
    };
    const timer = setTimeout(() => finish(false), wait);
    sock.on('data', (d) => {
      out += d;
      if (until && until.test(out)) finish(false);
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => {});
    sock.on('connect', async () => {
      for (const piece of [].concat(pieces)) {
        sock.write(piece);
        await new Promise((r) => setTimeout(r, pause));
      }
      if (halfClose) sock.end();
    });
  });
}

const count = (s, re) => (s.match(re) || []).length;

test('local replies carry a length and keep the connection: 404, then 200 on the same socket', async () => {
  const r = await exchange(['GET /nope HTTP/1.1\r\nHost: unknown.example\r\n\r\n', 'GET /direct HTTP/1.1\r\nHost: x\r\n\r\n'],
    { until: /direct body$/ });
  assert.match(r.out, /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.match(r.out, /HTTP\/1\.1 404 [^]*?content-length: 0\r\n/);
  assert.ok(!/connection: close/i.test(r.out), r.out);
  assert.match(r.out, /HTTP\/1\.1 200 OK\r\n[^]*content-length: 11\r\n[^]*\r\n\r\ndirect body$/);
  assert.equal(r.closed, false);
});

test('a body of unknown length goes in chunks, and the connection is kept after the last one', async () => {
  const r = await exchange(['GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /direct HTTP/1.1\r\nHost: x\r\n\r\n'],
    { until: /direct body$/, pause: 200 });
  const first = r.out.slice(0, r.out.indexOf('HTTP/1.1 200', 1));
  assert.match(first, /transfer-encoding: chunked\r\n/);
  // one chunk per piece the upstream sent in one go: the first is alone, the rest may merge
  const body = first.slice(first.indexOf('\r\n\r\n') + 4);
  assert.match(body, /^4\r\none,\r\n([0-9a-f]+\r\n[^\r]*\r\n)+0\r\n\r\n$/);
  let decoded = '';
  for (let rest = body; ;) {
    const size = parseInt(rest, 16);
    if (size === 0) break;
    const start = rest.indexOf('\r\n') + 2;
    decoded += rest.slice(start, start + size);
    rest = rest.slice(start + size + 2);
  }
  assert.equal(decoded, 'one,two,three');
  assert.equal(count(r.out, /HTTP\/1\.1 200/g), 2);
});

test('HEAD gets the head with its length but no body; the next response follows at once', async () => {
  const r = await exchange(['HEAD /direct HTTP/1.1\r\nHost: x\r\n\r\nGET /direct HTTP/1.1\r\nHost: x\r\n\r\n'],
    { until: /direct body$/ });
  const [head, rest] = [r.out.slice(0, r.out.indexOf('HTTP/1.1', 1)), r.out.slice(r.out.indexOf('HTTP/1.1', 1))];
  assert.match(head, /content-length: 11\r\n[^]*\r\n\r\n$/);
  assert.match(rest, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\ndirect body$/);
});

test('HTTP/1.0: closed after the response unless keep-alive is asked for, then said', async () => {
  const plain = await exchange('GET /direct HTTP/1.0\r\nHost: x\r\n\r\n');
  assert.equal(plain.closed, true);
  assert.match(plain.out, /connection: close\r\n/);
  const kept = await exchange(['GET /direct HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'], { until: /direct body$/, wait: 1500 });
  assert.match(kept.out, /connection: keep-alive\r\n/);
  assert.equal(kept.closed, false);
  // no length and no chunks in HTTP/1.0: the end of the body is the end of the connection
  const unknown = await exchange('GET /chunked HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(unknown.closed, true);
  assert.match(unknown.out, /connection: close\r\n[^]*\r\n\r\none,two,three$/);
});

test('Expect: 100-continue is answered before the body is sent, then the request goes upstream', async () => {
  seen = [];
  const r = await exchange(['POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n', 'hello'],
    { until: /POST \/upload 5$/, pause: 200 });
  assert.match(r.out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
  assert.equal(seen.at(-1).bytes, 5);
  assert.equal(seen.at(-1).headers.expect, undefined);
});

test('requests pipelined behind a slow one are answered in order, on the same connection', async () => {
  const r = await exchange(['GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/2 HTTP/1.1\r\nHost: x\r\n\r\n'],
    { until: /slow \/slow\/2$/ });
  const bodies = r.out.split(/HTTP\/1\.1 200 OK\r\n/).slice(1).map((p) => p.slice(p.indexOf('\r\n\r\n') + 4));
  assert.deepEqual(bodies, ['slow /slow/1', 'GET /fast 0', 'slow /slow/2']);
});

test('requests pipelined before a half-close are all answered, then the connection closes', async () => {
  const r = await exchange('GET /slow/a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /slow/c HTTP/1.1\r\nHost: x\r\n\r\n',
    { halfClose: true });
  const bodies = r.out.split(/HTTP\/1\.1 200 OK\r\n/).slice(1).map((p) => p.slice(p.indexOf('\r\n\r\n') + 4));
  assert.deepEqual(bodies, ['slow /slow/a', 'GET /b 0', 'slow /slow/c']);
  assert.equal(r.closed, true);
});

test('a client that half-closes after its request still gets the response', async () => {
  const r = await exchange('GET /slow/half HTTP/1.1\r\nHost: x\r\n\r\n', { halfClose: true });
  assert.match(r.out, /^HTTP\/1\.1 200 OK\r\n[^]*slow \/slow\/half$/);
  assert.equal(r.closed, true);
});

test('a client gone while its request is served costs nothing: the proxy keeps serving', async () => {
  const sock = connect(main, '127.0.0.1', () => sock.end('GET /slow/gone HTTP/1.1\r\nHost: x\r\n\r\n'));
  sock.on('error', () => {});
  await new Promise((r) => setTimeout(r, 50));
  sock.destroy();
  await new Promise((r) => setTimeout(r, 400));
  const r = await exchange('GET /direct HTTP/1.1\r\nHost: x\r\n\r\n', { until: /direct body$/ });
  assert.match(r.out, /^HTTP\/1\.1 200 OK/);
});

test('requests that could smuggle another are refused with 400 and the connection closed', async () => {
  seen = [];
  const bad = [
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
    'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  ];
  for (const request of bad) {
    const r = await exchange(request);
    assert.match(r.out, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(request));
    assert.equal(r.closed, true);
  }
  assert.equal(seen.length, 0);
});

test('an Upgrade: h2c whose HTTP2-Settings is broken is served over HTTP/1.1', async () => {
  const r = await exchange('GET /direct HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: !!!\r\n\r\n',
    { until: /direct body$/ });
  assert.match(r.out, /^HTTP\/1\.1 200 OK\r\n[^]*direct body$/);
});

test('an Upgrade: h2c that h2o would not take (Connection lacks HTTP2-Settings) stays ours: bodies framed', async () => {
  const r = await exchange(['GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    'GET /direct HTTP/1.1\r\nHost: x\r\n\r\n'], { until: /direct body$/, pause: 300 });
  assert.match(r.out, /^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n[^]*0\r\n\r\nHTTP\/1\.1 200 OK/);
});

test('an idle keep-alive connection is closed after idle_timeout', async () => {
  const started = Date.now();
  const r = await exchange('GET /direct HTTP/1.1\r\nHost: x\r\n\r\n', { wait: 3000 });
  assert.equal(r.closed, true);
  assert.match(r.out, /direct body$/);
  const idle = Date.now() - started;
  assert.ok(idle >= 400 && idle < 2500, `closed after ${idle} ms`);
});
