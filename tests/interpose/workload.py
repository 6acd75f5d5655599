"""Allocation-heavy Python workload with a deterministic digest.

Run with PYTHONMALLOC=malloc (so every object goes through malloc rather
than pymalloc's arenas) and PYTHONHASHSEED=0 (so set iteration order is
fixed). Builds and tears down many dicts, lists, strings, tuples and
bytes of all sizes, round-trips a large structure through json, sorts,
and uses a few threads; prints one line per stage with a sha256 of what
it computed, so any corruption changes the output.
"""
import hashlib
import json
import random
import threading


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def stage(name, value):
    print(f"{name}: {digest(value)}")


def words(rng, n):
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            for _ in range(n)]


def dicts_and_lists(rng):
    # Many small containers that grow by appends / inserts (realloc paths)
    # and die young.
    table = {}
    for i in range(60000):
        key = f"k{rng.randrange(20000)}"
        bucket = table.setdefault(key, [])
        bucket.append(i)
        if len(bucket) > 8 and rng.random() < 0.3:
            del table[key]
    summary = sorted((k, len(v), sum(v)) for k, v in table.items())
    return summary


def strings(rng):
    # Strings from tiny to a few MB: concatenation, join, split, replace.
    ws = words(rng, 50000)
    text = " ".join(ws)
    big = text * 8
    parts = big.split(" ")
    counts = {}
    for w in parts:
        counts[w] = counts.get(w, 0) + 1
    upper = big.upper().replace("A", "aa")
    return (len(big), len(upper), upper[1000:1100],
            sorted(counts.items())[:50], hashlib.sha256(upper.encode()).hexdigest())


def json_round_trip(rng):
    doc = {
        "users": [
            {
                "id": i,
                "name": "".join(rng.choice("xyzw") for _ in range(rng.randint(3, 30))),
                "scores": [rng.randint(-1000, 1000) for _ in range(rng.randint(0, 40))],
                "tags": {f"t{j}": rng.random() < 0.5 for j in range(rng.randint(0, 6))},
                "nested": [[rng.randint(0, 9)] * rng.randint(0, 5) for _ in range(3)],
            }
            for i in range(8000)
        ]
    }
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    if back != doc:
        raise SystemExit("json round trip changed the document")
    again = json.dumps(back, sort_keys=True, indent=1)
    return len(text), len(again), hashlib.sha256(again.encode()).hexdigest()


def sorting(rng):
    nums = [rng.randrange(10**9) for _ in range(200000)]
    tuples = [(rng.randrange(100), rng.random(), str(n)) for n in nums[:100000]]
    strs = words(rng, 40000)
    nums.sort()
    tuples.sort()
    strs.sort(key=lambda s: (len(s), s))
    return nums[::997], tuples[::991], strs[::97]


def objects(rng):
    # Instances with __dict__, sets, frozensets, bytes/bytearray growth.
    class Node:
        def __init__(self, value, children):
            self.value = value
            self.children = children

    def build(depth):
        if depth == 0:
            return Node(rng.randrange(1000), [])
        return Node(rng.randrange(1000), [build(depth - 1) for _ in range(rng.randint(1, 4))])

    def total(node):
        return node.value + sum(total(c) for c in node.children)

    trees = [total(build(6)) for _ in range(20)]
    sets = set()
    for _ in range(30000):
        sets.add(frozenset(rng.sample(range(50), rng.randint(0, 6))))
    buf = bytearray()
    for i in range(20000):
        buf += bytes([i % 256]) * rng.randint(0, 50)
    return trees, len(sets), sorted(len(s) for s in sets)[::500], hashlib.sha256(buf).hexdigest()


def threaded(seed):
    # Threads build and drop their own structures; results are collected
    # in index order so the digest does not depend on scheduling.
    results = [None] * 4

    def work(i):
        rng = random.Random(seed * 31 + i)
        data = {j: [str(rng.random())] * rng.randint(0, 20) for j in range(20000)}
        results[i] = sum(len(v) for v in data.values()), digest(sorted(data.items())[:200])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    seed = 20240229
    stage("dicts_and_lists", dicts_and_lists(random.Random(seed)))
    stage("strings", strings(random.Random(seed + 1)))
    stage("json", json_round_trip(random.Random(seed + 2)))
    stage("sorting", sorting(random.Random(seed + 3)))
    stage("objects", objects(random.Random(seed + 4)))
    stage("threaded", threaded(seed + 5))
    print("done")


if __name__ == "__main__":
    main()
