#!/bin/bash
# ELF checks that need no `file` or `ldd` (ldd exits 1 for a static binary, which breaks
# `ldd x | grep` under pipefail; macOS has neither ldd nor Linux ELF tools).

# elf_bytes FILE OFFSET COUNT: COUNT bytes at OFFSET as one little-endian hex number.
elf_bytes() {
  local hex
  hex=$(od -An -tx1 -j "$2" -N "$3" "$1" 2>/dev/null | tr -d ' \n') || return 1
  [ "${#hex}" -eq $(($3 * 2)) ] || return 1
  local out="" i
  for ((i = ${#hex} - 2; i >= 0; i -= 2)); do out+=${hex:i:2}; done
  printf '%s' "$out"
}

# elf_is_le64 FILE: a 64-bit little-endian ELF file.
elf_is_le64() {
  [ -f "$1" ] && [ "$(od -An -tx1 -N6 "$1" 2>/dev/null | tr -d ' \n')" = 7f454c460201 ]
}

# elf_is_arm64 FILE: e_machine 0xb7 (aarch64).
elf_is_arm64() {
  elf_is_le64 "$1" && [ "$(elf_bytes "$1" 18 2)" = 00b7 ]
}

# elf_is_static FILE: an ELF executable with no program interpreter (PT_INTERP, type 3), so
# it runs in a `FROM scratch` image.
elf_is_static() {
  elf_is_le64 "$1" || return 1
  local phoff phentsize phnum i type
  phoff=$((16#$(elf_bytes "$1" 32 8))) || return 1
  phentsize=$((16#$(elf_bytes "$1" 54 2))) || return 1
  phnum=$((16#$(elf_bytes "$1" 56 2))) || return 1
  [ "$phnum" -gt 0 ] || return 1
  for ((i = 0; i < phnum; i++)); do
    type=$(elf_bytes "$1" $((phoff + i * phentsize)) 4) || return 1
    [ "$type" != 00000003 ] || return 1
  done
}
