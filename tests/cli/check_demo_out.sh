#!/usr/bin/env bash
# `juice demo` never writes over a user's files: a non-empty --out is refused before anything is
# printed or written, and its scratch folder is made by mkdtemp (mode 0700, a random name rather than
# the predictable juice-demo-PID).
#   check_demo_out.sh JUICE OUT
set -u
JUICE=$1 OUT=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/mine" "$OUT/tmp" && cd "$OUT" || exit 1
echo "my notes" > mine/train.jsonl
msg=$("$JUICE" demo --out mine --sft-steps 1 --irft-steps 2 2>&1 > stdout) && fail "a non-empty --out was accepted"
echo "$msg" | grep -q "^juice: error: --out mine: is not empty; juice demo writes its files into a new or empty folder\.$" ||
  fail "unexpected message: $msg"
[ -s stdout ] && fail "printed before refusing: $(head -3 stdout)"
[ "$(cat mine/train.jsonl)" = "my notes" ] || fail "mine/train.jsonl was overwritten"
[ "$(ls mine)" = "train.jsonl" ] || fail "files were added to mine/: $(ls mine)"
echo "refused: $msg"

TMPDIR=$PWD/tmp "$JUICE" demo --keep --sft-steps 1 --irft-steps 2 > log 2>&1 &
pid=$!
wait "$pid" || fail "the demo failed: $(tail -3 log)"
dirs=$(ls tmp)
[ "$(echo "$dirs" | wc -l)" -eq 1 ] || fail "expected one folder in tmp/, found: $dirs"
case $dirs in juice-demo-??????) ;; *) fail "unexpected folder name $dirs" ;; esac
[ "$dirs" != "juice-demo-$pid" ] || fail "the scratch folder is the predictable juice-demo-PID"
[ "$(stat -c %a "tmp/$dirs")" = 700 ] || fail "tmp/$dirs has mode $(stat -c %a "tmp/$dirs"), not 700"
[ -f "tmp/$dirs/irft/final/model.safetensors" ] || fail "the demo did not run in tmp/$dirs"
echo "scratch folder: tmp/$dirs (mode 700)"
