// CDS from a real control server (lib/xds_server.mjs, Envoy's own protos): a static listener
// routes to clusters that come over ADS (cds_config: {ads: {}}), STATIC ones with their own
// endpoints and EDS ones whose endpoints follow on the same stream. Initializing until the
// first clusters are warm; clusters added, changed, removed (state of the world); a request in
// flight on a removed cluster completes; an unchanged cluster keeps its pools and counters; a
// bad cluster NACKed while the others apply and its previous version keeps serving; a DNS
// cluster resolved off the workers; a changed EDS cluster warming while the old one serves; 100 cluster updates under continuous load
// without a failed request; Envoy's cluster_manager stats and /config_dump entries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startFrontdesk, freePort, httpRequest, fetchText, adminStat } from './lib/frontdesk.mjs';
import { ControlServer, TYPE, anyOf, until, adsConfigYaml, xdsClusterYaml } from './lib/xds_server.mjs';

const backends = [];
let control, fd, admin, main, stream;

const endpoint = (port) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } });

// A STATIC cluster with its endpoints on the given backends.
function staticCluster(name, ...indexes) {
  return { name, type: 'STATIC', connect_timeout: { seconds: 1 },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: indexes.map((i) => endpoint(backends[i].port)) }] } };
}

// An EDS cluster whose endpoints come over ADS under service.
function edsCluster(name, service, extra = {}) {
  return { name, type: 'EDS', connect_timeout: { seconds: 1 },
    eds_cluster_config: { service_name: service, eds_config: { ads: {}, resource_api_version: 'V3' } }, ...extra };
}

const clusterAny = (c) => anyOf('cds', c);
const assignment = (service, ...indexes) =>
  anyOf('eds', { cluster_name: service, endpoints: [{ lb_endpoints: indexes.map((i) => endpoint(backends[i].port)) }] });

function yaml(adminPort, port, controlPort) {
  const routes = ['one', 'two', 'svc', 'extra', 'slow', 'dns'].map((c) => `
              - match: {prefix: "/${c}"}
                route: {cluster: ${c}}`).join('');
  return `node: {id: edge-3, cluster: edge}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
${adsConfigYaml}
  cds_config: {ads: {}, resource_api_version: V3}
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
              routes:${routes}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
${xdsClusterYaml(controlPort)}`;
}

const stat = (name) => adminStat(admin, name);
const body = async (path) => (await httpRequest(main, path)).body;

function verdict(type, nonce) {
  return until(() => stream.requests.find((r) => r.type_url === TYPE[type] && r.response_nonce === nonce), 5000,
    () => `a verdict on ${nonce}: ${control.describe()}`);
}

// The EDS names frontdesk asks for last.
const edsNames = () => stream.requests.filter((r) => r.type_url === TYPE.eds).at(-1)?.resource_names ?? [];

