#!/usr/bin/env python3
"""Code size of one crate in a linked 32-bit little-endian ELF (the riscv32imc golden test binary).

Usage: elf_text_size.py ELF [CRATE] [--top N]

Reads the ELF32 section headers and the symbol table (.symtab with its .strtab) with nothing but the
standard library, and sums the sizes of the function symbols (STT_FUNC, size > 0, each address counted
once) that belong to CRATE (default fleetgate_runtime):

- own: the symbol's path starts in the crate (`_ZN17fleetgate_runtime...`), or it is a method of an impl
  whose self type is the crate's (`_ZN.._$LT$fleetgate_runtime..Type$u20$as$u20$Trait$GT$...`);
- generic: another crate's generic code instantiated with the crate's types (drop glue, `Vec<Inst>`
  methods, ...), which exists in the binary only because of the crate.

Code of the crate that the optimiser inlined into other crates' functions is counted there, not here.
Prints `own`, `generic`, `text` (the whole .text section) and a per-module breakdown of `own` as
`key value` lines, then the largest functions.
"""

import re
import struct
import sys

STT_FUNC = 2


def sections(data):
    (e_shoff,) = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    out = []
    for i in range(e_shnum):
        name, stype, _flags, addr, offset, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIIIIIIIII", data, e_shoff + i * e_shentsize
        )
        out.append(dict(name=name, type=stype, addr=addr, offset=offset, size=size, link=link, entsize=entsize))
    strtab = out[e_shstrndx]
    for s in out:
        s["name"] = cstr(data, strtab["offset"] + s["name"])
    return out


def cstr(data, offset):
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "replace")


def functions(data, secs):
    symtab = next(s for s in secs if s["name"] == ".symtab")
    strtab = secs[symtab["link"]]
    seen = set()
    for off in range(symtab["offset"], symtab["offset"] + symtab["size"], symtab["entsize"] or 16):
        name, value, size, info, _other, _shndx = struct.unpack_from("<IIIBBH", data, off)
        if info & 0xF != STT_FUNC or size == 0:
            continue
        key = (value & ~1, size)
        if key in seen:
            continue
        seen.add(key)
        yield cstr(data, strtab["offset"] + name), size


def demangle(sym):
    """Legacy Rust mangling to a readable path without the hash (good enough for reports)."""
    if not sym.startswith("_ZN"):
        return sym
    i, parts = 3, []
    while i < len(sym) and sym[i].isdigit():
        j = i
        while sym[j].isdigit():
            j += 1
        n = int(sym[i:j])
        parts.append(sym[j : j + n])
        i = j + n
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    text = "::".join(parts)
    for k, v in {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$RF$": "&", "$C$": ",", "$BP$": "*", "..": "::"}.items():
        text = text.replace(k, v)
    return re.sub(r"\$u([0-9a-f]+)\$", lambda m: chr(int(m.group(1), 16)), text).replace("_<", "<")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    top = 0
    if "--top" in sys.argv:
        top = int(sys.argv[sys.argv.index("--top") + 1])
        args = [a for a in args if a != str(top)]
    path = args[0]
    crate = args[1] if len(args) > 1 else "fleetgate_runtime"
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        sys.exit(f"{path}: not a 32-bit little-endian ELF")
    secs = sections(data)
    text = sum(s["size"] for s in secs if s["name"] == ".text" or s["name"].startswith(".text."))
    own_re = re.compile(r"^_ZN(%d%s|\d+_\$LT\$%s\.\.)" % (len(crate), crate, crate))
    v0 = "%d%s" % (len(crate), crate)
    own, generic, modules, biggest = 0, 0, {}, []
    for sym, size in functions(data, secs):
        if own_re.match(sym) or (sym.startswith("_R") and v0 in sym):
            own += size
            path_ = demangle(sym)
            m = re.search(crate + r"::(\w+)", path_)
            mod = m.group(1) if m else "?"
            modules[mod] = modules.get(mod, 0) + size
            biggest.append((size, path_))
        elif crate in sym:
            generic += size
    print(f"own {own}")
    print(f"generic {generic}")
    print(f"text {text}")
    for mod, size in sorted(modules.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"module.{mod} {size}")
    for size, name in sorted(biggest, reverse=True)[:top]:
        print(f"fn {size:6d} {name}")


if __name__ == "__main__":
    main()
