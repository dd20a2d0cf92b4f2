#!/usr/bin/env bash
# An HF model folder whose config.json claims more positions than model.safetensors holds is refused
# naming the tensor, before a model of the claimed size is built: under a 2 GB address-space limit,
# where building it (16777216 positions x 16 channels, parameters and gradients) would fail to
# allocate. So is one whose config.json claims 3 million layers of one channel (a model of 600 MB
# that validate() accepts), before the list of the tensors such a model has (gigabytes) is made.
#   check_hf_shapes.sh JUICE OUT DATA
set -u
JUICE=$1 OUT=$2 DATA=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
"$JUICE" train --model "$DATA/tiny.json" --demos "$DATA/demos.jsonl" --steps 1 --threads 1 --quiet --out "$OUT/run" ||
  fail "training the tiny model failed"
sed -e 's/"n_positions": 32/"n_positions": 16777216/' -e 's/"n_ctx": 32/"n_ctx": 16777216/' "$OUT/run/final/config.json" > "$OUT/claimed.json"
grep -q 16777216 "$OUT/claimed.json" || fail "config.json has no n_positions to change"
cp "$OUT/claimed.json" "$OUT/run/final/config.json"
# AddressSanitizer reserves terabytes of address space for its shadow memory, so an instrumented
# build runs without the limit (the refusal and its message are still checked).
limit="ulimit -v 2000000"
if ldd "$JUICE" 2>/dev/null | grep -q libasan; then limit=true; fi
msg=$($limit; "$JUICE" eval --model "$OUT/run/final" --demos "$DATA/demos.jsonl" --threads 1 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc (expected 1): $msg"
echo "$msg" | grep -q "model.safetensors: tensor 'wpe.weight' has shape \[32, 16\] but a GPT-2 with .*n_positions=16777216.* needs \[16777216, 16\]" ||
  fail "unexpected message: $msg"
echo "refused: $msg"

sed -e 's/"n_layer": 1/"n_layer": 3000000/' -e 's/"n_embd": 16/"n_embd": 1/' -e 's/"n_head": 2/"n_head": 1/' "$OUT/claimed.json" |
  sed -e 's/"n_positions": 16777216/"n_positions": 32/' -e 's/"n_ctx": 16777216/"n_ctx": 32/' > "$OUT/run/final/config.json"
grep -q '"n_layer": 3000000' "$OUT/run/final/config.json" || fail "config.json has no n_layer to change"
msg=$($limit; "$JUICE" eval --model "$OUT/run/final" --demos "$DATA/demos.jsonl" --threads 1 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "3000000 layers: exit $rc (expected 1): $msg"
echo "$msg" | grep -q "model.safetensors: the file holds [0-9]* tensors but a GPT-2 with n_layer = 3000000 has 36000004 (12 per layer and 4 more)" ||
  fail "3000000 layers: unexpected message: $msg"
echo "refused: $msg"
