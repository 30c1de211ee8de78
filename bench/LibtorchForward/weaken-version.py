#!/usr/bin/python3
"""Marks a symbol-version requirement of an ELF shared library weak, in place.

Usage: weaken-version.py LIBRARY VERSION   (e.g. libLibTorchSharp.so GLIBCXX_3.4.32)

glibc refuses to load a library whose .gnu.version_r needs a version that the providing library lacks, unless the
requirement carries VER_FLG_WEAK; then it loads, and only a symbol bound to that version would fail to resolve.
`patchelf --clear-symbol-version` takes the version off the symbols but leaves this requirement in place, so
patch-libtorchsharp.sh uses both. Only 64-bit little-endian ELF (x86-64) is handled.
"""
import struct
import sys

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def main(path, version):
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            sys.exit(f"{path}: not a 64-bit little-endian ELF file")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
        verneed = next((s for s in sections if s[1] == SHT_GNU_VERNEED), None)
        if verneed is None:
            sys.exit(f"{path}: no .gnu.version_r section")
        strtab = sections[verneed[6]][4]  # sh_link -> the string table's file offset
        count = verneed[7]  # sh_info: number of Verneed entries

        def name(offset):
            end = data.index(0, strtab + offset)
            return data[strtab + offset:end].decode()

        found = 0
        entry = verneed[4]
        for _ in range(count):
            _, cnt, file_name, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
            item = entry + aux
            for _ in range(cnt):
                _, flags, _, vna_name, vna_next = struct.unpack_from("<IHHII", data, item)
                if name(vna_name) == version:
                    struct.pack_into("<H", data, item + 4, flags | VER_FLG_WEAK)
                    print(f"{path}: requirement {version} of {name(file_name)} marked weak (flags {flags:#x} -> {flags | VER_FLG_WEAK:#x})")
                    found += 1
                item += vna_next
            entry += next_entry
        if not found:
            sys.exit(f"{path}: needs no version {version}")
        f.seek(0)
        f.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
