// Load balancing and cluster selection end to end: RANDOM and LEAST_REQUEST spread load,
// RING_HASH keeps a hash key on one host, weighted_clusters split by weight, and
// cluster_header picks the cluster a request names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startFrontdesk, freePort, httpRequest, httpListener, staticCluster, bootstrap } from './lib/frontdesk.mjs';

let fd, main, ports = [], servers = [];

before(async () => {
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const server = createServer((req, res) => {
      res.end(String(i));
    });
    await new Promise((r) => server.listen(port, '127.0.0.1', r));
    ports.push(port);
    servers.push(server);
  }
  const admin = await freePort();
  main = await freePort();
  const all = ports.map((port) => ({ port }));
  const routes = `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/random"}
                route: {cluster: random}
              - match: {prefix: "/least"}
                route: {cluster: least}
              - match: {prefix: "/ring"}
                route: {cluster: ring, hash_policy: [{header: {header_name: x-user}}]}
              - match: {prefix: "/split"}
                route:
                  weighted_clusters:
                    clusters: [{name: only0, weight: 80}, {name: only1, weight: 20}]
              - match: {prefix: "/named"}
                route: {cluster_header: x-cluster}`;
  const clusters = staticCluster('random', all, '    lb_policy: RANDOM') +
    staticCluster('least', all, '    lb_policy: LEAST_REQUEST') +
    staticCluster('ring', all, '    lb_policy: RING_HASH') +
    staticCluster('only0', [all[0]]) + staticCluster('only1', [all[1]]) + staticCluster('only2', [all[2]]);
  fd = await startFrontdesk(bootstrap(admin, httpListener('lb', main, routes), clusters), { adminPort: admin, args: ['--concurrency', '1'] });
});

after(async () => {
  if (fd) await fd.stop();
  for (const s of servers) s.close();
});

async function hits(path, n, headers = {}) {
  const counts = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const r = await httpRequest(main, path, { headers });
    assert.equal(r.status, 200);
    counts[Number(r.body)]++;
  }
  return counts;
}

test('RANDOM reaches every host', async () => {
  const counts = await hits('/random', 90);
  for (const c of counts) assert.ok(c >= 10, `uneven: ${counts}`);
});

test('LEAST_REQUEST reaches every host (its choice of the less busy host is unit-tested)', async () => {
  const counts = await hits('/least', 60);
  for (const c of counts) assert.ok(c >= 5, `uneven: ${counts}`);
});

test('RING_HASH: one x-user always lands on one host, and users spread', async () => {
  const seen = new Set();
  for (const user of ['ada', 'linus', 'grace', 'ken', 'barbara', 'dennis', 'margaret', 'edsger']) {
    const counts = await hits('/ring', 6, { 'x-user': user });
    assert.equal(counts.filter((c) => c > 0).length, 1, `${user} moved between hosts: ${counts}`);
    seen.add(counts.findIndex((c) => c > 0));
  }
  assert.ok(seen.size >= 2, 'every user hashed to the same host');
});

test('weighted_clusters split 80/20', async () => {
  const counts = await hits('/split', 200);
  assert.equal(counts[2], 0);
  assert.ok(counts[0] > 130 && counts[0] < 190, `split ${counts}`);
});

test('cluster_header names the cluster; an unknown one is a 503', async () => {
  assert.deepEqual(await hits('/named', 3, { 'x-cluster': 'only2' }), [0, 0, 3]);
  const r = await httpRequest(main, '/named', { headers: { 'x-cluster': 'nope' } });
  assert.equal(r.status, 503);
});
