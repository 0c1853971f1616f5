// LDS from a real control server (lib/xds_server.mjs, Envoy's own protos): listeners come over
// ADS (lds_config: {ads: {}}) and route to static clusters, inline or through RDS. Initializing
// until the first listeners are warm; a listener whose routes come from RDS warms until they
// do; a changed listener takes over its sockets under continuous load without a failed request;
// a listener removed while a request is in flight lets it finish, then its port is closed; a bad
// listener NACKed while the others apply; Envoy's listener_manager stats and /config_dump.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startFrontdesk, freePort, httpRequest, fetchText, adminStat } from './lib/frontdesk.mjs';
import { ControlServer, TYPE, anyOf, until, adsConfigYaml, xdsClusterYaml } from './lib/xds_server.mjs';

const backends = [];
let control, fd, admin, stream;
const ports = {};

const ROUTER = { name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

// A Listener on ports[name] whose connection manager routes / to cluster (inline), or takes
// its routes from RDS under rdsName.
function listener(name, { cluster, rdsName, regex } = {}) {
  const hcm = { stat_prefix: name, http_filters: [ROUTER] };
  if (rdsName) {
    hcm.rds = { route_config_name: rdsName, config_source: { ads: {}, resource_api_version: 'V3' } };
  } else {
    const match = regex ? { safe_regex: { regex } } : { prefix: '/' };
    hcm.route_config = { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match, route: { cluster } }] }] };
  }
  const typed = anyOf('hcm', hcm);
  return anyOf('lds', {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: ports[name] } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: typed }] }],
  });
}

const routeConfig = (name, cluster) =>
  anyOf('rds', { name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] });

function yaml(adminPort, controlPort) {
  const clusters = backends.map((b, i) => `
  - name: b${i}
    connect_timeout: 1s
    load_assignment:
      cluster_name: b${i}
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${b.port}}}}`).join('');
  return `node: {id: edge-4, cluster: edge}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
${adsConfigYaml}
  lds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:${clusters}
${xdsClusterYaml(controlPort)}`;
}

const stat = (name) => adminStat(admin, name);
const body = async (name, path = '/') => (await httpRequest(ports[name], path)).body;

function verdict(type, nonce) {
  return until(() => stream.requests.find((r) => r.type_url === TYPE[type] && r.response_nonce === nonce), 5000,
    () => `a verdict on ${nonce}: ${control.describe()}`);
}

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
  for (const name of ['front', 'api', 'gone', 'bad']) ports[name] = await freePort();
  control = await new ControlServer().start();
  admin = await freePort();
  fd = await startFrontdesk(yaml(admin, control.port), { adminPort: admin, readyStatus: 503 });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  await control.stop();
  for (const b of backends) b.server.close();
});

test('listeners from LDS: initializing until the first one is in, then it serves', async () => {
  stream = await control.stream(0);
  const first = await control.request(stream, 0);
  assert.equal(first.type_url, TYPE.lds);
  assert.deepEqual(first.resource_names, [], 'the wildcard');
  assert.equal((await fetchText(`http://127.0.0.1:${admin}/ready`)).status, 503);
  assert.equal((await verdict('lds', control.send(stream, 'lds', 'l1', [listener('front', { cluster: 'b0' })]))).version_info, 'l1');
  await until(async () => (await fetchText(`http://127.0.0.1:${admin}/ready`)).status === 200, 5000, () => 'LIVE');
  assert.equal(await body('front'), 'backend 0');
  assert.equal(await stat('listener_manager.listener_added'), 1);
  assert.equal(await stat('listener_manager.total_listeners_active'), 1);
  assert.equal(await stat('http.front.downstream_rq_2xx'), 1);
});

