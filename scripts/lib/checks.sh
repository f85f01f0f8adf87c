# What each build step needs, checked the way the step itself looks for it. Sourced by
# scripts/setup and by scripts/test-setup-checks (which runs these against made-up roots).
# Every check takes a root prefix ($1, "" for the real machine) so a test can lay out a fake one.

# pg_query is C wrapped through bindgen, and bindgen loads libclang through clang-sys. clang-sys
# accepts `libclang.so`, `libclang-<version>.so` and their `.so.<n>` forms, never
# `libclang-cpp.so*` (the C++ API library, which Debian installs with other LLVM tools and which
# bindgen cannot use). bindgen also needs clang's own builtin headers (stddef.h …) from the
# resource directory next to the library; libclang-dev brings both.
have_libclang() {
  local root="${1:-}" dir f base lib_ok="" hdr_ok=""
  local dirs=()
  if [ -n "${LIBCLANG_PATH:-}" ] && [ -z "$root" ]; then dirs+=("$LIBCLANG_PATH"); fi
  for dir in "$root"/usr/lib/llvm-*/lib "$root"/usr/lib/*-linux-gnu "$root"/usr/lib \
             "$root"/usr/lib64 "$root"/usr/local/lib; do
    [ -d "$dir" ] && dirs+=("$dir")
  done
  for dir in "${dirs[@]}"; do
    for f in "$dir"/libclang*.so*; do
      [ -e "$f" ] || continue
      base=${f##*/}
      case "$base" in
        libclang-cpp*) ;;
        libclang.so|libclang.so.*|libclang-[0-9]*.so|libclang-[0-9]*.so.*) lib_ok=1 ;;
      esac
    done
  done
  for f in "$root"/usr/lib/llvm-*/lib/clang/*/include/stddef.h \
           "$root"/usr/lib/clang/*/include/stddef.h "$root"/usr/include/clang/*/include/stddef.h; do
    [ -e "$f" ] && hdr_ok=1
  done
  [ -n "$lib_ok" ] && [ -n "$hdr_ok" ]
}

# The demo and the tests start clusters with initdb and postgres (pg-harness looks on PATH, then
# in /usr/lib/postgresql/*/bin, or in $TENANTGUARD_PG_BIN).
have_postgres_server() {
  local root="${1:-}" d
  if [ -z "$root" ]; then
    if [ -n "${TENANTGUARD_PG_BIN:-}" ]; then
      [ -x "$TENANTGUARD_PG_BIN/initdb" ] && [ -x "$TENANTGUARD_PG_BIN/postgres" ] && return 0
      return 1
    fi
    command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  fi
  for d in "$root"/usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  done
  return 1
}
