import { beforeAll, describe, expect, it } from 'vitest';
import { clusterFixture } from './cluster-fixture.js';

describe('clusterFixture', () => {
  const stopped: string[] = [];
  const startFake = async (name: string) => ({ name, stop: async () => void stopped.push(name) });

  describe('a block that shares one cluster', () => {
    const clusters = clusterFixture(startFake);
    beforeAll(async () => {
      await clusters.start('for the block');
    });

    it('keeps a cluster started in beforeAll while a test starts its own', async () => {
      await clusters.start('for one test');
      expect(stopped).toEqual([]);
    });

    it('has stopped the cluster of the test before, and not the block\u2019s', () => {
      expect(stopped).toEqual(['for one test']);
    });
  });

  it('stops the block\u2019s cluster after the block', () => {
    expect(stopped).toEqual(['for one test', 'for the block']);
  });
});
