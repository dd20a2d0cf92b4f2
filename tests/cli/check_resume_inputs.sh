#!/usr/bin/env bash
# --resume trusts nothing in the checkpoint: the inputs are recognised by content, not by path, and
# every restored index and count is checked against the data and the options.
#   check_resume_inputs.sh JUICE OUT DATA
# An SFT run of 6 steps with a checkpoint at step 3 (its final/ moved away: an unfinished run) is
#   - resumed with --demos named another way (in/ vs ./in/): the same final/model.safetensors;
#   - refused, naming --demos, after the file shrank or changed in place (same size);
#   - refused, in one line and within seconds, with a tampered checkpoint: a permutation entry or
#     the position beyond the 12 demonstrations, a step beyond --steps, rngs.train.draws 10^15, a
#     step and draws of 10^18 (refused for the step, without replaying the draws), an input's
#     SHA-256 that is not a string;
#   - resumed, with a warning, from a checkpoint of an older juice that names --demos by its path.
set -u
JUICE=$1 OUT=$2 DATA=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/in" && cd "$OUT" || exit 1
cp "$DATA/demos.jsonl" in/demos.jsonl
args=(--model "$DATA/tiny.json" --batch-size 4 --threads 1 --algo sft --steps 6 --save-every 3 --quiet)

"$JUICE" train "${args[@]}" --demos ./in/demos.jsonl --out run || fail "the run failed"
mv run/final first_final
cp -r run pristine  # the unfinished run: checkpoint at step 3, metrics of 6 steps

# A refusal: non-zero exit, one line on stderr matching $1, no final/ written. Then the run is reset.
refused() {
  local want=$1 msg rc
  shift
  msg=$(timeout 60 "$JUICE" train "${args[@]}" --resume --out run "$@" 2>&1)
  rc=$?
  [ "$rc" -ne 0 ] || fail "accepted ($want)"
  [ "$rc" -ne 124 ] || fail "still running after 60 s ($want)"
  [ "$(echo "$msg" | wc -l)" -eq 1 ] || fail "not one line: $msg"
  echo "$msg" | grep -Eq "$want" || fail "unexpected message (exit $rc): $msg"
  [ -e run/final ] && fail "a refused resume left final/"
  echo "refused: $msg"
  rm -rf run && cp -r pristine run
}

# Overwrites the I64 element $3 of tensor $2 in the safetensors file $1 with $4.
patch_i64() {
  perl -e '
    my ($file, $name, $index, $value) = @ARGV;
    open(my $f, "+<:raw", $file) or die "$file: $!";
    read($f, my $len, 8); my $n = unpack("Q<", $len);
    read($f, my $header, $n);
    $header =~ /"\Q$name\E":\{[^}]*"data_offsets":\[(\d+),/ or die "no tensor $name";
    seek($f, 8 + $n + $1 + 8 * $index, 0); print $f pack("q<", $value); close($f);' "$@" || fail "cannot patch $1"
}

# The same file named another way resumes to the same result.
"$JUICE" train "${args[@]}" --demos in/demos.jsonl --resume --out run || fail "resuming with in/demos.jsonl failed"
cmp first_final/model.safetensors run/final/model.safetensors || fail "the resumed run ended elsewhere"
rm -rf run && cp -r pristine run

# A changed input is refused, naming the option and the change.
head -n 6 "$DATA/demos.jsonl" > in/demos.jsonl
refused "^juice: error: --resume run/checkpoint: --demos is not the input the run started with: its size was [0-9]+ bytes and is [0-9]+ now" \
  --demos in/demos.jsonl
sed '1s/cca=/ccb=/' "$DATA/demos.jsonl" > in/demos.jsonl
refused "^juice: error: --resume run/checkpoint: --demos is not the input the run started with: its SHA-256 was [0-9a-f]{64} and is [0-9a-f]{64} now" \
  --demos in/demos.jsonl
cp "$DATA/demos.jsonl" in/demos.jsonl

# A tampered checkpoint is refused before it is used.
patch_i64 run/checkpoint/reference.safetensors order.permutation 2 999
refused "^juice: error: --resume run/checkpoint: the tensor 'order.permutation' is not a permutation of the 12 rows" --demos in/demos.jsonl
patch_i64 run/checkpoint/reference.safetensors order.position 0 4000000000
refused "^juice: error: --resume run/checkpoint: the tensor 'order.position' is 4000000000, beyond the 12 rows" --demos in/demos.jsonl
perl -0777 -pi -e 's/"step": 3,/"step": 3000,/' run/checkpoint/state.json
refused "^juice: error: --resume run/checkpoint: .*step 3000" --demos in/demos.jsonl
perl -0777 -pi -e 's/"draws": [0-9]+/"draws": 1000000000000000/' run/checkpoint/state.json
refused "^juice: error: --resume run/checkpoint: state.json: rngs.train.draws is 1000000000000000, more than 3 steps can draw" --demos in/demos.jsonl
# A step far beyond --steps with as many draws: refused for the step, not after replaying the draws.
perl -0777 -pi -e 's/"step": 3,/"step": 1000000000000000000,/; s/"draws": [0-9]+/"draws": 1000000000000000000/' run/checkpoint/state.json
refused "^juice: error: --resume run/checkpoint: its step 1000000000000000000 is beyond --steps 6" --demos in/demos.jsonl
# An identity of another type than juice writes is compared as JSON.
perl -0777 -pi -e 's/"sha256": "[0-9a-f]+",(\s*"size": [0-9]+\s*\},\s*"--gen-length")/"sha256": 5,$1/s' run/checkpoint/state.json
grep -q '"sha256": 5,' run/checkpoint/state.json || fail "cannot tamper with the identity of --demos"
refused "^juice: error: --resume run/checkpoint: --demos is not the input the run started with: its SHA-256 was 5 and is [0-9a-f]{64} now" \
  --demos in/demos.jsonl

# A checkpoint of an older juice names --demos by its path: the same file resumes, with a warning.
perl -0777 -pi -e 's/"--demos": \{[^}]*\}/"--demos": ".\/in\/demos.jsonl"/s' run/checkpoint/state.json
grep -q '"--demos": "./in/demos.jsonl"' run/checkpoint/state.json || fail "cannot make the older checkpoint"
msg=$("$JUICE" train "${args[@]}" --demos in/demos.jsonl --resume --out run 2>&1) || fail "the older checkpoint was refused: $msg"
echo "$msg" | grep -q "^juice: warning: --resume run/checkpoint: the checkpoint names --demos by its path only" || fail "no warning: $msg"
cmp first_final/model.safetensors run/final/model.safetensors || fail "the resumed older checkpoint ended elsewhere"
echo "older checkpoint: $msg"
