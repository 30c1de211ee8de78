#!/usr/bin/env bash
# Builds bench/LibtorchForward (TorchSharp-cpu 0.107.0, libtorch 2.10.0) in Release, makes its native library load on
# this system, and runs it with the given arguments (see Program.cs: --batch 8 32 --dtype float32 bf16 --threads 2 ...).
#
# libLibTorchSharp.so was linked against GCC 13's libstdc++ and needs version GLIBCXX_3.4.32, which Debian 12's
# libstdc++ (up to GLIBCXX_3.4.30) lacks, so dlopen fails with "version `GLIBCXX_3.4.32' not found". The only symbol
# bound to that version is std::ios_base_library_init() (_ZSt21ios_base_library_initv), which GCC 13's <iostream>
# references only to pull in the stream initialisation; nothing relocates against it, so it is never resolved.
# The copy in the build's output folder (never the NuGet cache or the system) gets, for each GLIBCXX version the
# system lacks: `patchelf --clear-symbol-version` on the symbols of that version, and the version requirement itself
# marked weak (weaken-version.py), since patchelf leaves it in .gnu.version_r and glibc refuses a missing one.
# Rerunning is safe: an already patched library needs nothing and is left alone. Needs patchelf (apt install patchelf).
# NO_BUILD=1 skips the build (for repeated timed runs); `run.sh --prepare` builds and patches, and runs nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/bin/Release/net10.0/linux-x64"
[ "${NO_BUILD:-}" = 1 ] || dotnet build "$here/LibtorchForward.csproj" -c Release -v quiet -nologo >&2
lib="$out/libLibTorchSharp.so"
stdcxx="$(ldconfig -p | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !found {found = $NF} END {print found}')"
have="$(objdump -T "$stdcxx" | grep -o 'GLIBCXX_[0-9.]*' | sort -u)"
# Versions the library requires (strong, i.e. not yet marked weak) that the system's libstdc++ does not define.
for version in $(readelf -V "$lib" | awk '/Name: GLIBCXX_/ && /Flags: none/ {print $3}' | sort -u); do
    grep -qx "$version" <<<"$have" && continue
    command -v patchelf >/dev/null || { echo "patchelf is missing: apt-get install patchelf" >&2; exit 1; }
    for symbol in $(objdump -T "$lib" | awk -v v="($version)" 'index($0, v) {print $NF}' | sort -u); do
        if readelf -rW "$lib" | grep -c "$symbol" >/dev/null; then
            echo "$lib: $symbol@$version is relocated against, so it is used: clearing its version would not help" >&2
            exit 1
        fi
        echo "$lib: $symbol needs $version, which $stdcxx lacks; unused (no relocation): clearing its version" >&2
        patchelf --clear-symbol-version "$symbol" "$lib"
    done
    python3 "$here/weaken-version.py" "$lib" "$version" >&2
done
[ "${1:-}" = --prepare ] && exit 0
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$out/LibtorchForward" "$@"
