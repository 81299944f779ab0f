#!/usr/bin/env python3
"""The import-circle guard can fail: it must report circles planted in
throw-away crates (siblings, a parent re-exporting a child that imports it
back, a circle through `crate::` paths) and pass their untangled versions."""

import subprocess
import sys
import tempfile
from pathlib import Path

GUARD = Path(__file__).with_name("module_cycles.py")

CASES = {
    "siblings": ({"lib.rs": "mod a;\nmod b;\n", "a.rs": "use crate::b::B;\npub struct A;\n",
                  "b.rs": "use crate::a::A;\npub struct B;\n"}, 1),
    "parent and child": ({"lib.rs": "mod p;\n", "p/mod.rs": "mod c;\npub use c::C;\npub struct P;\n",
                          "p/c.rs": "use super::P;\npub struct C;\n"}, 1),
    "in code, not in a use": ({"lib.rs": "mod a;\nmod b;\n", "a.rs": "pub fn a() { crate::b::b() }\n",
                               "b.rs": "pub fn b() { let _ = crate::a::a; }\n"}, 1),
    "a tree": ({"lib.rs": "mod a;\nmod b;\nmod c;\n", "a.rs": "use crate::c::C;\n",
                "b.rs": "use crate::c::C;\nuse crate::a;\n", "c.rs": "pub struct C;\n"}, 0),
    "a test module may reach up": ({"lib.rs": "mod a;\n", "a.rs": "pub struct A;\n#[cfg(test)]\nmod tests {\n    use super::A;\n    use crate::a;\n}\n"}, 0),
}


def main():
    failures = []
    for name, (files, expected) in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            crate = Path(d) / "crate"
            for path, text in files.items():
                f = crate / "src" / path
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text)
            got = subprocess.run([sys.executable, GUARD, crate], capture_output=True, text=True)
            if got.returncode != expected:
                failures.append(f"{name}: exit {got.returncode}, expected {expected}\n{got.stdout}")
    for f in failures:
        print(f)
    print(f"{len(CASES) - len(failures)} of {len(CASES)} guard cases as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
