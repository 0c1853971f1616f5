// What reaches the upstream, checked against HTTP's rules and Envoy's behaviour in the cases a
// plain request does not exercise: a cookie split over HTTP/2 fields, several x-forwarded-for
// fields, regex rewrites whose result is much longer than the path, and response headers to add
// on forwarded responses and on the router's local replies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { startFrontdesk, freePort, httpRequest, httpListener, staticCluster, bootstrap } from './lib/frontdesk.mjs';

let fd, main, backend, seen = [];

before(async () => {
  const admin = await freePort(), backendPort = await freePort(), dead = await freePort();
  main = await freePort();
  backend = createServer((req, res) => {
    seen.push({ url: req.url, rawHeaders: req.rawHeaders });
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise((r) => backend.listen(backendPort, '127.0.0.1', r));
  const yaml = bootstrap(admin, httpListener('hdr', main, `
            response_headers_to_add: [{header: {key: access-control-allow-origin, value: "*"}}]
            virtual_hosts:
            - name: all
              domains: ["*"]
              response_headers_to_add: [{header: {key: x-vhost, value: all}}]
              routes:
              - match: {prefix: "/dead"}
                route: {cluster: dead}
              - match: {prefix: "/grow/"}
                route:
                  cluster: b
                  regex_rewrite: {pattern: {regex: "a"}, substitution: "bcd"}
              - match: {prefix: "/jump/"}
                redirect:
                  regex_rewrite: {pattern: {regex: "a"}, substitution: "bcd"}
              - match: {prefix: "/"}
                route: {cluster: b}`, { extraHcm: '          use_remote_address: true' }),
  staticCluster('b', [{ port: backendPort }]) + staticCluster('dead', [{ port: dead }]));
  fd = await startFrontdesk(yaml, { adminPort: admin });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  backend.close();
});

// The values of a header as the upstream received them, one per field.
function rawFields(rawHeaders, name) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1]);
  return out;
}

test('a cookie split over HTTP/2 fields reaches the HTTP/1.1 upstream as one field', async () => {
  seen = [];
  const client = http2Connect(`http://127.0.0.1:${main}`);
  try {
    // Node sends each element of an array value as a field of its own
    await new Promise((resolve, reject) => {
      const stream = client.request({ ':path': '/cookies', cookie: ['a=1', 'b=2', 'c=3'] });
      stream.on('response', () => {});
      stream.resume();
      stream.on('end', resolve);
      stream.on('error', reject);
    });
  } finally {
    client.close();
  }
  assert.deepEqual(rawFields(seen.at(-1).rawHeaders, 'cookie'), ['a=1; b=2; c=3']);
});

test('every x-forwarded-for field is kept when the client address is appended', async () => {
  seen = [];
  const { connect } = await import('node:net');
  await new Promise((resolve) => {
    const sock = connect(main, '127.0.0.1', () => sock.write('GET /xff HTTP/1.1\r\nHost: x\r\n' +
      'X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nConnection: close\r\n\r\n'));
    sock.on('data', () => {});
    sock.on('close', resolve);
  });
  assert.deepEqual(rawFields(seen.at(-1).rawHeaders, 'x-forwarded-for'), ['10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1']);
});

test('regex_rewrite results longer than twice the path are not dropped', async () => {
  seen = [];
  const long = 'a'.repeat(400);
  const r = await httpRequest(main, `/grow/${long}?q=1`);
  assert.equal(r.status, 200);
  assert.equal(seen.at(-1).url, `/grow/${'bcd'.repeat(400)}?q=1`);
  const jump = await httpRequest(main, `/jump/${long}`, { headers: { host: 'h.test' } });
  assert.equal(jump.status, 301);
  assert.equal(jump.headers.location, `http://h.test/jump/${'bcd'.repeat(400)}`);
});

test('response_headers_to_add appear once on a forwarded response, and on a local reply', async () => {
  const { connect } = await import('node:net');
  const head = (path) => new Promise((resolve) => {
    let out = '';
    const sock = connect(main, '127.0.0.1', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d) => (out += d));
    sock.on('close', () => resolve(out.split('\r\n\r\n')[0].toLowerCase()));
  });
  for (const [path, status] of [['/up', 200], ['/dead', 503]]) {
    const h = await head(path);
    assert.match(h, new RegExp(`^http/1\\.1 ${status} `), path);
    assert.equal(h.match(/^access-control-allow-origin: \*$/gm)?.length, 1, `${path}:\n${h}`);
    assert.equal(h.match(/^x-vhost: all$/gm)?.length, 1, `${path}:\n${h}`);
  }
});

test('te: trailers is forwarded, any other te and connection headers are not', async () => {
  seen = [];
  assert.equal((await httpRequest(main, '/te', { headers: { te: 'trailers', 'x-keep': '1' } })).status, 200);
  assert.deepEqual(rawFields(seen.at(-1).rawHeaders, 'te'), ['trailers']);
  seen = [];
  assert.equal((await httpRequest(main, '/te', { headers: { te: 'gzip', 'keep-alive': 'timeout=5' } })).status, 200);
  assert.deepEqual(rawFields(seen.at(-1).rawHeaders, 'te'), []);
  assert.deepEqual(rawFields(seen.at(-1).rawHeaders, 'keep-alive'), []);
});
