import { describe, expect, it } from 'vitest';
import { parseClusterNodes, sameView } from '../../bench/lib/redis-cluster-nodes.js';

// CLUSTER NODES as node 30001 of a 3+1 cluster prints it: one master is failed, one slot
// is being migrated out of 30001 (`[93->-id]`), and 30004 replicates 30002.
const SEEN_BY_30001 = [
  'aaaa 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [93->-bbbb]',
  'bbbb 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922',
  'cccc 127.0.0.1:30003@40003,host3 master,fail - 1426238316232 1426238316232 3 disconnected',
  'dddd 127.0.0.1:30004@40004 slave bbbb 0 1426238317239 4 connected',
  '',
].join('\n');

const SEEN_BY_30002 = [
  'aaaa 127.0.0.1:30001@40001 master - 0 0 1 connected 0-5460',
  'bbbb 127.0.0.1:30002@40002 myself,master - 0 1426238316232 2 connected 5461-10922',
  'cccc 127.0.0.1:30003@40003 master,fail? - 1426238316232 1426238316232 3 disconnected',
  'dddd 127.0.0.1:30004@40004 slave bbbb 0 1426238317239 4 connected',
].join('\n');

describe('CLUSTER NODES as the Redis Cluster fixture reads it', () => {
  it('gives each node its ports, role, master and slot ranges, leaving out a slot being migrated', () => {
    expect(parseClusterNodes(SEEN_BY_30001)).toEqual([
      { id: 'aaaa', port: 30001, busPort: 40001, flags: ['myself', 'master'], master: true, masterId: null, slots: [[0, 5460]] },
      { id: 'bbbb', port: 30002, busPort: 40002, flags: ['master'], master: true, masterId: null, slots: [[5461, 10922]] },
      { id: 'cccc', port: 30003, busPort: 40003, flags: ['master', 'fail'], master: true, masterId: null, slots: [] },
      { id: 'dddd', port: 30004, busPort: 40004, flags: ['slave'], master: false, masterId: 'bbbb', slots: [] },
    ]);
  });

  it('reads a single slot as a range of one', () => {
    expect(parseClusterNodes('eeee 127.0.0.1:7000@17000 master - 0 0 1 connected 7 9-10')[0]?.slots).toEqual([
      [7, 7],
      [9, 10],
    ]);
  });

  it('counts two views the same when only the observers\u2019 flags (myself, fail?, fail) differ', () => {
    expect(sameView([parseClusterNodes(SEEN_BY_30001), parseClusterNodes(SEEN_BY_30002)])).toBe(true);
  });

  it('counts two views different when they disagree on a slot or on whom a replica follows', () => {
    const moved = SEEN_BY_30002.replace('0-5460', '0-5459').replace('5461-10922', '5460-10922');
    expect(sameView([parseClusterNodes(SEEN_BY_30001), parseClusterNodes(moved)])).toBe(false);
    const other = SEEN_BY_30002.replace('slave bbbb', 'slave aaaa');
    expect(sameView([parseClusterNodes(SEEN_BY_30001), parseClusterNodes(other)])).toBe(false);
  });
});