before(async () => {
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const server = createServer((req, res) => {
      if (req.url.startsWith('/slow')) setTimeout(() => res.end(`backend ${i} slow`), 600);
      else res.end(`backend ${i}`);
    });
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

test('clusters first, then the endpoints of the EDS ones; initializing until they are warm', async () => {
  stream = await control.stream(0);
  const first = await control.request(stream, 0);
  assert.equal(first.type_url, TYPE.cds, 'CDS is asked for first, as Envoy does');
  assert.deepEqual(first.resource_names, [], 'the wildcard');
  const nonce = control.send(stream, 'cds', 'c1', [staticCluster('one', 0), edsCluster('svc', 'svc-endpoints')].map(clusterAny));
  assert.equal((await verdict('cds', nonce)).version_info, 'c1');
  await until(() => edsNames().includes('svc-endpoints'), 5000, () => control.describe());
  // 'svc' warms until its endpoints come: the server is not ready yet
  const ready = await fetchText(`http://127.0.0.1:${admin}/ready`);
  assert.deepEqual([ready.status, ready.body], [503, 'INITIALIZING\n']);
  assert.equal(await stat('cluster_manager.warming_clusters'), 1);
  const eds = control.send(stream, 'eds', 'e1', [assignment('svc-endpoints', 1)]);
  assert.equal((await verdict('eds', eds)).version_info, 'e1');
  await until(async () => (await fetchText(`http://127.0.0.1:${admin}/ready`)).status === 200, 5000, () => 'LIVE');
  assert.equal(await body('/one'), 'backend 0');
  assert.equal(await body('/svc'), 'backend 1');
  assert.equal(await stat('cluster_manager.cds.update_success'), 1);
  assert.equal(await stat('cluster_manager.cluster_added'), 2);
  assert.equal(await stat('cluster_manager.active_clusters'), 3, 'xds, one, svc');
  assert.equal(await stat('cluster_manager.warming_clusters'), 0);
  assert.equal(await stat('cluster.svc.update_success'), 1);
  assert.equal(await stat('cluster.one.upstream_rq_2xx'), 1);
});

test('a cluster added is routed to; one absent from a response is removed (503 NC) and its EDS dropped', async () => {
  assert.equal((await httpRequest(main, '/extra')).status, 503, 'not there yet: NC');
  let nonce = control.send(stream, 'cds', 'c2',
    [staticCluster('one', 0), edsCluster('svc', 'svc-endpoints'), staticCluster('extra', 2)].map(clusterAny));
  assert.equal((await verdict('cds', nonce)).version_info, 'c2');
  await until(async () => (await body('/extra')) === 'backend 2', 3000, () => 'extra served');
  const clusters = (await fetchText(`http://127.0.0.1:${admin}/clusters`)).body;
  assert.match(clusters, /^extra::added_via_api::true$/m);
  assert.match(clusters, new RegExp(`^extra::127\\.0\\.0\\.1:${backends[2].port}::rq_success::1$`, 'm'));
  assert.match(clusters, /^xds::added_via_api::false$/m);
  nonce = control.send(stream, 'cds', 'c3', [staticCluster('one', 0), staticCluster('extra', 2)].map(clusterAny));
  assert.equal((await verdict('cds', nonce)).version_info, 'c3');
  await until(async () => (await httpRequest(main, '/svc')).status === 503, 3000, () => 'svc removed');
  const nc = await httpRequest(main, '/svc');
  assert.equal(nc.body, '');
  await until(() => edsNames().length === 0, 5000, () => `EDS unsubscribed: ${control.describe()}`);
  assert.equal(await stat('cluster_manager.cluster_removed'), 1);
  assert.equal(await stat('cluster.svc.upstream_rq_total'), undefined, 'its stats are gone with it');
  assert.doesNotMatch((await fetchText(`http://127.0.0.1:${admin}/clusters`)).body, /^svc::/m);
});

test('a request in flight on a removed cluster completes', async () => {
  let nonce = control.send(stream, 'cds', 'c4',
    [staticCluster('one', 0), staticCluster('extra', 2), staticCluster('slow', 1)].map(clusterAny));
  await verdict('cds', nonce);
  await until(async () => (await httpRequest(main, '/slow')).status === 200, 3000, () => 'slow served');
  const inflight = httpRequest(main, '/slow');
  await new Promise((r) => setTimeout(r, 150));
  nonce = control.send(stream, 'cds', 'c5', [staticCluster('one', 0), staticCluster('extra', 2)].map(clusterAny));
  await verdict('cds', nonce);
  await until(async () => (await httpRequest(main, '/slow')).status === 503, 3000, () => 'slow removed');
  const r = await inflight;
  assert.deepEqual([r.status, r.body], [200, 'backend 1 slow']);
});

test('an unchanged cluster sent again keeps its pools and counters; a changed one keeps its counters', async () => {
  for (let i = 0; i < 5; i++) assert.equal(await body('/one'), 'backend 0');
  const total = await stat('cluster.one.upstream_rq_total');
  const connections = await stat('cluster.one.upstream_cx_total');
  const modified = await stat('cluster_manager.cluster_modified');
  let nonce = control.send(stream, 'cds', 'c6', [staticCluster('one', 0), staticCluster('extra', 2)].map(clusterAny));
  await verdict('cds', nonce);
  for (let i = 0; i < 5; i++) assert.equal(await body('/one'), 'backend 0');
  assert.equal(await stat('cluster.one.upstream_cx_total'), connections, 'pooled connections reused');
  assert.equal(await stat('cluster_manager.cluster_modified'), modified);
  nonce = control.send(stream, 'cds', 'c7', [staticCluster('one', 1), staticCluster('extra', 2)].map(clusterAny));
  await verdict('cds', nonce);
  await until(async () => (await body('/one')) === 'backend 1', 3000, () => 'one changed');
  assert.equal(await stat('cluster_manager.cluster_modified'), modified + 1);
  assert.ok(await stat('cluster.one.upstream_rq_total') >= total + 6, 'counters carry over a change');
});

test('a bad cluster is NACKed with the reason; the others apply and its previous version keeps serving', async () => {
  const bad = { ...staticCluster('one', 2), lb_policy: 'MAGLEV' };
  const nonce = control.send(stream, 'cds', 'c8', [bad, staticCluster('extra', 0), staticCluster('xds', 0)].map(clusterAny));
  const nack = await verdict('cds', nonce);
  assert.equal(nack.version_info, 'c7', 'a NACK carries the last accepted version');
  assert.match(nack.error_detail.message, /Cluster 'one': .*lb_policy MAGLEV is not supported/);
  assert.match(nack.error_detail.message, /Cluster 'xds': a static cluster of the bootstrap has this name/);
  await until(async () => (await body('/extra')) === 'backend 0', 3000, () => 'extra changed');
  assert.equal(await body('/one'), 'backend 1', 'the previous version of the bad one serves');
  assert.equal(await stat('cluster_manager.cds.update_rejected'), 1);
  assert.match(fd.proc.stderrText, /CDS update c8: refused cluster\(s\) keep their previous version/);
});

test('a DNS cluster from CDS is resolved and served; a changed one serves on with its last addresses meanwhile', async () => {
  const dns = (refreshSeconds) => ({ name: 'dns', type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY', connect_timeout: { seconds: 1 },
    dns_refresh_rate: { seconds: refreshSeconds },
    load_assignment: { cluster_name: 'dns', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: backends[0].port } } } }] }] } });
  const others = [staticCluster('one', 1), staticCluster('extra', 0)];
  assert.equal((await verdict('cds', control.send(stream, 'cds', 'c9', [...others, dns(5)].map(clusterAny)))).error_detail, null);
  await until(async () => (await body('/dns')) === 'backend 0', 3000, () => 'dns served');
  assert.match((await fetchText(`http://127.0.0.1:${admin}/clusters`)).body, /^dns::127\.0\.0\.1:\d+::hostname::localhost$/m);
  await verdict('cds', control.send(stream, 'cds', 'c9b', [...others, dns(6)].map(clusterAny)));
  for (let i = 0; i < 20; i++) assert.equal(await body('/dns'), 'backend 0', 'no gap while the new version resolves');
  await verdict('cds', control.send(stream, 'cds', 'c9c', others.map(clusterAny)));
  await until(async () => (await httpRequest(main, '/dns')).status === 503, 3000, () => 'dns removed');
});

