// Out of file descriptors: a listener that cannot accept pauses instead of spinning on the
// CPU, and serves again once connections are closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, freePort, fetchText, httpListener, bootstrap } from './lib/frontdesk.mjs';

const cpuTicks = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).map(Number).reduce((a, b) => a + b);

test('EMFILE pauses accepting instead of spinning, and service resumes', async () => {
  const admin = await freePort(), main = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'frontdesk-fd-'));
  writeFileSync(join(dir, 'envoy.yaml'), bootstrap(admin, httpListener('fd', main, `
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                direct_response: {status: 200, body: {inline_string: "ok"}}`)));
  // a low descriptor limit for frontdesk alone, set by the shell that execs it
  const proc = spawn('sh', ['-c', `ulimit -n 64 && exec "$0" -c "$1" --concurrency 1`, binary, join(dir, 'envoy.yaml')],
    { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 100; i++) {
      if ((await fetchText(`http://127.0.0.1:${admin}/ready`).catch(() => null))?.status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const sockets = [];
    for (let i = 0; i < 80; i++) {
      const s = connect(main, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = cpuTicks(proc.pid);
    await new Promise((r) => setTimeout(r, 1000));
    const used = cpuTicks(proc.pid) - before; // clock ticks (1/100 s) in one second
    assert.ok(used < 30, `frontdesk used ${used} ticks in 1 s with its descriptors exhausted`);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const r = await fetchText(`http://127.0.0.1:${main}/`);
    assert.equal(r.status, 200);
  } finally {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
});
