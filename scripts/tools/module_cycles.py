#!/usr/bin/env python3
"""Fails when a crate's modules import each other in a circle.

Every `.rs` file under a crate's `src/` is a module; a file *imports* the
module of every `crate::`, `super::` or `self::` path it names (in `use`
items and in code), resolved to the deepest module that exists. A circle
is a set of modules that reach each other through imports (a strongly
connected component of more than one module), such as `a.rs` naming
`b::X` while `b.rs` names `a::Y`, or a `mod.rs` re-exporting a child that
imports the parent back. Declaring a module (`mod x;`) is not an import;
inline `#[cfg(test)] mod ... { }` blocks and `tests/` directories are left
out (a test reaches into what it tests).

    scripts/tools/module_cycles.py [CRATE_DIR ...]   (default: crates/*)

Exit 0 when no crate has a circle, 1 listing each circle and the imports
that close it.
"""

import re
import sys
from pathlib import Path

USE = re.compile(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
PATH = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*mod\s+\w+\s*\{")
COMMENT = re.compile(r"//[^\n]*")
STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def module_of(src: Path, file: Path):
    """The module path of `file` (a tuple), None for binaries' roots."""
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "bin" or parts == ["main"]:
        return None
    if parts == ["lib"]:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip(text: str) -> str:
    """Source without comments, strings and inline test modules."""
    text = COMMENT.sub("", text)
    text = STRING.sub('""', text)
    while True:
        m = TEST_MOD.search(text)
        if not m:
            return text
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]


def expand(tree: str):
    """The paths of a `use` tree: `a::{b, c::{d, e}}` -> a::b, a::c::d, a::c::e."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix: str, t: str):
        if not t:
            return
        if "{" not in t:
            for p in split(t):
                out.append(prefix + p)
            return
        head, rest = t.split("{", 1)
        inner = rest[: rest.rfind("}")]
        for part in split(inner):
            walk(prefix + head, part)

    def split(t: str):
        parts, depth, cur = [], 0, ""
        for ch in t:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            cur += ch
        if cur:
            parts.append(cur)
        return parts

    walk("", tree)
    return out


def resolve(path: str, here: tuple, modules: set):
    """The deepest existing module `path` (as written in module `here`) names."""
    segments = [s for s in path.split("::") if s]
    base = list(here)
    if segments and segments[0] == "crate":
        base, segments = [], segments[1:]
    elif segments and segments[0] not in ("super", "self"):
        pass  # a child module of `here`
    else:
        while segments and segments[0] in ("super", "self"):
            if segments.pop(0) == "super":
                if not base:
                    return None
                base.pop()
    target = tuple(base)
    for s in segments:
        if s == "*" or not (target + (s,)) in modules:
            break
        target = target + (s,)
    return target


def cycles(crate: Path):
    src = crate / "src"
    files = {}
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src)
        if "tests" in rel.parts[:-1] or rel.name == "tests.rs":
            continue
        m = module_of(src, f)
        if m is not None:
            files[m] = f
    modules = set(files)
    edges = {m: {} for m in modules}
    for m, f in files.items():
        text = strip(f.read_text())
        paths = []
        # A path may also start at a child module (`use task::Handler`,
        # `commit::commit_loop(..)`): relative to this one.
        children = {c[-1] for c in modules if len(c) == len(m) + 1 and c[: len(m)] == m}
        roots = {"crate", "super", "self"} | children
        for u in USE.finditer(text):
            paths += [p for p in expand(u.group(1)) if p.split("::")[0] in roots]
        body = USE.sub("", text)
        paths += PATH.findall(body)
        if children:
            relative = re.compile(r"(?<![\w:])((?:%s)(?:::\w+)+)" % "|".join(sorted(children)))
            paths += relative.findall(body)
        for p in paths:
            t = resolve(p, m, modules)
            if t is not None and t != m and t in modules:
                edges[m].setdefault(t, p)
    return strongly_connected(edges), edges, files


def strongly_connected(edges):
    """Tarjan's algorithm; components with more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def name(m: tuple) -> str:
    return "crate" + "".join("::" + s for s in m)


def main(argv):
    root = Path(__file__).resolve().parents[2]
    crates = [Path(a) for a in argv] or sorted(p.parent for p in (root / "crates").glob("*/src"))
    found = 0
    for crate in crates:
        comps, edges, files = cycles(crate)
        for comp in comps:
            found += 1
            print(f"{crate.name}: modules importing each other in a circle:")
            members = set(comp)
            for m in comp:
                for t, via in sorted(edges[m].items()):
                    if t in members:
                        print(f"  {files[m].relative_to(crate)} -> {name(t)}  (`{via}`)")
    if found:
        print(f"{found} circle(s): move what both sides need below both, or merge them.")
        return 1
    print(f"no import circle in {len(crates)} crate(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