test('a changed EDS cluster warms while its previous version serves; /config_dump shows both', async () => {
  let nonce = control.send(stream, 'cds', 'c10',
    [staticCluster('one', 1), staticCluster('extra', 0), edsCluster('two', 'two-a')].map(clusterAny));
  await verdict('cds', nonce);
  await until(() => edsNames().includes('two-a'), 5000, () => control.describe());
  await verdict('eds', control.send(stream, 'eds', 'e2', [assignment('two-a', 0)]));
  await until(async () => (await body('/two')) === 'backend 0', 3000, () => 'two served');
  // the new version names another service, whose endpoints are late: the old one keeps serving
  nonce = control.send(stream, 'cds', 'c11',
    [staticCluster('one', 1), staticCluster('extra', 0), edsCluster('two', 'two-b')].map(clusterAny));
  await verdict('cds', nonce);
  await until(() => edsNames().includes('two-b'), 5000, () => control.describe());
  for (let i = 0; i < 5; i++) assert.equal(await body('/two'), 'backend 0');
  let dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  let clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
  assert.equal(clusters.version_info, 'c11');
  assert.deepEqual(clusters.dynamic_warming_clusters.map((e) => [e.cluster.name, e.version_info]), [['two', 'c11']]);
  const active = clusters.dynamic_active_clusters.find((e) => e.cluster.name === 'two');
  assert.equal(active.version_info, 'c10');
  assert.equal(active.cluster['@type'], 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.equal(active.cluster.eds_cluster_config.service_name, 'two-a');
  assert.match(active.last_updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(clusters.static_clusters.length, 1);
  await verdict('eds', control.send(stream, 'eds', 'e3', [assignment('two-a', 0), assignment('two-b', 2)]));
  await until(async () => (await body('/two')) === 'backend 2', 3000, () => 'two warmed');
  await until(() => !edsNames().includes('two-a'), 5000, () => `two-a dropped: ${control.describe()}`);
  dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
  assert.equal(clusters.dynamic_warming_clusters, undefined);
  const endpoints = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump');
  assert.deepEqual(endpoints.dynamic_endpoint_configs.map((e) => e.endpoint_config.cluster_name), ['two-b']);
});

test('100 consecutive cluster updates under continuous load: no failed request, each one applied', async () => {
  const results = [];
  let stop = false;
  const client = async () => {
    for (let i = 0; i < 20000 && !stop; i++) {
      try {
        results.push((await httpRequest(main, '/one')).status);
      } catch (e) {
        results.push(e.message);
      }
    }
  };
  const load = Promise.all([client(), client(), client()]);
  for (let v = 0; v < 100; v++) {
    const target = v % 2 === 0 ? 2 : 0;
    const nonce = control.send(stream, 'cds', `u${v}`,
      [staticCluster('one', target), staticCluster('extra', 0), edsCluster('two', 'two-b')].map(clusterAny));
    assert.equal((await verdict('cds', nonce)).version_info, `u${v}`);
    await until(async () => (await body('/one')) === `backend ${target}`, 3000, () => `u${v}`);
  }
  stop = true;
  await load;
  const failed = results.filter((s) => s !== 200);
  assert.ok(results.length > 200, `${results.length} requests`);
  assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed`);
});

test('a CDS stream of its own (api_config_source); an EDS cluster whose endpoints never come warms until initial_fetch_timeout', async () => {
  const own = await new ControlServer().start();
  const [adminPort, port] = [await freePort(), await freePort()];
  const config = yaml(adminPort, port, own.port).replace(`${adsConfigYaml}
  cds_config: {ads: {}, resource_api_version: V3}`, `dynamic_resources:
  cds_config:
    resource_api_version: V3
    api_config_source: {api_type: GRPC, transport_api_version: V3, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}`);
  const other = await startFrontdesk(config, { adminPort, readyStatus: 503 });
  try {
    const cds = await own.stream(0);
    assert.equal(cds.service, 'cds', 'the ClusterDiscoveryService, not ADS');
    const lateEds = { name: 'svc', type: 'EDS', connect_timeout: { seconds: 1 },
      eds_cluster_config: { service_name: 'late', eds_config: { initial_fetch_timeout: { nanos: 500000000 }, resource_api_version: 'V3',
        api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } } } };
    const started = Date.now();
    own.send(cds, 'cds', 'v1', [staticCluster('one', 2), lateEds].map(clusterAny));
    const eds = await own.stream(1);
    assert.equal(eds.service, 'eds', 'its EDS on the EndpointDiscoveryService');
    assert.deepEqual((await own.request(eds, 0)).resource_names, ['late']);
    await until(async () => (await fetchText(`http://127.0.0.1:${adminPort}/ready`)).status === 200, 5000, () => 'LIVE');
    assert.ok(Date.now() - started >= 400, 'it waited for the timeout');
    assert.equal((await httpRequest(port, '/one')).body, 'backend 2');
    const uh = await httpRequest(port, '/svc');
    assert.deepEqual([uh.status, uh.body], [503, 'no healthy upstream']);
    assert.match(other.proc.stderrText, /cluster 'svc' had no endpoints within its initial_fetch_timeout/);
    own.send(eds, 'eds', 'e1', [assignment('late', 1)]);
    await until(async () => (await httpRequest(port, '/svc')).body === 'backend 1', 3000, () => 'svc served');
  } finally {
    assert.equal((await other.stop()).code, 0, other.proc.stderrText);
    await own.stop();
  }
});

test('one EDS response warms a cluster that changed service and a new one on that service, and drops the old service', async () => {
  // 'two' moves from two-b to two-c and 'svc' comes on two-c; the response names two-c first,
  // so taking it activates 'two' (dropping two-b) while the response is still being applied
  const nonce = control.send(stream, 'cds', 'w1',
    [staticCluster('one', 0), staticCluster('extra', 0), edsCluster('two', 'two-c'), edsCluster('svc', 'two-c')].map(clusterAny));
  await verdict('cds', nonce);
  await until(() => edsNames().includes('two-c'), 5000, () => control.describe());
  await verdict('eds', control.send(stream, 'eds', 'w1', [assignment('two-c', 1), assignment('two-b', 2)]));
  await until(async () => (await body('/two')) === 'backend 1', 3000, () => 'two moved');
  await until(async () => (await body('/svc')) === 'backend 1', 3000, () => 'svc warmed by the same response');
  await until(() => edsNames().join() === 'two-c', 5000, () => `two-b dropped: ${control.describe()}`);
  assert.equal(await stat('cluster_manager.warming_clusters'), 0);
  assert.equal(await stat('cluster.svc.update_success'), 1);
});
