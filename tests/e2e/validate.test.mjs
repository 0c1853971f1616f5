// End-to-end tests of `frontdesk --mode validate` and its command line.
//
//   node --test tests/e2e/
//
// The binary is $FRONTDESK_BIN, or <repo>/bazel-out/k8-fastbuild/bin/proxy/frontdesk (build it with
// `bazel build //proxy:frontdesk`). Every process runs with cwd = the repository root,
// so paths inside the configs (certificates, bodies) and on the command line are
// relative to it.
//
// Corpus (tests/configs/):
//   valid/NAME.{yaml,json}      must print exactly "configuration 'PATH' OK\n", exit 0
//   invalid/NAME.{yaml,json}    must exit 1 and print on stderr exactly the lines of
//   invalid/NAME.expected       followed by "configuration 'PATH' is invalid\n"
// To (re)generate an .expected after an intended message change:
//   f=tests/configs/invalid/NAME.yaml
//   bazel-bin/proxy/frontdesk --mode validate -c $f 2>&1 >/dev/null | sed '$d' > ${f%.*}.expected
// and read the result before committing it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.FRONTDESK_BIN
  ? path.resolve(process.env.FRONTDESK_BIN)
  : path.join(REPO, 'bazel-out', 'k8-fastbuild', 'bin', 'proxy', 'frontdesk'); // bazel-bin follows the last build's config
const CONFIGS = 'tests/configs'; // relative to REPO: the paths the validator prints
const EXAMPLES_DIR = path.resolve(REPO, '..', 'shared', 'envoy-examples');
const TIMEOUT_MS = 10_000;
const CONFIG_EXT = /\.(ya?ml|json)$/;

