# Python workload for bench/compare --programs (run with PYTHONMALLOC=malloc
# so every object comes from the allocator under test). Dicts, lists,
# strings and object churn; deterministic output. argv[1]: scale.
import sys

scale = int(sys.argv[1])


class Node:
    __slots__ = ("key", "value", "children")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.children = []


x = 12345


def rnd():
    global x
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


total = 0
for rnd_i in range(scale):
    d = {}
    for i in range(8000):
        k = "k%d_%d" % (rnd() % 50000, i % 7)
        d[k] = [rnd() % 1000 for _ in range(rnd() % 12)]
    words = sorted(d, key=lambda s: (len(d[s]), s))
    text = " ".join(words)
    parts = text.split(" ")
    total += len(parts) + sum(len(v) for v in d.values())
    nodes = [Node(w, len(w)) for w in words]
    for i in range(1, len(nodes)):
        nodes[(i - 1) // 4].children.append(nodes[i])
    stack, seen = [nodes[0]], 0
    while stack:
        n = stack.pop()
        seen += n.value
        stack.extend(n.children)
    total += seen
    del nodes, stack, d
    s = {(i * 7919) % 10007: str(i) * (i % 5 + 1) for i in range(12000)}
    total += sum(len(v) for k, v in s.items() if k % 3 == 0)
    blobs = [bytearray(rnd() % 4096 + 1) for _ in range(1200)]
    total += sum(len(b) for b in blobs[::2])
print(total)
