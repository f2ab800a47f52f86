# Shared by the CLI test scripts: `expect NAME WANT_EXIT PATTERN -- command...` runs a command,
# checks its exit status (0, or a clean non-zero failure that is not a signal) and that its output
# matches PATTERN; `finish` prints the totals and sets the exit status. It also gives each script
# a scratch folder, $tmp, removed on exit.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

expect() {  # expect NAME WANT_EXIT PATTERN -- command...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$want" = 0 ] && [ $rc -ne 0 ]; then
    echo "FAIL $name: exit $rc, expected 0: $out"; failed=$((failed + 1)); return
  fi
  if [ "$want" != 0 ] && { [ $rc -eq 0 ] || [ $rc -ge 128 ]; }; then
    echo "FAIL $name: exit $rc, expected a clean failure: $out"; failed=$((failed + 1)); return
  fi
  if ! tr '\n' ' ' <<<"$out" | grep -qE -- "$pattern"; then
    echo "FAIL $name: output does not match /$pattern/: $out"; failed=$((failed + 1)); return
  fi
  echo "ok   $name${VERBOSE:+: $out}"
  passed=$((passed + 1))
}

finish() {
  echo "$passed passed, $failed failed"
  [ $failed -eq 0 ]
}
