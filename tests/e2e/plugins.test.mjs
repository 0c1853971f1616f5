// The HTTP filter chain and the plugin ABI, through the test plugin (plugins/test_filters.c)
// loaded with --plugin: order of request and response hooks, local replies that stop the chain,
// pauses on the request, the response headers and the body resumed from timers, streams reset
// while paused, and the config and load errors a user sees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { startFrontdesk, freePort, httpRequest, httpListener, staticCluster, bootstrap, binary } from './lib/frontdesk.mjs';

const pluginDir = join(dirname(binary), '..', 'tests', 'e2e', 'plugins');
const plugin = join(pluginDir, 'libfd_test_filters.so');

// One http_filters entry configured through a TypedStruct.
function filter(name, type, value) {
  return `
          - name: ${name}
            typed_config:
              "@type": type.googleapis.com/xds.type.v3.TypedStruct
              type_url: type.googleapis.com/${type}
              value: ${JSON.stringify(value)}`;
}

const routes = `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/direct"}
                name: direct
                direct_response: {status: 200, body: {inline_string: "direct\\n"}}
              - match: {prefix: "/renamed"}
                route: {cluster: b}
                typed_per_filter_config:
                  tag-a:
                    "@type": type.googleapis.com/xds.type.v3.TypedStruct
                    type_url: type.googleapis.com/test.Tag\n                    value: {name: route-a}
              - match: {prefix: "/"}
                name: to-backend
                route: {cluster: b}
            - name: tagged
              domains: ["tagged.example"]
              typed_per_filter_config:
                tag-b:
                  "@type": type.googleapis.com/xds.type.v3.TypedStruct
                  type_url: type.googleapis.com/test.Tag
                  value: {name: vhost-b}
              routes:
              - match: {prefix: "/"}
                route: {cluster: b}`;

let fd, backend, seen = [], ports = {};
const big = Buffer.alloc(1 << 20, 'x');

before(async () => {
  const admin = await freePort(), backendPort = await freePort();
  for (const name of ['order', 'pauseRequest', 'pauseResponse', 'pauseBody', 'longPause', 'idle']) ports[name] = await freePort();
  backend = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (d) => (bytes += d.length));
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, bytes });
      if (req.url === '/big') res.end(big);
      else res.end('ok');
    });
  });
  await new Promise((r) => backend.listen(backendPort, '127.0.0.1', r));
  const listeners =
    httpListener('order', ports.order, routes, {
      httpFilters: filter('tag-a', 'test.Tag', { name: 'a', log: true }) + filter('tag-b', 'test.Tag', { name: 'b' }),
    }) +
    httpListener('pause_request', ports.pauseRequest, routes, {
      httpFilters: filter('tag-a', 'test.Tag', { name: 'a' }) + filter('pause', 'test.Pause', { ms: 150 }) +
        filter('tag-b', 'test.Tag', { name: 'b' }),
    }) +
    httpListener('pause_response', ports.pauseResponse, routes, {
      httpFilters: filter('tag-a', 'test.Tag', { name: 'a' }) +
        filter('pause', 'test.Pause', { ms: 150, phase: 'response' }) + filter('tag-b', 'test.Tag', { name: 'b' }),
    }) +
    httpListener('pause_body', ports.pauseBody, routes, {
      httpFilters: filter('pause', 'test.Pause', { ms: 100, phase: 'body' }),
    }) +
    httpListener('long_pause', ports.longPause, routes, {
      httpFilters: filter('pause', 'test.Pause', { ms: 30000 }),
    }) +
    httpListener('idle', ports.idle, routes, {
      httpFilters: filter('pause', 'test.Pause', { ms: 30000 }),
      extraHcm: '          stream_idle_timeout: 0.3s',
    });
  fd = await startFrontdesk(bootstrap(admin, listeners, staticCluster('b', [{ port: backendPort }])),
    { adminPort: admin, args: ['--plugin', plugin] });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  backend.close();
});

test('request hooks run in http_filters order, response hooks in reverse, on every kind of response', async () => {
  seen = [];
  const res = await httpRequest(ports.order, '/hello');
  assert.equal(res.status, 200);
  assert.equal(res.body, 'ok');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers['x-chain'], 'a,b');
  assert.equal(res.headers['x-chain-response'], 'b,a');
  assert.equal(res.headers['x-status-seen'], '200');
  const direct = await httpRequest(ports.order, '/direct');
  assert.equal(direct.body, 'direct\n');
  assert.equal(direct.headers['x-chain-response'], 'b,a');
});

test('per-route configs: a route\'s replaces the filter\'s config there, a virtual host\'s on its routes', async () => {
  seen = [];
  const res = await httpRequest(ports.order, '/renamed');
  assert.equal(seen.at(-1).headers['x-chain'], 'route-a,b');
  assert.equal(res.headers['x-chain-response'], 'b,route-a');
  await httpRequest(ports.order, '/other', { headers: { host: 'tagged.example' } });
  assert.equal(seen.at(-1).headers['x-chain'], 'a,vhost-b');
  await httpRequest(ports.order, '/plain');
  assert.equal(seen.at(-1).headers['x-chain'], 'a,b');
});

