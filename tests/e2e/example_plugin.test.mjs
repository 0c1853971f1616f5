// The example plugin (examples/plugins/api_key.c) on the example config (examples/api_key.yaml)
// as the README runs them, on free loopback ports: the curl lines of the config's header, the
// key stripped before the request goes upstream, and its config errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { startFrontdesk, freePort, httpRequest, repo, binary } from './lib/frontdesk.mjs';

const plugin = join(dirname(binary), '..', 'examples', 'plugins', 'libapi_key.so');
let fd, backend, main, seen = [];

// The example, moved to loopback and free ports, with a third route to an upstream.
function exampleYaml(admin, port, backendPort) {
  return readFileSync(join(repo, 'examples', 'api_key.yaml'), 'utf8')
    .replace('port_value: 9901', `port_value: ${admin}`)
    .replace('address: 0.0.0.0, port_value: 10000', `address: 127.0.0.1, port_value: ${port}`)
    .replace('              - match: {prefix: "/private"}', `              - match: {prefix: "/upstream"}
                route: {cluster: backend}
              - match: {prefix: "/private"}`)
    .replace(/\n$/, `
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${backendPort}}}}
`);
}

before(async () => {
  const admin = await freePort(), backendPort = await freePort();
  main = await freePort();
  backend = createServer((req, res) => { seen.push(req.headers); res.end('from upstream'); });
  await new Promise((r) => backend.listen(backendPort, '127.0.0.1', r));
  fd = await startFrontdesk(exampleYaml(admin, main, backendPort), { adminPort: admin, args: ['--plugin', plugin] });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  backend.close();
});

test('the example answers as its header says: 401 without a key, 403 with a wrong one, 200 with a good one', async () => {
  const none = await httpRequest(main, '/private');
  assert.equal(none.status, 401);
  assert.equal(none.body, 'missing API key\n');
  const wrong = await httpRequest(main, '/private', { headers: { 'x-api-key': 'nope' } });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body, 'unknown API key\n');
  const good = await httpRequest(main, '/private', { headers: { 'x-api-key': 'demo-key-1' } });
  assert.equal(good.status, 200);
  assert.equal(good.body, 'private: you hold a key\n');
  const open = await httpRequest(main, '/public');
  assert.equal(open.status, 200, 'the route turns the filter off');
});

test('the key never reaches the upstream', async () => {
  seen = [];
  const res = await httpRequest(main, '/upstream', { headers: { 'x-api-key': 'demo-key-2', 'x-other': '1' } });
  assert.equal(res.body, 'from upstream');
  assert.equal(seen[0]['x-api-key'], undefined);
  assert.equal(seen[0]['x-other'], '1');
});

test('its config errors are reported at the filter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-example-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, readFileSync(join(repo, 'examples', 'api_key.yaml'), 'utf8')
    .replace('keys: [demo-key-1, demo-key-2]', 'keys: []')
    .replace('value: {disabled: true}', 'value: {disabled: "yes"}'));
  const r = spawnSync(binary, ['--mode', 'validate', '-c', file, '--plugin', plugin], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /http_filters\[0\]\.typed_config: filter 'frontdesk\.examples\.api_key' \(.*libapi_key\.so\) refused its config: 'keys' must be a non-empty list/);
  assert.match(r.stderr, /routes\[0\]\.typed_per_filter_config: .*refused its config: 'disabled' must be true or false/);
  const ok = spawnSync(binary, ['--mode', 'validate', '-c', join(repo, 'examples', 'api_key.yaml'), '--plugin', plugin], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
});
