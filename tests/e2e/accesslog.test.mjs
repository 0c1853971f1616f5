// Access logs end to end: Envoy's default format and a JSON format written to files, with
// the response flags, the generated request id and the upstream host of each request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFrontdesk, freePort, httpRequest, httpListener, staticCluster, bootstrap } from './lib/frontdesk.mjs';

test('default and JSON access log lines, written on drain at the latest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-log-'));
  const admin = await freePort(), main = await freePort(), backendPort = await freePort();
  const server = createServer((req, res) => res.end('hello'));
  await new Promise((r) => server.listen(backendPort, '127.0.0.1', r));
  const logs = `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${dir}/default.log
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${dir}/json.log
              log_format:
                json_format: {status: "%RESPONSE_CODE%", flags: "%RESPONSE_FLAGS%", path: "%REQ(:PATH)%", upstream: "%UPSTREAM_CLUSTER%"}`;
  const yaml = bootstrap(admin, httpListener('logged', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/up"}
                route: {cluster: backend}`, { extraHcm: logs }), staticCluster('backend', [{ port: backendPort }]));
  const fd = await startFrontdesk(yaml, { adminPort: admin });
  try {
    assert.equal((await httpRequest(main, '/up?x=1', { headers: { 'user-agent': 'e2e-agent' } })).status, 200);
    assert.equal((await httpRequest(main, '/missing')).status, 404);
  } finally {
    assert.equal((await fd.stop()).code, 0);
    server.close();
  }
  const lines = readFileSync(`${dir}/default.log`, 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /up\\?x=1 HTTP/1\\.1" 200 - 0 5 \\d+ \\d+ "-" "e2e-agent" "[0-9a-f-]{36}" "127\\.0\\.0\\.1:${main}" "127\\.0\\.0\\.1:${backendPort}"$`));
  assert.match(lines[1], /"GET \/missing HTTP\/1\.1" 404 NR 0 0 \d+ - "-" "-" "[0-9a-f-]{36}" "127\.0\.0\.1:\d+" "-"$/);
  const json = readFileSync(`${dir}/json.log`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(json[0], { flags: '-', path: '/up?x=1', status: 200, upstream: 'backend' });
  assert.deepEqual(json[1], { flags: 'NR', path: '/missing', status: 404, upstream: null });
});
