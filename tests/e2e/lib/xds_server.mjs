// A state-of-the-world xDS control server for the e2e tests, built with @grpc/grpc-js and
// Envoy's own protos from @grpc/grpc-js-xds (ADS, and LDS/RDS/CDS/EDS as services of their own), with
// resources encoded by protobufjs from the same protos, as a real control plane encodes them.
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d));

// The services, loaded as @grpc/grpc-js-xds loads them: ADS, and each type's own.
const services = grpc.loadPackageDefinition(protoLoader.loadSync(['envoy/service/discovery/v3/ads.proto', 'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto', 'envoy/service/listener/v3/lds.proto', 'envoy/service/route/v3/rds.proto'], {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, json: true, includeDirs,
})).envoy.service;
const ads = services.discovery.v3.AggregatedDiscoveryService;
const cds = services.cluster.v3.ClusterDiscoveryService;
const eds = services.endpoint.v3.EndpointDiscoveryService;
const lds = services.listener.v3.ListenerDiscoveryService;
const rds = services.route.v3.RouteDiscoveryService;

// Resources are encoded with protobufjs from Envoy's protos, as a control plane would.
const root = new protobuf.Root();
root.resolvePath = (origin, target) => includeDirs.map((d) => join(d, target)).find((p) => existsSync(p)) || target;
root.loadSync(['envoy/config/cluster/v3/cluster.proto', 'envoy/config/route/v3/route.proto',
  'envoy/config/listener/v3/listener.proto', 'envoy/service/discovery/v3/discovery.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto'], { keepCase: true });

export const TYPE = {
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  // not an xDS type: what a Listener's filter carries, for anyOf
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
};
const MESSAGE = {
  lds: 'envoy.config.listener.v3.Listener', rds: 'envoy.config.route.v3.RouteConfiguration',
  cds: 'envoy.config.cluster.v3.Cluster', eds: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
};

export function anyOf(kind, object) {
  const type = root.lookupType(MESSAGE[kind]);
  return { type_url: TYPE[kind], value: Buffer.from(type.encode(type.fromObject(object)).finish()) };
}

// A resource wrapped in envoy.service.discovery.v3.Resource, as control servers with TTLs send
// them; without one (resource undefined) it is a TTL heartbeat.
export function wrapped(name, resource) {
  const type = root.lookupType('envoy.service.discovery.v3.Resource');
  const object = { name, version: '1' };
  if (resource) object.resource = { type_url: resource.type_url, value: resource.value };
  return { type_url: 'type.googleapis.com/envoy.service.discovery.v3.Resource',
    value: Buffer.from(type.encode(type.fromObject(object)).finish()) };
}

export const clusters = (...names) => names.map((name) => anyOf('cds', { name, connect_timeout: { seconds: 1 } }));
export const routes = (...names) => names.map((name) => anyOf('rds', { name, virtual_hosts: [{ name: 'all', domains: ['*'] }] }));

// Resolves when pred() holds, polling; rejects after ms with what() in the message.
export async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await pred();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A state-of-the-world ADS server that records every stream and request and answers only
// when a test tells it to.
export class ControlServer {
  constructor() {
    this.streams = [];
    this.server = null;
    this.port = 0;
  }

  async start(port = 0) {
    this.server = new grpc.Server();
    this.server.addService(ads.service, {
      StreamAggregatedResources: (call) => this.onStream(call),
      DeltaAggregatedResources: (call) => call.end(),
    });
    this.server.addService(cds.service, {
      StreamClusters: (call) => this.onStream(call, 'cds'),
      DeltaClusters: (call) => call.end(),
      FetchClusters: (call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    });
    this.server.addService(eds.service, {
      StreamEndpoints: (call) => this.onStream(call, 'eds'),
      DeltaEndpoints: (call) => call.end(),
      FetchEndpoints: (call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    });
    this.server.addService(lds.service, {
      StreamListeners: (call) => this.onStream(call, 'lds'),
      DeltaListeners: (call) => call.end(),
      FetchListeners: (call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    });
    this.server.addService(rds.service, {
      StreamRoutes: (call) => this.onStream(call, 'rds'),
      DeltaRoutes: (call) => call.end(),
      FetchRoutes: (call, callback) => callback({ code: grpc.status.UNIMPLEMENTED }),
    });
    this.port = await new Promise((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    return this;
  }

  onStream(call, service = 'ads') {
    const stream = { call, service, requests: [], openedAt: Date.now(), ended: false, nonce: 0 };
    call.on('data', (req) => stream.requests.push({ ...req, at: Date.now() }));
    call.on('end', () => (stream.ended = true));
    call.on('error', () => (stream.ended = true));
    this.streams.push(stream);
  }

  get requests() {
    return this.streams.flatMap((s) => s.requests);
  }

  describe() {
    return JSON.stringify(this.streams.map((s) => s.requests.map((r) => ({
      type: r.type_url.split('.').pop(), version: r.version_info, nonce: r.response_nonce, names: r.resource_names,
      node: r.node ? r.node.id : null, error: r.error_detail ? r.error_detail.message : null,
    }))));
  }

  // The stream's n-th request (0-based), once it has arrived.
  request(stream, n, ms = 5000) {
    return until(() => stream.requests[n], ms, () => `request #${n} on stream ${this.streams.indexOf(stream)}: ${this.describe()}`);
  }

  stream(n, ms = 5000) {
    return until(() => this.streams[n], ms, () => `stream #${n}: ${this.describe()}`);
  }

  // Sends a DiscoveryResponse on the stream; returns its nonce.
  send(stream, kind, version, resources, typeUrl = TYPE[kind]) {
    const nonce = `nonce-${this.streams.indexOf(stream)}-${++stream.nonce}`;
    stream.call.write({ version_info: version, type_url: typeUrl, nonce, resources });
    return nonce;
  }

  async stop() {
    if (this.server) this.server.forceShutdown();
    this.server = null;
  }
}


// Bootstrap YAML pointing frontdesk at a control server: dynamic_resources.ads_config, and
// the static cluster 'xds' (HTTP/2, as Envoy wants it) on 127.0.0.1:port, for static_resources.clusters.
export const adsConfigYaml = `dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]`;

export function xdsClusterYaml(port) {
  return `
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}}
`;
}
