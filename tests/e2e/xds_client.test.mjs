// The xDS transport (xds/ads_client.c) end to end: the ads_client_probe binary against a real
// ADS control server built with @grpc/grpc-js and Envoy's own discovery/ads protos from
// @grpc/grpc-js-xds. Checks the wire protocol as Envoy speaks it: node in the first request,
// ACK and NACK contents, subscriptions, reconnection with backoff and resubscription.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, dirname } from 'node:path';
import { repo, freePort } from './lib/frontdesk.mjs';
import { ControlServer, TYPE, anyOf, clusters, grpc, routes, until } from './lib/xds_server.mjs';

// The probe is built next to the frontdesk binary under test (normal or ASan build).
const probe = process.env.ADS_CLIENT_PROBE ||
  (process.env.FRONTDESK_BIN
    ? join(dirname(dirname(process.env.FRONTDESK_BIN)), 'xds', 'ads_client_probe')
    : join(repo, 'bazel-out', 'k8-fastbuild', 'bin', 'xds', 'ads_client_probe'));

const running = new Set();

// Starts the probe against port; its stdout lines are collected.
function startProbe(port, args = []) {
  assert.ok(existsSync(probe) && statSync(probe).isFile(), `no probe binary at ${probe}: bazel build //xds:ads_client_probe`);
  const proc = spawn(probe, ['--target', `127.0.0.1:${port}`, '--node-id', 'node-1', '--node-cluster', 'edge', ...args],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  const p = { proc, lines: [], stderr: '' };
  let partial = '';
  proc.stdout.on('data', (d) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop();
    p.lines.push(...parts);
  });
  proc.stderr.on('data', (d) => (p.stderr += d));
  p.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  p.line = (re, ms = 5000) => until(() => p.lines.find((l) => re.test(l)), ms, () => `${re} in probe output ${JSON.stringify(p.lines)}\n${p.stderr}`);
  p.count = (re) => p.lines.filter((l) => re.test(l)).length;
  p.command = (line) => proc.stdin.write(`${line}\n`);
  // SIGTERM and a clean exit (status 0; under ASan, no leak report), within a bound.
  p.stop = async (ms = 10000) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    const result = await p.exited;
    clearTimeout(timer);
    running.delete(p);
    assert.deepEqual(result, { code: 0, signal: null }, `probe exit ${JSON.stringify(result)}:\n${p.stderr}`);
    assert.doesNotMatch(p.stderr, /LeakSanitizer|AddressSanitizer|runtime error/);
    assert.equal(p.lines.at(-1), 'exit');
  };
  running.add(p);
  return p;
}

after(async () => {
  for (const p of running) p.proc.kill('SIGKILL');
});

async function withServer(fn) {
  const server = await new ControlServer().start();
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

test('the first request carries the node and a CDS wildcard subscription, later ones no node', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port, ['--subscribe', 'cds', '--subscribe', 'rds=route-b,route-a,route-b']);
  const stream = await server.stream(0);
  const first = await server.request(stream, 0);
  const second = await server.request(stream, 1);
  assert.equal(first.type_url, TYPE.cds);
  assert.deepEqual(first.resource_names, []);
  assert.equal(first.version_info, '');
  assert.equal(first.response_nonce, '');
  assert.equal(first.error_detail, null);
  assert.equal(first.node.id, 'node-1');
  assert.equal(first.node.cluster, 'edge');
  assert.equal(first.node.user_agent_name, 'frontdesk');
  assert.equal(first.node.user_agent_version, 'probe');
  assert.equal(second.type_url, TYPE.rds);
  assert.deepEqual(second.resource_names, ['route-a', 'route-b'], 'names sorted, without duplicates');
  assert.equal(second.node, null, 'node only in the first request of a stream');
  assert.equal(probe.count(/^stream up$/), 0);
  stream.call.sendMetadata(new grpc.Metadata()); // the server's headers: the stream is up
  await probe.line(/^stream up$/);
  await probe.stop();
}));

test('--node-every-request puts the node in every request', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port, ['--subscribe', 'cds', '--subscribe', 'lds', '--node-every-request']);
  const stream = await server.stream(0);
  assert.equal((await server.request(stream, 0)).node.id, 'node-1');
  assert.equal((await server.request(stream, 1)).node.id, 'node-1');
  await probe.stop();
}));

test('an ACK carries the version and nonce of the accepted response and the same names', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  const nonce = server.send(stream, 'cds', 'v1', clusters('a', 'b'));
  await probe.line(/^response type=\S+Cluster version=v1 nonce=\S+ resources=2 verdict=ack$/);
  const ack = await server.request(stream, 1);
  assert.equal(ack.type_url, TYPE.cds);
  assert.equal(ack.version_info, 'v1');
  assert.equal(ack.response_nonce, nonce);
  assert.deepEqual(ack.resource_names, []);
  assert.equal(ack.error_detail, null);
  assert.equal(ack.node, null);
  await probe.stop();
}));

