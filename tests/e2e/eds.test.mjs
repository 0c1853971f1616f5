// EDS from a real control server (lib/xds_server.mjs, Envoy's own protos): a static listener
// routes to an EDS cluster whose endpoints come over ADS. Initializing until the first
// assignment; endpoints replaced under load without a failed request; a bad assignment NACKed
// with the translator's message while the last good one keeps serving; unhealthy hosts left
// out; the control server killed and restarted; initial_fetch_timeout; a stream of its own
// (api_config_source) for a control server without ADS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFrontdesk, freePort, httpRequest, fetchText, adminStat, binary } from './lib/frontdesk.mjs';
import { ControlServer, TYPE, anyOf, until, adsConfigYaml, xdsClusterYaml, wrapped } from './lib/xds_server.mjs';

const backends = [];
let control, fd, admin, main;

function endpoint(port, extra = {}) {
  return { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } }, ...extra };
}

function assignment(name, lbEndpoints) {
  return anyOf('eds', { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] });
}

// frontdesk with one EDS cluster 'svc' (service name svc-endpoints) behind a static listener.
function yaml(adminPort, port, controlPort, { source = 'ads: {}', initialFetch = '' } = {}) {
  const dynamic = source === 'ads: {}' ? `\n${adsConfigYaml}` : '';
  return `node: {id: edge-1, cluster: edge}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}${dynamic}
static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/twin"}
                route: {cluster: svc-twin}
              - match: {prefix: "/"}
                route: {cluster: svc}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: svc
    type: EDS
    connect_timeout: 1s
    eds_cluster_config:
      service_name: svc-endpoints
      eds_config: {${source}, resource_api_version: V3${initialFetch}}
  - name: svc-twin
    type: EDS
    connect_timeout: 1s
    eds_cluster_config:
      service_name: svc-endpoints
      eds_config: {${source}, resource_api_version: V3${initialFetch}}
${xdsClusterYaml(controlPort)}`;
}

const stat = (name) => adminStat(admin, name);

// The last EDS request of the control server's n-th stream once it has answered nonce.
function verdict(stream, nonce) {
  return until(() => stream.requests.find((r) => r.type_url === TYPE.eds && r.response_nonce === nonce), 5000,
    () => `a verdict on ${nonce}: ${control.describe()}`);
}

before(async () => {
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const server = createServer((req, res) => res.end(`backend ${i}`));
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    backends.push({ server, port });
  }
  control = await new ControlServer().start();
  admin = await freePort();
  main = await freePort();
  fd = await startFrontdesk(yaml(admin, main, control.port), { adminPort: admin, readyStatus: 503 });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  await control.stop();
  for (const b of backends) b.server.close();
});

test('initializing until the first assignment: /ready 503, then LIVE, ACKed, traffic flows', async () => {
  const stream = await control.stream(0);
  const first = await control.request(stream, 0);
  assert.equal(first.type_url, TYPE.eds);
  assert.deepEqual(first.resource_names, ['svc-endpoints']);
  assert.equal(first.node.id, 'edge-1');
  assert.equal(first.node.user_agent_name, 'frontdesk');
  const ready = await fetchText(`http://127.0.0.1:${admin}/ready`);
  assert.deepEqual([ready.status, ready.body], [503, 'INITIALIZING\n']);
  // as Envoy: nothing is accepted until the config is warm, so this request waits, then succeeds
  let early = null;
  const waiting = httpRequest(main, '/').then((r) => (early = r));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(early, null, 'not answered before the first endpoints');
  const nonce = control.send(stream, 'eds', '1', [assignment('svc-endpoints', [endpoint(backends[0].port)])]);
  const ack = await verdict(stream, nonce);
  assert.equal(ack.version_info, '1');
  assert.equal(ack.error_detail, null);
  await until(async () => (await fetchText(`http://127.0.0.1:${admin}/ready`)).status === 200, 3000, () => 'LIVE');
  assert.equal((await waiting).body, 'backend 0', 'the request that waited is served');
  assert.equal((await httpRequest(main, '/')).body, 'backend 0');
  assert.equal((await httpRequest(main, '/twin')).body, 'backend 0', 'clusters sharing a service name both get it');
  assert.equal(await stat('cluster.svc.update_success'), 1);
  assert.equal(await stat('cluster.svc-twin.update_success'), 1);
  assert.equal(await stat('control_plane.connected_state'), 1);
  assert.equal(await stat('server.state'), 0);
});

