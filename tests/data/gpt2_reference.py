#!/usr/bin/env python3
"""Reference GPT-2 encodings for tests/data/test_gpt2_reference.cpp, from tiktoken.

Reads the GPT-2 rank file (whisper/assets/gpt2.tiktoken: base64 token, rank), builds a tiktoken
Encoding with GPT-2's pattern and <|endoftext|> = 50256, encodes every string of a JSON corpus
(special tokens allowed) and writes {"ids": [[...]...], "byte_ids": [id of byte 0..255]}.
With --hf-dir it also writes the same vocabulary in HF form (vocab.json + merges.txt): each token of
two or more bytes becomes the merge of the two parts that BPE with the lower ranks leaves it in.
"""
import argparse
import base64
import json
import os
import sys

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"


def read_ranks(path):
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return ranks


def byte_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def split_in_two(token, ranks, limit):
    parts = [bytes([b]) for b in token]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < limit and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        sys.exit(f"token {token!r} (rank {limit}) is not the merge of two lower-ranked tokens")
    return parts


def write_hf(ranks, folder):
    os.makedirs(folder, exist_ok=True)
    u = byte_to_unicode()
    spell = lambda b: "".join(u[x] for x in b)
    vocab = {spell(t): r for t, r in ranks.items()}
    vocab[EOT] = len(ranks)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            if len(token) >= 2:
                a, b = split_in_two(token, ranks, rank)
                f.write(f"{spell(a)} {spell(b)}\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--hf-dir")
    a = p.parse_args()
    try:
        import tiktoken
    except ImportError:
        sys.exit("tiktoken is not importable (PYTHONPATH=" + os.environ.get("PYTHONPATH", "") +
                 "); run scripts/install-deps")
    ranks = read_ranks(a.ranks)
    enc = tiktoken.Encoding("gpt2-local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={EOT: len(ranks)})
    with open(a.corpus, encoding="utf-8") as f:
        corpus = json.load(f)
    out = {"ids": [enc.encode(s, allowed_special="all") for s in corpus],
           "byte_ids": [enc.encode_single_token(bytes([b])) for b in range(256)]}
    with open(a.out, "w") as f:
        json.dump(out, f)
    if a.hf_dir and not os.path.exists(os.path.join(a.hf_dir, "merges.txt")):
        write_hf(ranks, a.hf_dir)


if __name__ == "__main__":
    main()