// The same exchange with the verdict given synchronously by on_response or later from the
// main thread through fd_ads_client_ack/nack.
for (const mode of ['at once', 'deferred']) {
  test(`a NACK (${mode}) carries the previous version, the response's nonce and error_detail; the next ACK clears it`, { timeout: 30000 }, () => withServer(async (server) => {
    const probe = startProbe(server.port, ['--nack-version', 'v2', ...(mode === 'deferred' ? ['--defer'] : [])]);
    const stream = await server.stream(0);
    await server.request(stream, 0);
    server.send(stream, 'cds', 'v1', clusters('a'));
    assert.equal((await server.request(stream, 1)).version_info, 'v1');
    const n2 = server.send(stream, 'cds', 'v2', clusters('a', 'broken'));
    const nack = await server.request(stream, 2);
    assert.equal(nack.version_info, 'v1', 'the previously accepted version');
    assert.equal(nack.response_nonce, n2);
    assert.equal(nack.error_detail.code, 13, "google.rpc.Code INTERNAL, as Envoy's GrpcMuxImpl");
    assert.equal(nack.error_detail.message, 'probe rejects version v2');
    const n3 = server.send(stream, 'cds', 'v3', clusters('a', 'c'));
    const ack = await server.request(stream, 3);
    assert.equal(ack.version_info, 'v3');
    assert.equal(ack.response_nonce, n3);
    assert.equal(ack.error_detail, null);
    await probe.stop();
  }));
}

test('subscribing to RDS names sends them; a changed set is sent again, the same set is not', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  server.send(stream, 'cds', 'c1', clusters('a'));
  await server.request(stream, 1);
  probe.command('subscribe rds route-2 route-1');
  const sub = await server.request(stream, 2);
  assert.equal(sub.type_url, TYPE.rds);
  assert.deepEqual(sub.resource_names, ['route-1', 'route-2']);
  assert.equal(sub.version_info, '');
  const nonce = server.send(stream, 'rds', 'r1', routes('route-1', 'route-2'));
  const ack = await server.request(stream, 3);
  assert.deepEqual([ack.type_url, ack.version_info, ack.response_nonce], [TYPE.rds, 'r1', nonce]);
  assert.deepEqual(ack.resource_names, ['route-1', 'route-2']);
  probe.command('subscribe rds route-1 route-2');
  probe.command('subscribe rds route-3');
  const change = await server.request(stream, 4);
  assert.deepEqual(change.resource_names, ['route-3'], 'the unchanged set was not sent');
  assert.deepEqual([change.version_info, change.response_nonce], ['r1', nonce], 'a name change carries the last version and nonce');
  await probe.stop();
}));

test('a response whose resources are of another type is NACKed without reaching the consumer', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  server.send(stream, 'cds', 'v1', clusters('a'));
  await server.request(stream, 1);
  const bad = server.send(stream, 'cds', 'v2', [anyOf('lds', { name: 'l' })]);
  const nack = await server.request(stream, 2);
  assert.equal(nack.version_info, 'v1');
  assert.equal(nack.response_nonce, bad);
  assert.equal(nack.error_detail.code, 13);
  assert.match(nack.error_detail.message, /^type\.googleapis\.com\/envoy\.config\.listener\.v3\.Listener does not match the message-wide type URL type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster/);
  assert.equal(probe.count(/version=v2/), 0);
  await probe.stop();
}));

test('a response for an unsubscribed type is ignored', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  server.send(stream, 'eds', 'e1', []);
  server.send(stream, 'cds', 'v1', clusters('a'));
  const ack = await server.request(stream, 1);
  assert.equal(ack.type_url, TYPE.cds);
  assert.equal(ack.version_info, 'v1');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(stream.requests.length, 2, `no answer to the EDS response: ${server.describe()}`);
  assert.equal(probe.count(/^response/), 1);
  await probe.stop();
  assert.match(probe.stderr, /ignoring the message for type URL \S+ClusterLoadAssignment/);
}));

test('a response above gRPC\'s default 4 MiB limit is received (no limit, as Envoy)', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  server.send(stream, 'cds', 'big', clusters(...Array.from({ length: 5 }, (_, i) => `${i}-${'x'.repeat(1024 * 1024)}`)));
  await probe.line(/version=big nonce=\S+ resources=5/, 10000);
  assert.equal((await server.request(stream, 1)).version_info, 'big');
  await probe.stop();
}));