test('endpoints replaced while requests flow: every request succeeds, and traffic moves', async () => {
  const stream = control.streams.at(-1);
  const results = [];
  let stop = false;
  const load = (async () => {
    for (let i = 0; i < 2000 && !stop; i++) results.push(await httpRequest(main, '/'));
  })();
  await new Promise((r) => setTimeout(r, 100));
  const nonce = control.send(stream, 'eds', '2', [assignment('svc-endpoints', [endpoint(backends[1].port)])]);
  await verdict(stream, nonce);
  await until(() => results.length > 0 && results.at(-1).body === 'backend 1', 3000, () => 'traffic on backend 1');
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await load;
  assert.ok(results.length > 10);
  assert.deepEqual(results.filter((r) => r.status !== 200), []);
  assert.deepEqual([...new Set(results.map((r) => r.body))].sort(), ['backend 0', 'backend 1']);
});

test('a bad assignment is NACKed with the reason and the last good endpoints keep serving', async () => {
  const stream = control.streams.at(-1);
  const bad = anyOf('eds', { cluster_name: 'svc-endpoints', endpoints: [{ lb_endpoints: [
    { endpoint: { address: { socket_address: { address: 'not-an-ip', port_value: 80 } } } }] }] });
  const nonce = control.send(stream, 'eds', '3', [bad]);
  const nack = await verdict(stream, nonce);
  assert.equal(nack.version_info, '2', 'a NACK carries the last accepted version');
  assert.match(nack.error_detail.message, /ClusterLoadAssignment 'svc-endpoints': .*not-an-ip/);
  assert.equal((await httpRequest(main, '/')).body, 'backend 1');
  assert.equal(await stat('cluster.svc.update_rejected'), 1);
  assert.match(fd.proc.stderrText, /EDS update 3 rejected, the previous endpoints keep serving/);
});

test('/config_dump shows the endpoints in force, with their version', async () => {
  const dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  const eds = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump');
  assert.equal(eds.dynamic_endpoint_configs.length, 2);
  const entry = eds.dynamic_endpoint_configs[0];
  assert.equal(entry.version_info, '2');
  assert.equal(eds.dynamic_endpoint_configs[1].endpoint_config.cluster_name, 'svc-endpoints', 'one per cluster');
  assert.equal(entry.endpoint_config.cluster_name, 'svc-endpoints');
  assert.equal(entry.endpoint_config.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value,
    backends[1].port);
});

test('resources wrapped in envoy.service.discovery.v3.Resource are unwrapped; a heartbeat changes nothing', async () => {
  const stream = control.streams.at(-1);
  const beat = await verdict(stream, control.send(stream, 'eds', '2', [wrapped('svc-endpoints')]));
  assert.equal(beat.error_detail, null);
  assert.equal((await httpRequest(main, '/')).body, 'backend 1');
  const nonce = control.send(stream, 'eds', '2w', [wrapped('svc-endpoints', assignment('svc-endpoints', [endpoint(backends[2].port)]))]);
  assert.equal((await verdict(stream, nonce)).version_info, '2w');
  await until(async () => (await httpRequest(main, '/')).body === 'backend 2', 3000, () => 'backend 2');
  const back = control.send(stream, 'eds', '2', [assignment('svc-endpoints', [endpoint(backends[1].port)])]);
  await verdict(stream, back);
  await until(async () => (await httpRequest(main, '/')).body === 'backend 1', 3000, () => 'backend 1');
});

test('fields frontdesk does not support are ignored with a warning, counted, and the update applies', async () => {
  const stream = control.streams.at(-1);
  const withPolicy = anyOf('eds', { cluster_name: 'svc-endpoints', endpoints: [{ lb_endpoints: [endpoint(backends[1].port)] }],
    policy: { overprovisioning_factor: { value: 150 } } });
  const ack = await verdict(stream, control.send(stream, 'eds', '2p', [withPolicy]));
  assert.equal(ack.version_info, '2p');
  assert.equal(ack.error_detail, null);
  assert.match(fd.proc.stderrText, /EDS 'svc-endpoints': .*field 'policy' of envoy\.config\.endpoint\.v3\.ClusterLoadAssignment is not supported by frontdesk: ignored/);
  assert.equal(await stat('control_plane.unsupported_fields'), 1);
  assert.equal((await httpRequest(main, '/')).body, 'backend 1');
});

