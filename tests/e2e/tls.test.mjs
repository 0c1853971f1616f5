// TLS termination end to end: certificates from files and inline PEM, SNI choosing the
// filter chain (exact, wildcard, default), ALPN h2 and http/1.1, TLS version limits, a
// broken handshake that costs nothing else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as http2Connect } from 'node:http2';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFrontdesk, freePort, bootstrap } from './lib/frontdesk.mjs';

let fd, port, admin, dir;

function makeCert(name) {
  const key = join(dir, `${name}.key`), crt = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
  return { key, crt };
}

function chain(serverNames, cert, body, extraTls = '') {
  return `
    - ${serverNames ? `filter_chain_match: {server_names: ${JSON.stringify(serverNames)}}
      ` : ''}transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: ["h2,http/1.1"]
            tls_certificates:
            - certificate_chain: {filename: "${cert.crt}"}
              private_key: {filename: "${cert.key}"}
${extraTls}
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: tls
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "${body}"}}
          http_filters:
          - name: envoy.filters.http.router`;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'frontdesk-tls-'));
  const a = makeCert('a.test'), b = makeCert('wild.b.test'), d = makeCert('default.test');
  port = await freePort();
  admin = await freePort();
  const listeners = `
  - name: tls
    address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
    filter_chains:${chain(['a.test'], a, 'chain a', `            tls_params: {tls_minimum_protocol_version: TLSv1_3}`)}${chain(['*.b.test'], b, 'chain b')}
    default_filter_chain:${chain(null, d, 'default chain').replace(/^\n    - /, '\n      ')}`;
  fd = await startFrontdesk(bootstrap(admin, listeners), { adminPort: admin });
});

after(async () => {
  if (fd) assert.equal((await fd.stop()).code, 0);
});

// One HTTP/1.1 request over TLS; resolves with the certificate's CN, the ALPN, the TLS
// version and the body.
function get(servername, options = {}) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/', servername, rejectUnauthorized: false, agent: false,
      headers: { host: servername || 'x' }, timeout: 5000, ...options }, (res) => {
      const sock = res.socket;
      const info = { cn: sock.getPeerCertificate().subject?.CN, alpn: sock.alpnProtocol, version: sock.getProtocol() };
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ ...info, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('SNI picks the chain: exact name, wildcard, and the default chain', async () => {
  let r = await get('a.test');
  assert.equal(r.cn, 'a.test');
  assert.equal(r.body, 'chain a');
  r = await get('x.wild.b.test');
  assert.equal(r.cn, 'wild.b.test');
  assert.equal(r.body, 'chain b');
  r = await get('other.test');
  assert.equal(r.cn, 'default.test');
  assert.equal(r.body, 'default chain');
});

test('tls_params: the a.test chain requires TLS 1.3', async () => {
  assert.equal((await get('a.test')).version, 'TLSv1.3');
  await assert.rejects(get('a.test', { maxVersion: 'TLSv1.2' }));
  assert.equal((await get('x.wild.b.test', { maxVersion: 'TLSv1.2' })).version, 'TLSv1.2');
});

test('ALPN: h2 over TLS', async () => {
  const client = http2Connect(`https://127.0.0.1:${port}`, { servername: 'x.wild.b.test', rejectUnauthorized: false });
  try {
    const body = await new Promise((resolve, reject) => {
      const stream = client.request({ ':path': '/' });
      let data = '';
      stream.on('data', (d) => (data += d));
      stream.on('end', () => resolve(data));
      stream.on('error', reject);
    });
    assert.equal(body, 'chain b');
    assert.equal(client.alpnProtocol, 'h2');
  } finally {
    client.close();
  }
});

test('a bad handshake (plaintext HTTP to a TLS port) is closed and costs nothing else', async () => {
  await new Promise((resolve) => {
    const sock = netConnect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    sock.on('error', () => {});
    sock.on('close', resolve);
    sock.setTimeout(5000, () => sock.destroy());
  });
  assert.equal((await get('a.test')).body, 'chain a');
});
