#!/usr/bin/python3
"""make lint: no two source files of a process call each other in a circle.

The call graph is read from the objects the programs link (nm: a file
calls another when it uses a function only the other defines). A cycle of
files is reported with its members; the layers are documented in
translator/translator.h and sip-front/sip_front.h.
"""
import collections
import subprocess
import sys

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
DIRS = ("shared", "translator", "sip-front", "xmpp-front", "supervisor", "ctl")


def objects():
    out = subprocess.run(["make", "-s", "-n", "-p", "BUILD=" + BUILD],
                         capture_output=True, text=True).stdout
    srcs = set()
    for line in out.splitlines():
        if line.startswith("ALL_SRCS :="):
            srcs = set(line.split(":=", 1)[1].split())
    return ["%s/%s.o" % (BUILD, s[:-2]) for s in sorted(srcs)]


def graph(objs):
    defs, undef = {}, collections.defaultdict(set)
    for o in objs:
        nm = subprocess.run(["nm", o], capture_output=True, text=True,
                            check=True).stdout
        for line in nm.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] == "T":
                defs[p[2]] = o
            elif len(p) == 2 and p[0] == "U":
                undef[o].add(p[1])
    edges = collections.defaultdict(set)
    for o, names in undef.items():
        for n in names:
            if n in defs and defs[n] != o:
                edges[o].add(defs[n])
    return edges


def cycles(nodes, edges):
    index, low, stack, on, found, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


objs = objects()
bad = cycles(objs, graph(objs))
for c in bad:
    print("check-cycles: files call each other in a circle: " + " ".join(c),
          file=sys.stderr)
if bad:
    sys.exit(1)
print("check-cycles: no circular calls between the %d source files" % len(objs))
