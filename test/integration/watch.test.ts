// `meshlet run --watch`: a config file edited in place (or replaced by rename) is re-applied
// through the same validation path; a broken edit is rejected and the running config keeps serving.
// Also: the control socket of a running meshlet cannot be taken over by a second one.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { renameSync, statSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultControlSocket } from '../../src/control/socket-path.js';
import { runMeshletExpectingExit, serviceEntryYaml, startMeshlet, writeConfig } from '../helpers/meshlet.js';
import { get } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { echoUpstream } from '../helpers/upstream.js';

function vs(header: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: watched}
spec:
  hosts: [watched]
  http:
  - headers: {response: {set: {x-config: ${header}}}}
    route: [{destination: {host: watched}}]
`;
}

test('--watch re-applies an edited file; a broken edit keeps the running config', async () => {
  const up = await echoUpstream('watched');
  const se = serviceEntryYaml('watched', [{ port: up.port }]);
  const file = writeConfig(se + vs('first'));
  const m = await startMeshlet('', { files: [file], args: ['--watch'] });
  const waitLog = async (msg: string, count: number): Promise<void> => {
    while (m.output().split(`"msg":"${msg}"`).length - 1 < count) await once(m.proc.stderr!, 'data');
  };
  try {
    assert.equal((await get(`${m.url}/`, 'watched')).headers['x-config'], 'first');
    writeFileSync(file, se + vs('second'));
    await waitLog('config reloaded', 1);
    assert.equal((await get(`${m.url}/`, 'watched')).headers['x-config'], 'second');
    // replaced by rename, as editors and config tools do
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, se + vs('third'));
    renameSync(tmp, file);
    await waitLog('config reloaded', 2);
    assert.equal((await get(`${m.url}/`, 'watched')).headers['x-config'], 'third');
    writeFileSync(file, se + vs('third').replace('hosts: [watched]', 'hosts: []'));
    await waitLog('config reload rejected; the running config keeps serving', 1);
    assert.match(m.output(), /VirtualService\/watched: spec\.hosts/);
    assert.equal((await get(`${m.url}/`, 'watched')).headers['x-config'], 'third');
  } finally {
    await m.stop();
    await up.close();
  }
});

test('a live control socket is refused to a second meshlet; its file is mode 0600', async () => {
  const up = await echoUpstream('x');
  const m = await startMeshlet(serviceEntryYaml('x', [{ port: up.port }]));
  try {
    const sock = defaultControlSocket(m.adminPort);
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const other = writeConfig(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: other}
spec:
  egress: [{port: {number: ${await freePort()}}, hosts: ["*/*"]}]
`);
    const r = await runMeshletExpectingExit(['run', '-c', other, '--admin', `127.0.0.1:${await freePort()}`, '--control-socket', sock]);
    assert.equal(r.code, 1);
    assert.match(r.output, /control socket .* is in use by a running process/);
  } finally {
    await m.stop();
    await up.close();
  }
});