test('when the server closes the stream, the client reconnects after a backoff and resubscribes with its versions', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port, ['--subscribe', 'cds', '--subscribe', 'rds=r', '--backoff-base-ms', '300', '--nack-version', 'c2']);
  const first = await server.stream(0);
  await server.request(first, 1);
  server.send(first, 'cds', 'c1', clusters('a'));
  server.send(first, 'rds', 'r1', routes('r'));
  await server.request(first, 3);
  server.send(first, 'cds', 'c2', clusters('bad'));
  assert.equal((await server.request(first, 4)).error_detail.message, 'probe rejects version c2');
  const closedAt = Date.now();
  first.call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane going away' });
  await probe.line(/^stream down status=14 message=control plane going away$/);
  const second = await server.stream(1);
  assert.ok(second.openedAt - closedAt < 300 + 1000, `reconnected after ${second.openedAt - closedAt} ms`);
  const [cds, rds] = [await server.request(second, 0), await server.request(second, 1)];
  assert.equal(cds.node.id, 'node-1', 'the node again in the new stream\'s first request');
  assert.deepEqual([cds.type_url, cds.version_info, cds.response_nonce, cds.error_detail], [TYPE.cds, 'c1', '', null]);
  assert.deepEqual([rds.type_url, rds.version_info, rds.response_nonce, rds.resource_names], [TYPE.rds, 'r1', '', ['r']]);
  assert.equal(rds.node, null);
  // A clean end of stream (status OK) is a failure too, as in Envoy.
  second.call.end();
  const third = await server.stream(2);
  assert.equal((await server.request(third, 0)).version_info, 'c1');
  await probe.stop();
}));

test('a control server restarted on the same port gets the client back', { timeout: 30000 }, async () => {
  let server = await new ControlServer().start();
  const port = server.port;
  const probe = startProbe(port, ['--backoff-base-ms', '100', '--backoff-max-ms', '400']);
  try {
    const stream = await server.stream(0);
    await server.request(stream, 0);
    server.send(stream, 'cds', 'v7', clusters('a'));
    await server.request(stream, 1);
    await server.stop();
    await probe.line(/^stream down status=14/);
    await new Promise((r) => setTimeout(r, 700)); // a few failed attempts while it is down
    server = await new ControlServer().start(port);
    const back = await server.stream(0, 10000);
    const req = await server.request(back, 0);
    assert.deepEqual([req.node.id, req.version_info, req.response_nonce], ['node-1', 'v7', '']);
    server.send(back, 'cds', 'v8', clusters('a', 'b'));
    assert.equal((await server.request(back, 1)).version_info, 'v8');
    assert.equal(probe.count(/^stream up$/), 2);
    await probe.stop();
  } finally {
    await server.stop();
  }
});

test('with nothing listening the client keeps retrying with backoff and still stops at once', { timeout: 30000 }, async () => {
  const port = await freePort();
  const attempts = [];
  // A TCP listener that counts connection attempts and drops them (no HTTP/2).
  const listener = createServer((socket) => {
    attempts.push(Date.now());
    socket.destroy();
  });
  await new Promise((r) => listener.listen(port, '127.0.0.1', r));
  try {
    const probe = startProbe(port, ['--backoff-base-ms', '50', '--backoff-max-ms', '200']);
    await until(() => attempts.length >= 3, 10000, () => `3 connection attempts, saw ${attempts.length}`);
    const started = Date.now();
    await probe.stop();
    assert.ok(Date.now() - started < 3000, `stop took ${Date.now() - started} ms`);
    assert.equal(probe.count(/^stream up$/), 0);
  } finally {
    listener.close();
  }
});

test('the same protocol on a non-aggregated stream (ClusterDiscoveryService/StreamClusters)', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port, ['--method', '/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters']);
  const stream = await server.stream(0);
  assert.equal(stream.service, 'cds');
  const first = await server.request(stream, 0);
  assert.deepEqual([first.type_url, first.node.id], [TYPE.cds, 'node-1']);
  const nonce = server.send(stream, 'cds', 'v1', clusters('a'));
  const ack = await server.request(stream, 1);
  assert.deepEqual([ack.version_info, ack.response_nonce], ['v1', nonce]);
  await probe.stop();
}));

test('--max-responses exits on its own after that many responses', { timeout: 30000 }, () => withServer(async (server) => {
  const probe = startProbe(server.port, ['--max-responses', '2']);
  const stream = await server.stream(0);
  await server.request(stream, 0);
  server.send(stream, 'cds', 'v1', clusters('a'));
  server.send(stream, 'cds', 'v2', clusters('a', 'b'));
  const result = await Promise.race([probe.exited, new Promise((r) => setTimeout(() => r('timeout'), 10000))]);
  assert.deepEqual(result, { code: 0, signal: null }, probe.stderr);
  assert.equal(probe.count(/^response/), 2);
  await probe.stop();
}));
