// How fast frontdesk applies what a control server sends (a measurement, not a test):
//   1,000 EDS clusters' endpoints in one response, 10,000 routes in one RouteConfiguration,
//   and how long a route change takes to reach the workers, with frontdesk's RSS after each;
//   then 1,000 clusters from CDS with their endpoints from EDS, one cluster changed among
//   them, and all of them changed.
// Uses the e2e control server (tests/e2e/lib/xds_server.mjs, Envoy's own protos); loopback only.
//   node tests/bench/xds_apply.mjs            (FRONTDESK_BIN=path, else the -c opt build)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const e2e = join(repo, 'tests', 'e2e');
const CLUSTERS = 1000, ROUTES = 10000, CHANGES = Number(process.env.CHANGES || 20);

function optBinary() {
  if (process.env.FRONTDESK_BIN) return process.env.FRONTDESK_BIN;
  execFileSync('bazel', ['build', '-c', 'opt', '--symlink_prefix=/', '//proxy:frontdesk'], { cwd: repo, stdio: 'inherit' });
  const bin = execFileSync('bazel', ['info', '-c', 'opt', 'bazel-bin'], { cwd: repo }).toString().trim();
  return join(bin, 'proxy', 'frontdesk');
}

const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;

function bootstrap(admin, port, controlPort) {
  let clusters = '';
  for (let i = 0; i < CLUSTERS; i++)
    clusters += `
  - name: c${i}
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: {eds_config: {ads: {}, resource_api_version: V3}}`;
  return `admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${admin}}}}
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
          rds: {route_config_name: bench-routes, config_source: {ads: {}, resource_api_version: V3}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:${clusters}${xdsClusterYaml(controlPort)}`;
}

function routes(version, target) {
  const list = [];
  for (let i = 0; i < ROUTES; i++) list.push({ match: { prefix: `/r${i}/` }, route: { cluster: `c${i % CLUSTERS}` } });
  list.push({ match: { prefix: '/probe' }, direct_response: { status: 200, body: { inline_string: target } } });
  return [anyOf('rds', { name: 'bench-routes', virtual_hosts: [{ name: 'all', domains: ['*'], routes: list }] })];
}

process.env.FRONTDESK_BIN = optBinary(); /* before the harness reads it */
const { startFrontdesk, freePort, httpRequest, fetchText, binary } = await import(join(e2e, 'lib', 'frontdesk.mjs'));
const { ControlServer, TYPE, anyOf, until, adsConfigYaml, xdsClusterYaml } = await import(join(e2e, 'lib', 'xds_server.mjs'));

