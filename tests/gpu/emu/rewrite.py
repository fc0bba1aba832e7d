#!/usr/bin/env python3
"""rewrite.py: turns CUDA sources into C++ for the emulated GPU (G4_GPU_EMU).

Usage: rewrite.py OUT_DIR SOURCE...

Each SOURCE (kernels/cuda/*.cu and *.cuh) is written to OUT_DIR under its own
name (.cu becomes .cpp) with two changes, everything else being left to the
macros of tests/gpu/emu/g4emu.h:
  kern<T><<<grid, block, shared, stream>>>(args)
      -> g4emu::launch(g4emu::make_config(grid, block, shared, stream), "kern<T>",
                       __FILE__, __LINE__, kern<T>, args)
  extern __shared__ T name[];
      -> T *name = (T *)g4emu::dynamic_shared();
The output starts with #include "g4emu.h" and a #line directive and keeps every
line where it was, so compiler messages and the emulator's own (barriers,
shuffles, launches) name the original file and line. A source with a launch
this script cannot parse is an error, not a silent miss."""

import os
import re
import sys

# kern or kern<...> (no nested angle brackets) followed by <<<
LAUNCH_HEAD = re.compile(r"([A-Za-z_]\w*(?:\s*<[^<>;]*>)?)\s*<<<")
EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+([^;\[\]]+?)\s*([A-Za-z_]\w*)\s*\[\s*\]\s*;")


def rewrite_launches(text, path):
    out = []
    pos = 0
    while True:
        m = LAUNCH_HEAD.search(text, pos)
        if not m:
            out.append(text[pos:])
            return "".join(out)
        close = text.find(">>>", m.end())
        if close < 0:
            sys.exit(f"{path}: a launch '<<<' without '>>>'")
        config = text[m.end():close]
        after = close + 3
        while after < len(text) and text[after] in " \t":
            after += 1
        if after >= len(text) or text[after] != "(":
            sys.exit(f"{path}: the launch of {m.group(1)} is not followed by its arguments")
        kernel = m.group(1)
        rest = text[after + 1:].lstrip(" \t")
        sep = "" if rest.startswith(")") else ", "
        name = " ".join(kernel.split())
        out.append(text[pos:m.start()])
        out.append(f'g4emu::launch(g4emu::make_config({config}), "{name}", __FILE__, __LINE__, {kernel}{sep}')
        pos = after + 1


def rewrite(text, path):
    text = EXTERN_SHARED.sub(lambda m: f"{m.group(1)} *{m.group(2)} = ({m.group(1)} *)g4emu::dynamic_shared();", text)
    text = rewrite_launches(text, path)
    if "<<<" in text or re.search(r"extern\s+__shared__", text):
        sys.exit(f"{path}: a launch or an extern __shared__ array was left unrewritten")
    return f'#include "g4emu.h"\n#line 1 "{path}"\n' + text


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: rewrite.py OUT_DIR SOURCE...")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        name = os.path.basename(path)
        if name.endswith(".cu"):
            name = name[:-3] + ".cpp"
        result = rewrite(text, os.path.abspath(path))
        target = os.path.join(out_dir, name)
        # keep the old file (and its timestamp) when nothing changed
        try:
            with open(target, encoding="utf-8") as f:
                if f.read() == result:
                    continue
        except FileNotFoundError:
            pass
        with open(target, "w", encoding="utf-8") as f:
            f.write(result)


if __name__ == "__main__":
    main()
