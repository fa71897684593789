#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a circle.

    python3 .ci/module_circles.py [CRATE_DIR ...]    (default: every crate of the workspace)

A top-level module is a file or folder directly under a crate's `src/` (other than lib.rs and
main.rs). Module A depends on module B when A's code outside its `#[cfg(test)]` blocks names
`crate::B` (in a `use` or a path). Tests may reach across modules; production code may not run
in a circle, so that each module can be read knowing only the ones below it.
Prints each crate's module order (or its circles) and exits 1 on any circle.
"""
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def strip_tests(text: str) -> str:
    """The text with every `#[cfg(test)]` item (a module or a function) blanked out."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        j = m.end()
        semi = text.find(";", j)
        brace = text.find("{", j)
        if brace == -1 or (semi != -1 and semi < brace):
            i = semi + 1 if semi != -1 else len(text)  # `#[cfg(test)] use ...;`
            continue
        depth, k = 0, brace
        while k < len(text):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        i = k + 1
    out.append(text[i:])
    return "".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def named_modules(text: str) -> set:
    """Top-level module names a file reaches through `crate::`."""
    names = set()
    for m in re.finditer(r"\bcrate::", text):
        rest = text[m.end():]
        if rest.startswith("{"):
            depth, k, start, parts = 0, 0, 1, []
            while k < len(rest):
                c = rest[k]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        parts.append(rest[start:k])
                        break
                elif c == "," and depth == 1:
                    parts.append(rest[start:k])
                    start = k + 1
                k += 1
            for p in parts:
                w = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", p)
                if w:
                    names.add(w.group(1))
        else:
            w = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", rest)
            if w:
                names.add(w.group(1))
    return names


def crate_graph(src: pathlib.Path) -> dict:
    modules = {}
    for p in sorted(src.iterdir()):
        if p.name in ("lib.rs", "main.rs", "bin"):
            continue
        if p.is_file() and p.suffix == ".rs":
            modules[p.stem] = [p]
        elif p.is_dir():
            files = sorted(p.rglob("*.rs"))
            own = src / f"{p.name}.rs"
            modules.setdefault(p.name, []).extend(files + ([own] if own.exists() else []))
    graph = {}
    for name, files in modules.items():
        deps = set()
        for f in files:
            text = strip_tests(strip_comments(f.read_text(encoding="utf-8")))
            deps |= named_modules(text)
        graph[name] = sorted(d for d in deps if d in modules and d != name)
    return graph


def circles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    crates = [pathlib.Path(a) for a in sys.argv[1:]] or sorted(
        p.parent for p in ROOT.glob("*/Cargo.toml")
    ) + [ROOT]
    failed = False
    for crate in crates:
        src = crate / "src"
        if not src.is_dir():
            continue
        graph = crate_graph(src)
        found = circles(graph)
        here = crate.resolve()
        label = os.path.relpath(here, ROOT) if here.is_relative_to(ROOT) else str(crate)
        if found:
            failed = True
            for comp in found:
                ties = [f"{a} -> {b}" for a in comp for b in graph[a] if b in comp]
                print(f"{label}: circle of {len(comp)} modules: {', '.join(comp)} ({'; '.join(ties)})")
        else:
            print(f"{label}: {len(graph)} top-level modules, no circle")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
