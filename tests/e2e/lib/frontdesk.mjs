// Test harness: runs the real frontdesk binary on a config written to a temp dir, waits
// until its admin /ready answers, and stops it (by its own PID) at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request as httpRequestRaw } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// bazel-bin follows the last build's configuration (the ASan one after --config=asan): name the
// default build's output instead.
export const binary = process.env.FRONTDESK_BIN || join(repo, 'bazel-out', 'k8-fastbuild', 'bin', 'proxy', 'frontdesk');

// A port the kernel just handed out, never one this process was given before (the kernel
// may hand a port it just freed out again, and two listeners of one config would collide);
// loopback only.
const issuedPorts = new Set();
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    if (!issuedPorts.has(port)) {
      issuedPorts.add(port);
      return port;
    }
  }
}

export async function fetchText(url, options = {}) {
  const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(options.timeout ?? 5000), ...options });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function waitReady(adminPort, proc, deadlineMs, status) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`frontdesk exited with ${proc.exitCode}:\n${proc.stderrText}`);
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/ready`, { signal: AbortSignal.timeout(500) });
      if (res.status === status) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`frontdesk not ready within ${deadlineMs} ms:\n${proc.stderrText}`);
}

// Starts frontdesk with the YAML produced by makeYaml(adminPort); resolves once /ready answers
// readyStatus (200: live; 503: still initializing, e.g. waiting for EDS). env is added to the
// test's own environment.
export async function startFrontdesk(yaml, { adminPort, args = [], env = {}, readyTimeoutMs = 10000, readyStatus = 200 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-e2e-'));
  const config = join(dir, 'envoy.yaml');
  writeFileSync(config, yaml);
  const proc = spawn(binary, ['-c', config, '--concurrency', '2', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  proc.stderrText = '';
  proc.stdoutText = '';
  proc.stderr.on('data', (d) => (proc.stderrText += d));
  proc.stdout.on('data', (d) => (proc.stdoutText += d));
  proc.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  await waitReady(adminPort, proc, readyTimeoutMs, readyStatus);
  return {
    proc,
    dir,
    // SIGTERM, then SIGKILL if it has not exited within the grace period.
    async stop(graceMs = 10000) {
      if (proc.exitCode !== null) return proc.exited;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const result = await proc.exited;
      clearTimeout(timer);
      return result;
    },
  };
}

// An HCM listener block with the given route_config (as YAML text, indented for it).
// httpFilters: http_filters entries (YAML text, indented for the list) before the router.
export function httpListener(name, port, routeConfigYaml, { extraHcm = '', httpFilters = '' } = {}) {
  return `
  - name: ${name}
    address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
${extraHcm}
          route_config:
${routeConfigYaml}
          http_filters:${httpFilters}
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}`;
}

export function staticCluster(name, endpoints, extra = '') {
  const eps = endpoints.map((e) => `
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${e.port}}}}${e.weight ? `
          load_balancing_weight: ${e.weight}` : ''}`).join('');
  return `
  - name: ${name}
    connect_timeout: 0.5s
${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:${eps}`;
}

export function bootstrap(adminPort, listenersYaml, clustersYaml = '') {
  return `admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${adminPort}}}}
static_resources:
  listeners:${listenersYaml}
${clustersYaml ? `  clusters:${clustersYaml}` : ''}
`;
}

// A request through node:http, which (unlike fetch) lets a test set Host.
export function httpRequest(port, path, { method = 'GET', headers = {}, body, timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequestRaw({ host: '127.0.0.1', port, path, method, headers, timeout }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeout} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// One stat's value from the admin's /stats (undefined when absent).
export async function adminStat(adminPort, name) {
  const body = (await fetchText(`http://127.0.0.1:${adminPort}/stats`)).body;
  const line = body.split('\n').find((l) => l.startsWith(`${name}: `));
  return line === undefined ? undefined : Number(line.split(': ')[1]);
}