test('a filter that answers stops the chain: later filters and the upstream never see the request', async () => {
  seen = [];
  const res = await httpRequest(ports.order, '/private', { headers: { 'x-deny': 'a' } });
  assert.equal(res.status, 403);
  assert.equal(res.body, 'denied by a\n');
  assert.equal(res.headers['x-chain-response'], 'b,a', 'response hooks see local replies');
  assert.equal(res.headers['x-status-seen'], '403');
  const other = await httpRequest(ports.order, '/private', { headers: { 'x-deny-but-continue': 'b' } });
  assert.equal(other.status, 401, 'a reply ends the request side even if the hook says continue');
  assert.equal(seen.length, 0);
});

test('the filters see the request body whole and the route name, and log from their log hook', async () => {
  seen = [];
  const body = 'y'.repeat(5000);
  const res = await httpRequest(ports.order, '/upload', { method: 'POST', body, headers: { 'content-length': '5000' } });
  assert.equal(res.status, 200);
  assert.equal(seen[0].bytes, 5000);
  assert.equal(seen[0].headers['x-body-bytes'], '5000');
  const deadline = Date.now() + 2000;
  while (!/tag-log path=\/upload status=200 route=to-backend remote=127\.0\.0\.1:\d+/.test(fd.proc.stderrText) &&
         Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(fd.proc.stderrText, /\[info\] filter 'tag-a' \(test\.tag\): tag-log path=\/upload status=200 route=to-backend/);
});

test('a filter pauses the request and resumes it from a timer; the rest of the chain then runs', async () => {
  seen = [];
  const started = Date.now();
  const res = await httpRequest(ports.pauseRequest, '/slow');
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started >= 140, `resumed after ${Date.now() - started} ms`);
  assert.equal(seen[0].headers['x-chain'], 'a,b');
  assert.equal(seen[0].headers['x-paused'], '1');
});

test('a paused filter answers instead of resuming, and a resume from inside the hook just continues', async () => {
  seen = [];
  const refused = await httpRequest(ports.pauseRequest, '/slow', { headers: { 'x-pause-reply': '1' } });
  assert.equal(refused.status, 429);
  assert.equal(refused.body, 'paused, then refused\n');
  assert.equal(refused.headers['x-chain-response'], 'b,a');
  assert.equal(seen.length, 0);
  const started = Date.now();
  const inline = await httpRequest(ports.pauseRequest, '/fast', { headers: { 'x-resume-inline': '1' } });
  assert.equal(inline.status, 200);
  assert.ok(Date.now() - started < 140, 'no timer was involved');
  assert.equal(seen[0].headers['x-chain'], 'a,b');
});

test('paused streams do not hold up the worker: 20 concurrent HTTP/2 streams all complete', async () => {
  seen = [];
  const client = http2Connect(`http://127.0.0.1:${ports.pauseRequest}`);
  try {
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => new Promise((resolve, reject) => {
      const req = client.request({ ':path': `/h2/${i}` });
      req.on('response', (h) => resolve(h[':status']));
      req.on('error', reject);
      req.resume();
      req.end();
    })));
    assert.deepEqual(statuses, Array(20).fill(200));
    assert.ok(Date.now() - started < 1500, `20 pauses of 150 ms overlapped (${Date.now() - started} ms)`);
    assert.equal(seen.length, 20);
  } finally {
    client.close();
  }
});

test('a filter pauses the response headers; they and the body go out after it resumes', async () => {
  const started = Date.now();
  const res = await httpRequest(ports.pauseResponse, '/big');
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started >= 140);
  assert.equal(res.headers['x-response-paused'], '1');
  assert.equal(res.headers['x-chain-response'], 'b,a');
  assert.equal(res.body.length, big.length);
});