const backend = createServer((req, res) => res.end('ok'));
const backendPort = await freePort();
await new Promise((r) => backend.listen(backendPort, '127.0.0.1', r));
const control = await new ControlServer().start();
const admin = await freePort(), port = await freePort();
const fd = await startFrontdesk(bootstrap(admin, port, control.port), { adminPort: admin, readyStatus: 503, readyTimeoutMs: 30000 });
try {
  console.log(`binary: ${binary}`);
  console.log(`RSS with ${CLUSTERS} EDS clusters, before any response: ${rss(fd.proc.pid).toFixed(1)} MiB`);
  const stream = await control.stream(0);
  await until(() => stream.requests.filter((r) => r.type_url === TYPE.eds || r.type_url === TYPE.rds).length >= 2, 10000, () => control.describe());
  const verdict = (nonce, type) => until(() => stream.requests.find((r) => r.type_url === type && r.response_nonce === nonce), 30000, () => nonce);

  const assignments = [];
  for (let i = 0; i < CLUSTERS; i++)
    assignments.push(anyOf('eds', { cluster_name: `c${i}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: backendPort } } } }] }] }));
  let t0 = process.hrtime.bigint();
  await verdict(control.send(stream, 'eds', 'e1', assignments), TYPE.eds);
  const edsAck = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`EDS: ${CLUSTERS} clusters' endpoints checked, sent to the workers and ACKed in ${edsAck.toFixed(1)} ms; RSS ${rss(fd.proc.pid).toFixed(1)} MiB`);

  t0 = process.hrtime.bigint();
  await verdict(control.send(stream, 'rds', 'r1', routes('r1', 'v1')), TYPE.rds);
  const rdsAck = Number(process.hrtime.bigint() - t0) / 1e6;
  await until(async () => (await httpRequest(port, `/r${ROUTES - 1}/x`)).body === 'ok', 10000, () => 'the last route');
  const rdsServed = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`RDS: ${ROUTES} routes compiled, indexed, sent and ACKed in ${rdsAck.toFixed(1)} ms; served (last route) after ${rdsServed.toFixed(1)} ms; RSS ${rss(fd.proc.pid).toFixed(1)} MiB`);
  await until(async () => (await fetchText(`http://127.0.0.1:${admin}/ready`)).status === 200, 5000, () => 'LIVE');

  const delays = [];
  for (let v = 0; v < CHANGES; v++) {
    const target = `v${v + 2}`;
    const resources = routes(target, target); /* encoded before the clock starts */
    const sent = process.hrtime.bigint();
    control.send(stream, 'rds', target, resources);
    await until(async () => (await httpRequest(port, '/probe')).body === target, 10000, () => target);
    delays.push(Number(process.hrtime.bigint() - sent) / 1e6);
  }
  delays.sort((a, b) => a - b);
  console.log(`route change (${ROUTES} routes each) push to first request served by it: median ${delays[CHANGES / 2].toFixed(1)} ms, max ${delays.at(-1).toFixed(1)} ms over ${CHANGES}; RSS ${rss(fd.proc.pid).toFixed(1)} MiB`);
} finally {
  await fd.stop();
  await control.stop();
}

// Phase 2: clusters from CDS (EDS ones), routed by a header naming the cluster.
function cdsBootstrap(admin, port, controlPort) {
  return `admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${admin}}}}
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
            - {name: all, domains: ["*"], routes: [{match: {prefix: "/"}, route: {cluster_header: x-cluster}}]}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:${xdsClusterYaml(controlPort)}`;
}

const cdsClusters = (timeoutSeconds) => {
  const list = [];
  for (let i = 0; i < CLUSTERS; i++)
    list.push(anyOf('cds', { name: `d${i}`, type: 'EDS', connect_timeout: { seconds: timeoutSeconds },
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } }));
  return list;
};

const control2 = await new ControlServer().start();
const admin2 = await freePort(), port2 = await freePort();
const fd2 = await startFrontdesk(cdsBootstrap(admin2, port2, control2.port), { adminPort: admin2, readyStatus: 503, readyTimeoutMs: 30000 });
try {
  const stream = await control2.stream(0);
  await control2.request(stream, 0);
  const verdict = (nonce, type) => until(() => stream.requests.find((r) => r.type_url === type && r.response_nonce === nonce), 30000, () => nonce);
  console.log(`CDS: RSS before any response: ${rss(fd2.proc.pid).toFixed(1)} MiB`);
  const clusters = cdsClusters(1);
  const assignments = [];
  for (let i = 0; i < CLUSTERS; i++)
    assignments.push(anyOf('eds', { cluster_name: `d${i}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: backendPort } } } }] }] }));
  let t0 = process.hrtime.bigint();
  await verdict(control2.send(stream, 'cds', 'c1', clusters), TYPE.cds);
  const cdsAck = Number(process.hrtime.bigint() - t0) / 1e6;
  await until(() => stream.requests.some((r) => r.type_url === TYPE.eds && r.resource_names.length === CLUSTERS), 30000, () => 'EDS names');
  const subscribed = Number(process.hrtime.bigint() - t0) / 1e6;
  await verdict(control2.send(stream, 'eds', 'e1', assignments), TYPE.eds);
  const edsAck = Number(process.hrtime.bigint() - t0) / 1e6;
  await until(async () => (await httpRequest(port2, '/', { headers: { 'x-cluster': `d${CLUSTERS - 1}` } })).body === 'ok', 10000, () => 'the last cluster');
  const served = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`CDS: ${CLUSTERS} EDS clusters translated and ACKed in ${cdsAck.toFixed(1)} ms, their EDS asked for after ${subscribed.toFixed(1)} ms; with the endpoints (one response) ACKed after ${edsAck.toFixed(1)} ms and the last cluster serving after ${served.toFixed(1)} ms; RSS ${rss(fd2.proc.pid).toFixed(1)} MiB`);

  const one = cdsClusters(1);
  one[CLUSTERS / 2] = anyOf('cds', { name: `d${CLUSTERS / 2}`, type: 'EDS', connect_timeout: { seconds: 2 },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
  t0 = process.hrtime.bigint();
  await verdict(control2.send(stream, 'cds', 'c2', one), TYPE.cds);
  console.log(`CDS: one cluster changed among ${CLUSTERS}: ACKed in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
  const all = cdsClusters(3);
  t0 = process.hrtime.bigint();
  await verdict(control2.send(stream, 'cds', 'c3', all), TYPE.cds);
  console.log(`CDS: all ${CLUSTERS} clusters changed: ACKed in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms; RSS ${rss(fd2.proc.pid).toFixed(1)} MiB`);
  const stats = (await fetchText(`http://127.0.0.1:${admin2}/stats`)).body;
  console.log(`CDS: ${stats.match(/cluster_manager\.cluster_modified: \d+/)[0]}, ${stats.match(/cluster_manager\.active_clusters: \d+/)[0]}`);
} finally {
  await fd2.stop();
  await control2.stop();
  backend.close();
}