test('hosts the control plane marks unhealthy or draining get no traffic; weights are followed', async () => {
  const stream = control.streams.at(-1);
  const nonce = control.send(stream, 'eds', '4', [assignment('svc-endpoints', [
    endpoint(backends[0].port, { health_status: 'UNHEALTHY' }),
    endpoint(backends[1].port, { load_balancing_weight: { value: 3 } }),
    endpoint(backends[2].port, { health_status: 'DRAINING' }),
  ])]);
  assert.equal((await verdict(stream, nonce)).version_info, '4');
  await until(async () => (await httpRequest(main, '/')).body === 'backend 1', 3000, () => 'backend 1');
  for (let i = 0; i < 20; i++) assert.equal((await httpRequest(main, '/')).body, 'backend 1');
});

test('control server killed and restarted: the last endpoints keep serving, the stream comes back with its version', async () => {
  const port = control.port;
  await control.stop();
  await until(async () => (await stat('control_plane.connected_state')) === 0, 5000, () => 'connected_state 0');
  for (let i = 0; i < 5; i++) assert.equal((await httpRequest(main, '/')).body, 'backend 1');
  control = await new ControlServer().start(port);
  const stream = await control.stream(0, 10000);
  const resubscribe = await control.request(stream, 0);
  assert.equal(resubscribe.version_info, '4');
  assert.deepEqual(resubscribe.resource_names, ['svc-endpoints']);
  const nonce = control.send(stream, 'eds', '5', [assignment('svc-endpoints', [endpoint(backends[2].port)])]);
  await verdict(stream, nonce);
  await until(async () => (await httpRequest(main, '/')).body === 'backend 2', 3000, () => 'backend 2');
  assert.equal(await stat('control_plane.connected_state'), 1);
});

test('initial_fetch_timeout: without an answer the server goes LIVE after it, with no hosts', async () => {
  const silent = await new ControlServer().start();
  const adminPort = await freePort(), port = await freePort();
  const started = Date.now();
  const other = await startFrontdesk(yaml(adminPort, port, silent.port, { initialFetch: ', initial_fetch_timeout: 0.4s' }),
    { adminPort, readyStatus: 200 });
  try {
    assert.ok(Date.now() - started >= 350, `LIVE after ${Date.now() - started} ms`);
    assert.equal((await httpRequest(port, '/')).status, 503);
  } finally {
    assert.equal((await other.stop()).code, 0, other.proc.stderrText);
    await silent.stop();
  }
});

test('an EDS stream of its own (api_config_source, for a control server without ADS); the node from the command line', async () => {
  const own = await new ControlServer().start();
  const adminPort = await freePort(), port = await freePort();
  const source = 'api_config_source: {api_type: GRPC, transport_api_version: V3, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}';
  const other = await startFrontdesk(yaml(adminPort, port, own.port, { source }),
    { adminPort, readyStatus: 503, args: ['--service-node', 'cli-node', '--service-cluster', 'cli-cluster'] });
  try {
    const stream = await own.stream(0);
    assert.equal(stream.service, 'eds');
    const first = await own.request(stream, 0);
    assert.deepEqual([first.node.id, first.node.cluster], ['cli-node', 'cli-cluster'], '--service-node/-cluster win');
    const nonce = own.send(stream, 'eds', 'a', [assignment('svc-endpoints', [endpoint(backends[0].port)])]);
    await until(() => stream.requests.find((r) => r.response_nonce === nonce), 5000, () => own.describe());
    await until(async () => (await httpRequest(port, '/')).body === 'backend 0', 3000, () => 'backend 0');
  } finally {
    assert.equal((await other.stop()).code, 0, other.proc.stderrText);
    await own.stop();
  }
});

test('without the xDS client library, a config that needs it is refused at start with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-xdslib-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, yaml(await freePort(), await freePort(), 1));
  const r = spawnSync(binary, ['-c', file], { encoding: 'utf8', timeout: 10000,
    env: { ...process.env, FRONTDESK_XDS_LIB: '/nonexistent/libfd_xds.so' } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the xDS client library libfd_xds\.so did not load \(tried \/nonexistent\/libfd_xds\.so\).*FRONTDESK_XDS_LIB/);
});
