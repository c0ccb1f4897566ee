#!/usr/bin/env bash
# layers_test.sh SRC_DIR BUILD_DIR — the layer rule, checked (docs/ARCHITECTURE.md, "Layers"):
#   1. no file includes a header of a layer above its own (the table below is the rule);
#   2. the build's link check works: a layer linked as a shared object with -Wl,--no-undefined against only the
#      layers below it links, and the same with one call that points up (store -> core) fails to link.
# The build itself links every layer that way (CMakeLists.txt, layercheck_*), so a real upward call fails it.
set -u
SRC=${1:?usage: layers_test.sh SRC_DIR BUILD_DIR}
BUILD=${2:?usage: layers_test.sh SRC_DIR BUILD_DIR}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ---- 1. includes ----
declare -A ALLOWED=(
  [util]="util"
  [store]="util store"
  [lock]="util lock"
  [waitroom]="util store waitroom"
  [core]="util store lock waitroom core"
  [api]="util store lock waitroom core api"
  [http]="util store lock waitroom core api http"
  [load]="util load"
  [lab]="util store lock waitroom core lab"
)
checked=0
for layer in "${!ALLOWED[@]}"; do
  for f in "$SRC/src/$layer"/*.[ch]; do
    [ -f "$f" ] || continue
    checked=$((checked + 1))
    while IFS= read -r inc; do
      target=${inc%%/*}
      case " ${ALLOWED[$layer]} " in
        *" $target "*) ;;
        *) fail "${f#"$SRC"/}: #include \"$inc\" points up (a $layer file may include only: ${ALLOWED[$layer]})" ;;
      esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\/[^"]*\)".*/\1/p' "$f")
  done
done
[ "$checked" -gt 40 ] || fail "only $checked source files found under $SRC/src: wrong SRC_DIR?"
[ "$fails" -eq 0 ] && echo "ok: includes of $checked files point down only"

# ---- 2. the link check catches an upward call ----
CC=${CC:-cc}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
store_a=$(find "$BUILD" -maxdepth 2 -name libtk_store.a | head -1)
util_a=$(find "$BUILD" -maxdepth 2 -name libtk_util.a | head -1)
[ -n "$store_a" ] && [ -n "$util_a" ] || { fail "libtk_store.a / libtk_util.a not found under $BUILD"; exit 1; }
LIBS=$(pkg-config --libs libpq sqlite3 hiredis) || { fail "pkg-config"; exit 1; }
link_store() { # link_store EXTRA_OBJECT... -> exit status of the link
  # shellcheck disable=SC2086
  $CC -shared -o "$WORK/l.so" "$@" -Wl,--whole-archive "$store_a" -Wl,--no-whole-archive "$util_a" $LIBS -lpthread -lm \
    -Wl,--no-undefined >"$WORK/link.log" 2>&1
}
if link_store; then
  echo "ok: the store layer links with only util below it"
else
  fail "the store layer alone does not link: $(head -5 "$WORK/link.log")"
fi
cat >"$WORK/up.c" <<'EOF'
/* a store-layer function that calls up into core: the link check must refuse it */
int sweep_once(void *app);
int store_probe_calls_up(void *app) { return sweep_once(app); }
EOF
$CC -fPIC -c "$WORK/up.c" -o "$WORK/up.o" || fail "cannot compile the probe"
if link_store "$WORK/up.o"; then
  fail "a store object calling core's sweep_once linked: the layer check would not catch an upward call"
elif grep -q "undefined reference to .sweep_once" "$WORK/link.log"; then
  echo "ok: a call from store up into core fails to link (undefined reference to sweep_once)"
else
  fail "the probe failed to link for another reason: $(head -5 "$WORK/link.log")"
fi

if [ "$fails" -gt 0 ]; then
  echo "layers: $fails problem(s)"
  exit 1
fi
echo "layers: ok"
