import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { enableEtcdAuth, etcdClusterFixture, haveEtcd } from './etcd-cluster.js';
import { pidExists } from '../../bench/lib/peer-process.js';

describe.skipIf(!haveEtcd())('the etcd cluster fixture', () => {
  const etcd = etcdClusterFixture();

  it('a one-member cluster stores a put that etcdctl reads back, and stop() leaves no process or data dir', async () => {
    const cluster = await etcd.start({ members: 1 });
    expect(cluster.endpoints).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/)]);
    await cluster.etcdctl(['put', 'greeting', 'hello']);
    expect(await cluster.etcdctl(['get', 'greeting', '--print-value-only'])).toBe('hello\n');

    const pids = cluster.members.map((m) => m.pid ?? -1);
    const dirs = cluster.members.map((m) => m.dataDir);
    expect(pids.every(pidExists)).toBe(true);
    await cluster.stop();
    expect(pids.filter(pidExists)).toEqual([]);
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
  });

  it('three members elect a new leader when the leader is killed with SIGKILL, writes go on, and the old leader rejoins from its data dir', async () => {
    const cluster = await etcd.start({ members: 3 });
    await cluster.etcdctl(['put', 'before', '1']);
    const old = await cluster.leader();
    const oldPid = old.pid;
    const oldId = old.id;

    await cluster.kill(old);
    expect(old.alive).toBe(false);
    const next = await cluster.leader();
    expect(next.name).not.toBe(old.name);
    const survivors = cluster.members.filter((m) => m !== old).map((m) => m.clientUrl);
    await cluster.etcdctl(['put', 'after', '2'], { endpoints: survivors });

    await cluster.restart(old);
    expect(old.pid).not.toBe(oldPid);
    // The same member ID: it came back from its WAL, not as a new member.
    expect(old.id).toBe(oldId);
    // A linearizable read on the old leader: it has caught up with the write it missed.
    const got = await cluster.etcdctl(['get', '--prefix', '', '--print-value-only'], { endpoints: [old.clientUrl] });
    expect(got.split('\n').filter(Boolean)).toEqual(['2', '1']);
  });

  it('with auth enabled, etcdctl is refused without a password or with a wrong one, and the user reads and writes only its prefix', async () => {
    const cluster = await etcd.start({ members: 1 });
    const { root, user } = await enableEtcdAuth(cluster, { prefix: 'app/' });

    await cluster.etcdctl(['put', 'app/k', 'v'], { auth: user });
    expect(await cluster.etcdctl(['get', 'app/k', '--print-value-only'], { auth: user })).toBe('v\n');
    await expect(cluster.etcdctl(['get', 'app/k'])).rejects.toThrow(/user name is empty/);
    await expect(cluster.etcdctl(['get', 'app/k'], { auth: { user: user.user, password: 'wrong' } })).rejects.toThrow(/authentication failed/);
    await expect(cluster.etcdctl(['put', 'other', 'v'], { auth: user })).rejects.toThrow(/permission denied/);
    await cluster.etcdctl(['put', 'other', 'v'], { auth: root });
  });

  it('a member that exits while the cluster forms fails the start with what etcd printed', async () => {
    await expect(etcd.start({ members: 1, extraArgs: ['--no-such-flag'] })).rejects.toThrow(/etcd member m0 .* exited; its last output:\n.*no-such-flag/s);
  });
});
