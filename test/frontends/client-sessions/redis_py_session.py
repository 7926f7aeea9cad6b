"""A scripted redis-py session (Debian's python3-redis), run against dualkv and against
redis-server by test/frontends/client-sessions.test.ts: prints one JSON transcript."""
import json
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
out = []


def step(name, value):
    out.append([name, value])


step("ping", r.ping())
step("set ex", r.set("session", "v", ex=100))
step("ttl in 95..100", 95 <= r.ttl("session") <= 100)
step("set px nx", r.set("session", "w", px=5000, nx=True))
step("incr", [r.incr("counter"), r.incr("counter"), r.incrby("counter", 10), r.decr("counter")])
step("mset", r.mset({"a": "1", "b": "2", "c": "3"}))
step("mget", r.mget(["a", "b", "nope", "c"]))

# pipeline() is a MULTI/EXEC transaction by default (transaction=True).
p = r.pipeline()
p.set("t1", "x").incr("counter").get("t1").mget("a", "t1")
step("pipeline transaction", p.execute())

# A run-time error inside the transaction: the others still apply, and redis-py raises it.
p = r.pipeline()
p.set("t2", "y").incr("t2").set("t3", "z")
try:
    p.execute()
    step("pipeline with error", "no error")
except redis.ResponseError as e:
    step("pipeline with error", str(e))
step("after error", r.mget("t2", "t3"))


# WATCH-based optimistic locking, redis-py's transaction() helper.
def double(pipe):
    n = int(pipe.get("counter"))
    pipe.multi()
    pipe.set("counter", n * 2)


step("transaction helper", r.transaction(double, "counter"))
step("counter", r.get("counter"))

# A watched key changed by another client: WatchError.
other = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
with r.pipeline() as pipe:
    pipe.watch("counter")
    other.set("counter", "100")
    pipe.multi()
    pipe.set("counter", "0")
    try:
        pipe.execute()
        step("watch", "executed")
    except redis.WatchError:
        step("watch", "WatchError")
step("counter after watch", r.get("counter"))

# A non-transactional pipeline.
p = r.pipeline(transaction=False)
for i in range(30):
    p.set(f"key:{i}", i)
step("plain pipeline", len(p.execute()))
step("scan_iter", sorted(r.scan_iter(match="key:*", count=7)))
step("keys", sorted(r.keys("key:1*")))
step("exists", r.exists("a", "b", "nope"))
step("delete", r.delete("a", "b", "nope"))
step("rename", [r.rename("c", "c2"), r.get("c2")])
step("getset", r.getset("c2", "new"))
step("append strlen", [r.append("c2", "er"), r.strlen("c2")])
step("type", [r.type("c2"), r.type("nope")])
step("expire ttl persist", [r.expire("c2", 50), 45 <= r.ttl("c2") <= 50, r.persist("c2"), r.ttl("c2")])
step("incrbyfloat", r.incrbyfloat("f", 1.5))
step("dbsize", r.dbsize())

info = r.info()
step("info fields", {k: type(info.get(k)).__name__ for k in ["redis_version", "connected_clients", "used_memory", "uptime_in_seconds", "keyspace_hits", "keyspace_misses", "expired_keys", "blocked_clients"]})
ks = r.info("keyspace")
step("info keyspace", {db: sorted(v.keys()) for db, v in ks.items()})
step("info keyspace keys", ks.get("db0", {}).get("keys"))
step("flushdb", r.flushdb())
step("info keyspace empty", r.info("keyspace"))

print(json.dumps(out))
