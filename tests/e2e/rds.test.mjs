// RDS from a real control server (lib/xds_server.mjs, Envoy's own protos): a static listener's
// HTTP connection manager takes its routes over ADS. Initializing until the first
// RouteConfiguration; 100 consecutive route updates under continuous load with no failed
// request; a bad update (a regex that does not compile) NACKed while the last good routes keep
// serving; how fast an update reaches the workers; Envoy's rds stats.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startFrontdesk, freePort, httpRequest, fetchText, adminStat } from './lib/frontdesk.mjs';
import { ControlServer, TYPE, anyOf, until, adsConfigYaml, xdsClusterYaml } from './lib/xds_server.mjs';

const backends = [];
let control, fd, admin, main, stream;

// A RouteConfiguration 'edge-routes': /v sends to the cluster named, / to b0.
function routeConfig(cluster, extraRoutes = []) {
  return anyOf('rds', {
    name: 'edge-routes',
    virtual_hosts: [{
      name: 'all', domains: ['*'],
      routes: [...extraRoutes,
        { match: { prefix: '/v' }, route: { cluster } },
        { match: { prefix: '/' }, route: { cluster: 'b0' } }],
    }],
  });
}

function yaml(adminPort, port, controlPort) {
  const clusters = backends.map((b, i) => `
  - name: b${i}
    connect_timeout: 1s
    load_assignment:
      cluster_name: b${i}
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${b.port}}}}`).join('');
  return `node: {id: edge-2, cluster: edge}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
${adsConfigYaml}
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
          rds:
            route_config_name: edge-routes
            config_source: {ads: {}, resource_api_version: V3}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:${clusters}
${xdsClusterYaml(controlPort)}`;
}

const stat = (name) => adminStat(admin, name);

function verdict(nonce) {
  return until(() => stream.requests.find((r) => r.type_url === TYPE.rds && r.response_nonce === nonce), 5000,
    () => `a verdict on ${nonce}: ${control.describe()}`);
}

before(async () => {
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const server = createServer((req, res) => res.end(`backend ${i}`));
    server.keepAliveTimeout = 60000;
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    backends.push({ server, port });
  }
  control = await new ControlServer().start();
  admin = await freePort();
  main = await freePort();
  fd = await startFrontdesk(yaml(admin, main, control.port), { adminPort: admin, readyStatus: 503 });
  stream = await control.stream(0);
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0, fd.proc.stderrText);
  await control.stop();
  for (const b of backends) b.server.close();
});

test('initializing until the first RouteConfiguration, then routed by it', async () => {
  const first = await control.request(stream, 0);
  assert.equal(first.type_url, TYPE.rds);
  assert.deepEqual(first.resource_names, ['edge-routes']);
  assert.equal((await fetchText(`http://127.0.0.1:${admin}/ready`)).body, 'INITIALIZING\n');
  let early = null;
  const waiting = httpRequest(main, '/v').then((r) => (early = r));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(early, null, 'a listener waiting for its routes accepts nothing yet');
  const ack = await verdict(control.send(stream, 'rds', '1', [routeConfig('b1')]));
  assert.equal(ack.version_info, '1');
  await until(async () => (await fetchText(`http://127.0.0.1:${admin}/ready`)).status === 200, 3000, () => 'LIVE');
  assert.equal((await waiting).body, 'backend 1', 'the request that waited is routed by the first routes');
  assert.equal((await httpRequest(main, '/v')).body, 'backend 1');
  assert.equal((await httpRequest(main, '/x')).body, 'backend 0');
  assert.equal(await stat('http.main.rds.edge-routes.update_success'), 1);
});

test('100 consecutive route updates under continuous load: no failed request, each one applied', async () => {
  const results = [];
  let stop = false;
  const client = async () => {
    for (let i = 0; i < 20000 && !stop; i++) results.push(await httpRequest(main, '/v'));
  };
  const load = Promise.all([client(), client(), client()]);
  const delays = [];
  for (let v = 0; v < 100; v++) {
    const cluster = v % 2 === 0 ? 'b2' : 'b1';
    const nonce = control.send(stream, 'rds', `u${v}`, [routeConfig(cluster)]);
    const ack = await verdict(nonce);
    assert.equal(ack.version_info, `u${v}`);
    // the update has reached the workers when a fresh request is routed by it
    const started = Date.now();
    await until(async () => (await httpRequest(main, '/v')).body === `backend ${cluster.slice(1)}`, 3000, () => `u${v}`);
    delays.push(Date.now() - started);
  }
  stop = true;
  await load;
  assert.ok(results.length > 100, `${results.length} requests during the updates`);
  assert.deepEqual(results.filter((r) => r.status !== 200), []);
  delays.sort((a, b) => a - b);
  console.log(`# route update visible after ACK: median ${delays[50]} ms, max ${delays.at(-1)} ms`);
  assert.equal(await stat('http.main.rds.edge-routes.update_success'), 101);
});

test('a RouteConfiguration that does not compile is NACKed with the reason; the last good routes serve', async () => {
  const before = (await httpRequest(main, '/v')).body;
  const bad = routeConfig('b0', [{ match: { safe_regex: { regex: '(unclosed' } }, route: { cluster: 'b0' } }]);
  const nack = await verdict(control.send(stream, 'rds', 'bad', [bad]));
  assert.equal(nack.version_info, 'u99');
  assert.match(nack.error_detail.message, /RouteConfiguration 'edge-routes': .*\(unclosed/);
  assert.equal((await httpRequest(main, '/v')).body, before);
  assert.equal(await stat('http.main.rds.edge-routes.update_rejected'), 1);
});

test('/config_dump shows the route configuration in force, with its version and when it came', async () => {
  const dump = JSON.parse((await fetchText(`http://127.0.0.1:${admin}/config_dump`)).body);
  const routes = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump');
  assert.equal(routes.dynamic_route_configs.length, 1);
  const entry = routes.dynamic_route_configs[0];
  assert.equal(entry.version_info, 'u99', 'the NACKed update is not shown');
  assert.equal(entry.route_config['@type'], 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration');
  assert.equal(entry.route_config.name, 'edge-routes');
  assert.equal(entry.route_config.virtual_hosts[0].routes.at(-2).route.cluster, 'b1');
  assert.match(entry.last_updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('a route naming a cluster that does not exist answers 503 NC, as Envoy does', async () => {
  await verdict(control.send(stream, 'rds', 'nc', [routeConfig('nowhere')]));
  await until(async () => (await httpRequest(main, '/v')).status === 503, 3000, () => '503');
  assert.equal((await httpRequest(main, '/other')).body, 'backend 0');
});

test('the configuration in force sent again is accepted but not reloaded (config_reload counts changes)', async () => {
  const success = await stat('http.main.rds.edge-routes.update_success');
  const reloads = await stat('http.main.rds.edge-routes.config_reload');
  const ack = await verdict(control.send(stream, 'rds', 'nc-again', [routeConfig('nowhere')]));
  assert.equal(ack.version_info, 'nc-again');
  assert.equal(await stat('http.main.rds.edge-routes.update_success'), success + 1);
  assert.equal(await stat('http.main.rds.edge-routes.config_reload'), reloads);
  assert.equal((await httpRequest(main, '/v')).status, 503);
});