test('a filter pauses on the response body: nothing is lost, and it saw every byte', async () => {
  const started = Date.now();
  const res = await httpRequest(ports.pauseBody, '/big');
  assert.equal(res.status, 200);
  assert.ok(Date.now() - started >= 90, 'the body waited for the filter');
  assert.equal(res.body, big.toString());
  const deadline = Date.now() + 2000;
  while (!fd.proc.stderrText.includes(`pause-body-bytes=${big.length}`) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(fd.proc.stderrText.includes(`pause-body-bytes=${big.length}`), fd.proc.stderrText);
});

test('a stream reset while its filter is paused ends it: on_destroy runs, the timer never fires', async () => {
  seen = [];
  const client = http2Connect(`http://127.0.0.1:${ports.longPause}`);
  try {
    const req = client.request({ ':path': '/never' });
    req.on('error', () => {});
    req.end();
    await new Promise((r) => setTimeout(r, 200));
    req.close(0x8); // RST_STREAM CANCEL
    const deadline = Date.now() + 3000;
    while (!fd.proc.stderrText.includes('pause-destroyed-while-paused') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(fd.proc.stderrText, /\[warning\] filter 'pause' \(test\.pause\): pause-destroyed-while-paused/);
    assert.equal(seen.length, 0);
    const again = await httpRequest(ports.order, '/still-serving');
    assert.equal(again.status, 200);
  } finally {
    client.close();
  }
});

test('a filter paused past stream_idle_timeout: the request is answered 408, as Envoy does', async () => {
  seen = [];
  const started = Date.now();
  const res = await httpRequest(ports.idle, '/stuck');
  assert.equal(res.status, 408);
  assert.equal(res.body, 'stream timeout');
  assert.ok(Date.now() - started >= 250 && Date.now() - started < 5000);
  assert.equal(seen.length, 0);
  assert.match(fd.proc.stderrText, /filter 'pause' \(test\.pause\) held its stream past stream_idle_timeout \(300 ms\)/);
});

test('a filter cannot set framing headers or values with line breaks', async () => {
  seen = [];
  const res = await httpRequest(ports.order, '/framing', { headers: { 'x-try-framing': 'a' } });
  assert.equal(res.status, 200);
  assert.equal(seen[0].headers['x-evil'], undefined);
  assert.equal(seen[0].headers['x-injected'], undefined);
  assert.match(fd.proc.stderrText, /filter 'tag-a' \(test\.tag\): refused to set header 'content-length'/);
  assert.match(fd.proc.stderrText, /refused to set header 'x-injected'/);
});

// validate a listener with the given http_filters (before the router) and one route, with
// routeExtra (YAML, indented for the route) added to the route, and extra arguments.
function validate(httpFilters, args = [], routeExtra = '') {
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-plugins-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, bootstrap(9901, httpListener('v', 10000, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200}${routeExtra}`, { httpFilters })));
  const r = spawnSync(binary, ['--mode', 'validate', '-c', file, ...args], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr, file };
}

test('a plugin that refuses its config fails validation with its reason, at the filter', () => {
  const r = validate(filter('tag', 'test.Tag', { nam: 'x' }), ['--plugin', plugin]);
  assert.equal(r.status, 1);
  assert.match(r.out, /envoy\.yaml:\d+:\d+: .*http_filters\[0\]\.typed_config: filter 'test\.tag' \(.*libfd_test_filters\.so\) refused its config: 'name' is required/);
  const bad = validate(filter('pause', 'test.Pause', { ms: 5, phase: 'sideways' }), ['--plugin', plugin]);
  assert.match(bad.out, /'phase' must be request, response or body, not 'sideways'/);
  assert.equal(validate(filter('tag', 'test.Tag', { name: 'x' }), ['--plugin', plugin]).status, 0);
});

test('a config type no loaded plugin takes is an error naming --plugin, unless the filter is optional', () => {
  const r = validate(filter('tag', 'test.Tag', { name: 'x' }));
  assert.equal(r.status, 1);
  assert.match(r.out, /no filter takes config type 'type\.googleapis\.com\/test\.Tag' \(HTTP filter 'tag'\): load the plugin that provides it with --plugin PATH/);
  const optional = validate(filter('tag', 'test.Tag', { name: 'x' }) + '\n            is_optional: true');
  assert.equal(optional.status, 0, optional.out);
});

test('per-route configs are checked by their filter: refused, unknown, or for a filter that takes none', () => {
  const withRoute = (perFilter) => validate(filter('the-filter', 'test.Tag', { name: 'x' }), ['--plugin', plugin], `
                typed_per_filter_config:
                  the-filter:
                    "@type": type.googleapis.com/xds.type.v3.TypedStruct
                    ${perFilter}`);
  assert.equal(withRoute('type_url: type.googleapis.com/test.Tag\n                    value: {name: y}').status, 0);
  const refused = withRoute('type_url: type.googleapis.com/test.Tag\n                    value: {name: ""}');
  assert.match(refused.out, /routes\[0\]\.typed_per_filter_config: filter 'test\.tag' .* refused its config: 'name' is required/);
  const none = withRoute('type_url: type.googleapis.com/test.Pause\n                    value: {ms: 1}');
  assert.match(none.out, /filter 'test\.pause' \(.*\) takes no per-route config \(HTTP filter 'the-filter'\)/);
  const unknown = withRoute('type_url: type.googleapis.com/test.Nothing\n                    value: {}');
  assert.match(unknown.out, /no filter takes config type 'type\.googleapis\.com\/test\.Nothing' \(per-route config for HTTP filter 'the-filter'\)/);
});

test('plugins that cannot run are refused at start with the reason', () => {
  const wrong = validate('', ['--plugin', join(pluginDir, 'libfd_wrong_abi.so')]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.out, /was built for frontdesk filter ABI 42, this frontdesk runs ABI 1: rebuild it/);
  const missing = validate('', ['--plugin', '/nonexistent/libnothing.so']);
  assert.match(missing.out, /plugin '\/nonexistent\/libnothing\.so' does not load: .*No such file/);
  const twice = validate('', ['--plugin', plugin, '--plugin', plugin]);
  assert.equal(twice.status, 1);
  assert.match(twice.out, /takes config type 'type\.googleapis\.com\/test\.Tag', which filter 'test\.tag' of .* already takes/);
});