test('a listener taking its routes from RDS warms until they come', async () => {
  const nonce = control.send(stream, 'lds', 'l2', [listener('front', { cluster: 'b0' }), listener('api', { rdsName: 'api-routes' })]);
  assert.equal((await verdict('lds', nonce)).version_info, 'l2');
  await until(() => stream.requests.some((r) => r.type_url === TYPE.rds && r.resource_names.includes('api-routes')), 5000,
    () => control.describe());
  assert.equal(await stat('listener_manager.total_listeners_warming'), 1);
  let dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  let listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump');
  const api = listeners.dynamic_listeners.find((l) => l.name === 'api');
  assert.equal(api.warming_state.version_info, 'l2');
  assert.equal(api.active_state, undefined);
  await verdict('rds', control.send(stream, 'rds', 'r1', [routeConfig('api-routes', 'b1')]));
  await until(async () => (await body('api').catch(() => '')) === 'backend 1', 3000, () => 'api served');
  assert.equal(await stat('listener_manager.total_listeners_warming'), 0);
  assert.equal(await stat('listener_manager.total_listeners_active'), 2);
  assert.equal(await stat('http.api.rds.api-routes.update_success'), 1);
  dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump');
  assert.equal(listeners.version_info, 'l2');
  const front = listeners.dynamic_listeners.find((l) => l.name === 'front');
  assert.equal(front.active_state.version_info, 'l1', 'unchanged since l1');
  assert.equal(front.active_state.listener['@type'], 'type.googleapis.com/envoy.config.listener.v3.Listener');
  assert.match(front.active_state.last_updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('a changed listener takes over its port under continuous load: no failed request, each change applied', async () => {
  const results = [];
  let stop = false;
  const client = async () => {
    for (let i = 0; i < 20000 && !stop; i++) {
      try {
        results.push((await httpRequest(ports.front, '/')).status);
      } catch (e) {
        results.push(e.message);
      }
    }
  };
  const load = Promise.all([client(), client(), client()]);
  for (let v = 0; v < 30; v++) {
    const cluster = v % 2 === 0 ? 'b2' : 'b0';
    const nonce = control.send(stream, 'lds', `m${v}`, [listener('front', { cluster }), listener('api', { rdsName: 'api-routes' })]);
    assert.equal((await verdict('lds', nonce)).version_info, `m${v}`);
    await until(async () => (await body('front')) === `backend ${cluster.slice(1)}`, 3000, () => `m${v}`);
  }
  stop = true;
  await load;
  const failed = results.filter((s) => s !== 200);
  assert.ok(results.length > 100, `${results.length} requests`);
  assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed`);
  assert.equal(await stat('listener_manager.listener_modified'), 30);
  await until(async () => (await stat('http.front.downstream_rq_total')) >= results.length, 3000,
    () => 'the counters of the versions drained and freed stay in http.front.*');
});

test('a listener removed while a request is in flight lets it finish, then its port closes', async () => {
  let nonce = control.send(stream, 'lds', 'g1',
    [listener('front', { cluster: 'b0' }), listener('api', { rdsName: 'api-routes' }), listener('gone', { cluster: 'b1' })]);
  await verdict('lds', nonce);
  await until(async () => (await body('gone').catch(() => '')) === 'backend 1', 3000, () => 'gone served');
  const inflight = httpRequest(ports.gone, '/slow');
  await new Promise((r) => setTimeout(r, 150));
  nonce = control.send(stream, 'lds', 'g2', [listener('front', { cluster: 'b0' }), listener('api', { rdsName: 'api-routes' })]);
  await verdict('lds', nonce);
  const r = await inflight;
  assert.deepEqual([r.status, r.body], [200, 'backend 1 slow']);
  assert.equal(r.headers.connection, 'close', 'the draining listener closes the connection after it');
  await until(async () => {
    try {
      await httpRequest(ports.gone, '/');
      return false;
    } catch (e) {
      return e.code === 'ECONNREFUSED';
    }
  }, 5000, () => 'port closed');
  assert.equal(await stat('listener_manager.listener_removed'), 1);
  assert.equal(await body('front'), 'backend 0');
});

test('a bad listener is NACKed with the reason; the others apply', async () => {
  const busy = createServer(() => {});
  const taken = await freePort();
  await new Promise((r) => busy.listen(taken, '127.0.0.1', r));
  try {
    ports.taken = taken;
    ports.twin = ports.front;
    const twin = listener('twin', { cluster: 'b1' });
    const nonce = control.send(stream, 'lds', 'b1', [listener('front', { cluster: 'b2' }), listener('api', { rdsName: 'api-routes' }),
      listener('bad', { cluster: 'b0', regex: '(' }), listener('taken', { cluster: 'b0' }), twin]);
    const nack = await verdict('lds', nonce);
    assert.equal(nack.version_info, 'g2');
    assert.match(nack.error_detail.message, /Listener 'bad': .*regex/);
    assert.match(nack.error_detail.message, /Listener 'taken': .*(in use|bind)/i);
    assert.match(nack.error_detail.message, /Listener 'twin': its address 127\.0\.0\.1:\d+ is already the listener 'front''s/);
    await until(async () => (await body('front')) === 'backend 2', 3000, () => 'front changed');
    assert.equal(await stat('listener_manager.lds.update_rejected'), 1);
  } finally {
    busy.close();
  }
});

test('RDS follows the listeners: the routes of a removed listener are no longer asked for', async () => {
  await verdict('lds', control.send(stream, 'lds', 'x1', [listener('front', { cluster: 'b2' })]));
  const lastRds = () => stream.requests.filter((r) => r.type_url === TYPE.rds).at(-1);
  await until(() => !lastRds().resource_names.includes('api-routes'), 5000, () => control.describe());
  assert.equal(await stat('listener_manager.total_listeners_active'), 1);
  assert.equal(await body('front'), 'backend 2');
});

// Only the control server is in the bootstrap: listeners, routes, clusters and endpoints come
// from it, as a go-control-plane or Istio user has it.
function dynamicOnlyYaml(adminPort, controlPort, source) {
  const dynamic = source === 'ads' ? `${adsConfigYaml}
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}` : `dynamic_resources:
  lds_config: {resource_api_version: V3, api_config_source: {api_type: GRPC, transport_api_version: V3, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}}
  cds_config: {resource_api_version: V3, api_config_source: {api_type: GRPC, transport_api_version: V3, grpc_services: [{envoy_grpc: {cluster_name: xds}}]}}`;
  return `node: {id: edge-5, cluster: edge}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
${dynamic}
static_resources:
  clusters:
${xdsClusterYaml(controlPort)}`;
}

for (const source of ['ads', 'per-type streams']) {
  test(`everything from the control server (${source}): CDS, EDS, LDS, RDS in Envoy's order, then traffic`, async () => {
    let own = await new ControlServer().start();
    const [adminPort, port] = [await freePort(), await freePort()];
    const other = await startFrontdesk(dynamicOnlyYaml(adminPort, own.port, source), { adminPort, readyStatus: 503 });
    const ads = source === 'ads';
    const config = ads ? { ads: {}, resource_api_version: 'V3' } : { resource_api_version: 'V3',
      api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds' } }] } };
    const streamOf = async (service) => ads ? own.stream(0) : until(() => own.streams.find((s) => s.service === service), 5000, () => own.describe());
    const answered = (s, type, nonce) => until(() => s.requests.find((r) => r.type_url === TYPE[type] && r.response_nonce === nonce), 5000, () => own.describe());
    try {
      const cds = await streamOf('cds');
      const first = await own.request(cds, 0);
      assert.equal(first.type_url, TYPE.cds, 'clusters are asked for first');
      await answered(cds, 'cds', own.send(cds, 'cds', 'c1', [anyOf('cds', { name: 'web', type: 'EDS', connect_timeout: { seconds: 1 },
        eds_cluster_config: { service_name: 'web-eps', eds_config: config } })]));
      const eds = await streamOf('eds');
      await until(() => eds.requests.some((r) => r.type_url === TYPE.eds && r.resource_names.includes('web-eps')), 5000, () => own.describe());
      await answered(eds, 'eds', own.send(eds, 'eds', 'e1', [anyOf('eds', { cluster_name: 'web-eps',
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: backends[2].port } } } }] }] })]));
      const lds = await streamOf('lds');
      await until(() => lds.requests.some((r) => r.type_url === TYPE.lds), 5000, () => own.describe());
      const hcm = anyOf('hcm', { stat_prefix: 'edge', http_filters: [ROUTER], rds: { route_config_name: 'edge-routes', config_source: config } });
      await answered(lds, 'lds', own.send(lds, 'lds', 'l1', [anyOf('lds', { name: 'edge',
        address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }] })]));
      assert.equal((await fetchText(`http://127.0.0.1:${adminPort}/ready`)).status, 503, 'the listener warms until its routes come');
      const rds = await streamOf('rds');
      await until(() => rds.requests.some((r) => r.type_url === TYPE.rds && r.resource_names.includes('edge-routes')), 5000, () => own.describe());
      await answered(rds, 'rds', own.send(rds, 'rds', 'r1', [anyOf('rds', { name: 'edge-routes',
        virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'web' } }] }] })]));
      await until(async () => (await fetchText(`http://127.0.0.1:${adminPort}/ready`)).status === 200, 5000, () => 'LIVE');
      const r = await httpRequest(port, '/');
      assert.deepEqual([r.status, r.body], [200, 'backend 2']);
      if (ads) {
        const order = own.streams[0].requests.map((q) => Object.keys(TYPE).find((k) => TYPE[k] === q.type_url));
        assert.deepEqual([...new Set(order)], ['cds', 'eds', 'lds', 'rds'], 'Envoy\'s order on one stream');
        // the control server dies: everything keeps serving; back, it is asked again with the versions known
        const controlPort = own.port;
        await own.stop();
        assert.equal((await httpRequest(port, '/')).body, 'backend 2');
        own = await new ControlServer().start(controlPort);
        const again = await own.stream(0, 30000);
        const versions = { cds: 'c1', eds: 'e1', lds: 'l1', rds: 'r1' };
        await until(() => Object.keys(versions).every((k) => again.requests.some((q) => q.type_url === TYPE[k] && q.version_info === versions[k])),
          10000, () => own.describe());
        assert.equal((await httpRequest(port, '/')).body, 'backend 2');
      } else {
        assert.deepEqual(own.streams.map((s) => s.service).sort(), ['cds', 'eds', 'lds', 'rds']);
      }
    } finally {
      assert.equal((await other.stop()).code, 0, other.proc.stderrText);
      await own.stop();
    }
  });
}