/** Runs frontdesk with a timeout; fails the test if it could not run or was killed. */
function run(args) {
  const r = spawnSync(BIN, args, {
    cwd: REPO,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 << 20,
  });
  if (r.error) {
    const hint = r.error.code === 'ENOENT' ? ' (build it: bazel build //proxy:frontdesk, or set FRONTDESK_BIN)' : '';
    throw new Error(`cannot run ${BIN} ${args.join(' ')}: ${r.error.message}${hint}`);
  }
  assert.equal(r.signal, null, `frontdesk ${args.join(' ')} was killed by ${r.signal} (timeout ${TIMEOUT_MS} ms?)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const validate = (...args) => run(['--mode', 'validate', ...args]);

/** Config files of a corpus directory, as repo-relative paths. */
function corpus(dir) {
  return fs
    .readdirSync(path.join(REPO, CONFIGS, dir))
    .filter((name) => CONFIG_EXT.test(name))
    .sort()
    .map((name) => `${CONFIGS}/${dir}/${name}`);
}

const expectedPath = (config) => config.replace(CONFIG_EXT, '.expected');

/** Splits `--print-config` output into the JSON document and the final status line. */
function parsePrinted(stdout, config) {
  const okLine = `configuration '${config}' OK\n`;
  assert.ok(stdout.endsWith(okLine), `stdout should end with ${JSON.stringify(okLine)}:\n${stdout.slice(-300)}`);
  return JSON.parse(stdout.slice(0, -okLine.length));
}

/** Every typed_config in the tree, with its JSON path. */
function typedConfigs(node, where = '', out = []) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => typedConfigs(item, `${where}[${i}]`, out));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      const here = where ? `${where}.${key}` : key;
      if (key === 'typed_config') out.push([here, value]);
      typedConfigs(value, here, out);
    }
  }
  return out;
}

function withTempFile(name, text, fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frontdesk-e2e-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const VALID = corpus('valid');
const INVALID = corpus('invalid');

test('the frontdesk binary exists', () => {
  assert.ok(fs.existsSync(BIN), `${BIN} not found: run 'bazel build //proxy:frontdesk' or set FRONTDESK_BIN`);
});

describe('corpus layout', () => {
  test('has at least 24 valid and 24 invalid configs', () => {
    assert.ok(VALID.length >= 24, `only ${VALID.length} valid configs`);
    assert.ok(INVALID.length >= 24, `only ${INVALID.length} invalid configs`);
  });

  test('every invalid config has an .expected file and every .expected a config', () => {
    const dir = path.join(REPO, CONFIGS, 'invalid');
    for (const config of INVALID)
      assert.ok(fs.existsSync(path.join(REPO, expectedPath(config))), `${expectedPath(config)} is missing`);
    const configs = new Set(INVALID.map(expectedPath));
    for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.expected')))
      assert.ok(configs.has(`${CONFIGS}/invalid/${name}`), `${name} has no config next to it`);
  });
});

describe('valid configs', () => {
  for (const config of VALID) {
    test(config, () => {
      const r = validate('-c', config);
      assert.equal(r.stderr, '', 'no diagnostics expected');
      assert.equal(r.stdout, `configuration '${config}' OK\n`);
      assert.equal(r.status, 0);
    });
  }
});

describe('invalid configs', () => {
  for (const config of INVALID) {
    test(config, () => {
      const expected = fs.readFileSync(path.join(REPO, expectedPath(config)), 'utf8');
      assert.ok(expected.length > 0 && expected.endsWith('\n'), `${expectedPath(config)} must hold lines ending in \\n`);
      const r = validate('-c', config);
      assert.equal(r.stderr, `${expected}configuration '${config}' is invalid\n`);
      assert.equal(r.stdout, '');
      assert.equal(r.status, 1);
    });
  }
});

describe('command line', () => {
  test('--version', () => {
    const r = run(['--version']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^frontdesk version \S+\n$/);
    assert.equal(r.stderr, '');
  });

  test('--help', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^usage: frontdesk/);
    for (const flag of ['--mode', '--config-path', '--config-yaml', '--print-config', '--version'])
      assert.ok(r.stdout.includes(flag), `help should mention ${flag}`);
    assert.equal(r.stderr, '');
  });

  test('-h is --help', () => {
    const r = run(['-h']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, run(['--help']).stdout);
  });

  test('no configuration', () => {
    const r = validate();
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'frontdesk: no configuration: give -c FILE and/or --config-yaml YAML\n');
  });

  test('bad --mode', () => {
    const r = run(['--mode', 'check', '-c', `${CONFIGS}/valid/minimal.yaml`]);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, "frontdesk: --mode must be 'serve' or 'validate', got 'check'\n");
  });

  test('unknown option prints the usage on stderr', () => {
    const r = run(['--mode', 'validate', '--no-such-option']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no-such-option/);
    assert.match(r.stderr, /usage: frontdesk/);
  });

  test('stray argument', () => {
    const r = validate('-c', `${CONFIGS}/valid/minimal.yaml`, 'extra');
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "frontdesk: unexpected argument 'extra'\n");
  });

  test('bad --concurrency', () => {
    const r = validate('-c', `${CONFIGS}/valid/minimal.yaml`, '--concurrency', 'lots');
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "frontdesk: --concurrency takes a non-negative integer, got 'lots'\n");
  });

  test('missing file names the file and the OS error', () => {
    const missing = `${CONFIGS}/valid/does-not-exist.yaml`;
    const r = validate('-c', missing);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `${missing}: cannot open: No such file or directory\nconfiguration '${missing}' is invalid\n`,
    );
  });

  test('a directory given as the config', () => {
    const r = validate('-c', CONFIGS);
    assert.equal(r.status, 1);
    assert.ok(r.stderr.startsWith(`${CONFIGS}: `), r.stderr);
    assert.ok(r.stderr.endsWith(`configuration '${CONFIGS}' is invalid\n`), r.stderr);
  });
});

describe('--config-yaml', () => {
  const MINIMAL = `${CONFIGS}/valid/minimal.yaml`;
  const FRONT_PROXY = `${CONFIGS}/valid/front-proxy.yaml`;

  test('alone: a whole bootstrap on the command line', () => {
    const yaml = fs.readFileSync(path.join(REPO, MINIMAL), 'utf8');
    const r = validate('--config-yaml', yaml);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, "configuration '--config-yaml' OK\n");
    assert.equal(r.status, 0);
  });

  test('alone: errors are positioned in the --config-yaml text', () => {
    const r = validate('--config-yaml', '{static_resources: {clusters: [{name: x, connect_timeout: 5}]}}');
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      "--config-yaml:1:59: static_resources.clusters[0].connect_timeout: invalid duration '5' " +
        '(expected seconds with an \'s\' suffix, such as "5s" or "0.25s")\n' +
        "configuration '--config-yaml' is invalid\n",
    );
  });

  test('merged over -c: a scalar overrides (admin port)', () => {
    const base = parsePrinted(validate('-c', FRONT_PROXY, '--print-config').stdout, FRONT_PROXY);
    assert.equal(base.admin.address.socket_address.port_value, 9901);
    const r = validate('-c', FRONT_PROXY, '--config-yaml',
      'admin: {access_log_path: /dev/null, address: {socket_address: {address: 127.0.0.1, port_value: 9999}}}',
      '--print-config');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const merged = parsePrinted(r.stdout, FRONT_PROXY);
    assert.deepEqual(merged.admin, {
      access_log_path: '/dev/null',
      address: { socket_address: { address: '127.0.0.1', port_value: 9999 } },
    });
    assert.deepEqual(merged.node, base.node, 'fields not in --config-yaml are kept');
    assert.deepEqual(merged.static_resources, base.static_resources);
  });

  // Envoy merges with protobuf's MergeFrom: a sub-message set on both sides is merged
  // field by field, also inside a oneof (Address.socket_address).
  test('merged over -c: only the port of the admin address', () => {
    const r = validate('-c', FRONT_PROXY, '--config-yaml', 'admin: {address: {socket_address: {port_value: 9999}}}',
      '--print-config');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const merged = parsePrinted(r.stdout, FRONT_PROXY);
    assert.deepEqual(merged.admin.address.socket_address, { address: '127.0.0.1', port_value: 9999 });
  });

  test('merged over -c: node.cluster over a file that sets node', () => {
    const r = validate('-c', FRONT_PROXY, '--config-yaml', 'node: {cluster: canary}', '--print-config');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.deepEqual(parsePrinted(r.stdout, FRONT_PROXY).node, { id: 'front-proxy-1', cluster: 'canary' });
  });

  test('merged over -c: a list appends (an extra cluster)', () => {
    const extra =
      'static_resources: {clusters: [{name: extra, connect_timeout: 2s, load_assignment: {cluster_name: extra, ' +
      'endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9777}}}}]}]}}]}';
    const r = validate('-c', FRONT_PROXY, '--config-yaml', extra, '--print-config');
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    const names = parsePrinted(r.stdout, FRONT_PROXY).static_resources.clusters.map((c) => c.name);
    assert.deepEqual(names, ['web', 'cart', 'catalog', 'extra']);
  });

  test('merged over -c: the merged result is validated as a whole', () => {
    const r = validate('-c', MINIMAL, '--config-yaml', 'static_resources: {clusters: [{name: backend}]}');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    // Today the merged message has no positions (the error names the -c file and the
    // field path only); naming the --config-yaml position instead would be fine too.
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 3, r.stderr);
    assert.match(lines[0], new RegExp(`^(${MINIMAL}|--config-yaml(:\\d+:\\d+)?): static_resources\\.clusters\\[1\\]\\.name: ` +
      "duplicate cluster name 'backend' \\(also static_resources\\.clusters\\[0\\]\\); names must be unique$"));
    assert.equal(lines[1], `configuration '${MINIMAL}' is invalid`);
    assert.equal(lines[2], '');
  });

  test('merged over -c: a syntax error in --config-yaml is reported against --config-yaml', () => {
    const r = validate('-c', MINIMAL, '--config-yaml', 'admin: {address: ');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^--config-yaml:\d+:\d+: YAML syntax error: /);
    assert.ok(r.stderr.endsWith(`configuration '${MINIMAL}' is invalid\n`), r.stderr);
  });
});

describe('--print-config', () => {
  for (const config of VALID) {
    test(config, () => {
      const r = validate('-c', config, '--print-config');
      assert.equal(r.stderr, '');
      assert.equal(r.status, 0);
      const printed = parsePrinted(r.stdout, config);
      assert.equal(typeof printed, 'object');
      for (const [where, value] of typedConfigs(printed)) {
        assert.equal(typeof value, 'object', `${where} should be an object`);
        assert.match(String(value['@type']), /^type\.googleapis\.com\/[a-z0-9_.]+\.[A-Z]\w*$/,
          `${where} should carry Envoy's '@type'`);
      }
    });
  }

  test('typed_config keeps its fields next to @type (tls-sni.yaml)', () => {
    const config = `${CONFIGS}/valid/tls-sni.yaml`;
    const printed = parsePrinted(validate('-c', config, '--print-config').stdout, config);
    const chain = printed.static_resources.listeners[0].filter_chains[0];
    assert.equal(chain.filters[0].typed_config['@type'],
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    assert.equal(chain.filters[0].typed_config.stat_prefix, 'https_api');
    assert.equal(chain.transport_socket.typed_config['@type'],
      'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
    assert.deepEqual(chain.transport_socket.typed_config.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
  });

  test('printed config validates again and prints the same (camel-case.yaml, yaml-anchors.yaml)', () => {
    for (const config of [`${CONFIGS}/valid/camel-case.yaml`, `${CONFIGS}/valid/yaml-anchors.yaml`]) {
      const first = validate('-c', config, '--print-config');
      const json = first.stdout.slice(0, -`configuration '${config}' OK\n`.length);
      withTempFile('printed.json', json, (file) => {
        const again = validate('-c', file, '--print-config');
        assert.equal(again.stderr, '');
        assert.equal(again.stdout, `${json}configuration '${file}' OK\n`);
      });
    }
  });

  test('nothing is printed for an invalid config', () => {
    const config = `${CONFIGS}/invalid/unknown-cluster.yaml`;
    const r = validate('-c', config, '--print-config');
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
  });
});

// Envoy's own examples (outside the repository). Each must validate, or fail only
// with errors that say a feature is "not supported" or a file "cannot open" (their
// certificates are not here). The table records which: a change shows up as a failure.
const ENVOY_EXAMPLES = {
  'cors-backend.yaml': ['not supported'],
  'dynamic-ads-control-plane.yaml': 'OK',
  'dynamic-grpc-cds-lds.yaml': 'OK',
  'edge-best-practices.yaml': ['not supported'],
  'front-proxy.yaml': ['not supported'],
  'http-protocol-versions.yaml': ['not supported'],
  'jwt-authn.yaml': ['not supported'],
  'life-of-a-request.yaml': ['cannot open', 'not supported'],
  'load-balancing-policy.yaml': ['not supported'],
  'local-ratelimit.yaml': ['not supported'],
  'local-reply.yaml': ['not supported'],
  'quickstart-demo.yaml': 'OK',
  'tls-https-https.yaml': 'OK',
  'tls-sni.yaml': ['not supported'],
};

describe("Envoy's examples", { skip: !fs.existsSync(EXAMPLES_DIR) && `${EXAMPLES_DIR} not found` }, () => {
  const files = fs.existsSync(EXAMPLES_DIR)
    ? fs.readdirSync(EXAMPLES_DIR).filter((n) => n.endsWith('.yaml')).sort()
    : [];

  test('the table lists exactly the examples present', () => {
    assert.deepEqual(files, Object.keys(ENVOY_EXAMPLES).sort());
  });

  for (const name of files) {
    test(name, () => {
      const config = path.relative(REPO, path.join(EXAMPLES_DIR, name));
      const r = validate('-c', config);
      if (r.status === 0) {
        assert.equal(r.stdout, `configuration '${config}' OK\n`);
        assert.equal(ENVOY_EXAMPLES[name], 'OK', `${name} now validates; update the table`);
        return;
      }
      assert.equal(r.status, 1);
      const lines = r.stderr.split('\n');
      assert.equal(lines.pop(), '');
      assert.equal(lines.pop(), `configuration '${config}' is invalid`);
      assert.ok(lines.length > 0, 'at least one error expected');
      const kinds = new Set();
      for (const line of lines) {
        assert.ok(line.startsWith(`${config}:`), `error should name the file: ${line}`);
        const kind = ['not supported', 'cannot open'].find((k) => line.includes(k));
        assert.ok(kind, `error is neither "not supported" nor "cannot open": ${line}`);
        kinds.add(kind);
      }
      assert.deepEqual([...kinds].sort(), ENVOY_EXAMPLES[name]);
    });
  }
});
